package postgresql

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/shared"
)

// Scaler runs the trigger's query. It is safe for concurrent use.
// MetricSpecs, Metrics, Value and Close come from scalers.Single: one
// metric, "postgresql" (KEDA's name), with targetQueryValue as its
// target, active while the value is above activationTargetQueryValue.
type Scaler struct {
	*scalers.Single
	md     Metadata
	bound  time.Duration
	stmtMS string // the statement timeout, in milliseconds
	pool   *sharedPool
	log    *slog.Logger
	red    *scalers.Redactor
	target string // host:port/dbname for messages, without credentials
}

var _ scalers.Scaler = (*Scaler)(nil)

// Factory returns the factory of the postgresql type whose scalers share
// p's pools. It never connects: a scaler is built (and its metric spec
// served) while the database is down, and each Metrics call reports the
// outage with scalers.ErrUnavailable.
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
		red := scalers.NewRedactor(md.Connection, md.Password)
		red.AddValue(md.conn.Password)
		s := &Scaler{
			md:     md,
			bound:  bound,
			stmtMS: statementTimeout(bound),
			pool:   sp,
			log:    log,
			red:    red,
			target: describe(md.conn),
		}
		s.Single = scalers.NewSingle(scalers.SingleOptions{
			Type:    Type,
			Metric:  scalers.MetricSpec{Name: Type, Target: md.TargetQueryValue},
			Read:    scalers.ActiveAbove(md.ActivationTargetQueryValue, s.query),
			Release: func() error { p.release(sp); return nil },
			Bound:   bound,
		})
		return s, nil
	}
}

// New is the scalers.Factory of the postgresql type with a pool of its
// own per distinct setting among the scalers it builds (a package-level
// set of pools is what it must not be: see Pools; the server wires in
// one Pools).
func New(ctx context.Context, cfg scalers.Config) (scalers.Scaler, error) {
	return NewPools(PoolsOptions{}).Factory()(ctx, cfg)
}

// describe names the server without credentials: the first host and
// port, and the database.
func describe(cc *pgx.ConnConfig) string {
	return fmt.Sprintf("%s:%d/%s", cc.Host, cc.Port, cc.Database)
}

// query runs the query once, or twice when the first try found the
// pool's connections broken (the server restarted: every idle
// connection is then dead, and the pool is emptied before the retry).
func (s *Scaler) query(ctx context.Context) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, s.bound)
	defer cancel()
	v, err := s.run(ctx)
	if err != nil && brokenConn(err) && ctx.Err() == nil {
		s.pool.pool.Reset()
		v, err = s.run(ctx)
	}
	if err != nil {
		return 0, s.fail(ctx, err)
	}
	return v, nil
}

// run is one try: a read-only transaction whose statement timeout is set
// first, the query alone, then a rollback (the transaction changes
// nothing, and a rollback cannot fail for a reason of the query's).
func (s *Scaler) run(ctx context.Context) (float64, error) {
	conn, err := s.pool.pool.Acquire(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Release()
	// Both in one round trip, in the simple protocol.
	if err := conn.Conn().PgConn().Exec(ctx, "BEGIN READ ONLY; SET LOCAL statement_timeout = "+s.stmtMS).Close(); err != nil {
		return 0, err
	}
	a, qerr := read(ctx, conn, s.md.Query)
	// A call out of time does not wait for a rollback: its connection,
	// still in the transaction (or closed by pgx when the deadline cut
	// the query), is closed by the pool on release rather than reused.
	if ctx.Err() == nil {
		_ = conn.Conn().PgConn().Exec(ctx, "ROLLBACK").Close()
	}
	if qerr != nil {
		return 0, qerr
	}
	v, err := Number(a)
	if err != nil {
		return 0, &answerError{err: err}
	}
	return v, nil
}

// read runs the query and keeps what Number needs: at most two rows.
func read(ctx context.Context, conn *pgxpool.Conn, sql string) (Answer, error) {
	rows, err := conn.Query(ctx, sql)
	if err != nil {
		return Answer{}, err
	}
	defer rows.Close()
	fields := rows.FieldDescriptions()
	a := Answer{Columns: len(fields)}
	if len(fields) > 0 {
		a.Column = fields[0].Name
	}
	for len(a.Values) < 2 && rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return Answer{}, err
		}
		if len(vals) > 0 {
			a.Values = append(a.Values, vals[0])
		} else {
			a.Values = append(a.Values, nil)
		}
	}
	rows.Close()
	return a, rows.Err()
}

// answerError marks an answer that is not one number.
type answerError struct{ err error }

func (e *answerError) Error() string { return e.err.Error() }
func (e *answerError) Unwrap() error { return e.err }

// brokenConn reports whether err says the connection, not the query,
// failed: no answer from the server at all, or the server's word that it
// is ending the session (class 08, connection exception; 57P, an
// administrator's shutdown or a crash of another backend).
func brokenConn(err error) bool {
	var pe *pgconn.PgError
	var ae *answerError
	switch {
	case errors.As(err, &pe):
		return strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "57P")
	case errors.As(err, &ae), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return false
	}
	return true
}

// fail turns a failed try into the caller's error: the answer's problem
// (ErrNoData), a query the server refuses as written (ErrInvalidConfig:
// a syntax error, an unknown table or column, a missing privilege), the
// statement timeout, the caller's own cancellation, or the database being
// unreachable (ErrUnavailable). Messages name the query and the server,
// never a password or a connection string.
func (s *Scaler) fail(ctx context.Context, err error) error {
	q := scalers.Quote(s.md.Query)
	var ae *answerError
	var pe *pgconn.PgError
	switch {
	case errors.As(err, &ae):
		return s.red.Error(fmt.Errorf("postgresql query %s %w", q, ae.err))
	case errors.As(err, &pe) && pe.Code == "57014":
		return scalers.Unavailable("postgresql query "+q, fmt.Errorf("canceled by the statement timeout of %s (the trigger's timeout): %s", s.bound, s.red.String(pe.Message)))
	case errors.As(err, &pe) && (strings.HasPrefix(pe.Code, "42") || strings.HasPrefix(pe.Code, "0A") || pe.Code == "25006"):
		// 42: syntax error or access rule violation; 0A: feature not
		// supported; 25006: a write in the read-only transaction.
		return s.red.Error(fmt.Errorf("postgresql query %s: %s (SQLSTATE %s): %w", q, pe.Message, pe.Code, scalers.ErrInvalidConfig))
	case errors.As(err, &pe) && brokenConn(err):
		return scalers.Unavailable("postgresql "+s.target, errors.New(s.red.String(pe.Message+" (SQLSTATE "+pe.Code+")")))
	case errors.As(err, &pe):
		return scalers.Unavailable("postgresql query "+q, errors.New(s.red.String(pe.Message+" (SQLSTATE "+pe.Code+")")))
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		return fmt.Errorf("postgresql query %s: %w", q, context.Canceled)
	case ctx.Err() != nil:
		return scalers.Unavailable("postgresql "+s.target, fmt.Errorf("no answer within %s: %w", s.bound, context.DeadlineExceeded))
	default:
		return scalers.Unavailable("postgresql "+s.target, errors.New(s.red.String(err.Error())))
	}
}
