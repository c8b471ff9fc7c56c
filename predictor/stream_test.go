package predictor

import (
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// lastStep is what Stream.LastStep reports.
type lastStep struct {
	Start time.Time
	Value float64
}

func lastStepOf(s *Stream) lastStep {
	start, v := s.LastStep()
	return lastStep{start, v}
}

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
	if diff := cmp.Diff(lastStep{at(4), 50}, lastStepOf(s)); diff != "" {
		t.Errorf("last step (-want +got):\n%s", diff)
	}
	f, err := s.Forecast(2)
	if err != nil {
		t.Fatal(err)
	}
	type grid struct {
		Start time.Time
		Step  time.Duration
	}
	if diff := cmp.Diff(grid{at(5), step}, grid{f.Start, f.Step}); diff != "" {
		t.Errorf("forecast times (-want +got):\n%s", diff)
	}
	// A start off the grid counts for the nearest step.
	if err := s.AddStep(at(5).Add(time.Minute), 60); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(lastStep{at(5), 60}, lastStepOf(s)); diff != "" {
		t.Errorf("off-grid step (-want +got):\n%s", diff)
	}
	err = s.AddStep(at(5), 1)
	if diff := cmp.Diff("step at 2026-03-01T12:50:00Z: not after the last step at 2026-03-01T12:50:00Z", errText(err)); diff != "" {
		t.Errorf("repeated step: error (-want +got):\n%s", diff)
	}
	err = s.AddStep(at(6), math.NaN())
	if diff := cmp.Diff("step at 2026-03-01T13:00:00Z: value NaN: want a finite number", errText(err)); diff != "" {
		t.Errorf("NaN step: error (-want +got):\n%s", diff)
	}
	// Three missing steps are more than MaxGap: a fresh start.
	if err := s.AddStep(at(10), 5); err != nil {
		t.Fatal(err)
	}
	type restarted struct{ Restarts, Points int }
	if diff := cmp.Diff(restarted{1, 1}, restarted{s.Restarts(), s.Tracker().Len()}); diff != "" {
		t.Errorf("after a long gap (-want +got):\n%s", diff)
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
	// The first minute's value is the mean of its samples.
	if diff := cmp.Diff(lastStep{base, 4}, lastStepOf(s)); diff != "" {
		t.Errorf("first minute (-want +got):\n%s", diff)
	}
	err = s.Observe(base.Add(30*time.Second), 1)
	if diff := cmp.Diff("sample at 2026-03-01T12:00:30Z: before the step being sampled (2026-03-01T12:01:00Z)", errText(err)); diff != "" {
		t.Errorf("late sample: error (-want +got):\n%s", diff)
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
	type floor struct {
		Replicas int32
		OK       bool
		Reason   string
	}
	tests := []struct {
		name string
		now  time.Time
		want floor
	}{
		// The current (low) step is known: the reactive path has it; the
		// next step starts after the window, so no floor.
		{name: "well before the rise: no floor", now: rise.Add(-20 * time.Minute), want: floor{Reason: "no forecast step starts within the window"}},
		// The upper bound of the high level (exactly 5000 on this noiseless
		// wave) over 1000 per replica.
		{name: "within start-up of the rise: the high level", now: rise.Add(-5 * time.Minute), want: floor{Replicas: 5, OK: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := s.Floor(tc.now, opts)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, floor{res.Replicas, res.OK, res.Reason}); diff != "" {
				t.Errorf("floor, peak %.0f (-want +got):\n%s", res.Peak, diff)
			}
		})
	}
	// The window cannot be longer than the tracker forecasts.
	res, err := s.Floor(rise.Add(-20*time.Minute), FloorOptions{LookAhead: 3 * time.Hour, TargetPerReplica: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(floor{Reason: "the window needs 6 steps, the tracker forecasts 2"}, floor{res.Replicas, res.OK, res.Reason}); diff != "" {
		t.Errorf("too long a window (-want +got):\n%s", diff)
	}
}

func TestStreamOptionsValidate(t *testing.T) {
	_, err := NewStream(StreamOptions{MaxGap: -1, Tracker: TrackerOptions{Coverage: 3}})
	// Every problem at once.
	want := "stream options: step 0s: want a positive duration\nmaxGap -1: want >= 0\ncoverage 3: want 0 < coverage < 1"
	if diff := cmp.Diff(want, errText(err)); diff != "" {
		t.Errorf("error (-want +got):\n%s", diff)
	}
}

// TestStreamFloorPolledStep feeds the square wave of
// TestStreamFloorLeadsTheStep as polled samples (one at the start of each
// step): the step containing now, once sampled, is observed and left out
// of the window; without a sample yet it stays in.
func TestStreamFloorPolledStep(t *testing.T) {
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
	feed := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			if err := s.Observe(at(i), level(i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	n := 8 * 40
	if level(n-1) != 5000 || level(n) != 1000 || level(n+3) != 1000 || level(n+4) != 5000 {
		t.Fatalf("test setup: the wave falls at step %d and rises at step %d", n, n+4)
	}
	opts := FloorOptions{LookAhead: 15 * time.Second, StartupDelay: 5 * time.Minute, TargetPerReplica: 1000}
	type floor struct {
		Replicas int32
		OK       bool
		Reason   string
		Steps    int
	}
	check := func(name string, now time.Time, want floor) {
		t.Helper()
		res, err := s.Floor(now, opts)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if diff := cmp.Diff(want, floor{res.Replicas, res.OK, res.Reason, res.Steps}); diff != "" {
			t.Errorf("%s: floor, peak %.0f (-want +got):\n%s", name, res.Peak, diff)
		}
	}

	// Sampled up to the last high step (n-1), which is in progress.
	feed(0, n)
	fall := at(n)
	// The window reaches the low step after the fall; the high step in
	// progress is observed (the reactive value serves it), so its upper
	// bound does not count: 1000 / 1000 per replica. Floor over the
	// forecast from now would give 5.
	check("sampled step in progress, window reaches the next step", fall.Add(-5*time.Minute), floor{Replicas: 1, OK: true, Steps: 1})
	check("sampled step in progress, window within it", fall.Add(-20*time.Minute),
		floor{Reason: "the window to 2026-03-08T03:45:15Z ends within the step in progress (observed, served by the reactive value)"})

	// Sampled up to the last low step (n+3); at now the rise step has
	// started but has no sample yet: the window starts at now and takes
	// the rise step's forecast.
	feed(n, n+4)
	rise := at(n + 4)
	check("no sample yet in the step containing now", rise.Add(time.Minute), floor{Replicas: 5, OK: true, Steps: 1})
	check("sampled low step, window reaches the rise", rise.Add(-5*time.Minute), floor{Replicas: 5, OK: true, Steps: 1})
}
