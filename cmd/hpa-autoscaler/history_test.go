package main

import (
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/store"
	"github.com/hpa-autoscaler/hpa-autoscaler/demand"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
)

// importTrace is a trace of one-minute points, two in the minute 00:02
// (averaged), then a gap of five minutes: longer than the trace's own
// interval (a minute), so it stays a gap.
const importTrace = `timestamp,value
2026-01-05 00:00:00,10
2026-01-05 00:01:00,20
2026-01-05 00:02:00,30
2026-01-05 00:02:30,50
2026-01-05 00:03:00,40
2026-01-05 00:09:00,100
`

func writeTrace(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "trace.csv")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func newStoreTenant(t *testing.T, dbURL string, id store.TenantID) {
	t.Helper()
	s, err := store.Open(t.Context(), dbURL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Update(t.Context(), id, "test", func(tx store.Tx) error {
		_, err := tx.CreateTenant(string(id))
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// newStoreScaler creates cluster and a scaler name of namespace ns in it,
// as the REST API would.
func newStoreScaler(t *testing.T, dbURL string, tenant store.TenantID, cluster, ns, name string) {
	t.Helper()
	s, err := store.Open(t.Context(), dbURL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Update(t.Context(), tenant, "test", func(tx store.Tx) error {
		if _, err := tx.CreateCluster(store.Cluster{ID: cluster, Name: cluster}); err != nil {
			return err
		}
		_, err := tx.CreateScaler(store.Scaler{Name: name, Namespace: ns, Cluster: cluster,
			Spec: v1.ScalerSpec{TargetRef: v1.TargetRef{APIVersion: "apps/v1", Kind: "Deployment", Name: name}}})
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

func readHistory(t *testing.T, dbURL string, tenant store.TenantID, k store.SeriesKey, from, to time.Time) []store.HistoryPoint {
	t.Helper()
	s, err := store.Open(t.Context(), dbURL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pts, err := s.ReadHistory(t.Context(), tenant, k, from, to)
	if err != nil {
		t.Fatal(err)
	}
	return pts
}

func TestHistoryImport(t *testing.T) {
	for _, db := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "hpa.db") }},
		{"postgres", func(t *testing.T) string { return testenv.StartPostgres(t).NewDatabase(t) }},
	} {
		t.Run(db.name, func(t *testing.T) {
			t.Parallel()
			dbURL := db.url(t)
			newStoreTenant(t, dbURL, "acme")
			trace := writeTrace(t, importTrace)
			code, stdout, stderr := runCmd(t, "history", "import", "--db", dbURL, "--tenant", "acme", "--scaler", "shop/web", "--trigger", "rps", "--cluster", "c1", "--trace", trace)
			if code != 0 || stdout != "imported 5 steps of 1m0s into acme/c1/shop/shop.web/rps (2026-01-05T00:00:00Z to 2026-01-05T00:10:00Z)\n" {
				t.Fatalf("import: exit %d, stdout %q, stderr %q", code, stdout, stderr)
			}
			t0 := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
			k := store.SeriesKey{Cluster: "c1", Namespace: "shop", Scaler: "shop.web", Trigger: "rps"}
			at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
			want := []store.HistoryPoint{
				{Time: at(0), Step: time.Minute, Value: 10, Samples: 1},
				{Time: at(1), Step: time.Minute, Value: 20, Samples: 1},
				{Time: at(2), Step: time.Minute, Value: 40, Samples: 2},
				{Time: at(3), Step: time.Minute, Value: 40, Samples: 1},
				{Time: at(9), Step: time.Minute, Value: 100, Samples: 1},
			}
			if diff := cmp.Diff(want, readHistory(t, dbURL, "acme", k, t0, at(60))); diff != "" {
				t.Fatalf("imported history (-want +got):\n%s", diff)
			}

			// Again at a five-minute step, cut at 00:09 and moved to end
			// at 2026-02-01 00:00: one series of its own step, the
			// 5-minute gap of a trace of 1-minute points left a gap.
			code, stdout, stderr = runCmd(t, "history", "import", "--db", dbURL, "--tenant", "acme", "--scaler", "shop/web", "--trigger", "rps5", "--trace", trace,
				"--step", "5m", "--until", "2026-01-05T00:09:00Z", "--end-at", "2026-02-01T00:00:00Z")
			if code != 0 || !strings.HasPrefix(stdout, "imported 1 steps of 5m0s into acme//shop/shop.web/rps5 (2026-01-31T23:55:00Z to 2026-02-01T00:00:00Z)") {
				t.Fatalf("import --until --end-at: exit %d, stdout %q, stderr %q", code, stdout, stderr)
			}
			got := readHistory(t, dbURL, "acme", store.SeriesKey{Namespace: "shop", Scaler: "shop.web", Trigger: "rps5"}, t0, at(60*24*40))
			if len(got) != 1 || got[0].Value != (10+20+30+50+40)/5.0 || got[0].Samples != 5 || got[0].Step != 5*time.Minute {
				t.Fatalf("5m import: %+v", got)
			}

			// A scaler created through the REST API is stored under its
			// own name: its series is that name's, in its cluster.
			newStoreScaler(t, dbURL, "acme", "c2", "shop", "web")
			code, stdout, stderr = runCmd(t, "history", "import", "--db", dbURL, "--tenant", "acme", "--scaler", "shop/web", "--trigger", "rps", "--trace", trace)
			if code != 0 || !strings.HasPrefix(stdout, "imported 5 steps of 1m0s into acme/c2/shop/web/rps (") {
				t.Fatalf("import of a stored scaler: exit %d, stdout %q, stderr %q", code, stdout, stderr)
			}
			if got := readHistory(t, dbURL, "acme", store.SeriesKey{Cluster: "c2", Namespace: "shop", Scaler: "web", Trigger: "rps"}, t0, at(60)); len(got) != 5 {
				t.Fatalf("stored scaler's series: %+v", got)
			}
		})
	}
}

// TestHistoryImportCoarseTrace: a trace coarser than the step is filled
// between its points; the NYC taxi trace (30 minutes) imports whole.
func TestHistoryImportCoarseTrace(t *testing.T) {
	dbURL := "sqlite:" + filepath.Join(t.TempDir(), "hpa.db")
	newStoreTenant(t, dbURL, "acme")
	trace := filepath.Join("..", "..", "examples", "traces", "nab", "nyc_taxi.csv")
	code, stdout, stderr := runCmd(t, "history", "import", "--db", dbURL, "--tenant", "acme", "--scaler", "nyc/taxi", "--trigger", "rides", "--trace", trace,
		"--until", "2014-07-01T02:00:00Z")
	if code != 0 || !strings.HasPrefix(stdout, "imported 91 steps of 1m0s") {
		t.Fatalf("import: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	t0 := time.Date(2014, 7, 1, 0, 0, 0, 0, time.UTC)
	pts := readHistory(t, dbURL, "acme", store.SeriesKey{Namespace: "nyc", Scaler: "nyc.taxi", Trigger: "rides"}, t0, t0.Add(3*time.Hour))
	// 10844 at 00:00, 8127 at 00:30: 00:15 is halfway.
	if len(pts) != 91 || pts[0].Value != 10844 || pts[15].Value != (10844+8127)/2.0 || pts[30].Value != 8127 {
		t.Fatalf("imported %d points: %v %v %v", len(pts), pts[0], pts[15], pts[30])
	}
}

func TestHistoryImportErrors(t *testing.T) {
	dbURL := "sqlite:" + filepath.Join(t.TempDir(), "hpa.db")
	newStoreTenant(t, dbURL, "acme")
	trace := writeTrace(t, importTrace)
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no tenant", []string{"--scaler", "a/b", "--trigger", "x", "--trace", trace}, 2, `--tenant`},
		{"scaler without namespace", []string{"--tenant", "acme", "--scaler", "web", "--trigger", "x", "--trace", trace}, 2, `--scaler "web": want NAMESPACE/NAME`},
		{"no trigger", []string{"--tenant", "acme", "--scaler", "a/b", "--trace", trace}, 2, `trigger ""`},
		{"no trace", []string{"--tenant", "acme", "--scaler", "a/b", "--trigger", "x"}, 2, `--trace: required`},
		{"bad until", []string{"--tenant", "acme", "--scaler", "a/b", "--trigger", "x", "--trace", trace, "--until", "tomorrow"}, 2, `--until "tomorrow"`},
		{"bad step", []string{"--tenant", "acme", "--scaler", "a/b", "--trigger", "x", "--trace", trace, "--step", "1500ms"}, 2, `--step 1.5s`},
		{"unknown tenant", []string{"--tenant", "nobody", "--scaler", "a/b", "--trigger", "x", "--trace", trace}, 1, `--tenant nobody`},
		{"trace missing", []string{"--tenant", "acme", "--scaler", "a/b", "--trigger", "x", "--trace", trace + ".no"}, 1, `--trace`},
		{"nothing before until", []string{"--tenant", "acme", "--scaler", "a/b", "--trigger", "x", "--trace", trace, "--until", "2020-01-01T00:00:00Z"}, 1, `no points to import`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCmd(t, append([]string{"history", "import", "--db", dbURL}, tc.args...)...)
			if code != tc.code || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, stderr, tc.code, tc.want)
			}
		})
	}
}

// TestHistoryImportWhileServing imports into the SQLite database a
// running serve has open (the writes wait for its lock), and the next
// serve on the database lists the series at its start.
func TestHistoryImportWhileServing(t *testing.T) {
	dir := t.TempDir()
	dbURL := "sqlite:" + filepath.Join(dir, "hpa.db")
	s := startServeInProcess(t, "--db", dbURL)
	trace := filepath.Join("..", "..", "examples", "traces", "nab", "nyc_taxi.csv")
	code, stdout, stderr := runCmd(t, "history", "import", "--db", dbURL, "--tenant", "default", "--scaler", "nyc/taxi", "--trigger", "rides", "--trace", trace,
		"--until", "2014-07-15T00:00:00Z", "--end-at", "now")
	if code != 0 || !strings.HasPrefix(stdout, "imported ") {
		t.Fatalf("import while serving: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if c := s.stop(); c != 0 {
		t.Fatalf("serve exited %d; stderr:\n%s", c, s.stderr.String())
	}
	s2 := startServeInProcess(t, "--db", dbURL)
	if !strings.Contains(s2.stderr.String(), `"msg":"backend: metric history"`) || !strings.Contains(s2.stderr.String(), `"series":1`) {
		t.Fatalf("the second serve did not list the imported series; stderr:\n%s", s2.stderr.String())
	}
	// No goroutine of the history outlives serve.
	if c := s2.stop(); c != 0 {
		t.Fatalf("serve exited %d; stderr:\n%s", c, s2.stderr.String())
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		if !strings.Contains(stacks, "hpa-autoscaler/backend/history.") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines of backend/history left 10s after serve returned:\n%s", stacks)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// FuzzTraceSteps: any trace demand reads puts on the grid without a
// panic, in increasing aligned steps with finite values.
func FuzzTraceSteps(f *testing.F) {
	f.Add(importTrace, int64(60))
	f.Add("timestamp,value\n0,1\n1800,2\n", int64(60))
	f.Add("timestamp,value\n2014-07-01 00:00:00,1e308\n2014-07-01 00:30:00,-1e308\n", int64(1))
	f.Fuzz(func(t *testing.T, trace string, stepSeconds int64) {
		if stepSeconds < 1 || stepSeconds > 86400 {
			return // the flag's check refuses these
		}
		tr, err := demand.Read(strings.NewReader(trace), demand.Options{})
		if err != nil {
			return
		}
		if len(tr.Points) > 0 && tr.Points[len(tr.Points)-1].Time.Sub(tr.Points[0].Time) > 400*24*time.Hour {
			return // filled to a step, a long trace is a long test, not a bug
		}
		st := time.Duration(stepSeconds) * time.Second
		steps, err := traceSteps(tr, st, time.Time{}, time.Time{})
		if err != nil {
			return
		}
		for i, s := range steps {
			if !alignStep(s.at, st).Equal(s.at) || s.samples < 1 || math.IsNaN(s.value) || math.IsInf(s.value, 0) {
				t.Fatalf("step %d: %+v", i, s)
			}
			if i > 0 && !s.at.After(steps[i-1].at) {
				t.Fatalf("step %d at %v not after %v", i, s.at, steps[i-1].at)
			}
		}
	})
}
