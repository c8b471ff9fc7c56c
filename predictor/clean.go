package predictor

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Sample is one raw observation.
type Sample struct {
	Time  time.Time
	Value float64
}

// Series is a regular series: Values[i] is the value at Start + i*Step.
type Series struct {
	Start  time.Time
	Step   time.Duration
	Values []float64
	// Filled marks the values that were interpolated into short gaps (nil
	// when none were).
	Filled []bool
	// Dropped is the number of samples before the last long gap, which
	// Regularize leaves out.
	Dropped int
}

// Time returns the time of the i-th value.
func (s *Series) Time(i int) time.Time { return s.Start.Add(time.Duration(i) * s.Step) }

// CleanOptions tunes Regularize.
type CleanOptions struct {
	// MaxGap is the longest run of missing steps filled by linear
	// interpolation (default 5). After a longer gap the series starts
	// afresh: the samples before it are dropped.
	MaxGap int
}

// Regularize puts samples (in increasing time order) on the grid
// start + i*step: samples are assigned to the nearest grid point (several
// in one point are averaged), short gaps are filled by linear interpolation
// and marked in Filled, and everything before a gap longer than MaxGap
// steps is dropped. Non-finite values count as missing.
func Regularize(samples []Sample, step time.Duration, opts CleanOptions) (*Series, error) {
	if step <= 0 {
		return nil, fmt.Errorf("step %v: want a positive duration", step)
	}
	if opts.MaxGap <= 0 {
		opts.MaxGap = 5
	}
	var finite []Sample
	for i, s := range samples {
		if i > 0 && !s.Time.After(samples[i-1].Time) {
			return nil, fmt.Errorf("sample %d at %s: not after the previous one", i, s.Time.Format(time.RFC3339))
		}
		if !math.IsNaN(s.Value) && !math.IsInf(s.Value, 0) {
			finite = append(finite, s)
		}
	}
	if len(finite) == 0 {
		return nil, fmt.Errorf("%w: no finite values", ErrTooShort)
	}
	start := finite[0].Time
	type slot struct {
		idx int
		sum float64
		n   int
	}
	var slots []slot
	for _, s := range finite {
		idx := int(math.Round(float64(s.Time.Sub(start)) / float64(step)))
		if k := len(slots); k > 0 && slots[k-1].idx == idx {
			slots[k-1].sum += s.Value
			slots[k-1].n++
			continue
		}
		slots = append(slots, slot{idx: idx, sum: s.Value, n: 1})
	}
	// Start after the last gap that is too long to fill.
	first := 0
	for i := 1; i < len(slots); i++ {
		if slots[i].idx-slots[i-1].idx-1 > opts.MaxGap {
			first = i
		}
	}
	dropped := 0
	for _, s := range slots[:first] {
		dropped += s.n
	}
	slots = slots[first:]
	base := slots[0].idx
	out := &Series{
		Start:   start.Add(time.Duration(base) * step),
		Step:    step,
		Values:  make([]float64, slots[len(slots)-1].idx-base+1),
		Dropped: dropped,
	}
	for i, s := range slots {
		v := s.sum / float64(s.n)
		out.Values[s.idx-base] = v
		if i == 0 {
			continue
		}
		prev := slots[i-1]
		gap := s.idx - prev.idx
		if gap == 1 {
			continue
		}
		if out.Filled == nil {
			out.Filled = make([]bool, len(out.Values))
		}
		pv := prev.sum / float64(prev.n)
		for j := 1; j < gap; j++ {
			out.Values[prev.idx-base+j] = pv + (v-pv)*float64(j)/float64(gap)
			out.Filled[prev.idx-base+j] = true
		}
	}
	return out, nil
}

// CapOutliers returns a copy of y in which every value further than k
// robust standard deviations from the median of its neighbours (a centred
// window of 2w+1 points, shrunk at the ends) is pulled back to that bound.
// The spread comes from the 90th percentile of the step-to-step changes,
// so a few wild points cannot widen it. It
// returns the number of values capped. k <= 0 means 6; w <= 0 means 3.
func CapOutliers(y []float64, k float64, w int) ([]float64, int) {
	out := slices.Clone(y)
	if len(y) < 5 {
		return out, 0
	}
	if k <= 0 {
		k = 6
	}
	if w <= 0 {
		w = 3
	}
	med := make([]float64, len(y))
	win := make([]float64, 0, 2*w+1)
	for i := range y {
		win = append(win[:0], y[max(0, i-w):min(len(y), i+w+1)]...)
		slices.Sort(win)
		med[i] = median(win)
	}
	// The spread is that of the step-to-step changes (their 90th
	// percentile, scaled to a normal standard deviation of the noise): it
	// is robust to a tenth of the points being wild, follows the series'
	// own roughness, and is not fooled by a smooth series whose points
	// all sit on their local median.
	diffs := make([]float64, len(y)-1)
	for i := 1; i < len(y); i++ {
		diffs[i-1] = math.Abs(y[i] - y[i-1])
	}
	slices.Sort(diffs)
	spread := diffs[len(diffs)*9/10] / (1.6449 * math.Sqrt2)
	if spread == 0 {
		// Nine steps in ten change nothing (a nearly constant series):
		// nothing is an outlier by this measure.
		return out, 0
	}
	capped := 0
	for i, v := range y {
		lo, hi := med[i]-k*spread, med[i]+k*spread
		if v > hi {
			out[i] = hi
			capped++
		} else if v < lo {
			out[i] = lo
			capped++
		}
	}
	return out, capped
}

func median(sorted []float64) float64 {
	n := len(sorted)
	if n == 0 {
		return math.NaN()
	}
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}
