package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

// DefaultURL is the database of `serve` without --db: a SQLite file in the
// working directory, so that `make run` needs nothing.
const DefaultURL = "sqlite:hpa-autoscaler.db"

// Options configures Open. The zero value is usable.
type Options struct {
	// Now is the clock of created/updated times and audit records
	// (default time.Now).
	Now func() time.Time
	// Logger gets what the store cannot return to a caller (nil: discard).
	Logger *slog.Logger
	// MaxBatch bounds the Updates of one group commit (default 512).
	MaxBatch int
	// ReadConns is the size of the read pool (default 4×GOMAXPROCS,
	// at least 8).
	ReadConns int
	// WriteTimeout bounds one batch's transaction (default 30s): a
	// database that hangs longer fails the batch with ErrUnavailable.
	WriteTimeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 512
	}
	if o.ReadConns <= 0 {
		o.ReadConns = max(8, 4*runtime.GOMAXPROCS(0))
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 30 * time.Second
	}
	return o
}

// Open opens the database at dbURL, applies the migrations it lacks (in
// one transaction) and starts the writer:
//
//   - sqlite:PATH: a SQLite file (created if missing), in WAL mode with
//     synchronous=FULL, one writer connection (BEGIN IMMEDIATE) and a
//     pool of read-only connections;
//   - postgres://... or postgresql://...: PostgreSQL through pgx, the
//     writes with synchronous_commit=on.
//
// A database migrated by a newer binary is refused with ErrSchemaTooNew.
func Open(ctx context.Context, dbURL string, opts Options) (Store, error) {
	opts = opts.withDefaults()
	c, err := connect(ctx, dbURL, opts)
	if err != nil {
		return nil, err
	}
	if _, err := migrate(ctx, c); err != nil {
		c.close()
		return nil, err
	}
	return newSQLStore(c, opts), nil
}

// Migrate applies the migrations the database at dbURL lacks, without
// serving (`hpa-autoscaler migrate`), and returns the schema version
// it is at after.
func Migrate(ctx context.Context, dbURL string) (int, error) {
	c, err := connect(ctx, dbURL, Options{}.withDefaults())
	if err != nil {
		return 0, err
	}
	defer c.close()
	return migrate(ctx, c)
}

// SchemaVersion returns the schema version of the database at dbURL (0
// for an empty database) and the latest this binary knows. It changes
// nothing (a SQLite file that does not exist is created empty).
func SchemaVersion(ctx context.Context, dbURL string) (current, latest int, err error) {
	c, err := connect(ctx, dbURL, Options{}.withDefaults())
	if err != nil {
		return 0, 0, err
	}
	defer c.close()
	current, err = schemaVersion(ctx, c)
	if err != nil {
		return 0, 0, err
	}
	return current, latestVersion(c.d), nil
}

// conns is an opened database: the writer and the read pool (the same
// pool for PostgreSQL reads and writes would do, but separate pools keep
// a burst of reads from starving the writer of connections).
type conns struct {
	d      *dialect
	writer *sql.DB
	reader *sql.DB
}

func (c *conns) close() {
	_ = c.writer.Close()
	if c.reader != c.writer {
		_ = c.reader.Close()
	}
}

func connect(ctx context.Context, dbURL string, opts Options) (*conns, error) {
	switch {
	case strings.HasPrefix(dbURL, "sqlite:"):
		return connectSQLite(ctx, strings.TrimPrefix(dbURL, "sqlite:"), opts)
	case strings.HasPrefix(dbURL, "postgres://"), strings.HasPrefix(dbURL, "postgresql://"):
		return connectPostgres(ctx, dbURL, opts)
	default:
		return nil, fmt.Errorf("%w: database URL %q: want sqlite:PATH or a postgres:// URL", ErrInvalid, redactURL(dbURL))
	}
}

// redactURL hides a password in a URL for messages.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		if len(s) > 80 {
			return s[:80] + "..."
		}
		return s
	}
	return u.Redacted()
}

func connectSQLite(ctx context.Context, path string, opts Options) (*conns, error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("%w: sqlite path %q: want a file name without '?' or '#'", ErrInvalid, path)
	}
	// busy_timeout: another process holding the write lock (a second
	// serve on the same file, a migrate) makes the writer wait, not fail.
	base := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)"
	// The writer: WAL (readers do not block it, nor it them), FULL: the
	// WAL is fsynced at every commit, so an acknowledged append survives
	// a crash of the machine, not only of the process (NORMAL would lose
	// the last commits on power loss). BEGIN IMMEDIATE takes the write
	// lock at the start, so a transaction never fails half-way on a
	// lock it cannot upgrade.
	w, err := sql.Open("sqlite", base+"&_txlock=immediate&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)")
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	d := sqliteDialect()
	if err := w.PingContext(ctx); err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, d.classify(err))
	}
	r, err := sql.Open("sqlite", base+"&_pragma=query_only(1)")
	if err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	r.SetMaxOpenConns(opts.ReadConns)
	r.SetMaxIdleConns(opts.ReadConns)
	return &conns{d: d, writer: w, reader: r}, nil
}

func connectPostgres(ctx context.Context, dbURL string, opts Options) (*conns, error) {
	cfg, err := pgx.ParseConfig(dbURL)
	if err != nil {
		// pgx's message may quote the URL: do not repeat it.
		return nil, fmt.Errorf("%w: postgres URL %s: cannot parse", ErrInvalid, redactURL(dbURL))
	}
	d := postgresDialect()
	// Writes: synchronous_commit=on whatever the server's default, so a
	// commit returns only once its WAL is flushed (on the standby too
	// when the server has synchronous standbys).
	wcfg := cfg.Copy()
	wcfg.RuntimeParams["synchronous_commit"] = "on"
	w := stdlib.OpenDB(*wcfg)
	w.SetMaxOpenConns(2)
	w.SetMaxIdleConns(2)
	if err := w.PingContext(ctx); err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("open postgres %s: %w", redactURL(dbURL), d.classify(err))
	}
	r := stdlib.OpenDB(*cfg)
	r.SetMaxOpenConns(opts.ReadConns)
	r.SetMaxIdleConns(opts.ReadConns)
	return &conns{d: d, writer: w, reader: r}, nil
}

// errorsAs is errors.As with a type parameter.
func errorsAs[T error](err error) (T, bool) {
	var t T
	ok := errors.As(err, &t)
	return t, ok
}
