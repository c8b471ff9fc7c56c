package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/shared"
)

// Scaler runs the trigger's query. It is safe for concurrent use.
// MetricSpecs, Metrics, Value and Close come from scalers.Single: one
// metric, KEDA's "mysql-<dbName>", with queryValue as its target, active
// while the value is above activationQueryValue.
type Scaler struct {
	*scalers.Single
	md     Metadata
	bound  time.Duration
	stmt   time.Duration // the server-side statement timeout
	pool   *sharedPool
	log    *slog.Logger
	red    *scalers.Redactor
	target string // host:port/dbname, without credentials
}

var _ scalers.Scaler = (*Scaler)(nil)

// Factory returns the factory of the mysql type whose scalers share p's
// pools. It never connects.
func (p *Pools) Factory() scalers.Factory {
	return func(_ context.Context, cfg scalers.Config) (scalers.Scaler, error) {
		md, err := ParseMetadata(cfg.Metadata, cfg.SecretFiles)
		if err != nil {
			return nil, err
		}
		log := cfg.ScalerLogger(Type)
		bound := shared.Bound(cfg, log, md.Timeout, DefaultTimeout)
		sp, err := p.acquire(&md, bound)
		if err != nil {
			return nil, err
		}
		red := scalers.NewRedactor(md.ConnectionString, md.Password)
		red.AddValue(md.cfg.Passwd)
		s := &Scaler{md: md, bound: bound, stmt: bound - min(bound/10, time.Second), pool: sp, log: log, red: red,
			target: md.cfg.Addr + "/" + md.cfg.DBName}
		s.Single = scalers.NewSingle(scalers.SingleOptions{
			Type:    Type,
			Metric:  scalers.MetricSpec{Name: md.metric, Target: md.QueryValue},
			Read:    scalers.ActiveAbove(md.ActivationQueryValue, s.query),
			Release: func() error { p.release(sp); return nil },
			Bound:   bound,
		})
		return s, nil
	}
}

// New is the scalers.Factory of the mysql type with pools of its own
// (the server wires in one Pools).
func New(ctx context.Context, cfg scalers.Config) (scalers.Scaler, error) {
	return NewPools(PoolsOptions{}).Factory()(ctx, cfg)
}

func (s *Scaler) query(ctx context.Context) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, s.bound)
	defer cancel()
	a, err := s.run(ctx)
	if err != nil {
		return 0, s.fail(ctx, err)
	}
	v, err := Number(a)
	if err != nil {
		return 0, s.red.Error(fmt.Errorf("mysql query %s %w", scalers.Quote(s.md.Query), err))
	}
	return v, nil
}

// run: a connection of the pool (database/sql replaces one the driver
// finds dead, as after a server restart), the statement timeout for the
// session, the query alone in a read-only transaction, a rollback.
func (s *Scaler) run(ctx context.Context) (Answer, error) {
	conn, err := s.pool.db.Conn(ctx)
	if err != nil {
		return Answer{}, err
	}
	defer conn.Close()
	if err := s.setTimeout(ctx, conn); err != nil {
		return Answer{}, err
	}
	tx, err := conn.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return Answer{}, err
	}
	defer func() { _ = tx.Rollback() }()
	rows, err := tx.QueryContext(ctx, s.md.Query)
	if err != nil {
		return Answer{}, err
	}
	defer rows.Close()
	types, err := rows.ColumnTypes()
	if err != nil {
		return Answer{}, err
	}
	a := Answer{Columns: len(types)}
	if len(types) > 0 {
		a.Column, a.Type = types[0].Name(), types[0].DatabaseTypeName()
	}
	dst := make([]any, len(types))
	for i := range dst {
		dst[i] = new(sql.RawBytes)
	}
	for a.Rows < 2 && rows.Next() {
		a.Rows++
		if len(dst) == 0 {
			continue
		}
		if err := rows.Scan(dst...); err != nil {
			return Answer{}, err
		}
		raw := *dst[0].(*sql.RawBytes)
		var v []byte
		if raw != nil {
			v = append([]byte{}, raw...)
		}
		a.Values = append(a.Values, v)
	}
	return a, rows.Err()
}

// setTimeout sets the session's statement timeout: MariaDB's
// max_statement_time (seconds, any statement), or, on MySQL, which has no
// such variable (error 1193), max_execution_time (milliseconds, SELECT
// only); which one is remembered per pool.
func (s *Scaler) setTimeout(ctx context.Context, conn *sql.Conn) error {
	ms := strconv.FormatInt(max(s.stmt.Milliseconds(), 1), 10)
	if !s.pool.mysqlTimeout.Load() {
		_, err := conn.ExecContext(ctx, "SET SESSION max_statement_time = "+strconv.FormatFloat(max(s.stmt.Seconds(), 0.001), 'f', 3, 64))
		var me *mysql.MySQLError
		if !errors.As(err, &me) || me.Number != 1193 {
			return err
		}
		s.pool.mysqlTimeout.Store(true)
	}
	_, err := conn.ExecContext(ctx, "SET SESSION max_execution_time = "+ms)
	return err
}

// fail turns a failed try into the caller's error, as the postgresql
// scaler does: a query the server refuses as written is ErrInvalidConfig,
// the statement timeout and everything else ErrUnavailable. Messages
// name the query and the server, never a secret.
func (s *Scaler) fail(ctx context.Context, err error) error {
	q := scalers.Quote(s.md.Query)
	var me *mysql.MySQLError
	switch {
	case errors.As(err, &me) && (me.Number == 1969 || me.Number == 3024):
		return scalers.Unavailable("mysql query "+q, fmt.Errorf("interrupted by the statement timeout of %s (the trigger's timeout): %s", s.bound, s.red.String(me.Message)))
	case errors.As(err, &me) && invalidQuery(me.Number):
		return s.red.Error(fmt.Errorf("mysql query %s: %s (error %d): %w", q, me.Message, me.Number, scalers.ErrInvalidConfig))
	case errors.As(err, &me):
		return scalers.Unavailable("mysql "+s.target, fmt.Errorf("%s (error %d)", s.red.String(me.Message), me.Number))
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		return fmt.Errorf("mysql query %s: %w", q, context.Canceled)
	case ctx.Err() != nil:
		return scalers.Unavailable("mysql "+s.target, fmt.Errorf("no answer within %s: %w", s.bound, context.DeadlineExceeded))
	default:
		return scalers.Unavailable("mysql "+s.target, errors.New(s.red.String(err.Error())))
	}
}

// invalidQuery: errors of the query as written. 1064 syntax, 1146 no such
// table, 1054 unknown column, 1142/1143 no privilege on a table or column,
// 1044 no access to the database, 1049 no such database, 1305 no such
// function, 1792 a write in the read-only transaction, 1241/1242 a
// subquery of the wrong shape.
func invalidQuery(n uint16) bool {
	switch n {
	case 1064, 1146, 1054, 1142, 1143, 1044, 1049, 1305, 1792, 1241, 1242:
		return true
	}
	return false
}
