package predictor

import (
	"fmt"
	"math"
)

// exact returns a copy of y whose capacity equals its length, so a model
// given it cannot reslice past the end.
func exact(y []float64) []float64 {
	out := make([]float64, len(y))
	copy(out, y)
	return out
}

// CheckLookAhead fits m twice on the first n points of y and compares the
// forecasts for h steps: once from a buffer that goes on with the real
// future of y beyond n (reachable by reslicing or by holding on to the
// slice), once from a buffer that goes on with different values. A model
// that reads only its history forecasts the same both times; any
// difference is reported as ErrLookAhead. Fit errors are returned as they
// are when both fits fail alike.
func CheckLookAhead(m Model, y []float64, n, h int) error {
	_, err := checkedFit(m, y, n, h)
	return err
}

// checkedFit is CheckLookAhead returning the state fitted on the real
// buffer, so a caller that needs the fit anyway pays for one extra fit
// only. A state from a model that passes is as good as one fitted on an
// exact copy.
func checkedFit(m Model, y []float64, n, h int) (State, error) {
	if n <= 0 || n > len(y) || h < 1 {
		return nil, fmt.Errorf("%s: look-ahead check of %d points of %d, %d steps ahead: out of range", m.Name(), n, len(y), h)
	}
	if n == len(y) {
		// Nothing after the history to leak.
		return m.Fit(exact(y))
	}
	real := exact(y)
	poisoned := exact(y)
	for i := n; i < len(poisoned); i++ {
		// Always different from the real value, and of the same sign so a
		// model that needs positive values does not fail for that reason.
		poisoned[i] = 2*poisoned[i] + 1
		if poisoned[i] == y[i] {
			poisoned[i]++
		}
	}
	sa, errA := m.Fit(real[:n])
	sb, errB := m.Fit(poisoned[:n])
	switch {
	case errA != nil && errB != nil:
		return nil, errA
	case (errA == nil) != (errB == nil):
		return nil, fmt.Errorf("%s: %w: fitting on %d points failed only with one future", m.Name(), ErrLookAhead, n)
	}
	fa, fb := make([]float64, h), make([]float64, h)
	sa.Forecast(fa)
	sb.Forecast(fb)
	for i := range fa {
		if fa[i] != fb[i] && !(math.IsNaN(fa[i]) && math.IsNaN(fb[i])) {
			return nil, fmt.Errorf("%s: %w: the forecast %d steps after point %d changed with the data after it (%g vs %g)", m.Name(), ErrLookAhead, i+1, n, fa[i], fb[i])
		}
	}
	return sa, nil
}

// BacktestOptions tunes Backtest.
type BacktestOptions struct {
	// Horizon is the number of steps ahead each forecast is scored at
	// (>= 1).
	Horizon int
	// From is the index of the first point scored (default: the first the
	// model can forecast, MinHistory+Horizon-1).
	From int
	// RefitEvery is the number of origins between refits; 0 fits once at
	// the first origin and only updates after that.
	RefitEvery int
}

// Backtest scores m's point forecasts Horizon steps ahead at every origin
// (rolling origin): the forecast for point i is made by a state fitted on,
// and then updated with, points before i-Horizon+1 only. Every fit gets a
// fresh copy of the history that ends where the history ends, and the
// first origin is checked with CheckLookAhead, so a model that reads
// beyond its history fails with ErrLookAhead instead of scoring well.
func Backtest(y []float64, m Model, o BacktestOptions) (Accuracy, error) {
	var acc Accuracy
	h := o.Horizon
	if h < 1 {
		return acc, fmt.Errorf("horizon %d: want >= 1", h)
	}
	from := o.From
	if from <= 0 {
		from = m.MinHistory() + h - 1
	}
	// The first origin, as a number of points seen: its forecast h steps
	// ahead is the point at index from.
	first := from - h + 1
	if first < m.MinHistory() {
		return acc, tooShort(m.Name(), first, m.MinHistory())
	}
	if from >= len(y) {
		return acc, fmt.Errorf("%w: %d points, first scored point %d", ErrTooShort, len(y), from)
	}
	// The first fit is checked for look-ahead; later fits get exact
	// copies, so a model cannot reach past its history there.
	st, err := checkedFit(m, y, first, h)
	if err != nil {
		return acc, err
	}
	out := make([]float64, h)
	since := 0
	for seen := first; seen+h <= len(y); seen++ {
		if seen > first && o.RefitEvery > 0 && since >= o.RefitEvery {
			s, err := m.Fit(exact(y[:seen]))
			if err != nil {
				return acc, err
			}
			st, since = s, 0
		} else if seen > first {
			st.Update(y[seen-1])
			since++
		}
		st.Forecast(out)
		acc.Add(y[seen-1+h], out[h-1], 0, 0, false)
	}
	return acc, nil
}

// EvalOptions tunes Evaluate.
type EvalOptions struct {
	// Tracker configures the tracker under test; its Horizon is raised to
	// the longest of Horizons.
	Tracker TrackerOptions
	// Horizons are the forecast distances scored, in steps.
	Horizons []int
	// From is the index of the first point scored (for example the first
	// point of the series' eighth day).
	From int
	// Skip marks points not to score (values filled into gaps); nil
	// scores all.
	Skip []bool
	// Progress, when set, is called after each point with the number of
	// points done and the total.
	Progress func(done, total int)
}

// EvalRow is one model's backtest record.
type EvalRow struct {
	// Name is a family (see Families) or "auto", the tracker's selection.
	Name     string
	Accuracy Accuracy
	// Available is the share of scored forecasts the family made itself
	// (the rest, before it had a period, were naive forecasts).
	Available float64
	// Selected is the share of scored forecasts for which the tracker
	// selected this family.
	Selected float64
}

// EvalResult is the backtest of one horizon.
type EvalResult struct {
	Horizon int
	// Rows holds the families the tracker fitted at some point during
	// scoring, in the order of Families, then "auto".
	Rows []EvalRow
	// Final is the family the tracker selects for this horizon after the
	// last point.
	Final string
}

// Evaluate replays y through a fresh Tracker one point at a time and, at
// every origin, scores the forecast for each horizon against the actual
// value: one row per model family (the tracker's best model of that
// family) and one for the tracker's own selection. The tracker only ever
// holds the points up to the origin, so no forecast can see its target.
func Evaluate(y []float64, o EvalOptions) ([]EvalResult, error) {
	if len(o.Horizons) == 0 {
		return nil, fmt.Errorf("horizons: want at least one")
	}
	topts := o.Tracker
	for _, h := range o.Horizons {
		if h < 1 {
			return nil, fmt.Errorf("horizon %d steps: want >= 1", h)
		}
		topts.Horizon = max(topts.Horizon, h)
	}
	if o.From < 1 || o.From >= len(y) {
		return nil, fmt.Errorf("%w: %d points; scoring starts at point %d", ErrTooShort, len(y), o.From+1)
	}
	tr, err := NewTracker(topts)
	if err != nil {
		return nil, err
	}
	type rowAcc struct {
		acc               Accuracy
		available, picked int
	}
	rows := make([][]rowAcc, len(o.Horizons))
	for i := range rows {
		rows[i] = make([]rowAcc, len(Families)+1)
	}
	auto := len(Families)
	for seen := 1; seen <= len(y); seen++ {
		if err := tr.Add(y[seen-1]); err != nil {
			return nil, fmt.Errorf("point %d: %w", seen, err)
		}
		for hi, h := range o.Horizons {
			target := seen - 1 + h
			if target < o.From || target >= len(y) || (o.Skip != nil && o.Skip[target]) {
				continue
			}
			a := y[target]
			pick := tr.choose(h, "")
			for fi, fam := range Families {
				r := &rows[hi][fi]
				v := tr.choose(h, fam)
				f, lo, up, ok := tr.pointAt(v, h)
				r.acc.Add(a, f, lo, up, ok)
				if v.family == fam {
					r.available++
				}
				if pick.family == fam {
					r.picked++
				}
			}
			f, lo, up, ok := tr.pointAt(pick, h)
			rows[hi][auto].acc.Add(a, f, lo, up, ok)
		}
		if o.Progress != nil {
			o.Progress(seen, len(y))
		}
	}
	out := make([]EvalResult, len(o.Horizons))
	for hi, h := range o.Horizons {
		res := EvalResult{Horizon: h, Final: tr.Selected(h)}
		for fi, fam := range Families {
			r := rows[hi][fi]
			if r.available == 0 {
				continue
			}
			n := float64(r.acc.N)
			res.Rows = append(res.Rows, EvalRow{Name: fam, Accuracy: r.acc, Available: float64(r.available) / n, Selected: float64(r.picked) / n})
		}
		r := rows[hi][auto]
		res.Rows = append(res.Rows, EvalRow{Name: "auto", Accuracy: r.acc, Available: 1, Selected: 1})
		out[hi] = res
	}
	return out, nil
}

// pointAt is v's forecast h steps ahead with its interval, without the
// rest of the path.
func (t *Tracker) pointAt(v *variant, h int) (f, lo, hi float64, ok bool) {
	f = t.path(v)[h-1]
	ql, qh, ok := t.interval(v, h)
	if !ok {
		return f, f, f, false
	}
	s := t.scaleOf(f)
	lo, hi = min(f+ql*s, f), max(f+qh*s, f)
	if t.nonNegative {
		f, lo, hi = max(f, 0), max(lo, 0), max(hi, 0)
	}
	return f, lo, hi, true
}
