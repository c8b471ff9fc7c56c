package predictor

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// peekModel is deliberately dishonest: Fit reslices its history to its
// capacity and, when the next value is there, forecasts it.
type peekModel struct{}

func (peekModel) Name() string    { return "peek" }
func (peekModel) MinHistory() int { return 1 }
func (peekModel) Fit(h []float64) (State, error) {
	all := h[:cap(h)]
	st := &naiveState{last: h[len(h)-1]}
	if len(all) > len(h) {
		st.last = all[len(h)]
	}
	return st, nil
}

// retainModel is dishonest later: it keeps its history and, when asked to
// forecast, reads whatever has been written after it since.
type retainModel struct{}

func (retainModel) Name() string    { return "retain" }
func (retainModel) MinHistory() int { return 1 }
func (retainModel) Fit(h []float64) (State, error) {
	return &retainState{h: h}, nil
}

type retainState struct {
	h    []float64
	seen int
}

func (s *retainState) Update(y float64) { s.seen++ }
func (s *retainState) Forecast(out []float64) {
	all := s.h[:cap(s.h)]
	for k := range out {
		i := len(s.h) + s.seen + k
		if i < len(all) {
			out[k] = all[i]
		} else {
			out[k] = s.h[len(s.h)-1]
		}
	}
}

// exactSpy counts the fits on a history it could reslice past its end.
type exactSpy struct{ fits, open *int }

func (exactSpy) Name() string    { return "spy" }
func (exactSpy) MinHistory() int { return 1 }
func (m exactSpy) Fit(h []float64) (State, error) {
	*m.fits++
	if cap(h) != len(h) {
		*m.open++
	}
	return Naive{}.Fit(h)
}

func seasonalNoise(tb testing.TB, n, period int, sd float64, seed uint64) []float64 {
	tb.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	y := make([]float64, n)
	for i := range y {
		y[i] = 100 + 40*math.Sin(2*math.Pi*float64(i)/float64(period)) + sd*rng.NormFloat64()
	}
	return y
}

func TestCheckLookAhead(t *testing.T) {
	y := seasonalNoise(t, 400, 24, 3, 1)
	// Both dishonest models forecast point 200 itself one step ahead: its
	// real value, and 2y+1 in the poisoned copy of the future.
	leak := fmt.Sprintf("look-ahead: forecast used data after its origin: the forecast 1 steps after point 200 changed with the data after it (%g vs %g)", y[200], 2*y[200]+1)
	tests := []struct {
		name  string
		model Model
		leaks string // the whole message of the look-ahead error
	}{
		{name: "peeking at fit", model: peekModel{}, leaks: "peek: " + leak},
		{name: "reading a retained slice later", model: retainModel{}, leaks: "retain: " + leak},
		{name: "naive", model: Naive{}},
		{name: "seasonal naive", model: SeasonalNaive{Period: 24}},
		{name: "seasonal ratio", model: SeasonalRatio{Period: 24}},
		{name: "seasonal analog", model: SeasonalAnalog{Period: 24}},
		{name: "ses", model: HoltWinters{}},
		{name: "holt-winters additive", model: HoltWinters{Seasonality: Additive, Period: 24}},
		{name: "holt-winters multiplicative", model: HoltWinters{Seasonality: Multiplicative, Period: 24, Trend: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckLookAhead(tc.model, y, 200, 12)
			if tc.leaks != "" {
				if !errors.Is(err, ErrLookAhead) {
					t.Fatalf("got %v, want ErrLookAhead", err)
				}
				if diff := cmp.Diff(tc.leaks, err.Error()); diff != "" {
					t.Errorf("error (-want +got):\n%s", diff)
				}
				return
			}
			if err != nil {
				t.Fatalf("an honest model was accused: %v", err)
			}
		})
	}
}

func TestBacktestCatchesLookAhead(t *testing.T) {
	y := seasonalNoise(t, 400, 24, 3, 2)
	for _, m := range []Model{peekModel{}, retainModel{}} {
		t.Run(m.Name(), func(t *testing.T) {
			acc, err := Backtest(y, m, BacktestOptions{Horizon: 1, From: 100, RefitEvery: 10})
			if !errors.Is(err, ErrLookAhead) {
				t.Fatalf("got %v (sMAPE %.2f), want ErrLookAhead", err, acc.SMAPE())
			}
		})
	}
}

func TestBacktestGivesExactHistories(t *testing.T) {
	y := seasonalNoise(t, 300, 24, 3, 3)
	var fits, open int
	if _, err := Backtest(y, exactSpy{fits: &fits, open: &open}, BacktestOptions{Horizon: 3, From: 50, RefitEvery: 7}); err != nil {
		t.Fatal(err)
	}
	// The look-ahead check fits twice on purpose with the rest of the
	// buffer behind the history; every fit of the backtest itself gets an
	// exact copy.
	if open != 2 {
		t.Errorf("%d of %d fits could reach past their history, want only the 2 of the look-ahead check", open, fits)
	}
	// Origins 48..297 (forecasting points 50..299): the checked fit at
	// 48, then a refit every 8th origin from 56 on.
	if want := 2 + (297-56)/8 + 1; fits != want {
		t.Errorf("%d fits, want %d (a refit after every 7 updates)", fits, want)
	}
}

func TestBacktestKnownAnswers(t *testing.T) {
	alternating := make([]float64, 100)
	for i := range alternating {
		alternating[i] = float64(1 + 2*(i%2))
	}
	constant := make([]float64, 50)
	for i := range constant {
		constant[i] = 7
	}
	tests := []struct {
		name        string
		y           []float64
		model       Model
		opts        BacktestOptions
		mape, smape float64
		n           int
	}{
		// Naive one step ahead on 1,3,1,3: every error is 2; MAPE averages
		// 2/1 and 2/3; sMAPE is 200*2/4 = 100.
		{name: "naive on alternating", y: alternating, model: Naive{}, opts: BacktestOptions{Horizon: 1, From: 10}, mape: (200 + 200.0/3) / 2, smape: 100, n: 90},
		// Two steps ahead naive is exact on a period-2 series.
		{name: "naive two ahead on alternating", y: alternating, model: Naive{}, opts: BacktestOptions{Horizon: 2, From: 10}, mape: 0, smape: 0, n: 90},
		{name: "seasonal naive on alternating", y: alternating, model: SeasonalNaive{Period: 2}, opts: BacktestOptions{Horizon: 1, From: 10, RefitEvery: 5}, mape: 0, smape: 0, n: 90},
		{name: "ses on a constant", y: constant, model: HoltWinters{}, opts: BacktestOptions{Horizon: 3}, mape: 0, smape: 0, n: 44},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			acc, err := Backtest(tc.y, tc.model, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			type scores struct {
				N           int
				MAPE, SMAPE float64
			}
			// Within 1e-6; a NaN differs from everything.
			if diff := cmp.Diff(scores{tc.n, tc.mape, tc.smape}, scores{acc.N, acc.MAPE(), acc.SMAPE()}, cmpopts.EquateApprox(0, 1e-6)); diff != "" {
				t.Errorf("backtest (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBacktestErrors(t *testing.T) {
	y := seasonalNoise(t, 50, 24, 1, 4)
	tests := []struct {
		name  string
		model Model
		opts  BacktestOptions
		want  string
	}{
		{name: "no horizon", model: Naive{}, opts: BacktestOptions{}, want: "horizon 0: want >= 1"},
		{name: "first origin before the model can fit", model: SeasonalNaive{Period: 24}, opts: BacktestOptions{Horizon: 1, From: 10}, want: "seasonal-naive: series too short: have 10 points, need at least 24"},
		{name: "nothing left to score", model: Naive{}, opts: BacktestOptions{Horizon: 1, From: 60}, want: "series too short: 50 points, first scored point 60"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Backtest(y, tc.model, tc.opts)
			if diff := cmp.Diff(tc.want, errText(err)); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEvaluate(t *testing.T) {
	seasonal := seasonalNoise(t, 24*30, 24, 3, 5)
	rng := rand.New(rand.NewPCG(6, 6))
	walk := make([]float64, 24*30)
	walk[0] = 1000
	for i := 1; i < len(walk); i++ {
		walk[i] = walk[i-1] + 10*rng.NormFloat64()
	}
	tests := []struct {
		name string
		y    []float64
		// wantFinal is the family selected at each horizon (1 and 3): on
		// these seeded series a seasonal one (Holt-Winters) for the
		// seasonal series and naive for the random walk.
		wantFinal    []string
		beatsNaiveBy float64
	}{
		{name: "seasonal", y: seasonal, wantFinal: []string{"holt-winters-multiplicative", "holt-winters-multiplicative"}, beatsNaiveBy: 0.5},
		{name: "random walk", y: walk, wantFinal: []string{"naive", "naive"}, beatsNaiveBy: -0.05},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Evaluate(tc.y, EvalOptions{Tracker: TrackerOptions{Step: time.Hour}, Horizons: []int{1, 3}, From: 24 * 7})
			if err != nil {
				t.Fatal(err)
			}
			if len(res) != 2 {
				t.Fatalf("got %d results, want 2", len(res))
			}
			var finals []string
			for _, r := range res {
				finals = append(finals, r.Final)
			}
			if diff := cmp.Diff(tc.wantFinal, finals); diff != "" {
				t.Errorf("selected families at horizons 1 and 3 (-want +got):\n%s", diff)
			}
			for _, r := range res {
				auto := r.Rows[len(r.Rows)-1]
				if auto.Name != "auto" {
					t.Fatalf("last row %q, want auto", auto.Name)
				}
				naive := r.Rows[0]
				if naive.Name != "naive" {
					t.Fatalf("first row %q, want naive", naive.Name)
				}
				type scored struct{ Auto, Naive int }
				want := len(tc.y) - 24*7
				if diff := cmp.Diff(scored{want, want}, scored{auto.Accuracy.N, naive.Accuracy.N}); diff != "" {
					t.Errorf("h=%d: points scored (-want +got):\n%s", r.Horizon, diff)
				}
				// The bars are written as "not within" so that a NaN fails
				// too.
				if got, limit := auto.Accuracy.SMAPE(), naive.Accuracy.SMAPE()*(1-tc.beatsNaiveBy); !(got <= limit) {
					t.Errorf("h=%d: auto sMAPE %.2f, want at most %.2f (naive %.2f)", r.Horizon, got, limit, naive.Accuracy.SMAPE())
				}
				if c := auto.Accuracy.Coverage(); !(c >= 0.7 && c <= 0.9) {
					t.Errorf("h=%d: coverage of the 80%% intervals %.3f, want 0.7..0.9", r.Horizon, c)
				}
			}
		})
	}
}

func TestEvaluateErrors(t *testing.T) {
	y := make([]float64, 100)
	tests := []struct {
		name string
		opts EvalOptions
		want string
	}{
		{name: "no horizons", opts: EvalOptions{From: 10}, want: "horizons: want at least one"},
		{name: "bad horizon", opts: EvalOptions{Horizons: []int{0}, From: 10}, want: "horizon 0 steps: want >= 1"},
		{name: "scoring after the end", opts: EvalOptions{Horizons: []int{1}, From: 100}, want: "series too short: 100 points; scoring starts at point 101"},
		{name: "bad tracker options", opts: EvalOptions{Horizons: []int{1}, From: 10, Tracker: TrackerOptions{Coverage: 2}}, want: "tracker options: coverage 2: want 0 < coverage < 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Evaluate(y, tc.opts)
			if diff := cmp.Diff(tc.want, errText(err)); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}
