package predictor

import (
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var floorT0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// stepped is a calibrated forecast of 5-minute steps starting at floorT0
// whose upper bounds are given (values and lower bounds 90% and 80% of
// them).
func stepped(upper ...float64) Forecast {
	f := Forecast{Calibrated: true, Start: floorT0, Step: 5 * time.Minute}
	for _, u := range upper {
		f.Values = append(f.Values, u*0.9)
		f.Lower = append(f.Lower, u*0.8)
		f.Upper = append(f.Upper, u)
	}
	return f
}

func TestFloor(t *testing.T) {
	opts := FloorOptions{LookAhead: 5 * time.Minute, StartupDelay: 5 * time.Minute, TargetPerReplica: 700}
	with := func(change func(*FloorOptions)) FloorOptions { o := opts; change(&o); return o }
	tests := []struct {
		name   string
		f      Forecast
		now    time.Time
		opts   FloorOptions
		want   int32
		ok     bool
		steps  int
		reason string
	}{
		// Now is the start of step 0: the 10-minute window covers steps 0
		// and 1; the peak upper bound 2100 in them needs 3 replicas of
		// 700; step 2 is outside.
		{name: "peak of the window", f: stepped(1000, 2100, 9000), now: floorT0, opts: opts, want: 3, ok: true, steps: 2},
		// One minute into step 0 the window reaches into step 2.
		{name: "window reaches the next step", f: stepped(1000, 2100, 9000), now: floorT0.Add(time.Minute), opts: opts, want: 13, ok: true, steps: 3},
		// Before the forecast starts: 8 minutes ahead of step 0, the
		// window (to +2m) covers only step 0.
		{name: "before the first step", f: stepped(1400, 2100, 9000), now: floorT0.Add(-8 * time.Minute), opts: opts, want: 2, ok: true, steps: 1},
		{name: "window ends before the first step", f: stepped(1400), now: floorT0.Add(-20 * time.Minute), opts: opts, reason: "no forecast step starts within the window"},
		{name: "exact multiple is not rounded up", f: stepped(1400, 1400), now: floorT0, opts: opts, want: 2, ok: true, steps: 2},
		{name: "just above", f: stepped(1400.5, 1), now: floorT0, opts: opts, want: 3, ok: true, steps: 2},
		{name: "zero demand", f: stepped(0, 0), now: floorT0, opts: opts, want: 0, ok: true, steps: 2},
		{name: "uncalibrated", f: func() Forecast { f := stepped(1, 1); f.Calibrated = false; return f }(), now: floorT0, opts: opts, reason: "forecast has no calibrated interval yet"},
		{name: "too short", f: stepped(1000), now: floorT0, opts: opts, reason: "forecast covers 1 steps, the window needs 2"},
		{name: "not confident enough", f: stepped(1000, 1000), now: floorT0, opts: with(func(o *FloorOptions) { o.ConfidenceThreshold = 0.95 }), steps: 2, reason: "confidence 0.89 below the threshold 0.95"},
		{name: "confident enough", f: stepped(1000, 1000), now: floorT0, opts: with(func(o *FloorOptions) { o.ConfidenceThreshold = 0.85 }), want: 2, ok: true, steps: 2},
		{name: "NaN bound", f: func() Forecast { f := stepped(1000, 1000); f.Lower[1], f.Upper[1] = math.NaN(), math.NaN(); return f }(), now: floorT0,
			opts: with(func(o *FloorOptions) { o.ConfidenceThreshold = 0.9 }), steps: 2, reason: "forecast step 1 is not a finite number (value 900, interval NaN..NaN)"},
		{name: "infinite bound", f: func() Forecast { f := stepped(1000, 1000); f.Upper[0] = math.Inf(1); return f }(), now: floorT0,
			opts: opts, steps: 2, reason: "forecast step 0 is not a finite number (value 900, interval 800..+Inf)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Floor(tc.f, tc.now, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			type result struct {
				Replicas int32
				OK       bool
				Steps    int
				Reason   string
			}
			want := result{Replicas: tc.want, OK: tc.ok, Steps: tc.steps, Reason: tc.reason}
			if diff := cmp.Diff(want, result{got.Replicas, got.OK, got.Steps, got.Reason}); diff != "" {
				t.Errorf("Floor (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFloorErrors(t *testing.T) {
	tests := []struct {
		name string
		f    Forecast
		o    FloorOptions
		want string
	}{
		{"every option wrong", stepped(1), FloorOptions{LookAhead: -time.Second, StartupDelay: -time.Second, TargetPerReplica: -1, ConfidenceThreshold: 2},
			"floor options: lookAhead -1s: want >= 0\nstartupDelay -1s: want >= 0\nlookAhead -1s plus startupDelay -1s: want a window longer than 0\ntargetPerReplica -1: want a finite number > 0\nconfidenceThreshold 2: want 0..1"},
		{"forecast without times", Forecast{Calibrated: true, Values: []float64{1}, Lower: []float64{1}, Upper: []float64{1}}, FloorOptions{LookAhead: time.Minute, TargetPerReplica: 1},
			"forecast has no time: want Start and Step"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Floor(tc.f, floorT0, tc.o)
			if err == nil {
				t.Fatalf("got no error, want %q", tc.want)
			}
			if diff := cmp.Diff(tc.want, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

// TestFloorAfter: the observed part of the window (the step in progress)
// is left out; an observed time at or before now changes nothing.
func TestFloorAfter(t *testing.T) {
	opts := FloorOptions{LookAhead: 5 * time.Minute, StartupDelay: 5 * time.Minute, TargetPerReplica: 700}
	f := stepped(2100, 700, 1400)
	type floor struct {
		Replicas int32
		OK       bool
		Reason   string
		Steps    int
	}
	tests := []struct {
		name          string
		now, observed time.Time
		want          floor
	}{
		// Window 12:01 to 12:11: steps 0-2 from now; step 0 observed
		// (to 12:05) leaves steps 1 and 2: 1400 / 700.
		{"step in progress observed", floorT0.Add(time.Minute), floorT0.Add(5 * time.Minute), floor{Replicas: 2, OK: true, Steps: 2}},
		{"nothing observed", floorT0.Add(time.Minute), time.Time{}, floor{Replicas: 3, OK: true, Steps: 3}},
		{"observed before now", floorT0.Add(time.Minute), floorT0, floor{Replicas: 3, OK: true, Steps: 3}},
		{"window within the observed step", floorT0.Add(time.Minute), floorT0.Add(15 * time.Minute),
			floor{Reason: "the window to 2026-03-01T12:11:00Z ends within the step in progress (observed, served by the reactive value)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := FloorAfter(f, tc.now, tc.observed, opts)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, floor{res.Replicas, res.OK, res.Reason, res.Steps}); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
