package externalscaler

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/hpa-autoscaler/hpa-autoscaler/demand"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/metricsapi"
	"github.com/hpa-autoscaler/hpa-autoscaler/simulate"
)

// traceSource serves a demand trace over HTTP as the metrics-api scaler
// reads it ({"value": N}): the value of the point in effect at the clock's
// time, as a live source would report it.
type traceSource struct {
	*httptest.Server
	clock  *clocktesting.FakeClock
	points []demand.Point
}

func newTraceSource(tb testing.TB, clk *clocktesting.FakeClock, points []demand.Point) *traceSource {
	tb.Helper()
	ts := &traceSource{clock: clk, points: points}
	ts.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, `{"value": %g}`, ts.at(ts.clock.Now()).Value)
	}))
	tb.Cleanup(ts.Close)
	return ts
}

// index is the index of the point in effect at t (the last at or before it).
func (ts *traceSource) index(t time.Time) int {
	lo, hi := 0, len(ts.points)
	for lo+1 < hi {
		mid := (lo + hi) / 2
		if ts.points[mid].Time.After(t) {
			hi = mid
		} else {
			lo = mid
		}
	}
	return lo
}

func (ts *traceSource) at(t time.Time) demand.Point { return ts.points[ts.index(t)] }

// pastHistory is a HistorySource holding a trace's past: the points before
// a cut, one sample per trace step (the backend keeps step averages).
type pastHistory struct {
	mu    sync.Mutex
	past  []demand.Point
	calls []HistoryKey
}

func (h *pastHistory) History(_ context.Context, key HistoryKey, until time.Time) ([]HistorySample, error) {
	h.mu.Lock()
	h.calls = append(h.calls, key)
	h.mu.Unlock()
	out := make([]HistorySample, 0, len(h.past))
	for _, p := range h.past {
		if p.Time.Before(until) {
			out = append(out, HistorySample{Time: p.Time, Value: p.Value})
		}
	}
	return out, nil
}

// recordingSink is a HistorySink that keeps what it is given.
type recordingSink struct {
	mu  sync.Mutex
	got map[HistoryKey][]HistorySample
}

func (s *recordingSink) Observe(key HistoryKey, t time.Time, v float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.got == nil {
		s.got = map[HistoryKey][]HistorySample{}
	}
	s.got[key] = append(s.got[key], HistorySample{t, v})
}

func (s *recordingSink) len(key HistoryKey) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got[key])
}

// waitFor polls cond until it holds or waitLimit passes, then fails
// naming what was awaited.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", waitLimit, what)
		}
		time.Sleep(time.Millisecond) // a poll interval, not a wait for an outcome
	}
}

func metricsAPIRegistry() *scalers.Registry {
	r := scalers.NewRegistry()
	r.MustRegister(metricsapi.Type, metricsapi.New, scalers.WithDefaultTarget(metricsapi.DefaultTarget))
	return r
}

// The settings of the acceptance replay, on both paths: simulate's flags
// --capacity-per-replica 500 --target-utilization 1 --startup-delay 1m
// --interval 1m, and the trigger's targetValue 500, lookAhead 1m (the
// decision interval: simulate's predictive policy looks one interval
// ahead), startupDelay 1m, confidenceThreshold 0 (simulate takes any
// calibrated forecast) and historyStep 30m (the trace's step).
const (
	replayCapacity = 500
	replayInterval = time.Minute
	replayStartup  = time.Minute
	// replayCut is the first point replayed live: the 5,000 before it
	// (104 days) are the warm start.
	replayCut = 5000
	// replayDays is how long the live replay runs.
	replayDays = 4
)

// TestPredictiveReplayNYCTaxi is the KEDA path's acceptance on real data:
// nyc_taxi's history up to a cut comes from the HistorySource (a warm
// start), then the trace is served live by an HTTP source read by a real
// metrics-api scaler, and KEDA's calls are made through the real gRPC
// server every minute of an injected clock. At every call the replica
// count the served value implies (ceil(value/target), KEDA's HPA without
// its tolerance) is compared with simulate's predictive policy on the
// same trace and settings.
func TestPredictiveReplayNYCTaxi(t *testing.T) {
	series, err := demand.ReadFile(filepath.Join("..", "examples", "traces", "nab", "nyc_taxi.csv"), demand.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pts := series.Points
	cfg := simulate.Config{CapacityPerReplica: replayCapacity, TargetUtilization: 1, StartupDelay: replayStartup, Interval: replayInterval}
	model := cfg.Model(series)
	step := model.Step

	clk := clocktesting.NewFakeClock(pts[replayCut].Time)
	src := newTraceSource(t, clk, pts)
	hist := &pastHistory{past: pts[:replayCut]}
	sink := &recordingSink{}
	reg := prometheus.NewRegistry()
	ts := startServer(t, Options{Registry: metricsAPIRegistry(), Clock: clk, Registerer: reg, HistorySource: hist, HistorySink: sink}, ServeOptions{})
	md := map[string]string{
		"scalerType": metricsapi.Type, "url": src.URL, "valueLocation": "value", "targetValue": fmt.Sprint(replayCapacity),
		"predictive": "true", "lookAhead": "1m", "startupDelay": "1m", "confidenceThreshold": "0", "historyStep": "30m",
	}
	r := &pb.ScaledObjectRef{Namespace: "taxi", Name: "dispatch", ScalerMetadata: md}
	spec, err := ts.client.GetMetricSpec(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	metric := spec.MetricSpecs[0].MetricName
	target := spec.MetricSpecs[0].TargetSizeFloat
	// The first call builds the instance and starts the warm start.
	getValue(t, ts.client, r, metric)
	waitFor(t, "the warm start (hpa_history_warm_starts_total = 1)", func() bool { return testutil.ToFloat64(ts.srv.m.warmStarts) == 1 })
	key := HistoryKey{Namespace: "taxi", ScaledObject: "dispatch", Metric: metric}
	if diff := fmt.Sprint(hist.calls); diff != fmt.Sprint([]HistoryKey{key}) {
		t.Errorf("history asked for %s, want %v", diff, key)
	}
	if got := testutil.ToFloat64(ts.srv.m.warmStartSamples); got != replayCut {
		t.Errorf("warm start took %v past samples, want %d", got, replayCut)
	}

	// simulate's predictive policy on the same trace and settings, fed
	// as simulate runs it: each trace point as a polled sample at its
	// time, as the KEDA path records the values it fetches.
	policy, err := simulate.NewPredictive(model)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		at                  time.Time
		demand, served      float64
		keda, reactive, sim int32
	}
	var rows []row
	end := pts[replayCut].Time.Add(replayDays * 24 * time.Hour)
	for now := pts[replayCut].Time; now.Before(end); now = now.Add(replayInterval) {
		clk.SetTime(now)
		v := getValue(t, ts.client, r, metric).MetricValueFloat
		i := src.index(now)
		d := pts[i].Value
		rw := row{at: now, demand: d, served: v, keda: impliedReplicas(v, target), reactive: impliedReplicas(d, target)}
		rw.sim = max(rw.reactive, policy.Floor(pts[:i+1], now, model))
		rows = append(rows, rw)
	}

	// One instance for the whole replay: a rebuild (a failed fetch, say)
	// would warm-start afresh from the past without the live days.
	// A rebuilt instance whose warm start came too late (Seed refused
	// after MaxPending live values) counts no second warm start: the
	// history's calls show it.
	hist.mu.Lock()
	asked := len(hist.calls)
	hist.mu.Unlock()
	if got := testutil.ToFloat64(ts.srv.m.warmStarts); got != 1 || asked != 1 {
		t.Errorf("%v warm starts during the replay, history asked %d times; want 1 and 1: the instance was rebuilt", got, asked)
	}
	// Both paths see each step once it is over and serve the step in
	// progress from its observed value: every call must match.
	var sameAsSim, raised, simRaised int
	var kedaSum, simSum, reactiveSum int64
	var firstDiff *row
	for i := range rows {
		rw := &rows[i]
		if rw.keda == rw.sim {
			sameAsSim++
		} else if firstDiff == nil {
			firstDiff = rw
		}
		if rw.keda > rw.reactive {
			raised++
		}
		if rw.sim > rw.reactive {
			simRaised++
		}
		kedaSum += int64(rw.keda)
		simSum += int64(rw.sim)
		reactiveSum += int64(rw.reactive)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "nyc_taxi replay from %s for %d days, %d GetMetrics calls (one per minute), target %v, step %v\n",
		pts[replayCut].Time.Format("2006-01-02 15:04"), replayDays, len(rows), target, step)
	fmt.Fprintf(&b, "%-11s %7s %9s %5s %8s %9s\n", "time", "demand", "served", "keda", "reactive", "simulate")
	for i, rw := range rows {
		// Every 3 h: at the start of a step, and its last minute (where
		// the window reaches the next step).
		if i%180 == 0 || i%180 == 29 {
			fmt.Fprintf(&b, "%-11s %7.0f %9.1f %5d %8d %9d\n", rw.at.Format("01-02 15:04"), rw.demand, rw.served, rw.keda, rw.reactive, rw.sim)
		}
	}
	fmt.Fprintf(&b, "keda: ceil(served/target); reactive: ceil(demand/target); simulate: max(reactive, floor of simulate's\n"+
		"predictive policy as simulate feeds it)\n")
	fmt.Fprintf(&b, "keda = simulate: %d/%d calls\n", sameAsSim, len(rows))
	fmt.Fprintf(&b, "floor above the reactive count: keda %d calls, simulate %d calls\n", raised, simRaised)
	fmt.Fprintf(&b, "replica-minutes (HPA proposals): keda %d, simulate %d, reactive %d\n", kedaSum, simSum, reactiveSum)
	t.Log("\n" + b.String())

	if sameAsSim != len(rows) {
		t.Errorf("the served values imply other counts than simulate's predictive policy at %d of %d calls; first at %s: keda %d, simulate %d",
			len(rows)-sameAsSim, len(rows), firstDiff.at.Format(time.RFC3339), firstDiff.keda, firstDiff.sim)
	}
	if raised != simRaised {
		t.Errorf("the floor raised the count at %d calls, simulate's at %d", raised, simRaised)
	}
	if raised == 0 {
		t.Error("the floor never raised the served value: the replay shows nothing")
	}
	// Every value fetched went to the sink too, once the queue drained.
	waitFor(t, "the history sink to get every fetched value", func() bool { return sink.len(key) == len(rows)+1 })
}
