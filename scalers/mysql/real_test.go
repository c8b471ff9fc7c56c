package mysql

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/custom"
)

// newDSN returns the DSN of a fresh database of the shared server with a
// table jobs(state, n) holding 3 'queued' rows.
func newDSN(t *testing.T) string {
	t.Helper()
	srv := db.Get(t)
	name := srv.NewDatabase(t)
	if err := srv.ExecIn(t.Context(), name, `CREATE TABLE jobs (state varchar(10), n decimal(10,2));
		INSERT INTO jobs VALUES ('queued', 1.5), ('queued', 2), ('queued', NULL), ('done', 4)`); err != nil {
		t.Fatal(err)
	}
	return srv.DSN(name)
}

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
	dsn := newDSN(t)
	pools := NewPools(PoolsOptions{})
	for _, tt := range []struct {
		query  string
		want   float64
		err    error
		substr string
	}{
		{query: "SELECT count(*) FROM jobs WHERE state = 'queued'", want: 3},
		{query: "SELECT sum(n) FROM jobs", want: 7.5},
		{query: "SELECT '12'", want: 12},
		{query: "SELECT n FROM jobs WHERE state = 'none'", err: scalers.ErrNoData, substr: "returned no row"},
		{query: "SELECT n FROM jobs", err: scalers.ErrNoData, substr: "more than one row"},
		{query: "SELECT sum(n) FROM jobs WHERE state = 'none'", err: scalers.ErrNoData, substr: "returned NULL"},
		{query: "SELECT 1, 2", err: scalers.ErrNoData, substr: "returned 2 columns"},
		{query: "SELECT 'many'", err: scalers.ErrNoData, substr: `"many", want a number`},
		{query: "SELECT now()", err: scalers.ErrNoData, substr: "type DATETIME"},
		{query: "SELEC 1", err: scalers.ErrInvalidConfig, substr: "error 1064"},
		{query: "SELECT count(*) FROM nothing", err: scalers.ErrInvalidConfig, substr: "error 1146"},
		{query: "INSERT INTO jobs VALUES ('x', 1)", err: scalers.ErrInvalidConfig, substr: "READ ONLY"},
		{query: "SELECT 1; DELETE FROM jobs", err: scalers.ErrInvalidConfig, substr: "error 1064"},
		{query: "SELECT count(*) FROM jobs", want: 4},
	} {
		t.Run(tt.query, func(t *testing.T) {
			s := build(t, pools, map[string]string{"query": tt.query, "queryValue": "2", "connectionString": dsn})
			v, err := s.Value(t.Context())
			if tt.err != nil {
				scalertest.CheckErr(t, err, tt.err, tt.substr, "mysql query ")
				return
			}
			if err != nil || v != tt.want {
				t.Fatalf("value %v, %v; want %v", v, err, tt.want)
			}
		})
	}
}

// TestSeparateKeysAndActivation: host, port, username, dbName as KEDA
// builds its connection from them; activation strictly above.
func TestSeparateKeysAndActivation(t *testing.T) {
	dsn := newDSN(t)
	name := dsn[strings.LastIndexByte(dsn, '/')+1:]
	pools := NewPools(PoolsOptions{})
	for _, tt := range []struct {
		activation string
		active     bool
	}{{"2", true}, {"3", false}} {
		s := build(t, pools, map[string]string{"query": "SELECT count(*) FROM jobs WHERE state = 'queued'", "queryValue": "2",
			"activationQueryValue": tt.activation, "host": "127.0.0.1", "port": fmt.Sprint(db.Get(t).Port()), "username": "root", "dbName": name})
		m, err := s.Metrics(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if v, _ := m.Value("mysql-" + name); v != 3 || m.Active != tt.active {
			t.Errorf("activation %s: %+v, want 3 active %v", tt.activation, m, tt.active)
		}
	}
	if open, _ := pools.Stats(); open != 1 {
		t.Errorf("%d pools for one setting", open)
	}
}

func TestSharedPools(t *testing.T) {
	dsn := newDSN(t)
	pools := NewPools(PoolsOptions{MaxPools: 1})
	a := build(t, pools, map[string]string{"query": "SELECT 1", "queryValue": "1", "connectionString": dsn})
	b := build(t, pools, map[string]string{"query": "SELECT 2", "queryValue": "1", "connectionString": dsn})
	if a.pool != b.pool {
		t.Error("same settings, different pools")
	}
	_, err := pools.Factory()(t.Context(), scalers.Config{Metadata: map[string]string{"query": "SELECT 1", "queryValue": "1", "connectionString": dsn + "?timeout=1s"}})
	scalertest.CheckErr(t, err, scalers.ErrLimit, "1 distinct connection pools")
	scalertest.Concurrently(t, 8, 20, func() error { _, err := a.Metrics(t.Context()); return err })
	_ = a.Close()
	_ = b.Close()
	if open, _ := pools.Stats(); open != 0 {
		t.Errorf("%d pools open after Close", open)
	}
	if _, err := a.Metrics(t.Context()); !errors.Is(err, scalers.ErrClosed) {
		t.Errorf("Metrics after Close: %v", err)
	}
}

// TestStatementTimeout: a slow query is interrupted by the server's
// max_statement_time within the bound, beside a fast query, and the pool
// works afterwards.
func TestStatementTimeout(t *testing.T) {
	dsn := newDSN(t)
	pools := NewPools(PoolsOptions{})
	slow := build(t, pools, map[string]string{"query": "SELECT count(*) FROM jobs WHERE SLEEP(30) = 0", "queryValue": "1", "connectionString": dsn, "timeout": "700"})
	fast := build(t, pools, map[string]string{"query": "SELECT 1", "queryValue": "1", "connectionString": dsn, "timeout": "700"})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		err := scalertest.ReturnsWithin(t, slow.bound, "the slow query", func() error { _, err := slow.Value(context.Background()); return err })
		scalertest.CheckErr(t, err, scalers.ErrUnavailable, "statement timeout", "max_statement_time exceeded")
	}()
	if err := scalertest.ReturnsWithin(t, fast.bound, "a fast query beside it", func() error { _, err := fast.Value(t.Context()); return err }); err != nil {
		t.Errorf("fast query: %v", err)
	}
	wg.Wait()
	if v, err := fast.Value(t.Context()); err != nil || v != 1 {
		t.Errorf("after: %v, %v", v, err)
	}
}

// TestOutage: errors while the server is down (within the bound), values
// when it is back, after a stop and after a kill.
func TestOutage(t *testing.T) {
	srv := testenv.StartMariaDB(t)
	s := build(t, NewPools(PoolsOptions{}), map[string]string{"query": "SELECT 41 + 1", "queryValue": "1", "connectionString": srv.DSN(""), "timeout": "2000"})
	if v, err := s.Value(t.Context()); err != nil || v != 42 {
		t.Fatalf("before: %v, %v", v, err)
	}
	for _, halt := range []func() error{srv.Stop, srv.Kill} {
		if err := halt(); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			err := scalertest.ReturnsWithin(t, s.bound, "a call while the server is down", func() error { _, err := s.Value(t.Context()); return err })
			scalertest.CheckErr(t, err, scalers.ErrUnavailable, "mysql 127.0.0.1:")
		}
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
}

func TestNoPasswordInErrors(t *testing.T) {
	hole := scalertest.NewBlackHole(t)
	host, port, _ := strings.Cut(hole.Addr(), ":")
	for _, md := range []map[string]string{
		{"connectionString": "u:hunter2-pw@tcp(" + hole.Addr() + ")/db"},
		{"host": host, "port": port, "username": "u", "dbName": "d", "password": "hunter2-pw"},
	} {
		md["query"], md["queryValue"], md["timeout"] = "SELECT 1", "1", "500"
		s := build(t, NewPools(PoolsOptions{}), md)
		err := scalertest.ReturnsWithin(t, s.bound, "a call to a black hole", func() error { _, err := s.Value(t.Context()); return err })
		scalertest.CheckErr(t, err, scalers.ErrUnavailable, "mysql 127.0.0.1:")
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error shows the password: %v", err)
		}
	}
}

// TestCustomSource: a custom trigger uses mysql as a source without a
// queryValue (DefaultTarget fills it).
func TestCustomSource(t *testing.T) {
	dsn := newDSN(t)
	r := scalers.NewRegistry()
	r.MustRegister(Type, NewPools(PoolsOptions{}).Factory(), scalers.WithDefaultTarget(DefaultTarget))
	r.MustRegister(custom.Type, custom.NewFactory(r))
	s, err := r.New(t.Context(), scalers.Config{Type: custom.Type, Metadata: map[string]string{
		"expression": "q - 1.0", "threshold": "1",
		"source.q.type": Type, "source.q.connectionString": dsn, "source.q.query": "SELECT count(*) FROM jobs",
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	name := s.MetricSpecs()[0].Name
	if m, err := s.Metrics(t.Context()); err != nil {
		t.Error(err)
	} else if v, _ := m.Value(name); v != 3 {
		t.Errorf("value %v, want 3", v)
	}
}
