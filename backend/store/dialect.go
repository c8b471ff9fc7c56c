package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
)

// dialect is what differs between SQLite and PostgreSQL: the rest of the
// store is one implementation over database/sql with the same queries,
// written with '?' placeholders.
type dialect struct {
	name string
	// dollar: the placeholders are $1, $2, ... instead of '?'.
	dollar bool
	// rebound caches q's results: query with '?' -> query with $n.
	rebound sync.Map
	// classify maps a driver error onto the store's sentinels.
	classify func(err error) error
	// lockHead reads the audit head and holds it until the commit.
	lockHead string
	// migrationLock serialises migrations of several processes (the
	// SQLite writer's BEGIN IMMEDIATE already does).
	migrationLock string
	// prepare: keep the writer's statements prepared. SQLite parses
	// every statement anew otherwise (a fifth of a write's CPU); pgx
	// already caches prepared statements per connection.
	prepare bool
	// cancelStatements: hand statements a context that can end. For
	// SQLite no: modernc starts a goroutine per statement to interrupt
	// it, and a write's wait for the lock is bounded by busy_timeout.
	cancelStatements bool
	// cte: a batch's log rows and head are one statement (PostgreSQL's
	// data-modifying WITH; SQLite has none).
	cte bool
	// brokenConn reports whether err is a pooled connection's that the
	// server dropped (nil: connections do not break, SQLite's file).
	brokenConn func(err error) bool
}

// dbError is a driver error classified as one of the store's sentinels.
type dbError struct {
	kind error // ErrUnavailable, ErrConflict
	err  error
}

func (e *dbError) Error() string   { return e.kind.Error() + ": " + e.err.Error() }
func (e *dbError) Unwrap() []error { return []error{e.kind, e.err} }

// unavailable reports whether err means the database cannot take writes
// (the whole batch fails, not one caller's change).
func unavailable(err error) bool { return errors.Is(err, ErrUnavailable) }

func sqliteDialect() *dialect {
	return &dialect{
		name:     "sqlite",
		classify: classifySQLite,
		lockHead: "SELECT seq, chain_hash FROM audit_head WHERE id = 1",
		prepare:  true,
	}
}

// SQLite result codes (the primary code is the low byte of an extended
// one).
const (
	sqliteBusy       = 5
	sqliteLocked     = 6
	sqliteNoMem      = 7
	sqliteReadOnly   = 8
	sqliteIOErr      = 10
	sqliteCorrupt    = 11
	sqliteFull       = 13
	sqliteCantOpen   = 14
	sqliteConstraint = 19
	sqliteNotADB     = 26

	sqliteConstraintForeignKey = 787
)

func classifySQLite(err error) error {
	if err == nil {
		return nil
	}
	if e, ok := errorsAs[*sqlite.Error](err); ok {
		switch e.Code() & 0xff {
		case sqliteConstraint:
			if e.Code() == sqliteConstraintForeignKey {
				// A row naming a parent that does not exist (a
				// tenant never created): the request is wrong.
				return &dbError{ErrInvalid, err}
			}
			return &dbError{ErrConflict, err}
		case sqliteBusy, sqliteLocked, sqliteNoMem, sqliteReadOnly, sqliteIOErr, sqliteCorrupt, sqliteFull, sqliteCantOpen, sqliteNotADB:
			return &dbError{ErrUnavailable, err}
		}
		return err
	}
	return classifyCommon(err)
}

// classifyCommon: errors of the connection rather than of the query.
func classifyCommon(err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, driver.ErrBadConn) {
		return &dbError{ErrUnavailable, err}
	}
	if _, ok := errorsAs[net.Error](err); ok {
		return &dbError{ErrUnavailable, err}
	}
	return err
}

func postgresDialect() *dialect {
	return &dialect{
		name:             "postgres",
		dollar:           true,
		classify:         classifyPostgres,
		lockHead:         "SELECT seq, chain_hash FROM audit_head WHERE id = 1 FOR UPDATE",
		migrationLock:    "SELECT pg_advisory_xact_lock(7283114401)",
		cancelStatements: true,
		cte:              true,
		brokenConn:       brokenPostgresConn,
	}
}

// brokenPostgresConn: the connection, not the query, failed after it was
// established (a killed or restarted server: EOF, reset, pgx's "conn
// closed", a shutdown's 57P01/57P02, a connection exception's 08xxx).
// Not a failure to connect, not a timeout, not a cancelled context.
func brokenPostgresConn(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err) {
		return false
	}
	if _, ok := errorsAs[*pgconn.ConnectError](err); ok {
		return false
	}
	if e, ok := errorsAs[*pgconn.PgError](err); ok {
		return e.Code == "57P01" || e.Code == "57P02" || strings.HasPrefix(e.Code, "08")
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed) {
		return true
	}
	return strings.Contains(err.Error(), "conn closed") || strings.Contains(err.Error(), "unexpected EOF")
}

func classifyPostgres(err error) error {
	if err == nil {
		return nil
	}
	if e, ok := errorsAs[*pgconn.PgError](err); ok {
		switch {
		case e.Code == "23505": // unique
			return &dbError{ErrConflict, err}
		case e.Code == "23503": // foreign key: a parent that does not exist
			return &dbError{ErrInvalid, err}
		case e.Code == "25006", // read_only_sql_transaction
			strings.HasPrefix(e.Code, "53"),      // insufficient resources: disk_full, out_of_memory, too_many_connections
			strings.HasPrefix(e.Code, "08"),      // connection exception
			strings.HasPrefix(e.Code, "57"),      // operator intervention: admin shutdown, cannot connect now
			strings.HasPrefix(e.Code, "58"),      // system error: io_error
			e.Code == "40001", e.Code == "40P01": // serialization failure, deadlock: retry later
			return &dbError{ErrUnavailable, err}
		}
		return err
	}
	if pgconn.SafeToRetry(err) || pgconn.Timeout(err) {
		return &dbError{ErrUnavailable, err}
	}
	if _, ok := errorsAs[*pgconn.ConnectError](err); ok {
		return &dbError{ErrUnavailable, err}
	}
	if strings.Contains(err.Error(), "conn closed") || strings.Contains(err.Error(), "unexpected EOF") {
		return &dbError{ErrUnavailable, err}
	}
	return classifyCommon(err)
}

// q returns query with the dialect's placeholders: for PostgreSQL the '?'
// numbered $1, $2, ... (the queries of this package have no '?' in
// literals).
func (d *dialect) q(q string) string {
	if !d.dollar {
		return q
	}
	if v, ok := d.rebound.Load(q); ok {
		return v.(string)
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	out := b.String()
	if len(q) < 4096 { // the built multi-row inserts vary; keep the fixed ones
		d.rebound.Store(q, out)
	}
	return out
}

// wrapNotFound names what was not found.
func notFound(kind, name string) error {
	return fmt.Errorf("%s %q: %w", kind, clip(name), ErrNotFound)
}
