package predictor

import "fmt"

// Naive forecasts the last value for every horizon. It is the reference
// every other model must beat to be selected.
type Naive struct{}

// Name implements Model.
func (Naive) Name() string { return "naive" }

// MinHistory implements Model.
func (Naive) MinHistory() int { return 1 }

// Fit implements Model.
func (m Naive) Fit(history []float64) (State, error) {
	if len(history) < 1 {
		return nil, tooShort(m.Name(), len(history), 1)
	}
	return &naiveState{last: history[len(history)-1]}, nil
}

type naiveState struct{ last float64 }

func (s *naiveState) Update(y float64) { s.last = y }

func (s *naiveState) Forecast(out []float64) {
	for i := range out {
		out[i] = s.last
	}
}

// SeasonalNaive forecasts the value one period before the target time.
type SeasonalNaive struct {
	// Period in steps (>= 1).
	Period int
}

// Name implements Model.
func (SeasonalNaive) Name() string { return "seasonal-naive" }

// MinHistory implements Model.
func (m SeasonalNaive) MinHistory() int { return m.Period }

// Fit implements Model.
func (m SeasonalNaive) Fit(history []float64) (State, error) {
	if m.Period < 1 {
		return nil, fmt.Errorf("%s: %w: period %d, want >= 1", m.Name(), ErrNotApplicable, m.Period)
	}
	if len(history) < m.Period {
		return nil, tooShort(m.Name(), len(history), m.Period)
	}
	r := newRing(m.Period)
	for _, v := range history[len(history)-m.Period:] {
		r.push(v)
	}
	return &seasonalNaiveState{r: r}, nil
}

type seasonalNaiveState struct{ r *ring }

func (s *seasonalNaiveState) Update(y float64) { s.r.push(y) }

func (s *seasonalNaiveState) Forecast(out []float64) {
	p := s.r.size()
	for k := 1; k <= len(out); k++ {
		// k steps ahead is (k-1) mod p + 1 steps into the last full cycle.
		out[k-1] = s.r.ago(p - 1 - (k-1)%p)
	}
}

// ring is a fixed-size buffer of the most recent values. It stores them
// as float32 (seven significant digits, plenty for demand), which halves
// the memory of the seasonal models' windows and the tracker's history.
type ring struct {
	buf  []float32
	next int
	n    int
}

func newRing(size int) *ring { return &ring{buf: make([]float32, size)} }

func (r *ring) push(v float64) {
	r.buf[r.next] = float32(v)
	r.next++
	if r.next == len(r.buf) {
		r.next = 0
	}
	if r.n < len(r.buf) {
		r.n++
	}
}

// size is the number of values held.
func (r *ring) size() int { return r.n }

// ago returns the value pushed i pushes before the last one (0 = last).
func (r *ring) ago(i int) float64 {
	j := r.next - 1 - i
	for j < 0 {
		j += len(r.buf)
	}
	return float64(r.buf[j])
}

// appendTo appends the held values, oldest first, to dst.
func (r *ring) appendTo(dst []float64) []float64 {
	for i := r.n - 1; i >= 0; i-- {
		dst = append(dst, r.ago(i))
	}
	return dst
}
