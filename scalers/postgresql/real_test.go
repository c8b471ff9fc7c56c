package postgresql

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// newDB returns the URL of a fresh database of the shared server with a
// table jobs(state text, n numeric) holding 3 'queued' rows.
func newDB(t *testing.T) string {
	t.Helper()
	srv := pg.Get(t)
	url := srv.NewDatabase(t)
	db := url[strings.LastIndexByte(url, '/')+1 : strings.IndexByte(url, '?')]
	if err := srv.ExecIn(t.Context(), db, `CREATE TABLE jobs (state text, n numeric);
		INSERT INTO jobs VALUES ('queued', 1.5), ('queued', 2), ('queued', NULL), ('done', 4)`); err != nil {
		t.Fatal(err)
	}
	return url
}

// build builds a scaler of pools on metadata md and closes it with the
// test.
func build(t *testing.T, pools *Pools, md map[string]string) *Scaler {
	t.Helper()
	s, err := pools.Factory()(t.Context(), scalers.Config{Metadata: md, Timeouts: scalers.Timeouts{}.WithDefaults()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s.(*Scaler)
}

func TestQueries(t *testing.T) {
	url := newDB(t)
	pools := NewPools(PoolsOptions{})
	tests := []struct {
		query  string
		want   float64
		err    error
		substr []string
	}{
		{query: "SELECT count(*) FROM jobs WHERE state = 'queued'", want: 3},
		{query: "SELECT sum(n) FROM jobs", want: 7.5},
		{query: "SELECT avg(n)::float8 FROM jobs WHERE n IS NOT NULL", want: 2.5},
		{query: "SELECT '12'::text", want: 12},
		{query: "SELECT 2::smallint", want: 2},
		{query: "SELECT n FROM jobs WHERE state = 'none'", err: scalers.ErrNoData, substr: []string{"returned no row"}},
		{query: "SELECT n FROM jobs", err: scalers.ErrNoData, substr: []string{"more than one row"}},
		{query: "SELECT sum(n) FROM jobs WHERE state = 'none'", err: scalers.ErrNoData, substr: []string{`column "sum": returned NULL`}},
		{query: "SELECT 1, 2", err: scalers.ErrNoData, substr: []string{"returned 2 columns"}},
		{query: "SELECT 'many'", err: scalers.ErrNoData, substr: []string{`returned text "many"`}},
		{query: "SELECT now()", err: scalers.ErrNoData, substr: []string{"type time.Time"}},
		{query: "SELECT 'NaN'::numeric", err: scalers.ErrNoData, substr: []string{"finite"}},
		{query: "SELEC 1", err: scalers.ErrInvalidConfig, substr: []string{"syntax error", "42601"}},
		{query: "SELECT count(*) FROM nothing", err: scalers.ErrInvalidConfig, substr: []string{`relation "nothing" does not exist`}},
		// The transaction is read-only: a write fails, and nothing is
		// written (the count below stays 4).
		{query: "INSERT INTO jobs VALUES ('x', 1) RETURNING 1", err: scalers.ErrInvalidConfig, substr: []string{"read-only transaction", "25006"}},
		{query: "WITH d AS (DELETE FROM jobs RETURNING 1) SELECT count(*) FROM d", err: scalers.ErrInvalidConfig, substr: []string{"read-only"}},
		// One statement only: the second cannot sneak in.
		{query: "SELECT 1; DELETE FROM jobs", err: scalers.ErrInvalidConfig, substr: []string{"cannot insert multiple commands"}},
		{query: "COMMIT", err: scalers.ErrNoData, substr: []string{"returned 0 columns"}},
		{query: "SELECT count(*) FROM jobs", want: 4},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			s := build(t, pools, map[string]string{"query": tt.query, "targetQueryValue": "2", "connection": url})
			v, err := s.Value(t.Context())
			if tt.err != nil {
				scalertest.CheckErr(t, err, tt.err, append(tt.substr, "postgresql query ")...)
				return
			}
			if err != nil || v != tt.want {
				t.Fatalf("value %v, %v; want %v", v, err, tt.want)
			}
		})
	}
	if open, _ := pools.Stats(); open != 0 {
		t.Errorf("%d pools open after every scaler closed", open)
	}
}

func TestActivation(t *testing.T) {
	url := newDB(t)
	pools := NewPools(PoolsOptions{})
	for _, tt := range []struct {
		activation string
		active     bool
	}{{"2", true}, {"3", false}} {
		s := build(t, pools, map[string]string{"query": "SELECT count(*) FROM jobs WHERE state = 'queued'",
			"targetQueryValue": "2", "activationTargetQueryValue": tt.activation, "connectionFromEnv": url})
		m, err := s.Metrics(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if v, _ := m.Value("postgresql"); v != 3 || m.Active != tt.active {
			t.Errorf("activation %s: value %v active %v, want 3 %v", tt.activation, v, m.Active, tt.active)
		}
	}
}

// TestSeparateKeys: host, port, userName, dbName and sslmode, as KEDA
// builds its string from them.
func TestSeparateKeys(t *testing.T) {
	url := newDB(t)
	db := url[strings.LastIndexByte(url, '/')+1 : strings.IndexByte(url, '?')]
	s := build(t, NewPools(PoolsOptions{}), map[string]string{"query": "SELECT count(*) FROM jobs", "targetQueryValue": "1",
		"host": "127.0.0.1", "port": fmt.Sprint(pg.Get(t).Port()), "userName": "postgres", "dbName": db, "sslmode": "disable", "password": "unused-with-trust"})
	if v, err := s.Value(t.Context()); err != nil || v != 4 {
		t.Fatalf("value %v, %v", v, err)
	}
}

// TestSharedPools: triggers with the same settings share one pool, others
// get theirs, the last Close closes it, and MaxPools is a limit.
func TestSharedPools(t *testing.T) {
	url := newDB(t)
	other := newDB(t)
	pools := NewPools(PoolsOptions{MaxPools: 2})
	f := pools.Factory()
	mk := func(conn, query string) (scalers.Scaler, error) {
		return f(t.Context(), scalers.Config{Metadata: map[string]string{"query": query, "targetQueryValue": "1", "connection": conn}})
	}
	a, err := mk(url, "SELECT 1")
	if err != nil {
		t.Fatal(err)
	}
	b, err := mk(url, "SELECT count(*) FROM jobs")
	if err != nil {
		t.Fatal(err)
	}
	if open, _ := pools.Stats(); open != 1 {
		t.Errorf("same settings: %d pools, want 1", open)
	}
	if a.(*Scaler).pool.pool != b.(*Scaler).pool.pool {
		t.Error("same settings, different pools")
	}
	c, err := mk(other, "SELECT 1")
	if err != nil {
		t.Fatal(err)
	}
	if open, limit := pools.Stats(); open != 2 || limit != 2 {
		t.Errorf("stats %d/%d, want 2/2", open, limit)
	}
	_, err = mk(other+"&application_name=third", "SELECT 1")
	scalertest.CheckErr(t, err, scalers.ErrLimit, "2 distinct connection pools")
	// Concurrent calls on the shared pool.
	scalertest.Concurrently(t, 8, 20, func() error {
		_, err := b.Metrics(t.Context())
		return err
	})
	for _, s := range []scalers.Scaler{a, b, c} {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if open, _ := pools.Stats(); open != 0 {
		t.Errorf("%d pools open after Close", open)
	}
	if _, err := a.Metrics(t.Context()); !errors.Is(err, scalers.ErrClosed) {
		t.Errorf("Metrics after Close: %v", err)
	}
}

// TestStatementTimeout: a slow query ends at the statement timeout, with
// an error that says so, within the trigger's bound; the pool's
// connection is fine afterwards, and other calls are not held up.
func TestStatementTimeout(t *testing.T) {
	url := newDB(t)
	pools := NewPools(PoolsOptions{MaxConns: 2})
	slow := build(t, pools, map[string]string{"query": "SELECT pg_sleep(30)", "targetQueryValue": "1", "connection": url, "timeout": "700"})
	if slow.bound != 700*time.Millisecond || slow.stmtMS != "630" {
		t.Errorf("bound %v, statement timeout %s ms", slow.bound, slow.stmtMS)
	}
	fast := build(t, pools, map[string]string{"query": "SELECT 1", "targetQueryValue": "1", "connection": url, "timeout": "700"})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		err := scalertest.ReturnsWithin(t, slow.bound, "the slow query", func() error { _, err := slow.Value(context.Background()); return err })
		scalertest.CheckErr(t, err, scalers.ErrUnavailable, "statement timeout", "pg_sleep")
	}()
	err := scalertest.ReturnsWithin(t, slow.bound, "a fast query beside it", func() error { _, err := fast.Value(t.Context()); return err })
	if err != nil {
		t.Errorf("fast query: %v", err)
	}
	wg.Wait()
	if v, err := fast.Value(t.Context()); err != nil || v != 1 {
		t.Errorf("after the timeout: %v, %v", v, err)
	}
}

// TestDefaultTimeout: 10 s without a timeout key, capped by the server's
// maximum; the timeout key in milliseconds otherwise.
func TestDefaultTimeout(t *testing.T) {
	cases := []scalertest.TimeoutCase{
		{Name: "the default", Want: DefaultTimeout},
		{Name: "0 is the default", Timeout: "0", Want: DefaultTimeout},
		{Name: "milliseconds", Timeout: "1500", Want: 1500 * time.Millisecond},
		{Name: "the default above a lower maximum", Max: 5 * time.Second, Want: 5 * time.Second,
			WantLog: []string{"INFO timeout above the server's maximum, lowered to it key=timeout asked=10s max=5s"}},
		{Name: "above the maximum", Timeout: "1h", Want: 30 * time.Second,
			WantLog: []string{"INFO timeout above the server's maximum, lowered to it key=timeout asked=1h0m0s max=30s"}},
	}
	scalertest.CheckTimeouts(t, cases, func(tb testing.TB, c scalertest.TimeoutCase, log *slog.Logger) time.Duration {
		md := map[string]string{"query": "SELECT 1", "targetQueryValue": "1", "connection": "postgres://localhost/db"}
		if c.Timeout != "" {
			md["timeout"] = c.Timeout
		}
		s, err := New(t.Context(), scalers.Config{Metadata: md, Logger: log, Timeouts: scalers.Timeouts{Default: c.Default, Max: c.Max}})
		if err != nil {
			tb.Fatal(err)
		}
		defer s.Close()
		return s.(*Scaler).bound
	})
}

// TestOutage: the server stops (errors while it is down, within the
// bound, never a crash), then comes back (the next calls work, on new
// connections: the pool's old ones died with the server).
func TestOutage(t *testing.T) {
	srv := testenv.StartPostgres(t)
	s := build(t, NewPools(PoolsOptions{}), map[string]string{"query": "SELECT 41 + 1", "targetQueryValue": "1", "connection": srv.URL(), "timeout": "2000"})
	if v, err := s.Value(t.Context()); err != nil || v != 42 {
		t.Fatalf("before: %v, %v", v, err)
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		err := scalertest.ReturnsWithin(t, s.bound, "a call while the server is down", func() error { _, err := s.Value(t.Context()); return err })
		scalertest.CheckErr(t, err, scalers.ErrUnavailable, "postgresql 127.0.0.1:")
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	// The first call after the restart already works: a broken pooled
	// connection empties the pool and the query is tried again.
	if v, err := s.Value(t.Context()); err != nil || v != 42 {
		t.Fatalf("first call after the restart: %v, %v", v, err)
	}
	// Killed (connections reset), then back.
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	_, err := s.Value(t.Context())
	scalertest.CheckErr(t, err, scalers.ErrUnavailable)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	scalertest.Eventually(t, time.Minute, "a value after the server came back", func() error {
		v, err := s.Value(t.Context())
		if err == nil && v != 42 {
			return fmt.Errorf("value %v", v)
		}
		return err
	})
}

// TestNoPasswordInErrors: a server that cannot be reached, with a
// password in the connection string and in the password key: neither is
// in the error.
func TestNoPasswordInErrors(t *testing.T) {
	hole := scalertest.NewDropper(t)
	for _, md := range []map[string]string{
		{"connection": "postgres://u:hunter2-pw@" + hole.Addr() + "/db?sslmode=disable"},
		{"connection": "host=" + strings.Split(hole.Addr(), ":")[0] + " port=" + strings.Split(hole.Addr(), ":")[1] + " user=u password='hunter2-pw' sslmode=disable"},
		{"host": strings.Split(hole.Addr(), ":")[0], "port": strings.Split(hole.Addr(), ":")[1], "userName": "u", "dbName": "d", "sslmode": "disable", "password": "hunter2-pw"},
	} {
		md["query"], md["targetQueryValue"], md["timeout"] = "SELECT 1", "1", "1000"
		s := build(t, NewPools(PoolsOptions{}), md)
		err := scalertest.ReturnsWithin(t, s.bound, "a call to a dropper", func() error { _, err := s.Value(t.Context()); return err })
		scalertest.CheckErr(t, err, scalers.ErrUnavailable, "postgresql 127.0.0.1:")
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error shows the password: %v", err)
		}
	}
}

// TestBlackHole: a server that accepts and never answers costs a call its
// bound, no more.
func TestBlackHole(t *testing.T) {
	hole := scalertest.NewBlackHole(t)
	s := build(t, NewPools(PoolsOptions{}), map[string]string{"query": "SELECT 1", "targetQueryValue": "1",
		"connection": "postgres://u:hunter2-pw@" + hole.Addr() + "/db?sslmode=disable", "timeout": "500"})
	err := scalertest.ReturnsWithin(t, s.bound, "a call to a black hole", func() error { _, err := s.Value(t.Context()); return err })
	scalertest.CheckErr(t, err, scalers.ErrUnavailable, "postgresql 127.0.0.1:")
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error shows the password: %v", err)
	}
}

// TestRotation: the password (passwordFile) and a whole connection string
// (connectionFile) are read again for each new connection.
func TestRotation(t *testing.T) {
	dir := t.TempDir()
	files, err := scalers.NewFileAccess(dir)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, v string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		// A new file renamed over the old, as the kubelet swaps a Secret.
		tmp := p + ".new"
		if err := os.WriteFile(tmp, []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pw := write("pw", "first")
	m, err := ParseMetadata(map[string]string{"query": "q", "targetQueryValue": "1", "host": "h", "port": "5432", "userName": "u",
		"dbName": "d", "sslmode": "disable", "passwordFile": pw}, files)
	if err != nil {
		t.Fatal(err)
	}
	hook := credentials(&m)
	cc := m.conn.Copy()
	if err := hook(t.Context(), cc); err != nil || cc.Password != "first" {
		t.Fatalf("password %q, %v", cc.Password, err)
	}
	write("pw", "second")
	cc = m.conn.Copy()
	if err := hook(t.Context(), cc); err != nil || cc.Password != "second" {
		t.Fatalf("after rotation: password %q, %v", cc.Password, err)
	}

	conn := write("conn", "postgres://a:one@h1:5432/db1?sslmode=disable")
	m, err = ParseMetadata(map[string]string{"query": "q", "targetQueryValue": "1", "connectionFile": conn}, files)
	if err != nil {
		t.Fatal(err)
	}
	hook = credentials(&m)
	write("conn", "postgres://b:two@h2:6432/db2?sslmode=disable")
	cc = m.conn.Copy()
	if err := hook(t.Context(), cc); err != nil {
		t.Fatal(err)
	}
	if cc.Host != "h2" || cc.Port != 6432 || cc.User != "b" || cc.Password != "two" || cc.Database != "db2" {
		t.Errorf("after rotation: %s user %s", describe(cc), cc.User)
	}
	write("conn", "postgres://b:secret-pw@h2:notaport/db2")
	err = hook(t.Context(), m.conn.Copy())
	if err == nil || strings.Contains(err.Error(), "secret-pw") || !strings.Contains(err.Error(), "connectionFile") {
		t.Errorf("a broken rotated string: %v", err)
	}
}
