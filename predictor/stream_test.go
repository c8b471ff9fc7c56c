package predictor

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestStreamAddStep(t *testing.T) {
	step := 10 * time.Minute
	s, err := NewStream(StreamOptions{Step: step, MaxGap: 2, Tracker: TrackerOptions{Horizon: 3}})
	if err != nil {
		t.Fatal(err)
	}
	at := func(i int) time.Time { return floorT0.Add(time.Duration(i) * step) }
	for i, v := range []float64{10, 20} {
		if err := s.AddStep(at(i), v); err != nil {
			t.Fatal(err)
		}
	}
	// Two missing steps are filled: 20 -> (30, 40) -> 50.
	if err := s.AddStep(at(4), 50); err != nil {
		t.Fatal(err)
	}
	if got := s.Tracker().Len(); got != 5 {
		t.Fatalf("tracker has %d points, want 5 (two filled)", got)
	}
	if start, v := s.LastStep(); !start.Equal(at(4)) || v != 50 {
		t.Errorf("last step %v = %v, want %v = 50", start, v, at(4))
	}
	f, err := s.Forecast(2)
	if err != nil {
		t.Fatal(err)
	}
	if !f.Start.Equal(at(5)) || f.Step != step {
		t.Errorf("forecast starts %v every %v, want %v every %v", f.Start, f.Step, at(5), step)
	}
	// A start off the grid counts for the nearest step.
	if err := s.AddStep(at(5).Add(time.Minute), 60); err != nil {
		t.Fatal(err)
	}
	if start, _ := s.LastStep(); !start.Equal(at(5)) {
		t.Errorf("off-grid step placed at %v, want %v", start, at(5))
	}
	if err := s.AddStep(at(5), 1); err == nil || !strings.Contains(err.Error(), "not after the last step") {
		t.Errorf("repeated step: got %v, want an error", err)
	}
	if err := s.AddStep(at(6), math.NaN()); err == nil || !strings.Contains(err.Error(), "value NaN") {
		t.Errorf("NaN step: got %v, want an error", err)
	}
	// Three missing steps are more than MaxGap: a fresh start.
	if err := s.AddStep(at(10), 5); err != nil {
		t.Fatal(err)
	}
	if s.Restarts() != 1 || s.Tracker().Len() != 1 {
		t.Errorf("after a long gap: %d restarts and %d points, want 1 and 1", s.Restarts(), s.Tracker().Len())
	}
}

func TestStreamObserve(t *testing.T) {
	step := time.Minute
	s, err := NewStream(StreamOptions{Step: step, Tracker: TrackerOptions{Horizon: 2}})
	if err != nil {
		t.Fatal(err)
	}
	base := floorT0
	// Samples every 15 s: the minute's mean becomes one point once the
	// next minute's first sample arrives.
	samples := []struct {
		at time.Duration
		v  float64
	}{{0, 1}, {15 * time.Second, 3}, {30 * time.Second, 5}, {45 * time.Second, 7}, {60 * time.Second, 100}, {75 * time.Second, 200}}
	for i, smp := range samples {
		if err := s.Observe(base.Add(smp.at), smp.v); err != nil {
			t.Fatal(err)
		}
		want := 0
		if i >= 4 {
			want = 1
		}
		if got := s.Tracker().Len(); got != want {
			t.Fatalf("after sample %d: %d points, want %d", i, got, want)
		}
	}
	if start, v := s.LastStep(); !start.Equal(base) || v != 4 {
		t.Errorf("first minute: %v = %v, want %v = 4 (the mean)", start, v, base)
	}
	if err := s.Observe(base.Add(30*time.Second), 1); err == nil || !strings.Contains(err.Error(), "before the step being sampled") {
		t.Errorf("late sample: got %v, want an error", err)
	}
}

func TestStreamFloorLeadsTheStep(t *testing.T) {
	// A square wave of 30-minute steps: 1000 for two hours, 5000 for two
	// hours. Once the tracker knows the pattern, the floor rises to the
	// 5000 level only within look-ahead + start-up of a rise.
	step := 30 * time.Minute
	s, err := NewStream(StreamOptions{Step: step, Tracker: TrackerOptions{Horizon: 2}})
	if err != nil {
		t.Fatal(err)
	}
	level := func(i int) float64 {
		if (i/4)%2 == 1 {
			return 5000
		}
		return 1000
	}
	at := func(i int) time.Time { return floorT0.Add(time.Duration(i) * step) }
	n := 8 * 40
	for i := range n {
		if err := s.AddStep(at(i), level(i)); err != nil {
			t.Fatal(err)
		}
	}
	if level(n-1) != 5000 || level(n) != 1000 {
		t.Fatalf("test setup: the series ends high and goes low next")
	}
	for i := n; i < n+4; i++ {
		if err := s.AddStep(at(i), level(i)); err != nil {
			t.Fatal(err)
		}
	}
	// Now the last step is n+3 (low) and n+4 is high.
	opts := FloorOptions{LookAhead: 15 * time.Second, StartupDelay: 5 * time.Minute, TargetPerReplica: 1000}
	rise := at(n + 4)
	tests := []struct {
		name string
		now  time.Time
		ok   bool
		want []int32
	}{
		// The current (low) step is known: the reactive path has it; the
		// next step starts after the window, so no floor.
		{name: "well before the rise: no floor", now: rise.Add(-20 * time.Minute)},
		{name: "within start-up of the rise: the high level", now: rise.Add(-5 * time.Minute), ok: true, want: []int32{5, 6}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := s.Floor(tc.now, opts)
			if err != nil {
				t.Fatal(err)
			}
			if res.OK != tc.ok || (tc.ok && !slices.Contains(tc.want, res.Replicas)) {
				t.Errorf("floor %d (ok %v, %q, peak %.0f), want ok %v and one of %v", res.Replicas, res.OK, res.Reason, res.Peak, tc.ok, tc.want)
			}
		})
	}
	// The window cannot be longer than the tracker forecasts.
	res, err := s.Floor(rise.Add(-20*time.Minute), FloorOptions{LookAhead: 3 * time.Hour, TargetPerReplica: 1000})
	if err != nil || res.OK || !strings.Contains(res.Reason, "the tracker forecasts 2") {
		t.Errorf("too long a window: got %+v, %v; want no floor and a reason", res, err)
	}
}

func TestStreamOptionsValidate(t *testing.T) {
	_, err := NewStream(StreamOptions{MaxGap: -1, Tracker: TrackerOptions{Coverage: 3}})
	if err == nil {
		t.Fatal("got no error")
	}
	for _, want := range []string{"step 0s", "maxGap -1", "coverage 3"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}
