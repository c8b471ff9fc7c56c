package predictor

import (
	"fmt"
	"math"
)

// SeasonalRatio forecasts the value one period before the target time,
// scaled by how the recent level compares with the same moment a period
// ago: f(t+k) = P(t+k) * sum(y[t-w+1..t]) / sum(P[t-w+1..t]), where the
// reference profile P(j) is the mean of y at the same phase over the last
// Cycles periods. With one cycle and a window of two points it is the
// classic "a week ago, scaled by the last hour" forecast.
type SeasonalRatio struct {
	// Period in steps (>= 1).
	Period int
	// Cycles is the number of past periods averaged into the profile; 0
	// lets Fit choose 1..MaxCycles by one-step error.
	Cycles int
	// MaxCycles bounds the choice of Cycles (default 4).
	MaxCycles int
	// Window is the number of recent points that measure the level; 0 lets
	// Fit choose among 1, 2, 3, 4, 6, 8 and 12 by one-step error.
	Window int
	// FitWindow is the number of most recent origins scored when choosing
	// Cycles and Window (default 2016).
	FitWindow int
}

var ratioWindows = []int{1, 2, 3, 4, 6, 8, 12}

// Name implements Model.
func (SeasonalRatio) Name() string { return "seasonal-ratio" }

// MinHistory implements Model.
func (m SeasonalRatio) MinHistory() int { return m.Period + max(m.Window, 1) }

// Fit implements Model.
func (m SeasonalRatio) Fit(history []float64) (State, error) {
	p := m.Period
	if p < 1 {
		return nil, fmt.Errorf("%s: %w: period %d, want >= 1", m.Name(), ErrNotApplicable, p)
	}
	n := len(history)
	if n < m.MinHistory() {
		return nil, tooShort(m.Name(), n, m.MinHistory())
	}
	maxCycles := m.MaxCycles
	if maxCycles <= 0 {
		maxCycles = 4
	}
	cycles, window := m.Cycles, m.Window
	if cycles <= 0 || window <= 0 {
		cycles, window = m.choose(history, maxCycles)
	}
	st := &ratioState{period: p, cycles: cycles, window: window, r: newRing(cycles*p + window)}
	for _, v := range history[max(0, n-st.r.cap()):] {
		st.r.push(v)
	}
	return st, nil
}

// choose picks the number of cycles and the level window with the lowest
// mean one-step relative error over the most recent origins that every
// candidate can forecast.
func (m SeasonalRatio) choose(y []float64, maxCycles int) (cycles, window int) {
	p, n := m.Period, len(y)
	fitWindow := m.FitWindow
	if fitWindow <= 0 {
		fitWindow = 2016
	}
	windows := ratioWindows
	if m.Window > 0 {
		windows = []int{m.Window}
	}
	cands := []int{}
	for c := 1; c <= maxCycles; c++ {
		if m.Cycles > 0 && c != m.Cycles {
			continue
		}
		cands = append(cands, c)
	}
	// Keep only the cycle counts that leave at least a period of origins
	// (or, for a short history, at least one).
	var wmax int
	for _, w := range windows {
		wmax = max(wmax, w)
	}
	for len(cands) > 1 && n-(cands[len(cands)-1]*p+wmax) < min(p, fitWindow) {
		cands = cands[:len(cands)-1]
	}
	first := cands[len(cands)-1]*p + wmax - 1
	if first > n-2 {
		// Too short for every window: choose among those that fit.
		first = n - 2
	}
	first = max(first, n-1-fitWindow)
	best := math.Inf(1)
	cycles, window = cands[0], windows[0]
	for _, c := range cands {
		for _, w := range windows {
			if c*p+w > n-1 {
				continue
			}
			var sum float64
			var cnt int
			for t := max(first, c*p+w-1); t < n-1; t++ {
				f := ratioForecast(y[:t+1], p, c, w, 1)
				sum += relErr(y[t+1], f)
				cnt++
			}
			if cnt == 0 {
				continue
			}
			if e := sum / float64(cnt); e < best {
				best, cycles, window = e, c, w
			}
		}
	}
	return cycles, window
}

// relErr is the symmetric relative error |a-f| / (|a|+|f|), 0 when both are
// 0.
func relErr(a, f float64) float64 {
	d := math.Abs(a) + math.Abs(f)
	if d == 0 {
		return 0
	}
	return math.Abs(a-f) / d
}

// ratioForecast forecasts y[len(y)-1+k] from y with the given settings,
// using only the cycles available.
func ratioForecast(y []float64, p, cycles, window, k int) float64 {
	t := len(y) - 1
	at := func(j int) (float64, bool) {
		if j < 0 || j > t {
			return 0, false
		}
		return y[j], true
	}
	return ratioCompute(at, t, p, cycles, window, k)
}

// ratioCompute is the model's arithmetic over an accessor of past values
// by absolute index (t is the last index).
func ratioCompute(at func(int) (float64, bool), t, p, cycles, window, k int) float64 {
	// The profile of a time j averages the values whole periods before it,
	// starting with the first period that is already observed.
	profile := func(j int) (float64, bool) {
		c0 := 1
		if j > t {
			c0 = (j - t + p - 1) / p
		}
		var s float64
		var n int
		for c := c0; c < c0+cycles; c++ {
			if v, ok := at(j - c*p); ok {
				s += v
				n++
			}
		}
		if n == 0 {
			return 0, false
		}
		return s / float64(n), true
	}
	target, ok := profile(t + k)
	if !ok {
		v, _ := at(t)
		return v
	}
	var num, den float64
	for i := range window {
		v, ok1 := at(t - i)
		pv, ok2 := profile(t - i)
		if !ok1 || !ok2 {
			break
		}
		num += v
		den += pv
	}
	// A level that cannot be compared (no overlap, or a profile of zero)
	// leaves the profile unscaled; an extreme ratio from a near-zero
	// profile is bounded so one quiet interval cannot explode the forecast.
	if den <= 0 || num < 0 {
		return target
	}
	ratio := num / den
	if math.IsNaN(ratio) || math.IsInf(ratio, 0) {
		return target
	}
	return target * min(max(ratio, 1e-3), 1e3)
}

type ratioState struct {
	period, cycles, window int
	r                      *ring
}

func (r *ring) cap() int { return len(r.buf) }

func (s *ratioState) Update(y float64) { s.r.push(y) }

func (s *ratioState) Forecast(out []float64) {
	// Absolute indices: the last value pushed is t = size-1.
	t := s.r.size() - 1
	at := func(j int) (float64, bool) {
		if j < 0 || j > t {
			return 0, false
		}
		return s.r.ago(t - j), true
	}
	for k := 1; k <= len(out); k++ {
		out[k-1] = ratioCompute(at, t, s.period, s.cycles, s.window, k)
	}
}
