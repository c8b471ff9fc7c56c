package predictor

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
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
	// Every problem at once, one a line.
	want := "step -1s: want >= 0\n" +
		"horizon 5000: want 1..1440 steps\n" +
		"history 3: want 16..1048576 points\n" +
		"underWeight NaN: want a finite number >= 0\n" +
		"coverage 1: want 0 < coverage < 1\n" +
		"periods: 1: want >= 2 steps\n" +
		"residuals 5: want >= 10\n" +
		"margin 2: want 0 <= margin < 1\n" +
		`models: "prophet": want one of [naive ses seasonal-naive seasonal-ratio seasonal-analog holt-winters-additive holt-winters-multiplicative]`
	if diff := cmp.Diff(want, errText(bad.Validate())); diff != "" {
		t.Errorf("Validate (-want +got):\n%s", diff)
	}
	if err := (TrackerOptions{}).Validate(); err != nil {
		t.Errorf("zero options: %v", err)
	}
	_, err := NewTracker(bad)
	if diff := cmp.Diff("tracker options: "+want, errText(err)); diff != "" {
		t.Errorf("NewTracker (-want +got):\n%s", diff)
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
	err = tr.Add(math.NaN())
	if diff := cmp.Diff("value NaN: want a finite number", errText(err)); diff != "" {
		t.Errorf("Add(NaN): error (-want +got):\n%s", diff)
	}
	err = tr.Load([]float64{1, math.Inf(1)})
	if diff := cmp.Diff("point 1: value +Inf: want a finite number", errText(err)); diff != "" {
		t.Errorf("Load with +Inf: error (-want +got):\n%s", diff)
	}
	if err := tr.Add(5); err != nil {
		t.Fatal(err)
	}
	for _, h := range []int{0, 7} {
		_, err := tr.Forecast(h)
		if diff := cmp.Diff(fmt.Sprintf("horizon %d steps: want 1..6", h), errText(err)); diff != "" {
			t.Errorf("Forecast(%d): error (-want +got):\n%s", h, diff)
		}
	}
	_, err = tr.ForecastWith("prophet", 1)
	if diff := cmp.Diff(`model "prophet": want one of [naive ses seasonal-naive seasonal-ratio seasonal-analog holt-winters-additive holt-winters-multiplicative]`, errText(err)); diff != "" {
		t.Errorf("ForecastWith(prophet): error (-want +got):\n%s", diff)
	}
	f, err := tr.Forecast(3)
	if err != nil {
		t.Fatal(err)
	}
	// An uncalibrated naive forecast of 5.
	type forecast struct {
		Model      string
		Values     []float64
		Calibrated bool
		Confidence float64
	}
	if diff := cmp.Diff(forecast{Model: "naive", Values: []float64{5, 5, 5}}, forecast{f.Model, f.Values, f.Calibrated, f.Confidence()}); diff != "" {
		t.Errorf("after one point (-want +got):\n%s", diff)
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
	// On these seeded series: Holt-Winters for the seasonal one; naive for
	// the random walk (ses scores barely lower, not by the 2% margin over
	// naive a model needs); ses for the bursty noise, which it smooths.
	tests := []struct {
		name string
		y    []float64
		want string
	}{
		{name: "seasonal", y: seasonal, want: "holt-winters-multiplicative"},
		{name: "random walk", y: walk, want: "naive"},
		{name: "bursty noise", y: bursty, want: "ses"},
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
			if f.Model != tc.want {
				t.Errorf("selected %q, want %q (scores %+v)", f.Model, tc.want, tr.Scores(6))
			}
			if f.Model != tr.Selected(6) {
				t.Errorf("Forecast used %q, Selected says %q", f.Model, tr.Selected(6))
			}
			if !f.Calibrated {
				t.Errorf("forecast after %d points not calibrated", len(tc.y))
			}
			if len(f.Values) != 6 || len(f.Lower) != 6 || len(f.Upper) != 6 {
				t.Fatalf("forecast of %d values in [%d, %d] bounds, want 6 of each", len(f.Values), len(f.Lower), len(f.Upper))
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
	if diff := cmp.Diff([]int{12}, tr.Periods()); diff != "" {
		t.Fatalf("periods after the first fortnight (-want +got):\n%s", diff)
	}
	for i := range 24 * 28 {
		if err := tr.Add(100 + 30*math.Sin(2*math.Pi*float64(i)/20)); err != nil {
			t.Fatal(err)
		}
	}
	// 20, and no longer 12.
	if diff := cmp.Diff([]int{20}, tr.Periods()); diff != "" {
		t.Errorf("periods four weeks after the change (-want +got):\n%s", diff)
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
	if diff := cmp.Diff([]int{7}, tr.Periods()); diff != "" {
		t.Errorf("periods, want the fixed [7] (-want +got):\n%s", diff)
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
	var candidates []string
	for _, s := range tr.Scores(3) {
		candidates = append(candidates, s.Model)
	}
	// Scores come best first; only the set of candidates matters here.
	if diff := cmp.Diff([]string{"naive", "seasonal-naive"}, candidates, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("candidates, want only naive and seasonal-naive (-want +got):\n%s", diff)
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
			// Within 1e-12; a NaN differs from everything.
			if diff := cmp.Diff(tc.want, tc.f.Confidence(), cmpopts.EquateApprox(0, 1e-12)); diff != "" {
				t.Errorf("confidence (-want +got):\n%s", diff)
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
		// With no variant or no horizon the checks below see nothing.
		if len(tr.variants) == 0 || len(tr.grid) == 0 {
			t.Fatalf("point %d: %d variants over %d horizons, want some of each", i, len(tr.variants), len(tr.grid))
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
