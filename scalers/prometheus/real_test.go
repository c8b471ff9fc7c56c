package prometheus

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// eventually polls s until check accepts its answer (scrapes take up to a
// scrape interval to show) and returns the last answer.
func eventually(tb testing.TB, s *Scaler, what string, check func(float64, error) bool) (float64, error) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		v, err := s.Value(tb.Context())
		if check(v, err) {
			return v, err
		}
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s; last answer %v, %v", what, v, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func is(want float64) func(float64, error) bool {
	return func(v float64, err error) bool { return err == nil && v == want }
}

// TestRealPrometheus runs the scaler against the installed Prometheus
// server, scraping a target whose series the test changes.
func TestRealPrometheus(t *testing.T) {
	target := testenv.NewMetricsTarget(t)
	target.Set(`hpa_queue{queue="a"}`, 42)
	target.Set(`hpa_queue{queue="b"}`, 8)
	p := testenv.StartPrometheus(t, testenv.PrometheusOptions{Targets: []string{target.Addr()}})

	scaler := func(tb testing.TB, kv ...string) *Scaler {
		tb.Helper()
		return newScaler(tb, md(append([]string{"serverAddress", p.URL, "threshold", "10", "activationThreshold", "5"}, kv...)...), Options{})
	}

	t.Run("a gauge the target changes", func(t *testing.T) {
		s := scaler(t, "query", `hpa_queue{queue="a"}`)
		eventually(t, s, "42", is(42))
		m, err := s.Metrics(t.Context())
		if v, _ := m.Value("prometheus"); err != nil || v != 42 || !m.Active {
			t.Fatalf("got %v active %v err %v, want 42 active", v, m.Active, err)
		}
		target.Set(`hpa_queue{queue="a"}`, 3)
		eventually(t, s, "3 after the next scrape", is(3))
		m, err = s.Metrics(t.Context())
		if v, _ := m.Value("prometheus"); err != nil || v != 3 || m.Active {
			t.Fatalf("got %v active %v err %v, want 3 inactive", v, m.Active, err)
		}
	})

	t.Run("aggregation and scalar results", func(t *testing.T) {
		eventually(t, scaler(t, "query", `sum(hpa_queue)`), "sum 11", is(11))
		eventually(t, scaler(t, "query", `scalar(max(hpa_queue))`), "scalar 8", is(8))
		eventually(t, scaler(t, "query", `vector(2.5)`), "2.5", is(2.5))
	})

	t.Run("several series", func(t *testing.T) {
		s := scaler(t, "query", `hpa_queue`)
		_, err := s.Value(t.Context())
		scalertest.CheckErr(t, err, scalers.ErrNoData, "returned 2 samples, expected exactly 1", `queue="a"`)
	})

	t.Run("a series that goes away", func(t *testing.T) {
		target.Set(`hpa_gone`, 4)
		ignore := scaler(t, "query", `hpa_gone`)
		strict := scaler(t, "query", `hpa_gone`, "ignoreNullValues", "false")
		eventually(t, strict, "4", is(4))
		target.Delete(`hpa_gone`)
		// The next scrape marks the series stale: the query is empty.
		eventually(t, strict, "no samples", func(_ float64, err error) bool { return errors.Is(err, scalers.ErrNoData) })
		_, err := strict.Value(t.Context())
		scalertest.CheckErr(t, err, scalers.ErrNoData, "returned no samples")
		if v, err := ignore.Value(t.Context()); err != nil || v != 0 {
			t.Fatalf("ignoreNullValues: got %v, %v; want 0", v, err)
		}
	})

	t.Run("NaN", func(t *testing.T) {
		target.Set(`hpa_nan`, math.NaN())
		strict := scaler(t, "query", `hpa_nan`, "ignoreNullValues", "false")
		eventually(t, strict, "NaN", func(_ float64, err error) bool {
			return err != nil && errors.Is(err, scalers.ErrNoData) && strings.Contains(err.Error(), "returned NaN")
		})
		if v, err := scaler(t, "query", `hpa_nan`).Value(t.Context()); err != nil || v != 0 {
			t.Fatalf("ignoreNullValues: got %v, %v; want 0", v, err)
		}
	})

	t.Run("invalid PromQL", func(t *testing.T) {
		_, err := scaler(t, "query", `sum(hpa_queue`).Value(t.Context())
		scalertest.CheckErr(t, err, scalers.ErrInvalidConfig, `query "sum(hpa_queue": rejected by `+p.URL, "parse error")
	})

	t.Run("range vector", func(t *testing.T) {
		_, err := scaler(t, "query", `hpa_queue{queue="b"}[1m]`).Value(t.Context())
		scalertest.CheckErr(t, err, scalers.ErrNoData, "range vector")
	})

	t.Run("query parameters and namespace", func(t *testing.T) {
		// Prometheus ignores parameters it does not know; a bad value of one
		// it knows is a configuration error.
		eventually(t, scaler(t, "query", `sum(hpa_queue)`, "namespace", "ns", "queryParameters", "dedup=true"), "sum", func(_ float64, err error) bool { return err == nil })
		_, err := scaler(t, "query", `sum(hpa_queue)`, "queryParameters", "timeout=banana").Value(t.Context())
		scalertest.CheckErr(t, err, scalers.ErrInvalidConfig, "rejected by")
	})
}

// TestRealPrometheusDownAndBack takes the server away and brings it back:
// errors wrap ErrUnavailable meanwhile and the same scaler recovers.
func TestRealPrometheusDownAndBack(t *testing.T) {
	p := testenv.StartPrometheus(t, testenv.PrometheusOptions{RemoteWriteReceiver: true})
	if err := p.RemoteWrite(t.Context(), testenv.RemoteSample{Labels: map[string]string{"__name__": "hpa_pushed", "q": "x"}, Value: 6}); err != nil {
		t.Fatalf("remote write: %v", err)
	}
	s := newScaler(t, md("serverAddress", p.URL, "query", `hpa_pushed{q="x"}`), Options{})
	if v, err := s.Value(t.Context()); err != nil || v != 6 {
		t.Fatalf("before: got %v, %v; want 6", v, err)
	}
	p.Stop()
	_, err := s.Value(t.Context())
	scalertest.CheckErr(t, err, scalers.ErrUnavailable, "prometheus query: "+p.URL, "connection refused")
	if err := p.Restart(); err != nil {
		t.Fatalf("restart: %v", err)
	}
	if v, err := s.Value(t.Context()); err != nil || v != 6 {
		t.Fatalf("after restart: got %v, %v; want 6", v, err)
	}
}
