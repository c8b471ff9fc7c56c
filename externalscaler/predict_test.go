package externalscaler

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc/codes"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/predictive"
)

func TestFloorValue(t *testing.T) {
	tests := []struct {
		name     string
		replicas int32
		target   float64
		want     float64
	}{
		{"whole target", 7, 5, 35},
		{"three decimals", 7, 0.333, 2.331},
		{"target rounded to KEDA's milli", 3, 0.3334, 0.999},
		{"tiny target is one milli", 4, 0.0001, 0.004},
		{"no floor", 0, 5, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := floorValue(tc.replicas, tc.target); math.Abs(got-tc.want) > 1e-12 {
				t.Errorf("floorValue(%d, %v) = %v, want %v", tc.replicas, tc.target, got, tc.want)
			}
		})
	}
	// The value asks KEDA's HPA for exactly the floor, and is the largest
	// that does: one milli more asks for one more replica.
	for _, target := range []float64{0.001, 0.333, 1, 2.5, 5, 7.777, 350, 500, 1e6} {
		for _, r := range []int32{1, 2, 3, 10, 19, 20, 999, 100000} {
			v := floorValue(r, target)
			if got := impliedReplicas(v, target); got != r {
				t.Errorf("target %v, floor %d: served %v implies %d replicas", target, r, v, got)
			}
			if got := impliedReplicas(v+0.001, target); got != r+1 {
				t.Errorf("target %v, floor %d: %v + 1 milli implies %d replicas, want %d", target, r, v, got, r+1)
			}
		}
	}
}

// blockingSink is a HistorySink whose Observe waits for release.
type blockingSink struct {
	recordingSink
	release chan struct{}
}

func (s *blockingSink) Observe(key HistoryKey, t time.Time, v float64) {
	<-s.release
	s.recordingSink.Observe(key, t, v)
}

// failingHistory is a HistorySource that always fails.
type failingHistory struct{}

func (failingHistory) History(context.Context, HistoryKey, time.Time) ([]HistorySample, error) {
	return nil, errors.New("history store down")
}

// TestPredictiveTrigger: the trigger's scaler never sees the predictive
// keys; without history the plain value is served; once the history has a
// forecast, a drop of the source is served as the value of the floor, the
// floor is in /metrics, and every fetched value went to the sink.
func TestPredictiveTrigger(t *testing.T) {
	env := &fakeEnv{}
	clk := clocktesting.NewFakeClock(time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC))
	sink := &recordingSink{}
	reg := prometheus.NewRegistry()
	ts := startServer(t, Options{Registry: env.registry(), Clock: clk, Registerer: reg, HistorySink: sink}, ServeOptions{})
	src := env.source("orders")
	src.set(10, nil)
	md := fakeMD("orders", "predictive", "true", "lookAhead", "2m", "historyStep", "1m", "confidenceThreshold", "0")
	r := ref("checkout", md)
	metric := "fake-orders"
	if v := getValue(t, ts.client, r, metric).MetricValueFloat; v != 10 {
		t.Fatalf("first value %v, want the source's 10 (no history yet)", v)
	}
	if n := testutil.CollectAndCount(ts.srv.m.floors); n != 0 {
		t.Errorf("%d floors in /metrics before any forecast, want none", n)
	}
	// The scaler was built without the server's keys.
	e, err := ts.srv.cache.acquire(t.Context(), "default", "checkout", md)
	if err != nil {
		t.Fatal(err)
	}
	inner := e.pred.Unwrap().(*fakeScaler)
	ts.srv.cache.release(e)
	for _, k := range predictive.MetadataKeys {
		if _, ok := inner.md[k]; ok {
			t.Errorf("the scaler got the server's key %q", k)
		}
	}
	calls := 1
	// Three hours of a steady 10, one call a minute.
	for range 180 {
		clk.Step(time.Minute)
		getValue(t, ts.client, r, metric)
		calls++
	}
	// The source drops to 1: the forecast still sees 10 ahead.
	src.set(1, nil)
	clk.Step(time.Minute)
	calls++
	v := getValue(t, ts.client, r, metric).MetricValueFloat
	floor := testutil.ToFloat64(ts.srv.m.floors)
	type served struct {
		Value float64
		Floor float64
	}
	// ceil(10 / 5) = 2 replicas, served as 2 x 5.
	if diff := cmp.Diff(served{10, 2}, served{v, floor}); diff != "" {
		t.Errorf("after the drop (-want +got):\n%s", diff)
	}
	waitFor(t, "every fetched value in the history sink", func() bool {
		return sink.len(HistoryKey{Namespace: "default", ScaledObject: "checkout", Metric: metric}) == calls
	})
}

func TestPredictiveBadKeys(t *testing.T) {
	env := &fakeEnv{}
	ts := startServer(t, Options{Registry: env.registry()}, ServeOptions{})
	_, err := ts.client.GetMetricSpec(t.Context(), ref("bad", fakeMD("x", "predictive", "true", "lookAhead", "soon", "confidenceThreshold", "2")))
	wantStatus(t, err, codes.InvalidArgument,
		`invalid metadata: lookAhead "soon": not a duration (e.g. "15m", "1h30m" or "1d"); confidenceThreshold "2": want 0 to 1`)
}

// TestHistorySinkQueueFull: a sink that does not keep up costs values
// (counted), never a call; Close hands over what was queued.
func TestHistorySinkQueueFull(t *testing.T) {
	env := &fakeEnv{}
	sink := &blockingSink{release: make(chan struct{})}
	srv, err := New(Options{Registry: env.registry(), HistorySink: sink, HistoryQueue: 2})
	if err != nil {
		t.Fatal(err)
	}
	env.source("q").set(3, nil)
	r := ref("w", fakeMD("q", "predictive", "true"))
	const calls = 10
	for range calls {
		if _, err := srv.GetMetrics(waitCtx(t), &pb.GetMetricsRequest{ScaledObjectRef: r, MetricName: "fake-q"}); err != nil {
			t.Fatal(err)
		}
	}
	dropped := testutil.ToFloat64(srv.m.historyDropped)
	if dropped < calls-3 {
		t.Errorf("%v values dropped with a queue of 2 and the sink stuck on one, want at least %d", dropped, calls-3)
	}
	close(sink.release)
	srv.Close()
	got := sink.len(HistoryKey{Namespace: "default", ScaledObject: "w", Metric: "fake-q"})
	if got+int(dropped) != calls {
		t.Errorf("sink got %d values and %v were dropped, want %d in all", got, dropped, calls)
	}
}

// TestWarmStartFails: a failing HistorySource leaves the live history; the
// failure is counted and logged, and calls are served all along.
func TestWarmStartFails(t *testing.T) {
	env := &fakeEnv{}
	var logged lockedBuffer
	ts := startServer(t, Options{Registry: env.registry(), HistorySource: failingHistory{}, Logger: slog.New(slog.NewTextHandler(&logged, nil))}, ServeOptions{})
	env.source("f").set(4, nil)
	r := ref("w", fakeMD("f", "predictive", "true"))
	if v := getValue(t, ts.client, r, "fake-f").MetricValueFloat; v != 4 {
		t.Errorf("value %v, want 4", v)
	}
	waitFor(t, "the failed warm start to be counted", func() bool { return testutil.ToFloat64(ts.srv.m.warmStartErrors) == 1 })
	if n := testutil.ToFloat64(ts.srv.m.warmStarts); n != 0 {
		t.Errorf("%v warm starts counted as applied, want 0", n)
	}
	// The counter may move before the warning is written: wait for it.
	wants := []string{`level=WARN msg="predictive warm start failed: forecasting from live values only"`, `scaledObject=default/w err="history store down"`}
	waitFor(t, "the failed warm start's warning in the log", func() bool {
		log := logged.String()
		for _, want := range wants {
			if !strings.Contains(log, want) {
				return false
			}
		}
		return true
	})
}

// lockedBuffer is a bytes.Buffer safe for the server's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
