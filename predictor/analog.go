package predictor

import (
	"cmp"
	"fmt"
	"slices"
)

// SeasonalAnalog is a nearest-neighbour seasonal ratio model. Each of the
// last Cycles periods is a candidate analogue of the current one; the
// candidates whose recent stretch, scaled to today's level, would have
// predicted the last Match points best are the Neighbours, and the
// forecast is the mean of their continuations, each scaled by the current
// level relative to that cycle: f(t+k) = mean over d of
// y[t+k-dP] * y[t] / y[t-dP].
//
// With a daily period this lets a holiday follow a past Sunday rather than
// last week's weekday, and a stormy morning follow the stormiest analogue:
// on the NYC taxi trace it is the most accurate of the models here.
type SeasonalAnalog struct {
	// Period in steps (>= 1).
	Period int
	// Cycles is the number of past periods searched (default 28).
	Cycles int
	// Match is the number of recent points compared (default Period/2,
	// at least 4). Windows longer than 48 points are compared at every
	// Match/48-th point, which keeps a forecast cheap for long periods.
	Match int
	// Neighbours is the number of analogues averaged (default 3).
	Neighbours int
}

func (m SeasonalAnalog) withDefaults() SeasonalAnalog {
	if m.Cycles <= 0 {
		m.Cycles = 28
	}
	if m.Match <= 0 {
		m.Match = max(m.Period/2, 4)
	}
	if m.Neighbours <= 0 {
		m.Neighbours = 3
	}
	return m
}

// Name implements Model.
func (SeasonalAnalog) Name() string { return "seasonal-analog" }

// MinHistory implements Model: two candidate cycles and the match window
// before them.
func (m SeasonalAnalog) MinHistory() int {
	d := m.withDefaults()
	return 2*d.Period + d.Match + 1
}

// Fit implements Model. The model has no parameters to estimate; Fit keeps
// the last Cycles periods.
func (m SeasonalAnalog) Fit(history []float64) (State, error) {
	if m.Period < 1 {
		return nil, fmt.Errorf("%s: %w: period %d, want >= 1", m.Name(), ErrNotApplicable, m.Period)
	}
	d := m.withDefaults()
	if len(history) < d.MinHistory() {
		return nil, tooShort(m.Name(), len(history), d.MinHistory())
	}
	st := &analogState{m: d, r: newRing(d.Cycles*d.Period + d.Match + 1)}
	for _, v := range history[max(0, len(history)-st.r.cap()):] {
		st.r.push(v)
	}
	return st, nil
}

type analogState struct {
	m     SeasonalAnalog
	r     *ring
	cands []analogCand
}

type analogCand struct {
	lag int
	err float64
}

func (s *analogState) Update(y float64) { s.r.push(y) }

// scale is the level of now relative to then. A ratio that cannot be
// formed (a reference of zero) is 1; the bounds only stop a near-zero
// reference from multiplying a forecast without limit: a blizzard that cuts
// taxi demand a hundredfold is still inside them.
func scale(now, then float64) float64 {
	if then <= 0 || now < 0 {
		return 1
	}
	return min(max(now/then, 1e-3), 1e3)
}

func (s *analogState) Forecast(out []float64) {
	p, m := s.m.Period, s.m.Match
	stride := (m + 47) / 48
	held := s.r.size()
	// ago(i) is the value i steps before the last one.
	ago := s.r.ago
	s.cands = s.cands[:0]
	for d := 1; d <= s.m.Cycles; d++ {
		lag := d * p
		if lag+m >= held {
			break
		}
		var e float64
		for i := 0; i < m; i += stride {
			// The one-step forecast this analogue would have made for the
			// point i steps ago.
			f := ago(i+lag) * scale(ago(i+1), ago(i+1+lag))
			e += relErr(ago(i), f)
		}
		s.cands = append(s.cands, analogCand{lag: lag, err: e})
	}
	slices.SortStableFunc(s.cands, func(a, b analogCand) int { return cmp.Compare(a.err, b.err) })
	last := ago(0)
	for k := 1; k <= len(out); k++ {
		var sum float64
		var n int
		for _, c := range s.cands {
			if c.lag < k {
				// This analogue has not reached the target time yet.
				continue
			}
			sum += ago(c.lag-k) * scale(last, ago(c.lag))
			n++
			if n == s.m.Neighbours {
				break
			}
		}
		if n == 0 {
			// Beyond every analogue: repeat the forecast a period earlier.
			if k > p {
				out[k-1] = out[k-1-p]
			} else {
				out[k-1] = last
			}
			continue
		}
		out[k-1] = sum / float64(n)
	}
}
