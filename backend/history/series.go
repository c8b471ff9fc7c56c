package history

import (
	"hash/fnv"
	"math"
	"sync"
	"sync/atomic"

	"github.com/hpa-autoscaler/hpa-autoscaler/predictor"
)

// ring holds the last len(vals) steps of a series by step index: NaN is
// a step without a value.
type ring struct {
	vals []float64
	last int64 // the newest step index held; valid when n > 0
	n    int   // steps put (capped at len(vals))
}

func newRing(size int) ring {
	r := ring{vals: make([]float64, size)}
	for i := range r.vals {
		r.vals[i] = math.NaN()
	}
	return r
}

func (r *ring) slot(idx int64) int {
	n := int64(len(r.vals))
	return int(((idx % n) + n) % n)
}

// put stores v at idx, which must be after last; the steps between are
// cleared.
func (r *ring) put(idx int64, v float64) {
	if r.n > 0 {
		for j := r.last + 1; j < idx && j <= r.last+int64(len(r.vals)); j++ {
			r.vals[r.slot(j)] = math.NaN()
		}
	}
	r.vals[r.slot(idx)] = v
	r.last = idx
	r.n++
}

// get returns the value at idx, if held.
func (r *ring) get(idx int64) (float64, bool) {
	if r.n == 0 || idx > r.last || idx <= r.last-int64(len(r.vals)) {
		return 0, false
	}
	v := r.vals[r.slot(idx)]
	return v, !math.IsNaN(v)
}

// points returns the held steps in order.
func (r *ring) points() []point {
	if r.n == 0 {
		return nil
	}
	var out []point
	for idx := r.last - int64(len(r.vals)) + 1; idx <= r.last; idx++ {
		if v, ok := r.get(idx); ok {
			out = append(out, point{idx, v})
		}
	}
	return out
}

func (r *ring) clone() ring {
	c := *r
	c.vals = append([]float64(nil), r.vals...)
	return c
}

type point struct {
	idx int64
	v   float64
}

// interp is the value filled j steps after a into a gap of n steps up to
// b: the one formula of the live path and of a rebuild, so that both
// give the same bits.
func interp(a, b float64, j, n int64) float64 { return a + (b-a)*float64(j)/float64(n) }

// model is the forecasting half of the policy that makes a tracker a
// function of its series' steps. A step at idx whose previous step is
// prev is a rebuild point when it is the first, when the gap before it is
// longer than maxGap, or when it is the first of its rebuild period (the
// periods of a series are offset by a hash of its key). At a rebuild
// point the tracker is a new one loaded with window(idx); at the other
// steps it is fed the gap's interpolation and the value.
type model struct {
	window, maxGap int
	period, phase  int64
	opts           predictor.TrackerOptions
}

func newModel(o Options, k Key) model {
	h := fnv.New64a()
	for _, s := range []string{string(k.Tenant), k.Cluster, k.Namespace, k.Scaler, k.Trigger} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	p := o.rebuildSteps()
	return model{window: o.Window, maxGap: o.MaxGap, period: p, phase: int64(h.Sum64() % uint64(p)), opts: o.Tracker}
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// rebuildAt reports whether the step at idx, after the one at prev
// (ok false: none), is a rebuild point.
func (m model) rebuildAt(prev int64, ok bool, idx int64) bool {
	if !ok || idx-prev-1 > int64(m.maxGap) {
		return true
	}
	return floorDiv(idx+m.phase, m.period) > floorDiv(prev+m.phase, m.period)
}

// windowAt is what a tracker rebuilt at idx is loaded with: the steps of
// the window ending at idx, short gaps interpolated, cut after the last
// long gap.
func (m model) windowAt(r *ring, idx int64) []float64 {
	v, ok := r.get(idx)
	if !ok {
		return nil
	}
	rev := []float64{v}
	cur, curV := idx, v
	start := idx - int64(m.window) + 1
	for j := idx - 1; j >= start; j-- {
		pv, ok := r.get(j)
		if !ok {
			continue
		}
		gap := cur - j - 1
		if gap > int64(m.maxGap) {
			break
		}
		for g := gap; g >= 1; g-- {
			rev = append(rev, interp(pv, curV, g, gap+1))
		}
		rev = append(rev, pv)
		cur, curV = j, pv
	}
	// Steps of the window before the first value held are left out: a
	// gap at its start has no left end to interpolate from.
	if len(rev) > m.window {
		rev = rev[:m.window]
	}
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	return rev
}

// tracked is a tracker and the last step it has.
type tracked struct {
	tr    *predictor.Tracker
	last  int64
	lastV float64
}

// load builds a tracker from window(idx).
func (m model) load(r *ring, idx int64) (tracked, error) {
	tr, err := predictor.NewTracker(m.opts)
	if err != nil {
		return tracked{}, err
	}
	w := m.windowAt(r, idx)
	if err := tr.Load(w); err != nil {
		return tracked{}, err
	}
	v, _ := r.get(idx)
	return tracked{tr: tr, last: idx, lastV: v}, nil
}

// add feeds the step at idx (not a rebuild point) after t's last.
func (m model) add(t *tracked, idx int64, v float64) error {
	n := idx - t.last
	for j := int64(1); j < n; j++ {
		if err := t.tr.Add(interp(t.lastV, v, j, n)); err != nil {
			return err
		}
	}
	if err := t.tr.Add(v); err != nil {
		return err
	}
	t.last, t.lastV = idx, v
	return nil
}

// replay builds the tracker of the ring's steps from scratch: loaded at
// the last rebuild point, fed the steps after it. The ring must hold the
// window before the last rebuild point, which it does when it holds
// window+period steps: a rebuild point falls in every period.
func (m model) replay(r *ring) (tracked, bool, error) {
	pts := r.points()
	if len(pts) == 0 {
		return tracked{}, false, nil
	}
	at := 0
	for i := range pts {
		if i == 0 || m.rebuildAt(pts[i-1].idx, true, pts[i].idx) {
			at = i
		}
	}
	t, err := m.load(r, pts[at].idx)
	if err != nil {
		return tracked{}, false, err
	}
	for _, p := range pts[at+1:] {
		if err := m.add(&t, p.idx, p.v); err != nil {
			return tracked{}, false, err
		}
	}
	return t, true, nil
}

// series is one series in memory. The recording goroutine owns the open
// step (bucket, sum, n, lastSeen); mu guards the rest, which the builder
// and Recommend read too.
type series struct {
	key Key
	// tracked: the series has a tracker (ring, model); else its steps are
	// only recorded (MaxSeries reached when it came).
	tracked bool
	model   model

	// The recording goroutine's.
	open     bool
	bucket   int64
	sum      float64
	n        int64
	closed   int64 // the last step closed (valid when anyClosed)
	anyClosd bool
	lastSeen int64 // unix nanoseconds of the last sample's arrival
	// sampled is 1 + the index of the latest step a sample was taken
	// into (0: none), for Recommend: the step in progress, once sampled,
	// is served by the reactive recommendation and left out of the
	// floor's window, as predictor.Stream does.
	sampled atomic.Int64

	mu    sync.Mutex
	ring  ring
	cur   tracked
	built bool // cur is the replay of ring
	// stale: a rebuild point arrived (or the series is new); the builder
	// is to replay the ring. cur, if built before, still answers.
	stale bool
	// load: the stored history is still to be read into the ring.
	load    bool
	queued  bool
	evicted bool
}

// feed records a closed step (mu held by the caller).
func (s *series) feed(idx int64, v float64) error {
	prev, hadPrev := s.ring.last, s.ring.n > 0
	s.ring.put(idx, v)
	if !s.built || s.stale {
		s.stale = true
		return nil
	}
	if s.model.rebuildAt(prev, hadPrev, idx) {
		s.stale = true
		return nil
	}
	return s.model.add(&s.cur, idx, v)
}
