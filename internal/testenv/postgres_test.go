package testenv

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func pgQueryInt(tb testing.TB, url, sql string) int {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(ctx, sql).Scan(&n); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
	return n
}

// TestPostgres starts a server, keeps a committed row across kill -9 and
// a restart on the same port, and removes its files at the end.
func TestPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := StartPostgres(t)
	db := p.NewDatabase(t)
	if err := p.ExecIn(ctx, dbName(t, db), "CREATE TABLE t (n int); INSERT INTO t VALUES (7)"); err != nil {
		t.Fatal(err)
	}
	if got := pgQueryInt(t, db, "SELECT n FROM t"); got != 7 {
		t.Fatalf("SELECT n = %d, want 7", got)
	}
	if got := pgQueryInt(t, p.URL(), "SELECT (current_setting('fsync') = 'on' AND current_setting('listen_addresses') = '127.0.0.1')::int"); got != 1 {
		t.Fatalf("fsync/listen_addresses not as configured")
	}
	port := p.Port()
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := p.ping(); err == nil {
		t.Fatal("a killed server answered")
	}
	if err := p.Kill(); err != nil { // killing twice is harmless
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	if p.Port() != port {
		t.Fatalf("port after restart = %d, want %d", p.Port(), port)
	}
	if got := pgQueryInt(t, db, "SELECT n FROM t"); got != 7 {
		t.Fatalf("after kill -9 and restart: SELECT n = %d, want 7", got)
	}
	dir := p.Dir()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("directory %s left behind (%v)", dir, err)
	}
}

func TestSharedPostgres(t *testing.T) {
	t.Parallel()
	var s SharedPostgres
	defer func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	}()
	p := s.Get(t)
	if s.Get(t) != p {
		t.Fatal("second Get started another server")
	}
	a, b := p.NewDatabase(t), p.NewDatabase(t)
	if a == b {
		t.Fatalf("NewDatabase returned %s twice", a)
	}
	if got := pgQueryInt(t, a, "SELECT 1"); got != 1 {
		t.Fatalf("SELECT 1 = %d", got)
	}
}

func dbName(tb testing.TB, url string) string {
	tb.Helper()
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		tb.Fatal(err)
	}
	return cfg.Database
}
