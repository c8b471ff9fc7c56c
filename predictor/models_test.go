package predictor

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// simulateHW generates n points from the error-correction form of
// Holt-Winters with the given parameters and Gaussian errors (additive
// errors of sd for additive and no seasonality, relative errors of sd for
// multiplicative).
func simulateHW(tb testing.TB, kind Seasonality, period int, p HWParams, n int, sd float64, seed uint64) []float64 {
	tb.Helper()
	rng := rand.New(rand.NewPCG(seed, seed+1))
	st := &HWState{kind: kind, p: p, level: 100}
	if kind != NoSeason {
		st.season = make([]float64, period)
		for i := range st.season {
			s := math.Sin(2 * math.Pi * float64(i) / float64(period))
			if kind == Multiplicative {
				st.season[i] = 1 + 0.4*s
			} else {
				st.season[i] = 30 * s
			}
		}
	}
	y := make([]float64, n)
	for t := range y {
		f := st.oneStep()
		if kind == Multiplicative {
			y[t] = f * (1 + sd*rng.NormFloat64())
		} else {
			y[t] = f + sd*rng.NormFloat64()
		}
		st.Update(y[t])
	}
	return y
}

func TestHoltWintersRecoversParameters(t *testing.T) {
	tests := []struct {
		name  string
		model HoltWinters
		want  HWParams
		sd    float64
		tol   float64
	}{
		{name: "ses", model: HoltWinters{}, want: HWParams{Alpha: 0.4, Phi: 1}, sd: 2, tol: 0.03},
		{name: "additive", model: HoltWinters{Seasonality: Additive, Period: 24}, want: HWParams{Alpha: 0.3, Gamma: 0.2, Phi: 1}, sd: 2, tol: 0.03},
		{name: "multiplicative", model: HoltWinters{Seasonality: Multiplicative, Period: 24}, want: HWParams{Alpha: 0.3, Gamma: 0.2, Phi: 1}, sd: 0.02, tol: 0.03},
		{name: "additive damped trend", model: HoltWinters{Seasonality: Additive, Period: 12, Trend: true}, want: HWParams{Alpha: 0.5, Beta: 0.1, Gamma: 0.3, Phi: 0.9}, sd: 1, tol: 0.05},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			y := simulateHW(t, tc.model.Seasonality, tc.model.Period, tc.want, 6000, tc.sd, 7)
			st, err := tc.model.Fit(y)
			if err != nil {
				t.Fatal(err)
			}
			got := st.(*HWState).Params()
			// Each parameter within tol; a NaN differs from everything.
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateApprox(0, tc.tol)); diff != "" {
				t.Errorf("parameters, each within %.2f (-want +got):\n%s", tc.tol, diff)
			}
		})
	}
}

func TestHoltWintersExactOnCleanSeason(t *testing.T) {
	// A pure seasonal pattern on a constant level: once fitted, every
	// model forecasts the pattern itself.
	pattern := []float64{10, 20, 40, 30, 15, 5, 8, 12}
	y := make([]float64, 20*len(pattern))
	for i := range y {
		y[i] = 100 + pattern[i%len(pattern)]
	}
	for _, m := range []HoltWinters{
		{Seasonality: Additive, Period: 8},
		{Seasonality: Multiplicative, Period: 8},
		{Seasonality: Additive, Period: 8, Trend: true},
	} {
		t.Run(m.Name(), func(t *testing.T) {
			st, err := m.Fit(y)
			if err != nil {
				t.Fatal(err)
			}
			out := make([]float64, 16)
			st.Forecast(out)
			want := make([]float64, len(out))
			for k := range want {
				want[k] = 100 + pattern[(len(y)+k)%len(pattern)]
			}
			// Within a relative 1e-6; a NaN differs from everything.
			if diff := cmp.Diff(want, out, cmpopts.EquateApprox(1e-6, 0)); diff != "" {
				t.Errorf("forecast, steps ahead from 1 (-want +got):\n%s", diff)
			}
		})
	}
}

func TestModelsForecastKnownAnswers(t *testing.T) {
	// Two cycles of a period-4 pattern, the second at 1.5 times the level
	// of the first, then two points of a third cycle at twice the level.
	y := []float64{10, 20, 30, 40, 15, 30, 45, 60, 20, 40}
	tests := []struct {
		name  string
		model Model
		want  []float64
	}{
		{name: "naive", model: Naive{}, want: []float64{40, 40, 40, 40, 40, 40}},
		{name: "seasonal naive", model: SeasonalNaive{Period: 4}, want: []float64{45, 60, 20, 40, 45, 60}},
		// The level of the last point (40) relative to a period earlier
		// (30) scales the value a period before each target; from the
		// third step the reference lies in the current cycle, and the
		// growth of the last period is carried one period further.
		{name: "seasonal ratio, one cycle, one point", model: SeasonalRatio{Period: 4, Cycles: 1, Window: 1}, want: []float64{60, 80, 80 / 3.0, 160 / 3.0, 60, 80}},
		// Two points: (20+40)/(15+30) = 4/3 again.
		{name: "seasonal ratio, one cycle, two points", model: SeasonalRatio{Period: 4, Cycles: 1, Window: 2}, want: []float64{60, 80, 80 / 3.0, 160 / 3.0, 60, 80}},
		// Two cycles: the profile averages 10,15 / 20,30 / ...; the level
		// is 40 against a profile of (20+30)/2 = 25 at the last point.
		{name: "seasonal ratio, two cycles", model: SeasonalRatio{Period: 4, Cycles: 2, Window: 1}, want: []float64{(30 + 45) / 2.0 * 40 / 25, (40 + 60) / 2.0 * 40 / 25}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, err := tc.model.Fit(slices.Clone(y))
			if err != nil {
				t.Fatal(err)
			}
			got := make([]float64, len(tc.want))
			st.Forecast(got)
			// Within 1e-9; a NaN differs from everything.
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateApprox(0, 1e-9)); diff != "" {
				t.Errorf("forecast, steps ahead from 1 (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSeasonalAnalogFollowsTheMatchingCycle(t *testing.T) {
	// Cycles of period 6 follow the shape A, except every fourth, which
	// follows B (a "holiday"). Part way into a B cycle, the analogues that
	// match best are the earlier B cycles, so the rest of the cycle is
	// forecast from B, not from the A cycle just before.
	a := []float64{10, 30, 50, 50, 30, 10}
	b := []float64{10, 12, 14, 14, 12, 10}
	var y []float64
	for c := range 16 {
		shape := a
		if c%4 == 3 {
			shape = b
		}
		y = append(y, shape...)
	}
	// Three points into the next B cycle (cycle 19 would be B; build up to
	// cycle 18 = A, then start B).
	y = append(y, a...)
	y = append(y, a...)
	y = append(y, a...)
	y = append(y, b[:3]...)
	m := SeasonalAnalog{Period: 6, Match: 3, Neighbours: 2}
	st, err := m.Fit(y)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]float64, 3)
	st.Forecast(got)
	// Within 1e-9 of B (A would be a[3:]); a NaN differs from everything.
	if diff := cmp.Diff(b[3:], got, cmpopts.EquateApprox(0, 1e-9)); diff != "" {
		t.Errorf("forecast of the rest of the B cycle (-want +got):\n%s", diff)
	}
}

func TestFitErrors(t *testing.T) {
	tests := []struct {
		name    string
		model   Model
		y       []float64
		target  error
		message string
	}{
		{name: "naive empty", model: Naive{}, y: nil, target: ErrTooShort, message: "naive: series too short: have 0 points, need at least 1"},
		{name: "seasonal naive short", model: SeasonalNaive{Period: 24}, y: make([]float64, 10), target: ErrTooShort, message: "seasonal-naive: series too short: have 10 points, need at least 24"},
		{name: "seasonal naive no period", model: SeasonalNaive{}, y: make([]float64, 10), target: ErrNotApplicable, message: "seasonal-naive: model not applicable: period 0, want >= 1"},
		{name: "ratio short", model: SeasonalRatio{Period: 24}, y: make([]float64, 24), target: ErrTooShort, message: "seasonal-ratio: series too short: have 24 points, need at least 25"},
		{name: "analog short", model: SeasonalAnalog{Period: 10}, y: make([]float64, 20), target: ErrTooShort, message: "seasonal-analog: series too short: have 20 points, need at least 26"},
		{name: "holt-winters short", model: HoltWinters{Seasonality: Additive, Period: 48}, y: make([]float64, 50), target: ErrTooShort, message: "holt-winters-additive: series too short: have 50 points, need at least 60"},
		{name: "holt-winters period 1", model: HoltWinters{Seasonality: Additive, Period: 1}, y: make([]float64, 50), target: ErrNotApplicable, message: "holt-winters-additive: model not applicable: period 1, want >= 2"},
		{name: "multiplicative with a zero", model: HoltWinters{Seasonality: Multiplicative, Period: 2}, y: []float64{1, 2, 1, 2, 0, 2, 1, 2}, target: ErrNotApplicable, message: "holt-winters-multiplicative: model not applicable: multiplicative seasonality needs positive values, found 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.model.Fit(tc.y)
			if !errors.Is(err, tc.target) {
				t.Fatalf("error %v, want it to wrap %v", err, tc.target)
			}
			if diff := cmp.Diff(tc.message, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

func TestIncrementalUpdateMatchesRefit(t *testing.T) {
	// With fixed parameters, fitting on n points and updating with the
	// next one gives the state a fit on n+1 points gives: a new point never
	// needs a refit.
	y := simulateHW(t, Multiplicative, 12, HWParams{Alpha: 0.3, Gamma: 0.2, Phi: 1}, 600, 0.02, 3)
	fixed := &HWParams{Alpha: 0.3, Gamma: 0.2, Phi: 1}
	models := []Model{
		Naive{},
		SeasonalNaive{Period: 12},
		SeasonalRatio{Period: 12, Cycles: 3, Window: 2},
		SeasonalAnalog{Period: 12},
		HoltWinters{Params: fixed},
		HoltWinters{Seasonality: Additive, Period: 12, Params: fixed},
		HoltWinters{Seasonality: Multiplicative, Period: 12, Params: fixed},
	}
	for _, m := range models {
		t.Run(m.Name(), func(t *testing.T) {
			inc, err := m.Fit(slices.Clone(y[:500]))
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range y[500:] {
				inc.Update(v)
			}
			full, err := m.Fit(slices.Clone(y))
			if err != nil {
				t.Fatal(err)
			}
			a, b := make([]float64, 30), make([]float64, 30)
			inc.Forecast(a)
			full.Forecast(b)
			// Within 1e-9, relative above 1; a NaN differs from everything.
			if diff := cmp.Diff(b, a, cmpopts.EquateApprox(1e-9, 1e-9)); diff != "" {
				t.Errorf("forecast, steps ahead from 1 (-refit +incremental):\n%s", diff)
			}
		})
	}
}
