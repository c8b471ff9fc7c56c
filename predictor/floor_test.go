package predictor

import (
	"strings"
	"testing"
	"time"
)

func TestFloor(t *testing.T) {
	opts := FloorOptions{Step: 5 * time.Minute, LookAhead: 10 * time.Minute, StartupDelay: 5 * time.Minute, TargetPerReplica: 700}
	calibrated := func(upper ...float64) Forecast {
		f := Forecast{Calibrated: true}
		for _, u := range upper {
			f.Values = append(f.Values, u*0.9)
			f.Lower = append(f.Lower, u*0.8)
			f.Upper = append(f.Upper, u)
		}
		return f
	}
	tests := []struct {
		name   string
		f      Forecast
		opts   FloorOptions
		want   int32
		ok     bool
		reason string
	}{
		// The window is 10m look-ahead + 5m start-up = 3 steps: the peak
		// upper bound 2100 in it needs 3 replicas of 700; the fourth
		// step is outside the window.
		{name: "peak of the window", f: calibrated(1000, 2100, 1500, 9000), opts: opts, want: 3, ok: true},
		{name: "exact multiple is not rounded up", f: calibrated(1400, 1400, 1400), opts: opts, want: 2, ok: true},
		{name: "just above", f: calibrated(1400.5, 1, 1), opts: opts, want: 3, ok: true},
		{name: "zero demand", f: calibrated(0, 0, 0), opts: opts, want: 0, ok: true},
		{name: "uncalibrated", f: Forecast{Values: []float64{1, 1, 1}, Lower: []float64{1, 1, 1}, Upper: []float64{1, 1, 1}}, opts: opts, reason: "no calibrated interval"},
		{name: "too short", f: calibrated(1000, 1000), opts: opts, reason: "covers 2 steps, the window needs 3"},
		{name: "not confident enough", f: calibrated(1000, 1000, 1000), opts: func() FloorOptions { o := opts; o.ConfidenceThreshold = 0.95; return o }(), reason: "confidence 0.89 below the threshold 0.95"},
		{name: "confident enough", f: calibrated(1000, 1000, 1000), opts: func() FloorOptions { o := opts; o.ConfidenceThreshold = 0.85; return o }(), want: 2, ok: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Floor(tc.f, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if got.OK != tc.ok || got.Replicas != tc.want {
				t.Errorf("got %d (ok %v, %q), want %d (ok %v)", got.Replicas, got.OK, got.Reason, tc.want, tc.ok)
			}
			if !strings.Contains(got.Reason, tc.reason) {
				t.Errorf("reason %q, want it to contain %q", got.Reason, tc.reason)
			}
		})
	}
}

func TestFloorOptionsValidate(t *testing.T) {
	_, err := Floor(Forecast{}, FloorOptions{StartupDelay: -time.Second, TargetPerReplica: -1, ConfidenceThreshold: 2})
	if err == nil {
		t.Fatal("got no error")
	}
	for _, want := range []string{"step 0s", "lookAhead 0s", "startupDelay -1s", "targetPerReplica -1", "confidenceThreshold 2"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}
