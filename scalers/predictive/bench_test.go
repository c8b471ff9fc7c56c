package predictive

import (
	"context"
	"math"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"

	"github.com/hpa-autoscaler/hpa-autoscaler/predictor"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// constScaler answers one metric's value at once (the cost measured is
// the wrapper's).
type constScaler struct{}

func (constScaler) MetricSpecs() []scalers.MetricSpec {
	return []scalers.MetricSpec{{Name: "m", Target: 1}}
}
func (constScaler) Metrics(context.Context) (scalers.Metrics, error) {
	return scalers.Metrics{Values: []scalers.MetricValue{{Name: "m", Value: 3}}}, nil
}
func (constScaler) Close() error { return nil }

// BenchmarkFetchAndFloor is one KEDA call on a warm wrapper: a fetch
// (recorded) and the floor at the same time, the clock moving 15 s per
// call (KEDA's HPA sync period) over 5-minute steps.
func BenchmarkFetchAndFloor(b *testing.B) {
	clk := testingclock.NewFakePassiveClock(t0)
	s, err := New(constScaler{}, Options{Clock: clk, WarmStart: true, MetricStreamsOptions: predictor.MetricStreamsOptions{
		Step: 5 * time.Minute, LookAhead: 15 * time.Minute, ConfidenceThreshold: -1}})
	if err != nil {
		b.Fatal(err)
	}
	var past []Sample
	for t := t0.Add(-48 * time.Hour); t.Before(t0); t = t.Add(5 * time.Minute) {
		past = append(past, Sample{t, 5 + 4*math.Sin(2*math.Pi*float64(t.Sub(t.Truncate(24*time.Hour)))/float64(24*time.Hour))})
	}
	if _, err := s.Seed(map[string][]Sample{"m": past}); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	floors := 0
	b.ReportAllocs()
	for b.Loop() {
		clk.SetTime(clk.Now().Add(15 * time.Second))
		if _, err := s.Metrics(ctx); err != nil {
			b.Fatal(err)
		}
		if s.Floor(clk.Now()).OK {
			floors++
		}
	}
	b.ReportMetric(float64(floors)/float64(b.N), "floors/op")
}

// BenchmarkStep is the work of one history step on a warm wrapper (two
// days of 15-minute steps of a daily pattern): the fetch that starts a
// new step adds the last one to the tracker (fits, scores, periodic
// refits) and the next floor computes a new forecast. KEDA's call that
// crosses a step boundary pays it, once per step and trigger.
func BenchmarkStep(b *testing.B) {
	clk := testingclock.NewFakePassiveClock(t0)
	s, err := New(constScaler{}, Options{Clock: clk, WarmStart: true, MetricStreamsOptions: predictor.MetricStreamsOptions{
		Step: 15 * time.Minute, LookAhead: 15 * time.Minute, ConfidenceThreshold: -1}})
	if err != nil {
		b.Fatal(err)
	}
	var past []Sample
	for t := t0.Add(-48 * time.Hour); t.Before(t0); t = t.Add(15 * time.Minute) {
		past = append(past, Sample{t, 5 + 4*math.Sin(2*math.Pi*float64(t.Sub(t.Truncate(24*time.Hour)))/float64(24*time.Hour))})
	}
	if _, err := s.Seed(map[string][]Sample{"m": past}); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		clk.SetTime(clk.Now().Add(15 * time.Minute))
		if _, err := s.Metrics(ctx); err != nil {
			b.Fatal(err)
		}
		_ = s.Floor(clk.Now())
	}
}
