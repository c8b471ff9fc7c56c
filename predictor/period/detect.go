package period

import (
	"cmp"
	"math"
	"math/cmplx"
	"slices"

	"gonum.org/v1/gonum/dsp/fourier"
)

// Period is one detected seasonal period.
type Period struct {
	// Steps is the period in samples.
	Steps int
	// ACF is the autocorrelation of the detrended series at lag Steps
	// (about 1 for a clean periodic signal, about 0 for noise).
	ACF float64
	// Power is the periodogram ordinate of the peak that proposed it,
	// relative to the mean ordinate: how much of the series' variance the
	// period carries. Detect orders periods by it.
	Power float64
}

// Options tunes Detect. The zero value is usable.
type Options struct {
	// MaxPeriods caps the number of periods returned (default 3).
	MaxPeriods int
	// MinPeriod and MaxPeriod bound the period in samples (defaults 2 and
	// len/MinCycles).
	MinPeriod, MaxPeriod int
	// MinCycles is the number of full cycles the series must cover for a
	// period to be considered (default 2).
	MinCycles int
	// MinACF is the autocorrelation a candidate needs to be confirmed, on
	// the series minus its slow level (default max(0.15, 4/sqrt(len))).
	MinACF float64
	// MinProminence is how far the autocorrelation at the period must rise
	// above its lowest value at shorter lags (default 0.15). A persistent
	// but aperiodic series has a slowly decaying autocorrelation with small
	// bumps; a seasonal one falls between cycles and rises again.
	MinProminence float64
	// Candidates is the number of periodogram peaks examined by raw power,
	// and again by local prominence (default 8 each).
	Candidates int
	// Hints are periods (in samples) examined in addition to the peaks,
	// such as a day and a week when the sampling interval is known. A hint
	// must be confirmed like any candidate: it only makes sure a weak line
	// among many stronger ones is looked at.
	Hints []int
}

func (o Options) withDefaults(n int) Options {
	if o.MaxPeriods <= 0 {
		o.MaxPeriods = 3
	}
	if o.MinCycles <= 0 {
		o.MinCycles = 2
	}
	if o.MinPeriod < 2 {
		o.MinPeriod = 2
	}
	if maxP := n / o.MinCycles; o.MaxPeriod <= 0 || o.MaxPeriod > maxP {
		o.MaxPeriod = maxP
	}
	if o.MinACF <= 0 {
		// Four standard errors of the autocorrelation of white noise, and
		// never below 0.15.
		o.MinACF = max(0.15, 4/math.Sqrt(float64(n)))
	}
	if o.MinProminence <= 0 {
		o.MinProminence = 0.15
	}
	if o.Candidates <= 0 {
		o.Candidates = 8
	}
	return o
}

// Detect returns the confirmed periods of y, strongest spectral line
// first. It returns nil for series too short or without periodicity, and
// ignores non-finite values (they are treated as the series mean).
func Detect(y []float64, opts Options) []Period {
	n := len(y)
	o := opts.withDefaults(n)
	if n < 4*o.MinPeriod || o.MaxPeriod < o.MinPeriod {
		return nil
	}
	x := detrend(y)
	var energy float64
	for _, v := range x {
		energy += v * v
	}
	if energy == 0 || math.IsNaN(energy) || math.IsInf(energy, 0) {
		return nil
	}

	// Zero-padding to at least 2n makes the inverse transform of the power
	// spectrum the linear (not circular) autocorrelation, and doubles the
	// frequency resolution of the periodogram.
	size := fastSize(2 * n)
	buf := make([]float64, size)
	copy(buf, x)
	fft := fourier.NewFFT(size)
	coef := fft.Coefficients(nil, buf)
	power := make([]float64, len(coef))
	for k, c := range coef {
		a := cmplx.Abs(c)
		power[k] = a * a
	}
	// Frequencies whose period lies inside [MinPeriod, MaxPeriod].
	kMin := max(1, int(math.Floor(float64(size)/float64(o.MaxPeriod))))
	kMax := min(len(power)-2, int(math.Ceil(float64(size)/float64(o.MinPeriod))))
	var meanPower float64
	for k := 1; k < len(power); k++ {
		meanPower += power[k]
	}
	meanPower /= float64(len(power) - 1)
	// Candidates are the strongest peaks by raw power and, as many again,
	// by how far they stand above the spectrum around them: a slowly
	// wandering level puts most of the power at low frequencies, where a
	// narrow weekly line can be weaker than the bumps of the level but still
	// stands out locally; the daily harmonics and their sidebands in turn
	// can outrank the weekly line locally but not in raw power.
	type peak struct {
		k          int
		raw, local float64
	}
	var peaks []peak
	var window []float64
	for k := max(kMin, 1); k <= kMax; k++ {
		if !(power[k] > power[k-1] && power[k] >= power[k+1]) || power[k] < meanPower {
			continue
		}
		w := max(4, k/4)
		window = append(window[:0], power[max(1, k-w):min(len(power), k+w+1)]...)
		slices.Sort(window)
		bg := window[len(window)/2]
		if bg <= 0 {
			bg = meanPower
		}
		peaks = append(peaks, peak{k: k, raw: power[k], local: power[k] / bg})
	}
	var cands []peak
	slices.SortFunc(peaks, func(a, b peak) int { return cmp.Compare(b.raw, a.raw) })
	cands = append(cands, peaks[:min(len(peaks), o.Candidates)]...)
	slices.SortFunc(peaks, func(a, b peak) int { return cmp.Compare(b.local, a.local) })
	for _, p := range peaks[:min(len(peaks), o.Candidates)] {
		if !slices.ContainsFunc(cands, func(q peak) bool { return q.k == p.k }) {
			cands = append(cands, p)
		}
	}
	for _, h := range o.Hints {
		if h < o.MinPeriod || h > o.MaxPeriod {
			continue
		}
		// The strongest bin around the hinted frequency stands for it.
		k := int(math.Round(float64(size) / float64(h)))
		best := -1
		for j := max(1, k-1); j <= min(len(power)-2, k+1); j++ {
			if best < 0 || power[j] > power[best] {
				best = j
			}
		}
		// A hint without a line at least as strong as the average
		// ordinate is not worth confirming.
		if best > 0 && power[best] >= meanPower && !slices.ContainsFunc(cands, func(q peak) bool { return q.k == best }) {
			cands = append(cands, peak{k: best, raw: power[best]})
		}
	}

	// Stronger lines first: once a period is confirmed, its mean profile
	// is taken out of the series and the remaining candidates are looked
	// at again, strongest first, so that a candidate's autocorrelation is
	// not pulled toward the multiples of another period (a lag of 96
	// correlates better than 100 in a series of periods 12 and 100) and a
	// confirmed period's harmonics are not confirmed again.
	slices.SortFunc(cands, func(a, b peak) int { return cmp.Compare(b.raw, a.raw) })
	resid := slices.Clone(x)
	z := make([]float64, n)
	spec := make([]complex128, len(coef))
	var found []Period
	confirm := func(pk peak) (Period, bool) {
		k := pk.k
		// A sidelobe of a much stronger line close by is not a line.
		if slices.ContainsFunc(peaks, func(q peak) bool {
			return q.k != k && abs(q.k-k) <= max(4, k/8) && q.raw > 20*pk.raw
		}) {
			return Period{}, false
		}
		// The peak's frequency, interpolated between bins, gives the
		// period to within about a bin (a bin and a half for a line of few
		// cycles, whose neighbours carry the trend's leakage); the
		// autocorrelation then picks the integer lag inside that range.
		kk := float64(k)
		if a, b, c := power[k-1], power[k], power[k+1]; a > 0 && b > 0 && c > 0 {
			la, lb, lc := math.Log(a), math.Log(b), math.Log(c)
			if d := la - 2*lb + lc; d < 0 {
				kk += 0.5 * (la - lc) / d
			}
		}
		pHat := float64(size) / kk
		bins := 1.0
		if k < 16 {
			bins = 1.5
		}
		delta := max(0.5, bins*pHat*pHat/float64(size))
		lo := max(o.MinPeriod, int(math.Ceil(pHat-delta)))
		hi := min(o.MaxPeriod, int(math.Floor(pHat+delta)))
		if lo > hi {
			return Period{}, false
		}
		// The same period proposed by a second peak, or one within 10%
		// of a stronger period (the slope of its autocorrelation peak),
		// is not a new period.
		if slices.ContainsFunc(found, func(q Period) bool {
			return math.Abs(pHat-float64(q.Steps)) <= max(1, 0.1*float64(q.Steps))
		}) {
			return Period{}, false
		}
		// Confirm on the series minus its moving average over about two
		// cycles: a level that wanders more slowly than the candidate
		// period would otherwise keep the autocorrelation high at every
		// lag and hide the seasonal rise and fall.
		highPass(z, resid, 2*int(math.Round(pHat)))
		acf := autocorrelation(fft, buf, coef, spec, z)
		best, bestR := 0, math.Inf(-1)
		for lag := lo; lag <= hi; lag++ {
			if r := acf(lag); r > bestR {
				best, bestR = lag, r
			}
		}
		if best == 0 || bestR < o.MinACF {
			return Period{}, false
		}
		// Over a wide range, the best lag must be a local maximum of the
		// autocorrelation: an edge of the range that still rises is not.
		if hi-lo >= 2 && (acf(best-1) > bestR || acf(best+1) > bestR) {
			return Period{}, false
		}
		trough := bestR
		for lag := 1; lag < best; lag++ {
			trough = min(trough, acf(lag))
		}
		if bestR-trough < o.MinProminence {
			return Period{}, false
		}
		return Period{Steps: best, ACF: bestR, Power: power[k] / meanPower}, true
	}
	pending := cands
	for len(found) < o.MaxPeriods+2 {
		// Once the confirmed profiles explain the series, what is left is
		// rounding noise, periodic in every one of them.
		var left float64
		for _, v := range resid {
			left += v * v
		}
		if left <= 1e-9*energy {
			break
		}
		confirmed := -1
		for i, pk := range pending {
			if p, ok := confirm(pk); ok {
				found = append(found, p)
				removeProfile(resid, p.Steps)
				confirmed = i
				break
			}
		}
		if confirmed < 0 {
			break
		}
		pending = slices.Delete(pending, confirmed, confirmed+1)
	}
	distinct := found
	// A whole fraction of a longer period (within 2%) is a harmonic of it,
	// or a sideband of a shorter period modulated by it (a day's lines
	// split by the weekly pattern fall on a week's harmonics), unless it
	// is strongly periodic in its own right, as a day is within a week.
	found = nil
	for _, p := range distinct {
		harmonic := slices.ContainsFunc(distinct, func(q Period) bool {
			if q.Steps <= p.Steps {
				return false
			}
			r := float64(q.Steps) / float64(p.Steps)
			return math.Abs(r-math.Round(r)) <= 0.02*r && p.ACF < 0.5 && p.ACF < q.ACF
		})
		if !harmonic {
			found = append(found, p)
		}
	}
	kept := found
	slices.SortFunc(kept, func(a, b Period) int {
		if c := cmp.Compare(b.Power, a.Power); c != 0 {
			return c
		}
		return cmp.Compare(a.Steps, b.Steps)
	})
	if len(kept) > o.MaxPeriods {
		kept = kept[:o.MaxPeriods]
	}
	return kept
}

// detrend returns y minus its least-squares line; non-finite values become
// the line's value.
func detrend(y []float64) []float64 {
	var sx, sy, sxx, sxy, m float64
	for i, v := range y {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		x := float64(i)
		sx += x
		sy += v
		sxx += x * x
		sxy += x * v
		m++
	}
	out := make([]float64, len(y))
	if m == 0 {
		return out
	}
	slope := 0.0
	if d := m*sxx - sx*sx; d != 0 && m > 1 {
		slope = (m*sxy - sx*sy) / d
	}
	icept := (sy - slope*sx) / m
	for i, v := range y {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		out[i] = v - (icept + slope*float64(i))
	}
	return out
}

// fastSize returns the smallest n' >= n whose only prime factors are 2, 3
// and 5, for which the FFT is fast.
func fastSize(n int) int {
	for m := max(n, 1); ; m++ {
		r := m
		for _, f := range []int{2, 3, 5} {
			for r%f == 0 {
				r /= f
			}
		}
		if r == 1 {
			return m
		}
	}
}

// highPass writes x minus its centred moving average of width w (shrunk at
// the ends) into z.
func highPass(z, x []float64, w int) {
	n := len(x)
	half := max(w/2, 1)
	prefix := make([]float64, n+1)
	for i, v := range x {
		prefix[i+1] = prefix[i] + v
	}
	for i := range x {
		lo, hi := max(0, i-half), min(n, i+half+1)
		z[i] = x[i] - (prefix[hi]-prefix[lo])/float64(hi-lo)
	}
}

// autocorrelation returns the unbiased autocorrelation function of z,
// computed through the FFT; buf, coef and spec are work space of the FFT's
// size.
func autocorrelation(fft *fourier.FFT, buf []float64, coef, spec []complex128, z []float64) func(int) float64 {
	n := len(z)
	clear(buf)
	copy(buf, z)
	coef = fft.Coefficients(coef, buf)
	for k, c := range coef {
		a := cmplx.Abs(c)
		spec[k] = complex(a*a, 0)
	}
	acov := fft.Sequence(buf, spec)
	return func(lag int) float64 {
		if lag <= 0 || lag >= n || acov[0] <= 0 {
			return 0
		}
		// Unbiased estimate: a lag of n/2 is seen on half the series only.
		return acov[lag] / acov[0] * float64(n) / float64(n-lag)
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// removeProfile subtracts from x its mean value at each phase of period p.
func removeProfile(x []float64, p int) {
	sum := make([]float64, p)
	cnt := make([]int, p)
	for i, v := range x {
		sum[i%p] += v
		cnt[i%p]++
	}
	for i := range x {
		x[i] -= sum[i%p] / float64(cnt[i%p])
	}
}
