package predictor

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/optimize"
)

// Seasonality is the form of the seasonal component of HoltWinters.
type Seasonality int

// Seasonal forms.
const (
	// NoSeason is simple exponential smoothing (or Holt's method with a
	// trend).
	NoSeason Seasonality = iota
	// Additive seasonality adds a per-phase offset to the level.
	Additive
	// Multiplicative seasonality scales the level by a per-phase factor;
	// it needs positive values.
	Multiplicative
)

// HWParams are the smoothing parameters of HoltWinters.
type HWParams struct {
	// Alpha smooths the level, Beta the trend, Gamma the seasonal
	// component; Phi damps the trend (1 = no damping).
	Alpha, Beta, Gamma, Phi float64
}

// HoltWinters is exponential smoothing with an optional damped trend and an
// optional additive or multiplicative seasonal component. Fit estimates the
// smoothing parameters by minimising the mean squared one-step error with
// Nelder-Mead (unless Params fixes them); the initial level, trend and
// seasonal indices come from the first one or two cycles of the fit window.
type HoltWinters struct {
	Seasonality Seasonality
	// Period in steps; ignored for NoSeason.
	Period int
	// Trend adds a damped additive trend.
	Trend bool
	// Params fixes the parameters instead of fitting them.
	Params *HWParams
	// Start is the starting point of the fit (for example the previous
	// fit's parameters); nil starts from a small grid of typical values.
	Start *HWParams
	// FitWindow is the number of most recent points the parameters are
	// fitted on (0: all). The state then runs through the whole window.
	FitWindow int
	// MaxEvals bounds the objective evaluations of one fit (default 300).
	MaxEvals int
}

// Name implements Model.
func (m HoltWinters) Name() string {
	switch m.Seasonality {
	case Additive:
		return "holt-winters-additive"
	case Multiplicative:
		return "holt-winters-multiplicative"
	}
	if m.Trend {
		return "holt"
	}
	return "ses"
}

// MinHistory implements Model: one full cycle to initialise the seasonal
// indices and a quarter cycle more to fit the parameters on.
func (m HoltWinters) MinHistory() int {
	if m.Seasonality == NoSeason {
		return 4
	}
	return m.Period + max(m.Period/4, 4)
}

// Fit implements Model.
func (m HoltWinters) Fit(history []float64) (State, error) {
	if m.Seasonality != NoSeason && m.Period < 2 {
		return nil, fmt.Errorf("%s: %w: period %d, want >= 2", m.Name(), ErrNotApplicable, m.Period)
	}
	if len(history) < m.MinHistory() {
		return nil, tooShort(m.Name(), len(history), m.MinHistory())
	}
	y := history
	if m.FitWindow > 0 && len(y) > max(m.FitWindow, m.MinHistory()) {
		y = y[len(y)-max(m.FitWindow, m.MinHistory()):]
	}
	if m.Seasonality == Multiplicative {
		for _, v := range y {
			if !(v > 0) {
				return nil, fmt.Errorf("%s: %w: multiplicative seasonality needs positive values, found %g", m.Name(), ErrNotApplicable, v)
			}
		}
	}
	init := m.initial(y)
	params := HWParams{Phi: 1}
	if m.Params != nil {
		params = *m.Params
		if !m.Trend {
			params.Beta, params.Phi = 0, 1
		}
		if m.Seasonality == NoSeason {
			params.Gamma = 0
		}
	} else {
		params = m.fit(y, init)
	}
	st := init.clone()
	st.p = params
	for _, v := range y {
		st.Update(v)
	}
	return st, nil
}

// HWState is a fitted HoltWinters model.
type HWState struct {
	kind   Seasonality
	p      HWParams
	level  float64
	trend  float64
	season []float64
	// phase is the index in season of the next time step.
	phase int
}

// Params returns the fitted smoothing parameters.
func (s *HWState) Params() HWParams { return s.p }

func (s *HWState) clone() *HWState {
	c := *s
	c.season = append([]float64(nil), s.season...)
	return &c
}

// oneStep returns the forecast of the next value.
func (s *HWState) oneStep() float64 {
	base := s.level + s.p.Phi*s.trend
	switch s.kind {
	case Additive:
		return base + s.season[s.phase]
	case Multiplicative:
		return base * s.season[s.phase]
	}
	return base
}

// Update implements State. It uses the error-correction form of
// exponential smoothing: every component moves by a share of the one-step
// error, so the seasonal index learns from the error against the previous
// level (with the textbook form, a level that follows the data closely
// would leave the seasonal indices frozen).
func (s *HWState) Update(y float64) {
	p := s.p
	base := s.level + p.Phi*s.trend
	switch s.kind {
	case Multiplicative:
		si := s.season[s.phase]
		f := base * si
		// The relative error is bounded so a single burst (or a near-zero
		// forecast) cannot flip a factor's sign.
		rel := 0.0
		if f > 0 {
			rel = min(max((y-f)/f, -0.9), 10)
		}
		s.level = base * (1 + p.Alpha*rel)
		s.trend = p.Phi*s.trend + p.Beta*base*rel
		s.season[s.phase] = si * (1 + p.Gamma*rel)
	case Additive:
		e := y - (base + s.season[s.phase])
		s.level = base + p.Alpha*e
		s.trend = p.Phi*s.trend + p.Beta*e
		s.season[s.phase] += p.Gamma * e
	default:
		e := y - base
		s.level = base + p.Alpha*e
		s.trend = p.Phi*s.trend + p.Beta*e
	}
	if len(s.season) > 0 {
		s.phase++
		if s.phase == len(s.season) {
			s.phase = 0
		}
	}
}

// Forecast implements State.
func (s *HWState) Forecast(out []float64) {
	var damp, phik float64 = 0, 1
	for k := 1; k <= len(out); k++ {
		phik *= s.p.Phi
		damp += phik
		base := s.level + damp*s.trend
		switch s.kind {
		case Additive:
			out[k-1] = base + s.season[(s.phase+k-1)%len(s.season)]
		case Multiplicative:
			out[k-1] = base * s.season[(s.phase+k-1)%len(s.season)]
		default:
			out[k-1] = base
		}
	}
}

// initial derives the starting level, trend and seasonal indices from the
// first cycles of y (two when available).
func (m HoltWinters) initial(y []float64) *HWState {
	st := &HWState{kind: m.Seasonality, p: HWParams{Phi: 1}}
	if m.Seasonality == NoSeason {
		n := min(len(y), 4)
		st.level = mean(y[:n])
		if m.Trend && len(y) >= 2 {
			st.trend = (y[n-1] - y[0]) / float64(n-1)
		}
		// The recursion starts at y[0]: step the level back one trend.
		st.level -= st.trend
		return st
	}
	p := m.Period
	cycles := min(2, len(y)/p)
	means := make([]float64, cycles)
	for c := range cycles {
		means[c] = mean(y[c*p : (c+1)*p])
	}
	st.level = means[0]
	if m.Trend && cycles == 2 {
		st.trend = (means[1] - means[0]) / float64(p)
	}
	st.season = make([]float64, p)
	for i := range p {
		var s float64
		for c := range cycles {
			v := y[c*p+i]
			if m.Seasonality == Multiplicative {
				s += v / means[c]
			} else {
				s += v - means[c]
			}
		}
		st.season[i] = s / float64(cycles)
	}
	// The level is centred on the first cycle; the recursion starts at its
	// first point, half a cycle earlier.
	st.level -= st.trend * float64(p) / 2
	return st
}

// fit minimises the mean squared one-step error over y.
func (m HoltWinters) fit(y []float64, init *HWState) HWParams {
	skip := 1
	if m.Seasonality != NoSeason {
		// The first cycle produced the seasonal indices: its errors say
		// little about the parameters.
		skip = m.Period
	}
	work := init.clone()
	objective := func(x []float64) float64 {
		p := m.decode(x)
		copy(work.season, init.season)
		work.level, work.trend, work.phase, work.p = init.level, init.trend, init.phase, p
		var sse float64
		for t, v := range y {
			f := work.oneStep()
			if t >= skip {
				e := v - f
				sse += e * e
			}
			work.Update(v)
		}
		if math.IsNaN(sse) || math.IsInf(sse, 0) {
			return math.MaxFloat64
		}
		return sse / float64(len(y)-skip)
	}
	starts := []HWParams{{Alpha: 0.3, Beta: 0.05, Gamma: 0.1, Phi: 0.95}, {Alpha: 0.8, Beta: 0.05, Gamma: 0.05, Phi: 0.95}}
	if m.Start != nil {
		starts = []HWParams{*m.Start}
	}
	evals := m.MaxEvals
	if evals <= 0 {
		evals = 300
	}
	best, bestF := starts[0], math.Inf(1)
	for _, s := range starts {
		x0 := m.encode(s)
		res, err := optimize.Minimize(optimize.Problem{Func: objective}, x0,
			&optimize.Settings{FuncEvaluations: evals / len(starts), Converger: &optimize.FunctionConverge{Absolute: 1e-10, Relative: 1e-6, Iterations: 40}},
			&optimize.NelderMead{SimplexSize: 1})
		if res == nil {
			_ = err
			continue
		}
		// An evaluation limit still leaves the best point found.
		if res.F < bestF {
			best, bestF = m.decode(res.X), res.F
		}
	}
	return best
}

// encode and decode map parameters to an unconstrained space: alpha and
// gamma in (0,1), beta in (0,alpha), phi in (0.8,0.98).
func (m HoltWinters) encode(p HWParams) []float64 {
	x := []float64{logit(p.Alpha)}
	if m.Trend {
		x = append(x, logit(p.Beta/max(p.Alpha, 1e-9)))
	}
	if m.Seasonality != NoSeason {
		x = append(x, logit(p.Gamma))
	}
	if m.Trend {
		x = append(x, logit((p.Phi-0.8)/0.18))
	}
	return x
}

func (m HoltWinters) decode(x []float64) HWParams {
	p := HWParams{Alpha: sigmoid(x[0]), Phi: 1}
	i := 1
	if m.Trend {
		p.Beta = p.Alpha * sigmoid(x[i])
		i++
	}
	if m.Seasonality != NoSeason {
		p.Gamma = sigmoid(x[i])
		i++
	}
	if m.Trend {
		p.Phi = 0.8 + 0.18*sigmoid(x[i])
	}
	return p
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

func logit(p float64) float64 {
	p = min(max(p, 1e-6), 1-1e-6)
	return math.Log(p / (1 - p))
}

func mean(x []float64) float64 {
	var s float64
	for _, v := range x {
		s += v
	}
	return s / float64(len(x))
}
