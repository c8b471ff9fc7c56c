package predictor

import (
	"errors"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestTrackerOptionsValidate(t *testing.T) {
	bad := TrackerOptions{
		Step:        -time.Second,
		Horizon:     5000,
		History:     3,
		UnderWeight: math.NaN(),
		Coverage:    1,
		Periods:     []int{1},
		Residuals:   5,
		Margin:      2,
		Models:      []string{"prophet"},
	}
	err := bad.Validate()
	if err == nil {
		t.Fatal("got no error")
	}
	for _, want := range []string{"step -1s", "horizon 5000", "history 3", "underWeight NaN", "coverage 1", "periods: 1", "residuals 5", "margin 2", `models: "prophet"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if err := (TrackerOptions{}).Validate(); err != nil {
		t.Errorf("zero options: %v", err)
	}
	if _, err := NewTracker(bad); err == nil {
		t.Error("NewTracker accepted bad options")
	}
}

func TestTrackerInputErrors(t *testing.T) {
	tr, err := NewTracker(TrackerOptions{Horizon: 6})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Forecast(1); !errors.Is(err, ErrTooShort) {
		t.Errorf("forecast with no points: got %v, want ErrTooShort", err)
	}
	if err := tr.Add(math.NaN()); err == nil || !strings.Contains(err.Error(), "value NaN") {
		t.Errorf("Add(NaN): got %v, want an error naming the value", err)
	}
	if err := tr.Load([]float64{1, math.Inf(1)}); err == nil || !strings.Contains(err.Error(), "point 1") {
		t.Errorf("Load with +Inf: got %v, want an error naming the point", err)
	}
	if err := tr.Add(5); err != nil {
		t.Fatal(err)
	}
	for _, h := range []int{0, 7} {
		if _, err := tr.Forecast(h); err == nil || !strings.Contains(err.Error(), "want 1..6") {
			t.Errorf("Forecast(%d): got %v, want a range error", h, err)
		}
	}
	if _, err := tr.ForecastWith("prophet", 1); err == nil || !strings.Contains(err.Error(), `model "prophet"`) {
		t.Errorf("ForecastWith(prophet): got %v, want an error naming the model", err)
	}
	f, err := tr.Forecast(3)
	if err != nil {
		t.Fatal(err)
	}
	if f.Model != "naive" || !slices.Equal(f.Values, []float64{5, 5, 5}) || f.Calibrated || f.Confidence() != 0 {
		t.Errorf("after one point: got %+v (confidence %v), want an uncalibrated naive forecast of 5", f, f.Confidence())
	}
}

func TestTrackerSelects(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	n := 24 * 28
	seasonal := seasonalNoise(t, n, 24, 2, 13)
	walk := make([]float64, n)
	walk[0] = 500
	bursty := make([]float64, n)
	for i := 1; i < n; i++ {
		walk[i] = walk[i-1] + 5*rng.NormFloat64()
	}
	for i := range bursty {
		bursty[i] = 20 + 3*rng.NormFloat64()
		if rng.Float64() < 0.05 {
			bursty[i] += 200 * rng.Float64()
		}
	}
	tests := []struct {
		name string
		y    []float64
		want []string
	}{
		{name: "seasonal", y: seasonal, want: []string{"seasonal-naive", "seasonal-ratio", "seasonal-analog", "holt-winters-additive", "holt-winters-multiplicative"}},
		{name: "random walk", y: walk, want: []string{"naive", "ses"}},
		{name: "bursty noise", y: bursty, want: []string{"naive", "ses"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := NewTracker(TrackerOptions{Step: time.Hour, Horizon: 6})
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range tc.y {
				if err := tr.Add(v); err != nil {
					t.Fatal(err)
				}
			}
			f, err := tr.Forecast(6)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(tc.want, f.Model) {
				t.Errorf("selected %q, want one of %v (scores %+v)", f.Model, tc.want, tr.Scores(6))
			}
			if f.Model != tr.Selected(6) {
				t.Errorf("Forecast used %q, Selected says %q", f.Model, tr.Selected(6))
			}
			if !f.Calibrated {
				t.Errorf("forecast after %d points not calibrated", len(tc.y))
			}
			for k := range f.Values {
				if !(f.Lower[k] <= f.Values[k] && f.Values[k] <= f.Upper[k]) {
					t.Errorf("step %d: value %v outside its interval [%v, %v]", k+1, f.Values[k], f.Lower[k], f.Upper[k])
				}
			}
		})
	}
}

func TestTrackerDetectsPeriodsAndRefits(t *testing.T) {
	// Period 12 for two weeks of hourly points, then period 20: after the
	// next refit the tracker uses 20.
	var y []float64
	for i := range 24 * 14 {
		y = append(y, 100+30*math.Sin(2*math.Pi*float64(i)/12))
	}
	tr, err := NewTracker(TrackerOptions{Step: time.Hour, Horizon: 4})
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Load(y); err != nil {
		t.Fatal(err)
	}
	if got := tr.Periods(); !slices.Equal(got, []int{12}) {
		t.Fatalf("periods after the first fortnight: got %v, want [12]", got)
	}
	for i := range 24 * 28 {
		if err := tr.Add(100 + 30*math.Sin(2*math.Pi*float64(i)/20)); err != nil {
			t.Fatal(err)
		}
	}
	if got := tr.Periods(); !slices.Contains(got, 20) {
		t.Errorf("periods four weeks after the change: got %v, want 20 among them", got)
	}
	if got := tr.Len(); got != 24*42 {
		t.Errorf("Len: got %d, want %d", got, 24*42)
	}
}

func TestTrackerFixedPeriods(t *testing.T) {
	y := seasonalNoise(t, 500, 24, 1, 14)
	tr, err := NewTracker(TrackerOptions{Periods: []int{7}, Horizon: 3})
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Load(y); err != nil {
		t.Fatal(err)
	}
	if got := tr.Periods(); !slices.Equal(got, []int{7}) {
		t.Errorf("got periods %v, want the fixed [7]", got)
	}
}

func TestTrackerRestrictedModels(t *testing.T) {
	y := seasonalNoise(t, 24*14, 24, 1, 15)
	tr, err := NewTracker(TrackerOptions{Step: time.Hour, Horizon: 3, Models: []string{"seasonal-naive"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Load(y); err != nil {
		t.Fatal(err)
	}
	for _, s := range tr.Scores(3) {
		if s.Model != "naive" && s.Model != "seasonal-naive" {
			t.Errorf("candidate %q, want only naive and seasonal-naive", s.Model)
		}
	}
	if got := tr.Selected(3); got != "seasonal-naive" {
		t.Errorf("selected %q, want seasonal-naive", got)
	}
}

func TestForecastConfidence(t *testing.T) {
	tests := []struct {
		name string
		f    Forecast
		want float64
	}{
		{name: "uncalibrated", f: Forecast{Values: []float64{10}, Lower: []float64{9}, Upper: []float64{11}}, want: 0},
		{name: "within 10%", f: Forecast{Values: []float64{10, 20}, Lower: []float64{9, 19}, Upper: []float64{11, 21}, Calibrated: true}, want: 0.9},
		{name: "worst step counts", f: Forecast{Values: []float64{10, 20}, Lower: []float64{9, 10}, Upper: []float64{11, 30}, Calibrated: true}, want: 0.5},
		{name: "wider than the value", f: Forecast{Values: []float64{10}, Lower: []float64{0}, Upper: []float64{40}, Calibrated: true}, want: 0},
		{name: "zero with a zero interval", f: Forecast{Values: []float64{0}, Lower: []float64{0}, Upper: []float64{0}, Calibrated: true}, want: 1},
		{name: "zero with an interval", f: Forecast{Values: []float64{0}, Lower: []float64{0}, Upper: []float64{1}, Calibrated: true}, want: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.f.Confidence(); math.Abs(got-tc.want) > 1e-12 {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestHorizonGrid(t *testing.T) {
	for _, h := range []int{1, 5, 16, 17, 60, 288, 1440} {
		g := horizonGrid(h)
		if g[0] != 1 || g[len(g)-1] != h || !slices.IsSorted(g) || slices.Compact(slices.Clone(g)) == nil || len(slices.Compact(slices.Clone(g))) != len(g) {
			t.Errorf("grid for %d: %v, want strictly increasing from 1 to %d", h, g, h)
		}
		if len(g) > 18 {
			t.Errorf("grid for %d has %d horizons, want at most 18", h, len(g))
		}
	}
}

// TestTrackerResidualsStaySorted checks that each residual sample stays
// sorted and bounded through many replacements.
func TestTrackerResidualsStaySorted(t *testing.T) {
	y := seasonalNoise(t, 1500, 24, 5, 16)
	tr, err := NewTracker(TrackerOptions{Step: time.Hour, Horizon: 3, Residuals: 50})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range y {
		if err := tr.Add(v); err != nil {
			t.Fatal(err)
		}
		if i%97 != 0 {
			continue
		}
		for _, vr := range tr.variants {
			for gi := range tr.grid {
				n := vr.resN[gi]
				if n > 50 || n > vr.resSeen[gi] {
					t.Fatalf("point %d, %s: %d residuals kept of %d seen, want at most 50", i, vr.family, n, vr.resSeen[gi])
				}
				if !slices.IsSorted(vr.sorted[gi][:n]) {
					t.Fatalf("point %d, %s, horizon %d: residuals not sorted", i, vr.family, tr.grid[gi])
				}
			}
		}
	}
}

// TestTrackerMemory measures the heap a tracker keeps for two weeks of
// one-minute points (periods of a day and a week): the bar is 1 MB per
// tracked series.
func TestTrackerMemory(t *testing.T) {
	y := minuteSeries(t, 20160)
	const n = 4
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	trackers := make([]*Tracker, n)
	for i := range trackers {
		tr, err := NewTracker(TrackerOptions{Step: time.Minute, Horizon: 30})
		if err != nil {
			t.Fatal(err)
		}
		if err := tr.Load(y); err != nil {
			t.Fatal(err)
		}
		trackers[i] = tr
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(after.HeapAlloc-before.HeapAlloc) / n
	t.Logf("heap per tracked series: %.0f KiB (periods %v, %d models)", per/1024, trackers[0].Periods(), len(trackers[0].variants))
	if per > 1<<20 {
		t.Errorf("heap per tracked series %.0f KiB, want under 1 MiB", per/1024)
	}
	runtime.KeepAlive(trackers)
}
