package predictor

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"time"

	"github.com/hpa-autoscaler/hpa-autoscaler/predictor/period"
)

// TrackerOptions configures a Tracker. Zero fields take the defaults
// documented on each.
type TrackerOptions struct {
	// Step is the sampling interval. It sets the time-based defaults below
	// and snaps detected periods to an hour, a day or a week when they are
	// within 2% of one. 0 means unknown.
	Step time.Duration
	// Horizon is the longest forecast, in steps, that gets intervals and
	// selection scores (default 12, at most 1440).
	Horizon int
	// History is the number of most recent points kept for refits
	// (default 20160: two weeks of one-minute points).
	History int
	// RefitEvery is the number of points between refits: period detection,
	// parameter estimation and the warm-up of new models (default one week
	// of points, within [48, 10080]; 2016 when Step is unknown). Until then
	// the tracker refits each time its history doubles. Between refits
	// every model's state is updated point by point.
	RefitEvery int
	// HalfLife is the half-life, in points, of the exponentially weighted
	// scores that select the model, and the number of recent origins a new
	// model is backtested on (default one week of points, within
	// [48, 10080]; 2016 when Step is unknown).
	HalfLife int
	// UnderWeight is how much more an under-forecast costs than an
	// over-forecast of the same relative size in the selection loss
	// (default 2).
	UnderWeight float64
	// Coverage is the probability of the prediction intervals (default
	// 0.8).
	Coverage float64
	// Periods fixes the seasonal periods in steps instead of detecting
	// them.
	Periods []int
	// MaxPeriods caps the number of detected periods used (default 2).
	MaxPeriods int
	// Residuals is the number of recent forecast errors per model and
	// horizon the intervals are taken from (default 200). Once full, each
	// new error replaces a random one, so older errors fade out
	// geometrically.
	Residuals int
	// Margin is the relative improvement over the naive forecast's loss a
	// model needs to be selected (default 0.02).
	Margin float64
	// Models restricts the candidate families by name (see Families); the
	// naive forecast is always a candidate.
	Models []string
	// Logger receives refit events at debug level; nil discards.
	Logger *slog.Logger
}

// Families lists the model families a Tracker can use, in the order it
// reports them.
var Families = []string{"naive", "ses", "seasonal-naive", "seasonal-ratio", "seasonal-analog", "holt-winters-additive", "holt-winters-multiplicative"}

func (o TrackerOptions) withDefaults() TrackerOptions {
	// The default refit interval and half-life: a week of steps within
	// [48, 10080], or 2016 (a week of 5-minute steps) when Step is unknown.
	week := 2016
	if o.Step > 0 {
		if day := int(24 * time.Hour / o.Step); day > 0 {
			week = min(max(7*day, 48), 10080)
		}
	}
	if o.Horizon <= 0 {
		o.Horizon = 12
	}
	if o.History <= 0 {
		o.History = 20160
	}
	if o.RefitEvery <= 0 {
		o.RefitEvery = week
	}
	if o.HalfLife <= 0 {
		o.HalfLife = week
	}
	if o.UnderWeight <= 0 {
		o.UnderWeight = 2
	}
	if o.Coverage <= 0 {
		o.Coverage = 0.8
	}
	if o.MaxPeriods <= 0 {
		o.MaxPeriods = 2
	}
	if o.Residuals <= 0 {
		o.Residuals = 200
	}
	if o.Margin == 0 {
		o.Margin = 0.02
	}
	return o
}

// Validate reports every invalid field.
func (o TrackerOptions) Validate() error {
	var errs []error
	if o.Step < 0 {
		errs = append(errs, fmt.Errorf("step %v: want >= 0", o.Step))
	}
	if o.Horizon < 0 || o.Horizon > MaxHorizonSteps {
		errs = append(errs, fmt.Errorf("horizon %d: want 1..%d steps", o.Horizon, MaxHorizonSteps))
	}
	if o.History < 0 || (o.History > 0 && o.History < 16) || o.History > 1<<20 {
		errs = append(errs, fmt.Errorf("history %d: want 16..%d points", o.History, 1<<20))
	}
	if o.RefitEvery < 0 {
		errs = append(errs, fmt.Errorf("refitEvery %d: want >= 0", o.RefitEvery))
	}
	if o.HalfLife < 0 {
		errs = append(errs, fmt.Errorf("halfLife %d: want >= 0", o.HalfLife))
	}
	if o.UnderWeight < 0 || math.IsNaN(o.UnderWeight) || math.IsInf(o.UnderWeight, 0) {
		errs = append(errs, fmt.Errorf("underWeight %v: want a finite number >= 0", o.UnderWeight))
	}
	if o.Coverage < 0 || o.Coverage >= 1 || math.IsNaN(o.Coverage) {
		errs = append(errs, fmt.Errorf("coverage %v: want 0 < coverage < 1", o.Coverage))
	}
	for _, p := range o.Periods {
		if p < 2 {
			errs = append(errs, fmt.Errorf("periods: %d: want >= 2 steps", p))
		}
	}
	if o.Residuals < 0 || (o.Residuals > 0 && o.Residuals < 10) {
		errs = append(errs, fmt.Errorf("residuals %d: want >= 10", o.Residuals))
	}
	if o.Margin < 0 || o.Margin >= 1 || math.IsNaN(o.Margin) {
		errs = append(errs, fmt.Errorf("margin %v: want 0 <= margin < 1", o.Margin))
	}
	for _, m := range o.Models {
		if !slices.Contains(Families, m) {
			errs = append(errs, fmt.Errorf("models: %q: want one of %v", m, Families))
		}
	}
	return errors.Join(errs...)
}

// Tracker forecasts one series online. Add feeds it one point per step; it
// keeps every candidate model's state up to date (an update per point, no
// refit), scores each model's earlier forecasts as their target points
// arrive, and on a schedule re-detects the periods and refits. Forecast
// uses the model with the lowest recent loss for the horizon, and
// intervals from that model's recent errors.
//
// A Tracker is not safe for concurrent use.
type Tracker struct {
	opts  TrackerOptions
	log   *slog.Logger
	grid  []int
	decay float64

	hist        *ring
	n           int
	lastRefit   int
	sinceRefit  int
	level       ewma
	nonNegative bool
	periods     []int
	variants    []*variant
	buf         []float64
}

type variant struct {
	model  Model
	family string
	period int
	state  State
	hw     *HWParams

	loss   []ewma
	sym    []ewma
	scored []int
	// sorted holds a sample of the recent scaled residuals per horizon,
	// in order; resN is its size and resSeen the number of residuals
	// recorded so far.
	sorted  [][]float32
	resN    []int
	resSeen []int
	pend    [][]float32
	origin  []int

	// last is the forecast path from origin lastAt.
	last   []float64
	lastAt int
}

// NewTracker returns a Tracker with no history.
func NewTracker(opts TrackerOptions) (*Tracker, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("tracker options: %w", err)
	}
	o := opts.withDefaults()
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Tracker{
		opts:        o,
		log:         log,
		grid:        horizonGrid(o.Horizon),
		decay:       math.Pow(0.5, 1/float64(o.HalfLife)),
		hist:        newRing(o.History),
		nonNegative: true,
		buf:         make([]float64, o.Horizon),
	}, nil
}

// horizonGrid is the set of horizons scored: every step up to 16, then
// about 16 roughly geometric steps up to h (always including h).
func horizonGrid(h int) []int {
	if h <= 16 {
		g := make([]int, h)
		for i := range g {
			g[i] = i + 1
		}
		return g
	}
	g := []int{1, 2, 3, 4, 6}
	f := math.Pow(float64(h)/6, 1.0/11)
	for x := 6.0; ; {
		x *= f
		k := int(math.Round(x))
		if k >= h {
			break
		}
		if k > g[len(g)-1] {
			g = append(g, k)
		}
	}
	return append(g, h)
}

// Options returns the options in effect (with defaults filled in).
func (t *Tracker) Options() TrackerOptions { return t.opts }

// Len is the number of points added so far.
func (t *Tracker) Len() int { return t.n }

// Periods returns the seasonal periods in use, in steps.
func (t *Tracker) Periods() []int { return slices.Clone(t.periods) }

// Add feeds the next point. Non-finite values are rejected: fill or drop
// them first (see Regularize).
func (t *Tracker) Add(y float64) error {
	if math.IsNaN(y) || math.IsInf(y, 0) {
		return fmt.Errorf("value %v: want a finite number", y)
	}
	origin := t.n
	for _, v := range t.variants {
		t.score(v, origin, y)
	}
	t.level.add(math.Abs(y), t.decay)
	t.hist.push(y)
	if y < 0 {
		t.nonNegative = false
	}
	for _, v := range t.variants {
		v.state.Update(y)
	}
	t.n++
	t.sinceRefit++
	if len(t.variants) == 0 || t.sinceRefit >= t.opts.RefitEvery || (t.lastRefit < t.opts.RefitEvery && t.n >= 2*t.lastRefit) {
		t.refit()
	}
	for _, v := range t.variants {
		t.remember(v, t.n-1)
	}
	return nil
}

// Load replaces the tracker's history with values (oldest first) and fits
// once: the periods are detected, every candidate model is fitted and
// backtested on the most recent points, so Forecast can select at once.
// It is the way to start a tracker from stored history; Add then carries
// on point by point.
func (t *Tracker) Load(values []float64) error {
	for i, y := range values {
		if math.IsNaN(y) || math.IsInf(y, 0) {
			return fmt.Errorf("point %d: value %v: want a finite number", i, y)
		}
	}
	t.hist = newRing(t.opts.History)
	t.level = ewma{}
	t.nonNegative = true
	t.variants = nil
	t.periods = nil
	for _, y := range values {
		t.hist.push(y)
		t.level.add(math.Abs(y), t.decay)
		if y < 0 {
			t.nonNegative = false
		}
	}
	t.n = len(values)
	if t.n == 0 {
		t.lastRefit, t.sinceRefit = 0, 0
		return nil
	}
	t.refit()
	return nil
}

// score compares the forecasts made for the point at index idx with its
// value a.
func (t *Tracker) score(v *variant, idx int, a float64) {
	slots := len(v.origin)
	for gi, k := range t.grid {
		o := idx - k
		if o < 0 {
			break
		}
		slot := o % slots
		if v.origin[slot] != o {
			continue
		}
		t.record(v, gi, a, float64(v.pend[slot][gi]))
	}
}

func (t *Tracker) record(v *variant, gi int, a, f float64) {
	v.loss[gi].add(asymLoss(a, f, t.opts.UnderWeight), t.decay)
	v.sym[gi].add(2*relErr(a, f), t.decay)
	v.scored[gi]++
	srt := v.sorted[gi]
	e := float32((a - f) / t.scaleOf(f))
	n := v.resN[gi]
	if n == len(srt) {
		// Full: a new residual replaces one chosen pseudo-randomly (and
		// reproducibly), so the sample forgets old errors geometrically
		// without having to remember their order.
		i := int((uint64(v.resSeen[gi]) * 0x9E3779B97F4A7C15 >> 33) % uint64(n))
		copy(srt[i:n-1], srt[i+1:n])
		n--
	}
	i, _ := slices.BinarySearch(srt[:n], e)
	copy(srt[i+1:n+1], srt[i:n])
	srt[i] = e
	v.resN[gi] = n + 1
	v.resSeen[gi]++
}

// scaleOf is the unit of the scaled residuals: the forecast's size, but
// not less than 5% of the series' typical level, so forecasts near zero do
// not blow residuals up.
func (t *Tracker) scaleOf(f float64) float64 {
	floor := 0.05 * t.level.mean()
	if !(floor > 0) {
		floor = 1e-9
	}
	return max(math.Abs(f), floor)
}

// remember stores v's forecasts from origin o for scoring.
func (t *Tracker) remember(v *variant, o int) {
	v.state.Forecast(v.last)
	v.lastAt = o
	slot := o % len(v.origin)
	for gi, k := range t.grid {
		v.pend[slot][gi] = float32(v.last[k-1])
	}
	v.origin[slot] = o
}

// path returns v's forecast from the last point added.
func (t *Tracker) path(v *variant) []float64 {
	if v.lastAt != t.n-1 {
		t.remember(v, t.n-1)
	}
	return v.last
}

func (t *Tracker) newVariant(m Model, period int) *variant {
	g := len(t.grid)
	v := &variant{model: m, family: m.Name(), period: period,
		loss: make([]ewma, g), sym: make([]ewma, g), scored: make([]int, g),
		resN: make([]int, g), resSeen: make([]int, g),
		pend: make([][]float32, t.opts.Horizon+1), origin: make([]int, t.opts.Horizon+1),
		last: make([]float64, t.opts.Horizon), lastAt: -1,
	}
	v.sorted = make([][]float32, g)
	for i := range v.sorted {
		v.sorted[i] = make([]float32, t.opts.Residuals)
	}
	for i := range v.pend {
		v.pend[i] = make([]float32, g)
		v.origin[i] = -1
	}
	return v
}

// refit re-detects the periods and refits every candidate model on the
// history; models that are new are first backtested on the recent history
// so they can be compared with the others at once.
func (t *Tracker) refit() {
	t.lastRefit = t.n
	t.sinceRefit = 0
	raw := t.hist.appendTo(make([]float64, 0, t.hist.size()))
	capped, nCapped := CapOutliers(raw, 6, 3)
	t.periods = t.choosePeriods(capped)
	var keep []*variant
	for _, m := range t.candidates(t.periods) {
		fam, per := m.Name(), modelPeriod(m)
		old := t.find(fam, per)
		if old != nil {
			m = warmStart(m, old.hw)
			st, err := m.Fit(slices.Clip(capped))
			if err != nil {
				t.log.Debug("refit failed; model dropped", "model", fam, "period", per, "err", err)
				continue
			}
			old.state, old.model, old.hw = st, m, hwParams(st)
			old.lastAt = -1
			keep = append(keep, old)
			continue
		}
		v := t.newVariant(m, per)
		if err := t.warmUp(v, raw, capped); err != nil {
			if errors.Is(err, ErrLookAhead) {
				t.log.Error("model excluded", "model", fam, "period", per, "err", err)
			} else {
				t.log.Debug("model not usable yet", "model", fam, "period", per, "err", err)
			}
			continue
		}
		keep = append(keep, v)
	}
	t.variants = keep
	t.log.Debug("refit", "points", t.n, "periods", t.periods, "models", len(keep), "capped", nCapped)
}

func (t *Tracker) find(family string, period int) *variant {
	for _, v := range t.variants {
		if v.family == family && v.period == period {
			return v
		}
	}
	return nil
}

// warmUp fits v on all but the most recent points and backtests it on
// those, so it arrives with scores and residuals; its state then carries on
// from the last point.
func (t *Tracker) warmUp(v *variant, raw, capped []float64) error {
	n, need := len(raw), v.model.MinHistory()
	if n < need {
		return tooShort(v.family, n, need)
	}
	warm := min(n-need, t.opts.HalfLife, maxWarmUp)
	fitLen := n - warm
	// The model is fitted on a buffer that goes on with the recent points
	// it is then backtested on, and once more with those points changed:
	// a model that reads past its history is caught here, before its
	// backtest could flatter it.
	st, err := checkedFit(v.model, capped, fitLen, t.opts.Horizon)
	if err != nil {
		return err
	}
	v.state, v.hw = st, hwParams(st)
	for o := fitLen - 1; o < n; o++ {
		if o > fitLen-1 {
			st.Update(raw[o])
		}
		// Origin o in history is index t.n-n+o overall.
		abs := t.n - n + o
		t.remember(v, abs)
		for gi, k := range t.grid {
			if o+k >= n {
				break
			}
			t.record(v, gi, raw[o+k], v.last[k-1])
		}
	}
	return nil
}

func hwParams(st State) *HWParams {
	if s, ok := st.(*HWState); ok {
		p := s.Params()
		return &p
	}
	return nil
}

func warmStart(m Model, p *HWParams) Model {
	if hw, ok := m.(HoltWinters); ok && p != nil {
		hw.Start = p
		hw.MaxEvals = 80
		return hw
	}
	return m
}

func modelPeriod(m Model) int {
	switch m := m.(type) {
	case SeasonalNaive:
		return m.Period
	case SeasonalRatio:
		return m.Period
	case SeasonalAnalog:
		return m.Period
	case HoltWinters:
		if m.Seasonality != NoSeason {
			return m.Period
		}
	}
	return 0
}

// calendar periods detected periods snap to.
var calendar = []time.Duration{time.Hour, 24 * time.Hour, 7 * 24 * time.Hour}

func (t *Tracker) choosePeriods(y []float64) []int {
	n := len(y)
	if len(t.opts.Periods) > 0 {
		var ps []int
		for _, p := range t.opts.Periods {
			if p <= n/2 {
				ps = append(ps, p)
			}
		}
		return ps
	}
	var hints []int
	if t.opts.Step > 0 {
		for _, c := range calendar {
			if c%t.opts.Step == 0 {
				hints = append(hints, int(c/t.opts.Step))
			}
		}
	}
	found := period.Detect(y, period.Options{MaxPeriods: t.opts.MaxPeriods, Hints: hints})
	var ps []int
	for _, f := range found {
		p := f.Steps
		// Keep the period already in use when the new estimate is within
		// 3% of it, so the models keep their scores.
		for _, q := range t.periods {
			if math.Abs(float64(p-q)) <= 0.03*float64(q) {
				p = q
			}
		}
		// A period within a step or 2% of an hour, a day or a week is that
		// calendar period: sampling jitter and holidays move the
		// autocorrelation peak by a step or two.
		for _, cp := range hints {
			if math.Abs(float64(p-cp)) <= max(1, 0.02*float64(cp)) && cp <= n/2 {
				p = cp
			}
		}
		if p >= 2 && !slices.Contains(ps, p) {
			ps = append(ps, p)
		}
	}
	slices.Sort(ps)
	return ps
}

// candidates are the models worth fitting for the periods found.
func (t *Tracker) candidates(periods []int) []Model {
	hist := t.opts.History
	ms := []Model{Naive{}, HoltWinters{}}
	for _, p := range periods {
		ms = append(ms,
			SeasonalNaive{Period: p},
			SeasonalRatio{Period: p, MaxCycles: max(1, min(4, (hist-12)/p))},
		)
		analog := SeasonalAnalog{Period: p}.withDefaults()
		analog.Cycles = min(analog.Cycles, (hist-analog.Match-1)/p)
		if analog.Cycles >= 3 {
			ms = append(ms, analog)
		}
		fitWindow := max(3*p, 2016)
		ms = append(ms,
			HoltWinters{Seasonality: Additive, Period: p, FitWindow: fitWindow},
			HoltWinters{Seasonality: Multiplicative, Period: p, FitWindow: fitWindow},
		)
	}
	if len(t.opts.Models) == 0 {
		return ms
	}
	return slices.DeleteFunc(ms, func(m Model) bool {
		return m.Name() != "naive" && !slices.Contains(t.opts.Models, m.Name())
	})
}

// Forecast is a forecast for the steps after the last point added.
type Forecast struct {
	// Model is the family that made it, Period its seasonal period in
	// steps (0 when it has none).
	Model  string
	Period int
	// Values are the point forecasts for 1..len(Values) steps ahead;
	// Lower and Upper bound the prediction interval of probability
	// Coverage.
	Values, Lower, Upper []float64
	Coverage             float64
	// Calibrated reports whether the intervals come from enough recent
	// errors of this model (at least 20 per horizon); when false, Lower
	// and Upper equal Values and Confidence is 0.
	Calibrated bool
	// Start is the time the first forecast step begins and Step the
	// length of a step, when the forecast comes from a Stream (zero from
	// a bare Tracker, which knows no time).
	Start time.Time
	Step  time.Duration
}

// Confidence is 1 minus the largest relative half-width of the intervals:
// 0.8 means every interval lies within 20% of its point forecast. It is 0
// for an uncalibrated forecast, and never below 0. Compare it with a
// confidence threshold to decide whether to act on the forecast.
func (f Forecast) Confidence() float64 {
	if !f.Calibrated {
		return 0
	}
	return confidence(f.Values, f.Lower, f.Upper)
}

func confidence(values, lower, upper []float64) float64 {
	if len(values) == 0 {
		return 0
	}
	c := 1.0
	for i, v := range values {
		half := (upper[i] - lower[i]) / 2
		rel := math.Inf(1)
		if a := math.Abs(v); a > 0 {
			rel = half / a
		} else if half == 0 {
			rel = 0
		}
		c = min(c, 1-rel)
	}
	return max(c, 0)
}

// maxWarmUp caps the origins a new model is backtested on when it joins.
const maxWarmUp = 2016

// minResiduals is the number of errors an interval needs.
const minResiduals = 20

// Forecast forecasts the next h steps (1 <= h <= Horizon) with the model
// selected for h.
func (t *Tracker) Forecast(h int) (Forecast, error) {
	return t.forecast(h, "")
}

// ForecastWith forecasts with the best model of one family (see Families);
// a seasonal family without a period yet falls back to the naive
// forecast, which the result's Model then names.
func (t *Tracker) ForecastWith(family string, h int) (Forecast, error) {
	if !slices.Contains(Families, family) {
		return Forecast{}, fmt.Errorf("model %q: want one of %v", family, Families)
	}
	return t.forecast(h, family)
}

func (t *Tracker) forecast(h int, family string) (Forecast, error) {
	if h < 1 || h > t.opts.Horizon {
		return Forecast{}, fmt.Errorf("horizon %d steps: want 1..%d", h, t.opts.Horizon)
	}
	if t.n == 0 {
		return Forecast{}, fmt.Errorf("%w: no points yet", ErrTooShort)
	}
	v := t.choose(h, family)
	f := Forecast{Model: v.family, Period: v.period, Values: make([]float64, h), Lower: make([]float64, h), Upper: make([]float64, h), Coverage: t.opts.Coverage, Calibrated: true}
	copy(f.Values, t.path(v)[:h])
	for k := 1; k <= h; k++ {
		lo, hi, ok := t.interval(v, k)
		if !ok {
			f.Calibrated = false
		}
		val := f.Values[k-1]
		s := t.scaleOf(val)
		// A biased model's errors can put both quantiles on one side of
		// its forecast; the interval still contains the forecast itself.
		f.Lower[k-1], f.Upper[k-1] = min(val+lo*s, val), max(val+hi*s, val)
		if t.nonNegative {
			f.Values[k-1] = max(val, 0)
			f.Lower[k-1] = max(f.Lower[k-1], 0)
			f.Upper[k-1] = max(f.Upper[k-1], 0)
		}
	}
	if !f.Calibrated {
		copy(f.Lower, f.Values)
		copy(f.Upper, f.Values)
	}
	return f, nil
}

// Selected names the family Forecast(h) would use now.
func (t *Tracker) Selected(h int) string {
	if t.n == 0 || h < 1 || h > t.opts.Horizon {
		return ""
	}
	return t.choose(h, "").family
}

// gridAt returns the range [lo, hi) of grid indices that stand for
// horizon h: h itself when it is scored, else the scored horizons on
// either side of it.
func (t *Tracker) gridAt(h int) []int {
	i, found := slices.BinarySearch(t.grid, h)
	if found {
		return []int{i, i + 1}
	}
	return []int{i - 1, i + 1}
}

// minScored is the number of scored forecasts a model needs before it can
// be selected.
func (t *Tracker) minScored() int { return min(max(t.opts.HalfLife/8, 12), 288) }

func (v *variant) scoreOver(lo, hi int) (loss float64, scored int) {
	scored = math.MaxInt
	for gi := lo; gi < hi; gi++ {
		loss += v.loss[gi].mean()
		scored = min(scored, v.scored[gi])
	}
	return loss / float64(hi-lo), scored
}

// choose picks the model for horizon h: the lowest loss at that horizon
// among the models with enough scored forecasts and a symmetric error no
// worse than the naive forecast's, unless it does not beat the naive
// forecast's loss by the margin. With a family, the best model of that
// family (naive when the family has none).
func (t *Tracker) choose(h int, family string) *variant {
	r := t.gridAt(h)
	var naive *variant
	for _, v := range t.variants {
		if v.family == "naive" {
			naive = v
		}
	}
	naiveSym := math.Inf(1)
	if naive != nil && family == "" {
		naiveSym = naive.symOver(r[0], r[1])
	}
	var best *variant
	bestLoss := math.Inf(1)
	for _, v := range t.variants {
		if family != "" && v.family != family {
			continue
		}
		loss, scored := v.scoreOver(r[0], r[1])
		if math.IsNaN(loss) {
			loss = math.Inf(1)
		}
		if family == "" {
			if scored < t.minScored() {
				continue
			}
			// A model may trade some symmetric error for fewer
			// under-forecasts, but not so much that it forecasts worse
			// than the naive forecast by the symmetric measure.
			if v != naive && v.symOver(r[0], r[1]) > naiveSym {
				continue
			}
		}
		if best == nil || loss < bestLoss {
			best, bestLoss = v, loss
		}
	}
	if best == nil {
		return naive
	}
	if family != "" || best == naive {
		return best
	}
	naiveLoss, _ := naive.scoreOver(r[0], r[1])
	// The naive forecast stays unless another model is clearly better:
	// on bursty series every model looks better than naive somewhere by
	// chance.
	if !(bestLoss < naiveLoss*(1-t.opts.Margin)) {
		return naive
	}
	return best
}

// symOver is the mean weighted symmetric error over the horizons [lo, hi)
// of the grid.
func (v *variant) symOver(lo, hi int) float64 {
	var s float64
	for gi := lo; gi < hi; gi++ {
		s += v.sym[gi].mean()
	}
	return s / float64(hi-lo)
}

// interval returns the scaled residual quantiles for horizon k,
// interpolated between the scored horizons around it.
func (t *Tracker) interval(v *variant, k int) (lo, hi float64, ok bool) {
	i, found := slices.BinarySearch(t.grid, k)
	if found {
		return t.quantiles(v, i)
	}
	// k lies between grid[i-1] and grid[i].
	lo1, hi1, ok1 := t.quantiles(v, i-1)
	lo2, hi2, ok2 := t.quantiles(v, i)
	w := float64(k-t.grid[i-1]) / float64(t.grid[i]-t.grid[i-1])
	return lo1 + w*(lo2-lo1), hi1 + w*(hi2-hi1), ok1 && ok2
}

func (t *Tracker) quantiles(v *variant, gi int) (lo, hi float64, ok bool) {
	n := v.resN[gi]
	if n < minResiduals {
		return 0, 0, false
	}
	a := (1 - t.opts.Coverage) / 2
	srt := v.sorted[gi][:n]
	return quantile(srt, a), quantile(srt, 1-a), true
}

// quantile interpolates linearly between order statistics.
func quantile(sorted []float32, q float64) float64 {
	pos := q * float64(len(sorted)-1)
	i := int(pos)
	if i >= len(sorted)-1 {
		return float64(sorted[len(sorted)-1])
	}
	f := pos - float64(i)
	return float64(sorted[i])*(1-f) + float64(sorted[i+1])*f
}

// ModelScore is a model's recent record as the selection sees it.
type ModelScore struct {
	Model  string
	Period int
	// Loss is the weighted asymmetric loss and SMAPE the weighted
	// symmetric error (0-200), both at horizon h (between the scored
	// horizons around h, when h is not scored itself).
	Loss, SMAPE float64
	// Scored is the number of forecasts scored at that horizon.
	Scored int
}

// Scores returns every candidate's recent record for horizon h, best
// first.
func (t *Tracker) Scores(h int) []ModelScore {
	if h < 1 || h > t.opts.Horizon {
		return nil
	}
	r := t.gridAt(h)
	var out []ModelScore
	for _, v := range t.variants {
		loss, scored := v.scoreOver(r[0], r[1])
		var sym float64
		for gi := r[0]; gi < r[1]; gi++ {
			sym += v.sym[gi].mean()
		}
		out = append(out, ModelScore{Model: v.family, Period: v.period, Loss: loss, SMAPE: 100 * sym / float64(r[1]-r[0]), Scored: scored})
	}
	slices.SortStableFunc(out, func(a, b ModelScore) int { return cmp.Compare(a.Loss, b.Loss) })
	return out
}
