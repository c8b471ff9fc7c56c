package predictor

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// hourly is 40 in the first 20 minutes of each hour and 10 in the rest.
func hourly(t time.Time) float64 {
	if t.Minute() < 20 {
		return 40
	}
	return 10
}

func TestMetricStreamsFloor(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	m, err := NewMetricStreams(MetricStreamsOptions{LookAhead: 3 * time.Minute, StartupDelay: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	// Twelve hours of samples every 30 s: "jobs" follows the pattern,
	// "bytes" is twice it.
	at := t0
	for ; at.Before(t0.Add(12*time.Hour + 56*time.Minute)); at = at.Add(30 * time.Second) {
		for name, k := range map[string]float64{"jobs": 1, "bytes": 2} {
			if err := m.Observe(name, at, k*hourly(at)); err != nil {
				t.Fatal(err)
			}
		}
	}
	// 12:56 + 5 minutes of window reaches the rise at 13:00: 40 jobs / 5
	// per replica = 8; 80 bytes / 20 per replica = 4. The highest wins.
	got := m.Floor(at, []MetricTarget{{"jobs", 5}, {"bytes", 20}, {"latency", 1}, {"jobs", 0}})
	type short struct {
		Metric   string
		Replicas int32
		OK       bool
		Reason   string
	}
	var metrics []short
	for _, mf := range got.Metrics {
		metrics = append(metrics, short{mf.Metric, mf.Replicas, mf.OK, mf.Reason})
	}
	want := []short{
		{"jobs", 8, true, ""},
		{"bytes", 4, true, ""},
		{"latency", 0, false, "no values recorded yet"},
		{"jobs", 0, false, "target 0: want > 0"},
	}
	if diff := cmp.Diff(want, metrics); diff != "" {
		t.Errorf("per-metric floors (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(short{Metric: "jobs", Replicas: 8, OK: true}, short{got.Metric, got.Replicas, got.OK, ""}); diff != "" {
		t.Errorf("combined floor (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(CombinedFloor{}, m.Floor(at, nil)); diff != "" {
		t.Errorf("floor without targets (-want +got):\n%s", diff)
	}
}

func TestMetricStreamsOptions(t *testing.T) {
	tests := []struct {
		name string
		o    MetricStreamsOptions
		want string
	}{
		{"every field wrong", MetricStreamsOptions{Step: -time.Second, LookAhead: -time.Minute, StartupDelay: -time.Second, ConfidenceThreshold: 2},
			"step -1s: want a positive duration\nlookAhead -1m0s: want a positive duration\nstartupDelay -1s: want >= 0\nconfidenceThreshold 2: want 0..1"},
		{"window too long", MetricStreamsOptions{Step: time.Second, LookAhead: time.Hour},
			"lookAhead 1h0m0s plus startupDelay 0s: 3601 steps of 1s, want at most 1440"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewMetricStreams(tc.o)
			if err == nil {
				t.Fatalf("got no error, want %q", tc.want)
			}
			if diff := cmp.Diff(tc.want, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
	m, err := NewMetricStreams(MetricStreamsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := MetricStreamsOptions{Step: time.Minute, LookAhead: 15 * time.Minute, ConfidenceThreshold: 0.8}
	want.Tracker.Step, want.Tracker.Horizon = time.Minute, 16
	if diff := cmp.Diff(want, m.Options()); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
	if _, err := m.Forecast("nothing", 1); err == nil || err.Error() != `metric "nothing": series too short: no values recorded` {
		t.Errorf("forecast of an unknown metric: got %v", err)
	}
}

// TestMetricStreamsFloorPolledStep: MetricStreams goes through
// Stream.Floor, so a metric's step in progress, once sampled, is left out
// of the window (the CRD agent and the KEDA path both get it).
func TestMetricStreamsFloorPolledStep(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	m, err := NewMetricStreams(MetricStreamsOptions{LookAhead: 3 * time.Minute, StartupDelay: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	// Up to 12:19:30, the last sample of the last high minute (40).
	at := t0
	for ; !at.After(t0.Add(12*time.Hour + 19*time.Minute + 30*time.Second)); at = at.Add(30 * time.Second) {
		if err := m.Observe("jobs", at, hourly(at)); err != nil {
			t.Fatal(err)
		}
	}
	now := at.Add(-30 * time.Second)
	// 12:19 is sampled: the window is 12:20 to 12:24:30, all at 10 jobs:
	// 10 / 5 per replica = 2 (with 12:19's upper bound it would be 8).
	got := m.Floor(now, []MetricTarget{{"jobs", 5}})
	if diff := cmp.Diff(CombinedFloor{Replicas: 2, OK: true, Metric: "jobs"}, CombinedFloor{got.Replicas, got.OK, got.Metric, nil}); diff != "" {
		t.Errorf("floor at %s (-want +got):\n%s", now.Format("15:04:05"), diff)
	}
}
