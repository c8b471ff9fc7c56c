package mysql

import (
	"context"
	"database/sql"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/shared"
)

// DefaultMaxPools and DefaultMaxConns are PoolsOptions' defaults, the
// postgresql package's.
const (
	DefaultMaxPools = 1000
	DefaultMaxConns = 4
)

// PoolsOptions configures NewPools.
type PoolsOptions struct {
	// MaxPools bounds the distinct pools open at once (0:
	// DefaultMaxPools); one more is refused with scalers.ErrLimit. The
	// server sets it with --max-source-connections.
	MaxPools int
	// MaxConns bounds the connections of one pool (0: DefaultMaxConns).
	MaxConns int
}

// Pools builds scalers that share database/sql pools: every scaler with
// the same connection settings and bound uses one, closed with the last
// of them. It is safe for concurrent use and needs no closing itself.
type Pools struct {
	maxConns int
	set      *shared.Set[*sharedPool]
}

// NewPools returns an empty set of shared pools.
func NewPools(opts PoolsOptions) *Pools {
	if opts.MaxPools <= 0 {
		opts.MaxPools = DefaultMaxPools
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = DefaultMaxConns
	}
	return &Pools{maxConns: opts.MaxConns, set: shared.NewSet[*sharedPool](Type, opts.MaxPools)}
}

// Stats returns the distinct pools open now and the most that may be.
func (p *Pools) Stats() (open, limit int) { return p.set.Stats() }

type sharedPool struct {
	key string
	db  *sql.DB
	// mysqlTimeout is set once the server turned out to be MySQL, which
	// has max_execution_time instead of MariaDB's max_statement_time.
	mysqlTimeout atomic.Bool
}

func (p *Pools) acquire(m *Metadata, bound time.Duration) (*sharedPool, error) {
	parts := []string{bound.String(), m.ConnectionString.Identity(), m.Password.Identity()}
	if !m.ConnectionString.IsSet() {
		parts = append(parts, m.Host, m.Port, m.Username, m.DBName)
	}
	key := strings.Join(parts, "\x00")
	return p.set.Acquire(key, func() (*sharedPool, error) {
		db, err := open(m, bound, p.maxConns)
		if err != nil {
			return nil, err
		}
		return &sharedPool{key: key, db: db}, nil
	})
}

func (p *Pools) release(sp *sharedPool) {
	p.set.Release(sp.key, func(sp *sharedPool) { _ = sp.db.Close() })
}

// open builds the pool without connecting.
func open(m *Metadata, bound time.Duration, maxConns int) (*sql.DB, error) {
	cfg := m.cfg.Clone()
	cfg.Timeout, cfg.ReadTimeout, cfg.WriteTimeout = bound, bound, bound
	// One statement per query: a second after ';' is a syntax error.
	cfg.MultiStatements = false
	if err := cfg.Apply(mysql.BeforeConnect(credentials(m))); err != nil {
		return nil, err
	}
	c, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, scalers.Invalid(scalers.NewFieldError("connectionString", "", "not usable: "+err.Error()))
	}
	db := sql.OpenDB(c)
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	return db, nil
}

// credentials reads the secrets for every new connection, so a rotated
// passwordFile or connectionStringFile takes effect at the next one.
func credentials(m *Metadata) func(context.Context, *mysql.Config) error {
	conn, password := m.ConnectionString, m.Password
	return func(_ context.Context, c *mysql.Config) error {
		if conn.Path() != "" {
			dsn, err := scalers.ReadSecret("connectionString", conn)
			if err != nil {
				return err
			}
			rotated, err := mysql.ParseDSN(dsn)
			if err != nil {
				return conn.FieldError("connectionString", "not a MySQL connection string that go-sql-driver can read")
			}
			c.User, c.Passwd, c.Net, c.Addr, c.DBName = rotated.User, rotated.Passwd, rotated.Net, rotated.Addr, rotated.DBName
		}
		if password.IsSet() && (!conn.IsSet() || c.Passwd == "") {
			pw, err := scalers.ReadSecret("password", password)
			if err != nil {
				return err
			}
			c.Passwd = pw
		}
		return nil
	}
}
