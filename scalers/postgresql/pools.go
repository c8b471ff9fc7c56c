package postgresql

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/shared"
)

// DefaultMaxPools is PoolsOptions.MaxPools when it is 0.
const DefaultMaxPools = 1000

// DefaultMaxConns is PoolsOptions.MaxConns when it is 0: KEDA asks one
// trigger for a value or two at a time, and a thousand triggers on one
// database share the pool, so a few connections serve them without
// taking a large part of the server's max_connections.
const DefaultMaxConns = 4

// PoolsOptions configures NewPools.
type PoolsOptions struct {
	// MaxPools bounds the distinct pools open at once, one per distinct
	// set of connection settings (0: DefaultMaxPools): a scaler that would
	// need one more is refused with an error wrapping scalers.ErrLimit,
	// until closing scalers frees one. The server sets it with
	// --max-source-connections.
	MaxPools int
	// MaxConns bounds the connections of one pool (0: DefaultMaxConns).
	MaxConns int32
}

// Pools builds scalers that share pgx pools: every scaler with identical
// connection settings (the connection string's or the keys' source, the
// password's source, the bound of a call) uses one pool, closed with the
// last scaler using it. It is safe for concurrent use and needs no
// closing itself.
type Pools struct {
	maxConns int32
	set      *shared.Set[*pgxpool.Pool]
}

// NewPools returns an empty set of shared pools.
func NewPools(opts PoolsOptions) *Pools {
	if opts.MaxPools <= 0 {
		opts.MaxPools = DefaultMaxPools
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = DefaultMaxConns
	}
	return &Pools{maxConns: opts.MaxConns, set: shared.NewSet[*pgxpool.Pool](Type, opts.MaxPools)}
}

// Stats returns the number of distinct pools open now and the most that
// may be open, for the server's metrics.
func (p *Pools) Stats() (open, limit int) { return p.set.Stats() }

// sharedPool is a scaler's hold on a pool of the set.
type sharedPool struct {
	key  string
	pool *pgxpool.Pool
}

// acquire returns the pool of m's settings whose calls are bounded by
// bound, creating it when needed (without connecting).
func (p *Pools) acquire(m *Metadata, bound time.Duration) (*sharedPool, error) {
	key := poolKey(m, bound)
	pool, err := p.set.Acquire(key, func() (*pgxpool.Pool, error) { return newPool(m, bound, p.maxConns) })
	if err != nil {
		return nil, err
	}
	return &sharedPool{key: key, pool: pool}, nil
}

// release drops one reference and closes the pool after the last one.
func (p *Pools) release(sp *sharedPool) { p.set.Release(sp.key, (*pgxpool.Pool).Close) }

// poolKey identifies the connection settings and the bound. Secrets
// appear as their Identity (a digest or a file path) only; the key is
// never logged.
func poolKey(m *Metadata, bound time.Duration) string {
	parts := []string{bound.String(), m.Connection.Identity(), m.Password.Identity()}
	if !m.Connection.IsSet() {
		parts = append(parts, m.Host, m.Port, m.UserName, m.DBName, m.SSLMode)
	}
	return strings.Join(parts, "\x00")
}

// newPool builds the pool; pgxpool connects on first use, so a database
// that is down does not stop a scaler from being built.
func newPool(m *Metadata, bound time.Duration, maxConns int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig("")
	if err != nil {
		return nil, err
	}
	cfg.ConnConfig = m.conn.Copy()
	cfg.ConnConfig.ConnectTimeout = bound
	// One statement per call, in the extended protocol (several
	// statements in one query are refused by the server), without a
	// statement cache: the same query on a pooled connection through
	// PgBouncer's transaction mode would find another backend's cache.
	cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeExec
	cfg.MaxConns = maxConns
	cfg.MinConns = 0
	// Idle connections are closed after a while, so a thousand idle
	// triggers do not hold connections for ever.
	cfg.MaxConnIdleTime = 5 * time.Minute
	cfg.BeforeConnect = credentials(m)
	return pgxpool.NewWithConfig(context.Background(), cfg)
}

// credentials reads the secrets for every new connection: a rotated
// passwordFile (or connectionFile) takes effect at the next connection.
func credentials(m *Metadata) func(context.Context, *pgx.ConnConfig) error {
	var (
		mu   sync.Mutex
		last string
		cc   *pgx.ConnConfig
	)
	conn, password := m.Connection, m.Password
	return func(_ context.Context, c *pgx.ConnConfig) error {
		if conn.Path() != "" {
			dsn, err := scalers.ReadSecret("connection", conn)
			if err != nil {
				return err
			}
			mu.Lock()
			if dsn != last || cc == nil {
				parsed, err := pgx.ParseConfig(dsn)
				if err != nil {
					mu.Unlock()
					return conn.FieldError("connection", "not a PostgreSQL connection string that pgx can read")
				}
				last, cc = dsn, parsed
			}
			rotated := cc
			mu.Unlock()
			c.Host, c.Port, c.Database, c.User, c.Password = rotated.Host, rotated.Port, rotated.Database, rotated.User, rotated.Password
			c.TLSConfig, c.Fallbacks = rotated.TLSConfig, rotated.Fallbacks
		}
		if password.IsSet() && (!conn.IsSet() || c.Password == "") {
			pw, err := scalers.ReadSecret("password", password)
			if err != nil {
				return err
			}
			c.Password = pw
		}
		return nil
	}
}

// statementTimeout is the server-side bound of the query: a little below
// the call's bound, so that the server cancels a slow query and says so
// before the call's own deadline cuts the connection.
func statementTimeout(bound time.Duration) string {
	t := bound - min(bound/10, time.Second)
	return strconv.FormatInt(max(t.Milliseconds(), 1), 10)
}
