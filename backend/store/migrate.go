package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The migrations are SQL files embedded in the binary, one directory per
// dialect, named NNNN_what.sql: version NNNN, applied in order, each
// exactly once. A migration is never edited once released; a change is a
// new file in both directories.
//
//go:embed migrations
var migrationFiles embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the dialect's migrations in version order. Their
// names are checked by a test, so a bad name here is a bug of the build.
func migrations(d *dialect) []migration {
	dir := path.Join("migrations", d.name)
	entries, err := fs.ReadDir(migrationFiles, dir)
	if err != nil {
		panic(fmt.Sprintf("store: embedded migrations: %v", err))
	}
	var out []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			panic(fmt.Sprintf("store: migration %s/%s: want NNNN_name.sql", dir, e.Name()))
		}
		b, err := migrationFiles.ReadFile(path.Join(dir, e.Name()))
		if err != nil {
			panic(fmt.Sprintf("store: migration %s: %v", e.Name(), err))
		}
		out = append(out, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out
}

func latestVersion(d *dialect) int {
	m := migrations(d)
	if len(m) == 0 {
		return 0
	}
	return m[len(m)-1].version
}

// statements splits a migration into statements: each ends with ';' at
// the end of a line. Comment lines are dropped.
func statements(src string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(src, "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(t, ";") {
			out = append(out, strings.TrimSpace(cur.String()))
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_us BIGINT NOT NULL)`

// migrate applies the missing migrations in one transaction (all or
// none) and returns the version after. Two processes migrating at once
// are serialised (SQLite's write lock, PostgreSQL's advisory lock): the
// second finds the work done.
func migrate(ctx context.Context, c *conns) (int, error) {
	return migrateWith(ctx, c, migrations(c.d))
}

func migrateWith(ctx context.Context, c *conns, all []migration) (int, error) {
	tx, err := c.writer.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("migrate: begin: %w", c.d.classify(err))
	}
	defer func() { _ = tx.Rollback() }()
	if c.d.migrationLock != "" {
		if _, err := tx.ExecContext(ctx, c.d.migrationLock); err != nil {
			return 0, fmt.Errorf("migrate: lock: %w", c.d.classify(err))
		}
	}
	if _, err := tx.ExecContext(ctx, createMigrationsTable); err != nil {
		return 0, fmt.Errorf("migrate: %w", c.d.classify(err))
	}
	current, err := versionIn(ctx, c.d, tx)
	if err != nil {
		return 0, err
	}
	latest := 0
	if len(all) > 0 {
		latest = all[len(all)-1].version
	}
	if current > latest {
		return 0, fmt.Errorf("%w: the database is at version %d, this binary knows up to %d: run a newer hpa-autoscaler", ErrSchemaTooNew, current, latest)
	}
	for _, m := range all {
		if m.version <= current {
			continue
		}
		for i, stmt := range statements(m.sql) {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return 0, fmt.Errorf("migrate: %s: statement %d: %w", m.name, i+1, c.d.classify(err))
			}
		}
		if _, err := tx.ExecContext(ctx, c.d.q(`INSERT INTO schema_migrations (version, name, applied_us) VALUES (?, ?, ?)`),
			m.version, m.name, time.Now().UnixMicro()); err != nil {
			return 0, fmt.Errorf("migrate: record %s: %w", m.name, c.d.classify(err))
		}
		current = m.version
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("migrate: commit: %w", c.d.classify(err))
	}
	return current, nil
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func versionIn(ctx context.Context, d *dialect, q queryer) (int, error) {
	var v sql.NullInt64
	if err := q.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("schema version: %w", d.classify(err))
	}
	return int(v.Int64), nil
}

// schemaVersion reads the version without creating anything: an empty
// database is at 0.
func schemaVersion(ctx context.Context, c *conns) (int, error) {
	var exists bool
	var q string
	if c.d.name == "sqlite" {
		q = `SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`
	} else {
		q = `SELECT to_regclass('schema_migrations') IS NOT NULL`
	}
	if err := c.reader.QueryRowContext(ctx, q).Scan(&exists); err != nil {
		return 0, fmt.Errorf("schema version: %w", c.d.classify(err))
	}
	if !exists {
		return 0, nil
	}
	return versionIn(ctx, c.d, c.reader)
}
