package predictor

import "math"

// Accuracy accumulates the error measures of a backtest.
type Accuracy struct {
	// N is the number of forecasts scored.
	N int
	// sums of the per-point measures
	ape, smape    float64
	apeN, covered int
	intervals     int
}

// Add scores one forecast f (with its interval [lo, hi]; hasInterval false
// when the forecast had none) against the actual a.
func (m *Accuracy) Add(a, f, lo, hi float64, hasInterval bool) {
	m.N++
	if a != 0 {
		m.ape += math.Abs(a-f) / math.Abs(a)
		m.apeN++
	}
	m.smape += 2 * relErr(a, f)
	if hasInterval {
		m.intervals++
		if a >= lo && a <= hi {
			m.covered++
		}
	}
}

// MAPE is the mean absolute percentage error (0-100 scale, more for
// forecasts far above small actuals); actuals of zero are skipped.
func (m *Accuracy) MAPE() float64 {
	if m.apeN == 0 {
		return math.NaN()
	}
	return 100 * m.ape / float64(m.apeN)
}

// SMAPE is the symmetric mean absolute percentage error on a 0-200 scale:
// 200*|a-f|/(|a|+|f|), 0 when both are 0.
func (m *Accuracy) SMAPE() float64 {
	if m.N == 0 {
		return math.NaN()
	}
	return 100 * m.smape / float64(m.N)
}

// Coverage is the share of actuals inside their forecast's interval; a
// forecast without an interval counts as a miss.
func (m *Accuracy) Coverage() float64 {
	if m.N == 0 {
		return math.NaN()
	}
	return float64(m.covered) / float64(m.N)
}

// asymLoss is the loss the selection minimises: the symmetric relative
// error 2|a-f|/(|a|+|f|), multiplied by under when the forecast is below
// the actual (under-provisioning costs more than idle capacity).
func asymLoss(a, f, under float64) float64 {
	l := 2 * relErr(a, f)
	if f < a {
		l *= under
	}
	return l
}

// ewma is an exponentially weighted mean.
type ewma struct{ num, den float64 }

func (e *ewma) add(v, decay float64) {
	e.num = e.num*decay + v
	e.den = e.den*decay + 1
}

func (e *ewma) mean() float64 {
	if e.den == 0 {
		return math.NaN()
	}
	return e.num / e.den
}
