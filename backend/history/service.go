package history

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hpa-autoscaler/hpa-autoscaler/backend/store"
)

// Key names a series: a trigger of a scaler of a tenant's cluster and
// namespace.
type Key struct {
	Tenant    store.TenantID
	Cluster   string
	Namespace string
	Scaler    string
	Trigger   string
}

func (k Key) seriesKey() store.SeriesKey {
	return store.SeriesKey{Cluster: k.Cluster, Namespace: k.Namespace, Scaler: k.Scaler, Trigger: k.Trigger}
}

func (k Key) String() string { return string(k.Tenant) + "/" + k.seriesKey().String() }

func (k Key) validate() error {
	return errors.Join(k.Tenant.Validate(), k.seriesKey().Validate())
}

// ErrClosed: the Service was closed (or not started).
var ErrClosed = errors.New("history service closed")

// item is one entry of the queue: a sample, or (flush set) a request to
// close the due steps and write them.
type item struct {
	key   Key
	t     time.Time
	v     float64
	flush chan error
}

// batch is one write of the writer.
type batch struct {
	samples []store.HistorySample
	done    chan error // nil: nobody waits
}

// Service records metric samples into the history and forecasts from it.
// Observe and Recommend are safe for concurrent use; Start and Close are
// called once each.
type Service struct {
	o Options
	m *metrics

	queue   chan item
	writes  chan batch
	builds  chan *series
	closed  atomic.Bool
	started atomic.Bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	// done is closed when the recording goroutine ends (Flush waits on
	// it too).
	done chan struct{}

	mu     sync.RWMutex
	series map[Key]*series
	// tracked counts the series with a tracker (the recording
	// goroutine's; trackedN is its copy for Stats).
	tracked  int
	trackedN atomic.Int64

	// pending is the recording goroutine's batch being filled.
	pending []store.HistorySample
	// loading counts the series the builder has still to load or replay
	// (WaitWarm).
	loading atomic.Int64
	warm    chan struct{} // gets a value when loading drops to 0

	lastShedLog time.Time
	shedLogged  int64
}

// New returns a Service; Start starts it.
func New(o Options) (*Service, error) {
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	o = o.withDefaults()
	s := &Service{
		o:      o,
		m:      newMetrics(o.Registerer),
		queue:  make(chan item, o.QueueSize),
		writes: make(chan batch, defaultWriteQueueDepth),
		builds: make(chan *series, o.MaxSeries),
		done:   make(chan struct{}),
		series: map[Key]*series{},
		warm:   make(chan struct{}, 1),
	}
	return s, nil
}

// Options returns the options in effect (defaults filled in).
func (s *Service) Options() Options { return s.o }

// Start lists the stored series (every tenant's) and starts the service's
// goroutines: recording, writing, rebuilding trackers (which first reads
// each listed series' recent history: the warm start, in the background;
// WaitWarm waits for it) and maintenance. ctx bounds the listing only;
// Close stops the goroutines.
func (s *Service) Start(ctx context.Context) error {
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("history: Start called twice")
	}
	keys, err := s.listSeries(ctx)
	if err != nil {
		s.closed.Store(true)
		close(s.done)
		return err
	}
	s.mu.Lock()
	for _, k := range keys {
		if len(s.series) >= s.o.MaxSeries {
			s.o.Logger.Warn("history: more stored series than maxSeries; the rest start cold when they report", "maxSeries", s.o.MaxSeries, "stored", len(keys))
			break
		}
		s.series[k] = s.newSeries(k, true)
	}
	s.mu.Unlock()
	s.m.series.Set(float64(len(s.series)))
	runCtx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Add(3)
	go s.write()
	go s.build(runCtx)
	go s.maintain(runCtx)
	go s.record(runCtx)
	for _, ser := range s.series {
		s.enqueueBuild(ser)
	}
	return nil
}

func (s *Service) listSeries(ctx context.Context) ([]Key, error) {
	var keys []Key
	page := store.Page{Limit: store.MaxLimit}
	for {
		tl, err := s.o.Store.Admin().Tenants(ctx, page)
		if err != nil {
			return nil, fmt.Errorf("history: list tenants: %w", err)
		}
		for _, t := range tl.Items {
			var after int64
			for {
				l, err := s.o.Store.HistorySeries(ctx, t.ID, after, store.MaxLimit)
				if err != nil {
					return nil, fmt.Errorf("history: list the series of tenant %s: %w", t.ID, err)
				}
				for _, h := range l {
					keys = append(keys, Key{Tenant: t.ID, Cluster: h.Key.Cluster, Namespace: h.Key.Namespace, Scaler: h.Key.Scaler, Trigger: h.Key.Trigger})
					after = h.ID
				}
				if len(l) < store.MaxLimit {
					break
				}
			}
		}
		if tl.NextPageToken == "" {
			return keys, nil
		}
		page.Token = tl.NextPageToken
	}
}

// newSeries is a new series in memory; tracked: with a tracker (else its
// steps are only recorded).
func (s *Service) newSeries(k Key, tracked bool) *series {
	if !tracked {
		return &series{key: k}
	}
	s.loading.Add(1)
	s.tracked++
	s.trackedN.Store(int64(s.tracked))
	return &series{key: k, tracked: true, model: newModel(s.o, k), ring: newRing(s.o.Window + int(s.o.rebuildSteps())), stale: true, load: true}
}

// Observe records one sample of a series taken at t. It never blocks and
// never writes the database: the sample goes into a bounded queue, and
// when the queue is full (or the service is closed) it is shed, counted in
// hpa_history_samples_shed_total and logged; Observe then returns false.
func (s *Service) Observe(k Key, t time.Time, v float64) bool {
	if s.closed.Load() {
		s.m.shed(reasonClosed, 1)
		return false
	}
	select {
	case s.queue <- item{key: k, t: t, v: v}:
		return true
	default:
		s.m.shed(reasonQueueFull, 1)
		return false
	}
}

// Flush closes every step that has ended by the clock's now (not waiting
// for its grace), after the samples observed before the call, and returns
// when they are written (or the write failed: its error).
func (s *Service) Flush(ctx context.Context) error {
	if !s.started.Load() || s.closed.Load() {
		return ErrClosed
	}
	done := make(chan error, 1)
	select {
	case s.queue <- item{flush: done}:
	case <-s.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// WaitWarm returns when every series listed at Start (and every new one
// so far) has its tracker, or ctx ends.
func (s *Service) WaitWarm(ctx context.Context) error {
	for s.loading.Load() > 0 {
		select {
		case <-s.warm:
		case <-ctx.Done():
			return fmt.Errorf("history: waiting for %d series to load: %w", s.loading.Load(), ctx.Err())
		case <-s.done:
			return ErrClosed
		}
	}
	return nil
}

// Close stops the service: the samples already queued are recorded, the
// steps that have ended are written, and every goroutine has ended when it
// returns. The steps still open are shed (counted, reason "shutdown"): a
// part of a step is not its average.
func (s *Service) Close() error {
	if !s.started.Load() {
		return nil
	}
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	s.cancel()
	s.wg.Wait()
	<-s.done
	return nil
}

// record is the recording goroutine: it owns the open steps.
func (s *Service) record(ctx context.Context) {
	defer close(s.done)
	tick := s.o.Clock.NewTicker(s.o.Tick)
	defer tick.Stop()
	for {
		select {
		case it := <-s.queue:
			s.handle(it)
		case <-tick.C():
			s.tick(false)
		case <-ctx.Done():
			// Drain what was accepted, then the steps that have ended.
			for {
				select {
				case it := <-s.queue:
					s.handle(it)
					continue
				default:
				}
				break
			}
			s.tick(true)
			var open int64
			for _, ser := range s.series {
				if ser.open {
					open++
				}
			}
			s.m.shed(reasonShutdown, open)
			s.logShed(true)
			close(s.writes)
			return
		}
	}
}

func (s *Service) handle(it item) {
	if it.flush != nil {
		s.closeDue(s.o.Clock.Now(), true)
		s.send(it.flush)
		return
	}
	s.m.observed.Inc()
	idx, ok := s.stepIndex(it.t)
	if !ok || it.v != it.v || it.v > maxFloat || it.v < -maxFloat {
		s.m.shed(reasonInvalid, 1)
		return
	}
	ser := s.series[it.key]
	if ser == nil {
		if err := it.key.validate(); err != nil {
			s.m.shed(reasonInvalid, 1)
			return
		}
		if len(s.series) >= s.o.MaxRecorded {
			s.m.shed(reasonSeriesCap, 1)
			return
		}
		ser = s.newSeries(it.key, s.tracked < s.o.MaxSeries)
		s.mu.Lock()
		s.series[it.key] = ser
		s.mu.Unlock()
		s.m.series.Set(float64(len(s.series)))
		if ser.tracked {
			s.enqueueBuild(ser)
		}
	}
	ser.lastSeen = s.o.Clock.Now().UnixNano()
	switch {
	case ser.anyClosd && idx <= ser.closed, ser.open && idx < ser.bucket:
		s.m.shed(reasonLate, 1)
		return
	case ser.open && idx > ser.bucket:
		s.closeStep(ser)
	}
	if !ser.open {
		ser.open, ser.bucket, ser.sum, ser.n = true, idx, 0, 0
	}
	ser.sum += it.v
	ser.n++
	if idx+1 > ser.sampled.Load() {
		ser.sampled.Store(idx + 1)
	}
}

const maxFloat = 1.7976931348623157e308

// stepIndex is the step of t: floor(unix time / step).
func (s *Service) stepIndex(t time.Time) (int64, bool) {
	if t.IsZero() {
		return 0, false
	}
	return floorDiv(t.UnixNano(), int64(s.o.Step)), true
}

func (s *Service) stepTime(idx int64) time.Time { return time.Unix(0, idx*int64(s.o.Step)).UTC() }

// closeStep ends the open step of ser: its average goes to the batch and
// to the series' tracker.
func (s *Service) closeStep(ser *series) {
	v := ser.sum / float64(ser.n)
	s.pending = append(s.pending, store.HistorySample{Tenant: ser.key.Tenant, Series: ser.key.seriesKey(), Time: s.stepTime(ser.bucket), Step: s.o.Step, Value: v, Samples: ser.n})
	if !ser.tracked {
		ser.open, ser.anyClosd, ser.closed = false, true, ser.bucket
		if len(s.pending) >= s.o.BatchSize {
			s.send(nil)
		}
		return
	}
	ser.mu.Lock()
	err := ser.feed(ser.bucket, v)
	queue := ser.stale && !ser.queued && !ser.load
	ser.mu.Unlock()
	if err != nil {
		s.o.Logger.Error("history: a tracker refused a step", "series", ser.key.String(), "err", err)
	}
	if queue {
		s.enqueueBuild(ser)
	}
	ser.open, ser.anyClosd, ser.closed = false, true, ser.bucket
	if len(s.pending) >= s.o.BatchSize {
		s.send(nil)
	}
}

// closeDue closes the steps that ended (plus the grace, unless now) by
// now.
func (s *Service) closeDue(now time.Time, all bool) {
	cut := now
	if !all {
		cut = now.Add(-s.o.Grace)
	}
	end, _ := s.stepIndex(cut)
	for _, ser := range s.series {
		// The step that holds cut has not ended.
		if ser.open && ser.bucket < end {
			s.closeStep(ser)
		}
	}
}

func (s *Service) tick(final bool) {
	now := s.o.Clock.Now()
	s.closeDue(now, final)
	s.send(nil)
	if !final {
		s.evictIdle(now)
	}
	s.logShed(false)
}

// send hands the pending batch to the writer. A full write queue (the
// database slower than the samples) sheds the batch, unless someone waits
// for it (Flush, Close): then it waits.
func (s *Service) send(done chan error) {
	b := batch{samples: s.pending, done: done}
	s.pending = nil
	if len(b.samples) == 0 && done == nil {
		return
	}
	if done != nil || s.closed.Load() {
		s.writes <- b
		return
	}
	select {
	case s.writes <- b:
	default:
		s.m.shed(reasonWriteQueueFull, int64(len(b.samples)))
	}
}

// evictIdle drops from memory the series without a sample for IdleAfter.
func (s *Service) evictIdle(now time.Time) {
	cut := now.Add(-s.o.IdleAfter).UnixNano()
	var gone []*series
	for _, ser := range s.series {
		if !ser.open && ser.lastSeen != 0 && ser.lastSeen < cut {
			gone = append(gone, ser)
		}
	}
	if len(gone) == 0 {
		return
	}
	s.mu.Lock()
	for _, ser := range gone {
		delete(s.series, ser.key)
		if ser.tracked {
			s.tracked--
		}
	}
	s.mu.Unlock()
	s.trackedN.Store(int64(s.tracked))
	for _, ser := range gone {
		ser.mu.Lock()
		ser.evicted = true
		ser.mu.Unlock()
	}
	s.m.series.Set(float64(len(s.series)))
	s.m.evicted.Add(float64(len(gone)))
}

// write is the writer goroutine: one AppendHistory per batch, in order.
func (s *Service) write() {
	defer s.wg.Done()
	for b := range s.writes {
		var err error
		if len(b.samples) > 0 {
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), s.o.WriteTimeout)
			err = s.o.Store.AppendHistory(ctx, b.samples)
			cancel()
			s.m.writeSeconds.Observe(time.Since(start).Seconds())
			if err != nil {
				s.m.shed(reasonWriteFailed, int64(len(b.samples)))
				s.o.Logger.Error("history: writing a batch of steps failed; they are lost", "steps", len(b.samples), "err", err)
			} else {
				s.m.written.Add(float64(len(b.samples)))
				s.m.writtenTotal.Add(int64(len(b.samples)))
			}
		}
		if b.done != nil {
			b.done <- err
		}
	}
}

func (s *Service) enqueueBuild(ser *series) {
	ser.mu.Lock()
	if ser.queued || ser.evicted {
		ser.mu.Unlock()
		return
	}
	ser.queued = true
	ser.mu.Unlock()
	select {
	case s.builds <- ser:
	default:
		// The queue holds MaxSeries: every series fits once, but an
		// evicted one may still be in it. It is retried at its next
		// rebuild point.
		ser.mu.Lock()
		ser.queued = false
		ser.mu.Unlock()
	}
}

// build is the builder goroutine: it reads the stored history of the
// series new to memory and replays their trackers, off the recording
// goroutine (a replay fits every model: a second or so).
func (s *Service) build(ctx context.Context) {
	defer s.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case ser := <-s.builds:
			s.buildOne(ctx, ser)
		}
	}
}

func (s *Service) buildOne(ctx context.Context, ser *series) {
	ser.mu.Lock()
	ser.queued = false
	load, evicted := ser.load, ser.evicted
	ser.mu.Unlock()
	if evicted {
		if load {
			s.doneLoading()
		}
		return
	}
	if load {
		s.loadStored(ctx, ser)
	}
	for {
		ser.mu.Lock()
		snap := ser.ring.clone()
		ser.mu.Unlock()
		t, ok, err := ser.model.replay(&snap)
		if err != nil {
			s.o.Logger.Error("history: rebuilding a tracker failed", "series", ser.key.String(), "err", err)
		}
		ser.mu.Lock()
		caught := true
		// Steps that arrived during the replay: fed, unless one is a
		// rebuild point (then replay again).
		for _, p := range ser.ring.points() {
			if p.idx <= snap.last || !ok {
				continue
			}
			if ser.model.rebuildAt(t.last, true, p.idx) {
				caught = false
				break
			}
			if err := ser.model.add(&t, p.idx, p.v); err != nil {
				caught = false
				break
			}
		}
		if caught {
			if ok {
				ser.cur, ser.built = t, true
			}
			ser.stale = false
		}
		ser.mu.Unlock()
		if caught || ctx.Err() != nil {
			break
		}
	}
	if load {
		s.doneLoading()
	}
	s.m.rebuilds.Inc()
}

func (s *Service) doneLoading() {
	if s.loading.Add(-1) <= 0 {
		select {
		case s.warm <- struct{}{}:
		default:
		}
	}
}

// loadStored reads the series' recent full-resolution history into its
// ring, before the steps recorded since it came into memory.
func (s *Service) loadStored(ctx context.Context, ser *series) {
	span := time.Duration(len(ser.ring.vals)) * s.o.Step
	now := s.o.Clock.Now()
	pts, err := s.o.Store.ReadHistory(ctx, ser.key.Tenant, ser.key.seriesKey(), now.Add(-span-s.o.Step), now.Add(s.o.Step))
	if err != nil {
		s.o.Logger.Error("history: reading a series' history failed; its tracker starts from what it records now", "series", ser.key.String(), "err", err)
	}
	ser.mu.Lock()
	defer ser.mu.Unlock()
	live := ser.ring.points()
	r := newRing(len(ser.ring.vals))
	for _, p := range pts {
		idx, _ := s.stepIndex(p.Time)
		if p.Step != s.o.Step || (len(live) > 0 && idx >= live[0].idx) || (r.n > 0 && idx <= r.last) {
			continue
		}
		r.put(idx, p.Value)
	}
	for _, p := range live {
		r.put(p.idx, p.v)
	}
	ser.ring, ser.load = r, false
}

// maintain runs Maintain every MaintainEvery.
func (s *Service) maintain(ctx context.Context) {
	defer s.wg.Done()
	if s.o.MaintainEvery < 0 {
		return
	}
	t := s.o.Clock.NewTicker(s.o.MaintainEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			if _, err := s.Maintain(ctx); err != nil && ctx.Err() == nil {
				s.o.Logger.Error("history: retention and downsampling failed", "err", err)
			}
		}
	}
}

// Maintain applies retention and downsampling to every tenant's history
// at the clock's now and returns what it did.
func (s *Service) Maintain(ctx context.Context) (store.PruneResult, error) {
	now := s.o.Clock.Now()
	o := store.PruneOptions{RetainFrom: now.Add(-s.o.Retention), DownsampleBefore: now.Add(-s.o.DownsampleAfter), DownsampleStep: s.o.DownsampleStep}
	var total store.PruneResult
	page := store.Page{Limit: store.MaxLimit}
	for {
		tl, err := s.o.Store.Admin().Tenants(ctx, page)
		if err != nil {
			return total, fmt.Errorf("history: list tenants: %w", err)
		}
		for _, t := range tl.Items {
			r, err := s.o.Store.PruneHistory(ctx, t.ID, o)
			if err != nil {
				return total, fmt.Errorf("history: tenant %s: %w", t.ID, err)
			}
			total.Deleted += r.Deleted
			total.Downsampled += r.Downsampled
		}
		if tl.NextPageToken == "" {
			break
		}
		page.Token = tl.NextPageToken
	}
	s.m.pruned.WithLabelValues("retention").Add(float64(total.Deleted))
	s.m.pruned.WithLabelValues("downsampled").Add(float64(total.Downsampled))
	return total, nil
}

// logShed logs what was shed since the last line, at most every 10s.
func (s *Service) logShed(force bool) {
	now := time.Now()
	if !force && now.Sub(s.lastShedLog) < 10*time.Second {
		return
	}
	total := s.m.shedTotal.Load()
	if total == s.shedLogged {
		return
	}
	s.o.Logger.Warn("history: samples shed", "since_last", total-s.shedLogged, "total", total, "by_reason", s.m.shedByReason())
	s.lastShedLog, s.shedLogged = now, total
}
