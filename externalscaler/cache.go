package externalscaler

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"maps"
	"math"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/utils/clock"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/predictive"
)

// objKey identifies a ScaledObject.
type objKey struct{ namespace, name string }

func (k objKey) String() string { return k.namespace + "/" + k.name }

// entry is one scaler instance: the scaler built from one metadata set of
// one ScaledObject.
//
// Life cycle: the cache creates an entry and builds its scaler in a
// goroutine; callers wait on ready. The entry is reference counted: the
// cache holds one reference while the entry is in its map, every caller
// holds one while it uses the scaler (a stream for its whole life), and the
// build holds one until it finishes. The scaler is closed when the last
// reference goes, so replacing or reaping an entry never closes a scaler
// under a call that is still using it.
type entry struct {
	key  objKey
	md   map[string]string // the metadata it was built from; never modified
	fp   uint64            // fingerprint of md
	meta serverMeta
	// metaErr is the error of the server's own keys; the build fails with it.
	metaErr error
	tm      *typeMetrics

	ready  chan struct{} // closed when the build has finished, well or not
	ok     atomic.Bool   // the build succeeded; checked before ready
	scaler scalers.Scaler
	names  []string // metric names the scaler offers, in spec order
	err    error    // the build error; set before ready is closed

	// pred is the predictive layer of scaler (predictive: "true"), nil
	// otherwise; predicted holds what it last served per metric (same
	// order as names), for /metrics.
	pred      *predictive.Scaler
	predicted []predictedFloor
	// source is what a fetch calls: scaler, or for a predictive trigger
	// the scaler pred wraps (the RPC records the values into pred).
	source scalers.Scaler

	// bound is the trigger's bound on a source call (set with scaler).
	bound time.Duration
	// overrunning counts fetches still running after their RPC gave up.
	overrunning atomic.Int32

	// attempt numbers the builds of this metadata in a row that failed
	// before this one (0 for the first): the backoff of the next retry.
	attempt int
	// retryAt is when a failed build may be retried; set before ready is
	// closed.
	retryAt time.Time

	refs atomic.Int64
	used atomic.Bool // set by callers, cleared by the janitor

	// replaces are the instances a successful build of this one retires
	// (the ScaledObject's metadata changed); only the build reads it, and
	// a retry of a failed build takes it over.
	replaces []*entry

	lastUsed time.Time // guarded by cache.mu
}

// done reports whether e's build has finished, well or not.
func (e *entry) done() bool {
	if e.ok.Load() {
		return true
	}
	select {
	case <-e.ready:
		return true
	default:
		return false
	}
}

// slot holds the instances of one ScaledObject.
type slot struct {
	// entries is usually one instance. There are more when one ScaledObject
	// has several triggers served by this server: KEDA sends the same
	// namespace/name with each trigger's metadata.
	entries []*entry
	// retired holds fingerprints of metadata sets that were replaced
	// recently, to tell a second trigger from a metadata change.
	retired []uint64
}

const (
	// maxRetired bounds the fingerprints remembered per ScaledObject.
	maxRetired = 8
	// maxEntriesPerObject bounds instances per ScaledObject (triggers
	// served here); beyond it the oldest is replaced.
	maxEntriesPerObject = 16
)

// Retries of failed builds. A build fails without I/O (building does
// none), so a failure is the metadata's or a secret file's: a retry on
// every call would only repeat the work and the error.
const (
	// configRetry is when a build that failed on the configuration is
	// tried again: the same metadata gives the same error, but a file it
	// names (a CA, a secret) may have been fixed.
	configRetry = time.Minute
	// firstRetry doubles after each failure in a row, up to maxRetry.
	firstRetry = time.Second
	maxRetry   = time.Minute
)

// retryDelay is the wait before the next build after a failure with err,
// attempt failures in a row before it.
func retryDelay(err error, attempt int) time.Duration {
	if errors.Is(err, scalers.ErrInvalidConfig) {
		return configRetry
	}
	if attempt >= 6 {
		return maxRetry
	}
	return min(firstRetry<<attempt, maxRetry)
}

type cacheOptions struct {
	registry     Registry
	logger       *slog.Logger
	clock        clock.WithTicker
	idleTimeout  time.Duration
	buildTimeout time.Duration
	defaultPoll  time.Duration
	metrics      *metrics
	timeouts     scalers.Timeouts
	scalerLimits scalers.Limits
	limits       Limits
	// history is the source of warm starts (nil: none).
	history HistorySource
}

// cache maps ScaledObjects to scaler instances. It is safe for concurrent
// use. Lookups of an existing instance take a read lock and compare the
// metadata maps without allocating; building runs outside the lock, once
// per instance however many callers wait for it.
type cache struct {
	cacheOptions
	seed maphash.Seed

	baseCtx context.Context // cancelled by close: aborts builds
	cancel  context.CancelFunc
	wg      sync.WaitGroup // builds and the janitor

	mu     sync.RWMutex
	objs   map[objKey]*slot
	count  int // entries in objs: what Limits.MaxScalers bounds
	closed bool
}

func newCache(o cacheOptions) *cache {
	ctx, cancel := context.WithCancel(context.Background())
	c := &cache{
		cacheOptions: o,
		seed:         maphash.MakeSeed(),
		baseCtx:      ctx,
		cancel:       cancel,
		objs:         map[objKey]*slot{},
	}
	c.wg.Add(1)
	go c.janitor()
	return c
}

// acquire returns the instance for ref's ScaledObject and metadata, building
// it if needed. The caller must release it.
func (c *cache) acquire(ctx context.Context, namespace, name string, md map[string]string) (*entry, error) {
	key := objKey{namespace: namespace, name: name}
	c.mu.RLock()
	if sl := c.objs[key]; sl != nil {
		for _, e := range sl.entries {
			if maps.Equal(e.md, md) {
				e.refs.Add(1)
				c.mu.RUnlock()
				return c.wait(ctx, e)
			}
		}
	}
	c.mu.RUnlock()
	return c.create(ctx, key, md)
}

// wait returns e once it is built; it owns one reference of e, which it
// drops on error. A failed build answers its error until its retry time,
// then the first caller after it starts a new build and waits for that.
func (c *cache) wait(ctx context.Context, e *entry) (*entry, error) {
	for !e.ok.Load() {
		select {
		case <-e.ready:
		case <-ctx.Done():
			c.release(e)
			return nil, ctx.Err()
		}
		if e.err == nil {
			break
		}
		if !c.clock.Now().Before(e.retryAt) {
			if ne := c.rebuild(e); ne != nil {
				c.release(e)
				e = ne
				continue
			}
		}
		err := e.err
		c.release(e)
		return nil, err
	}
	// Read before write: most calls find the flag set and leave the cache
	// line shared.
	if !e.used.Load() {
		e.used.Store(true)
	}
	return e, nil
}

// rebuild replaces the failed entry e by a new build of the same metadata
// and returns it with a reference for the caller; if another caller did so
// first, it returns that one. It returns nil when the cache is closed or e
// is gone (reaped or evicted: the caller reports e's error, and the next
// call starts afresh).
func (c *cache) rebuild(e *entry) *entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	sl := c.objs[e.key]
	if sl == nil {
		return nil
	}
	i := slices.Index(sl.entries, e)
	if i < 0 {
		for _, o := range sl.entries {
			if o.fp == e.fp && maps.Equal(o.md, e.md) {
				o.refs.Add(1)
				return o
			}
		}
		return nil
	}
	ne := &entry{
		key:      e.key,
		md:       e.md,
		fp:       e.fp,
		meta:     e.meta,
		metaErr:  e.metaErr,
		tm:       e.tm,
		ready:    make(chan struct{}),
		attempt:  e.attempt + 1,
		replaces: e.replaces,
		lastUsed: c.clock.Now(),
	}
	// The cache's reference, the caller's, and the build's.
	ne.refs.Store(3)
	sl.entries[i] = ne
	c.wg.Add(1)
	// The cache's reference of e goes with its place in the map; the
	// caller still holds one.
	e.refs.Add(-1)
	go c.build(ne)
	return ne
}

// create adds an instance for new metadata and starts its build.
func (c *cache) create(ctx context.Context, key objKey, md map[string]string) (*entry, error) {
	// Refuse what is too big before hashing, copying or keeping it.
	if limit, err := c.limits.checkMetadata(md); err != nil {
		c.metrics.refused[limit].Inc()
		return nil, err
	}
	fp := fingerprint(c.seed, md)
	meta, metaErr := parseServerMeta(md, c.defaultPoll)
	typ := meta.scalerType
	if !c.registry.Has(typ) {
		typ = unknownType
	}
	now := c.clock.Now()

	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, errShuttingDown
	}
	// Another caller may have created it since we looked.
	if sl := c.objs[key]; sl != nil {
		for _, e := range sl.entries {
			if e.fp == fp && maps.Equal(e.md, md) {
				e.refs.Add(1)
				c.mu.Unlock()
				return c.wait(ctx, e)
			}
		}
	}
	var old []*entry
	if c.count >= c.limits.MaxScalers {
		v := c.victimLocked()
		if v == nil {
			c.mu.Unlock()
			c.metrics.refused[limitScalers].Inc()
			return nil, fmt.Errorf("%w: %s %d: every scaler instance is in use (by a call or a stream), none can be closed to make room",
				scalers.ErrLimit, limitScalers, c.limits.MaxScalers)
		}
		c.removeLocked(v)
		old = append(old, v)
	}
	sl := c.objs[key]
	if sl == nil {
		sl = &slot{}
		c.objs[key] = sl
	}
	e := &entry{
		key:      key,
		md:       maps.Clone(md),
		fp:       fp,
		meta:     meta,
		metaErr:  metaErr,
		tm:       c.metrics.forType(typ),
		ready:    make(chan struct{}),
		lastUsed: now,
	}
	// The cache's reference, the caller's, and the build's.
	e.refs.Store(3)
	if i := slices.Index(sl.retired, fp); i >= 0 {
		// A metadata set replaced a moment ago is back: this ScaledObject
		// has several triggers served here and KEDA alternates between
		// them. Keep the instances side by side; idle ones are reaped.
		sl.retired = slices.Delete(sl.retired, i, i+1)
	} else {
		// New metadata: the ScaledObject changed, and its new instance
		// replaces the old ones once it is built. Until then the old ones
		// keep serving calls that still carry the old metadata; if the
		// build fails they stay (a broken trigger next to a working one
		// must not make the working one be rebuilt on every call).
		e.replaces = slices.Clone(sl.entries)
	}
	sl.entries = append(sl.entries, e)
	c.count++
	if len(sl.entries) > maxEntriesPerObject {
		// Too many instances for one ScaledObject: drop one, a failed or
		// idle one first.
		v := slotVictim(sl.entries[:len(sl.entries)-1])
		c.removeLocked(v)
		old = append(old, v)
	}
	c.metrics.entries.Set(float64(c.count))
	c.wg.Add(1)
	c.mu.Unlock()

	for _, o := range old {
		c.debug("scaler instance evicted", o)
		c.release(o)
	}
	go c.build(e)
	return c.wait(ctx, e)
}

// victimLocked picks the instance to close to make room under
// MaxScalers: an idle one (no call, stream or build holds it), the least
// recently used first; failed builds go before built instances. It returns
// nil when every instance is in use. The caller holds c.mu.
func (c *cache) victimLocked() *entry {
	var best *entry
	for _, sl := range c.objs {
		best = idlest(sl.entries, best)
	}
	return best
}

// slotVictim picks the entry of one ScaledObject to drop beyond
// maxEntriesPerObject: the idlest one if one is idle, else the oldest.
func slotVictim(entries []*entry) *entry {
	if v := idlest(entries, nil); v != nil {
		return v
	}
	return entries[0]
}

// idlest returns the idle entry among entries and best that lessRecent
// ranks first (best if none of entries is idle).
func idlest(entries []*entry, best *entry) *entry {
	for _, e := range entries {
		if e.refs.Load() != 1 || !e.done() {
			continue
		}
		if best == nil || lessRecent(e, best) {
			best = e
		}
	}
	return best
}

// lessRecent orders idle entries for eviction: failed builds first, then
// entries not used since the janitor's last sweep, then by the time of
// the sweep that last saw them used (the recency the cache keeps without a
// clock read per call).
func lessRecent(a, b *entry) bool {
	rank := func(e *entry) int {
		switch {
		case e.err != nil:
			return 0
		case !e.used.Load():
			return 1
		default:
			return 2
		}
	}
	if ra, rb := rank(a), rank(b); ra != rb {
		return ra < rb
	}
	return a.lastUsed.Before(b.lastUsed)
}

// removeLocked takes e out of the map; the caller holds c.mu and drops the
// cache's reference after unlocking.
func (c *cache) removeLocked(e *entry) {
	sl := c.objs[e.key]
	if sl == nil {
		return
	}
	i := slices.Index(sl.entries, e)
	if i < 0 {
		return
	}
	sl.entries = slices.Delete(sl.entries, i, i+1)
	c.count--
	if len(sl.entries) == 0 {
		delete(c.objs, e.key)
	}
}

// buildResult is what a factory call gave.
type buildResult struct {
	sc    scalers.Scaler
	pred  *predictive.Scaler
	names []string
	err   error
}

// build builds e's scaler and drops the build's reference. It finishes
// within buildTimeout plus SourceGrace, or at once when the cache closes,
// whether the factory returns or not: a factory that returns later has its
// scaler closed.
func (c *cache) build(e *entry) {
	defer c.wg.Done()
	ctx, cancel := context.WithTimeout(c.baseCtx, c.buildTimeout)
	defer cancel()
	res := make(chan buildResult, 1)
	go func() { res <- c.newScaler(ctx, e) }()
	// A wall-clock bound on a call that should do no I/O: real time.
	timer := time.NewTimer(c.buildTimeout + SourceGrace)
	defer timer.Stop()
	var r buildResult
	select {
	case r = <-res:
	case <-timer.C:
		r.err = scalers.Unavailable(fmt.Sprintf("building the %s scaler", e.meta.scalerType),
			fmt.Errorf("not finished after %v (the build bound %v)", c.buildTimeout+SourceGrace, c.buildTimeout))
		go closeLate(res)
	case <-c.baseCtx.Done():
		go closeLate(res)
	}
	if r.err == nil && r.sc == nil && c.baseCtx.Err() != nil {
		r.err = errShuttingDown
	}
	if r.err != nil && c.baseCtx.Err() != nil {
		// Cut short by the cache closing: not the trigger's error.
		r.err = errShuttingDown
		if r.sc != nil {
			_ = r.sc.Close()
			r.sc = nil
		}
	}
	// The build's reference goes before ready closes, so a waiter that
	// wakes up holds the only references besides the cache's: what it sees
	// afterwards (a replacement closing the scaler) is not raced by us.
	if r.err != nil {
		e.err = r.err
		e.retryAt = c.clock.Now().Add(retryDelay(r.err, e.attempt))
		if r.err != errShuttingDown {
			e.tm.errors[reasonOf(r.err)].Inc()
			c.debug("scaler build failed", e)
		} else {
			c.remove(e)
		}
		// A failed build stays in the map (without a scaler) and answers
		// its error until retryAt.
		c.release(e)
		close(e.ready)
		return
	}
	e.scaler, e.names, e.pred, e.source = r.sc, r.names, r.pred, r.sc
	if r.pred != nil {
		e.source = r.pred.Unwrap()
		e.predicted = make([]predictedFloor, len(r.names))
		for i := range e.predicted {
			e.predicted[i].replicas.Store(-1)
		}
		if c.history != nil {
			c.wg.Add(1)
			go c.warmStart(e)
		}
	}
	e.bound = c.timeouts.Max
	if b, ok := r.sc.(sourceBounder); ok {
		if d := b.Bound(); d > 0 {
			e.bound = min(d, c.timeouts.Max)
		}
	}
	e.tm.builds.Inc()
	e.tm.instances.Inc()
	e.ok.Store(true)
	c.debug("scaler instance built", e)
	c.retire(e)
	c.release(e)
	close(e.ready)
}

// closeLate closes the scaler of a build the cache gave up on, when (if)
// its factory returns.
func closeLate(res <-chan buildResult) {
	if r := <-res; r.sc != nil {
		_ = r.sc.Close()
	}
}

// retire takes the instances e replaces out of the map, remembering their
// fingerprints, and drops the cache's references to them.
func (c *cache) retire(e *entry) {
	if len(e.replaces) == 0 {
		return
	}
	var gone []*entry
	c.mu.Lock()
	if sl := c.objs[e.key]; sl != nil && slices.Contains(sl.entries, e) {
		sl.entries = slices.DeleteFunc(sl.entries, func(o *entry) bool {
			if slices.Contains(e.replaces, o) {
				gone = append(gone, o)
				if !o.done() || o.err == nil {
					// A failed build coming back is the same broken
					// trigger, not a second one.
					sl.retired = append(sl.retired, o.fp)
				}
				return true
			}
			return false
		})
		c.count -= len(gone)
		c.metrics.entries.Set(float64(c.count))
		if n := len(sl.retired); n > maxRetired {
			sl.retired = slices.Delete(sl.retired, 0, n-maxRetired)
		}
	}
	c.mu.Unlock()
	e.replaces = nil
	for _, o := range gone {
		c.debug("scaler instance replaced", o)
		c.release(o)
	}
}

func (c *cache) newScaler(ctx context.Context, e *entry) (r buildResult) {
	if e.metaErr != nil {
		return buildResult{err: e.metaErr}
	}
	defer func() {
		if p := recover(); p != nil {
			c.logger.Error("scaler factory panicked", "scalerType", e.meta.scalerType,
				"scaledObject", e.key.String(), "panic", p, "stack", string(debug.Stack()))
			if r.sc != nil {
				_ = r.sc.Close()
			}
			r = buildResult{err: fmt.Errorf("internal error: scaler type %q failed while being built", e.meta.scalerType)}
		}
	}()
	sc, err := c.registry.New(ctx, scalers.Config{
		Type:      e.meta.scalerType,
		Metadata:  scalerMetadata(e.md),
		Namespace: e.key.namespace,
		Name:      e.key.name,
		Logger:    c.logger.With("scalerType", e.meta.scalerType, "scaledObject", e.key.String()),
		Timeouts:  c.timeouts,
		Limits:    c.scalerLimits,
	})
	if err != nil {
		if ctx.Err() != nil && c.baseCtx.Err() == nil && !errors.Is(err, scalers.ErrInvalidConfig) && !errors.Is(err, scalers.ErrUnavailable) {
			// The factory returned the build bound's context error as
			// it is: the server's bound, not the caller's deadline.
			err = scalers.Unavailable(fmt.Sprintf("building the %s scaler", e.meta.scalerType),
				fmt.Errorf("not finished within the build bound %v: %w", c.buildTimeout, err))
		}
		return buildResult{err: err}
	}
	r.sc = sc
	names, err := checkSpecs(e.meta.scalerType, sc.MetricSpecs())
	if err != nil {
		_ = sc.Close()
		return buildResult{err: err}
	}
	if p := e.meta.predictive; p != nil {
		o := *p
		o.Clock, o.WarmStart = c.clock, c.history != nil
		o.Logger = c.logger.With("scalerType", e.meta.scalerType, "scaledObject", e.key.String())
		w, err := predictive.Wrap(sc, o)
		if err != nil {
			// The keys were checked while parsing: a bug if it happens.
			_ = sc.Close()
			return buildResult{err: fmt.Errorf("internal error: predictive options: %w", err)}
		}
		pred, _ := predictive.Find(w)
		return buildResult{sc: w, pred: pred, names: names}
	}
	return buildResult{sc: sc, names: names}
}

// warmStart gives e's predictive layer the past of its series from the
// HistorySource, apart from every call: until it is done the instance
// forecasts from its live values only.
func (c *cache) warmStart(e *entry) {
	defer c.wg.Done()
	ctx, cancel := context.WithTimeout(c.baseCtx, WarmStartTimeout)
	defer cancel()
	until := c.clock.Now()
	past := make(map[string][]predictive.Sample, len(e.names))
	var failed error
	for _, name := range e.names {
		hs, err := c.history.History(ctx, HistoryKey{Namespace: e.key.namespace, ScaledObject: e.key.name, Metric: name}, until)
		if err != nil {
			failed = err
			break
		}
		hs = hs[max(0, len(hs)-MaxWarmStartSamples):]
		ps := make([]predictive.Sample, len(hs))
		for i, h := range hs {
			ps[i] = predictive.Sample{Time: h.Time, Value: h.Value}
		}
		past[name] = ps
	}
	if failed != nil {
		// Live history only; Seed(nil) stops keeping the live values aside.
		past = nil
		c.metrics.warmStartErrors.Inc()
		c.logger.Warn("predictive warm start failed: forecasting from live values only", "scalerType", e.meta.scalerType,
			"scaledObject", e.key.String(), "err", failed)
	}
	n, err := e.pred.Seed(past)
	if err != nil {
		c.logger.Debug("predictive warm start not applied", "scaledObject", e.key.String(), "err", err)
		return
	}
	if failed == nil {
		c.metrics.warmStartSamples.Add(float64(n))
		c.metrics.warmStarts.Inc()
	}
}

// checkSpecs enforces the Scaler contract KEDA relies on: at least one
// metric, names non-empty and unique, targets finite and > 0.
func checkSpecs(typ string, specs []scalers.MetricSpec) ([]string, error) {
	var problems []string
	names := make([]string, 0, len(specs))
	if len(specs) == 0 {
		problems = append(problems, "no metric")
	}
	for _, s := range specs {
		switch {
		case s.Name == "":
			problems = append(problems, "a metric without a name")
		case slices.Contains(names, s.Name):
			problems = append(problems, fmt.Sprintf("metric name %q twice", s.Name))
		}
		if !(s.Target > 0) || math.IsInf(s.Target, 0) {
			problems = append(problems, fmt.Sprintf("metric %q has target %v, want > 0", s.Name, s.Target))
		}
		names = append(names, s.Name)
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("internal error: scaler type %q offers invalid metric specs: %s", typ, strings.Join(problems, "; "))
	}
	return names, nil
}

// remove takes e out of the map if it is still there, and drops the cache's
// reference.
func (c *cache) remove(e *entry) {
	c.mu.Lock()
	found := false
	if sl := c.objs[e.key]; sl != nil && slices.Contains(sl.entries, e) {
		c.removeLocked(e)
		c.metrics.entries.Set(float64(c.count))
		found = true
	}
	c.mu.Unlock()
	if found {
		c.release(e)
	}
}

// release drops one reference of e and closes its scaler with the last one.
func (c *cache) release(e *entry) {
	if e.refs.Add(-1) != 0 {
		return
	}
	if e.scaler == nil {
		return
	}
	e.tm.instances.Dec()
	if err := e.scaler.Close(); err != nil {
		c.logger.Debug("closing scaler", "scalerType", e.meta.scalerType, "scaledObject", e.key.String(), "err", err)
	}
	c.debug("scaler instance closed", e)
}

// janitor closes instances unused for idleTimeout.
func (c *cache) janitor() {
	defer c.wg.Done()
	t := c.clock.NewTicker(janitorInterval(c.idleTimeout))
	defer t.Stop()
	for {
		select {
		case <-c.baseCtx.Done():
			return
		case <-t.C():
			c.reap(c.clock.Now())
		}
	}
}

// janitorInterval checks often enough that an instance lives at most about
// 1.25x idleTimeout without use, and not more often than once a second.
func janitorInterval(idle time.Duration) time.Duration {
	return min(max(idle/4, time.Second), time.Minute)
}

// reap closes the instances unused since idleTimeout before now. An
// instance in use (a call in flight, an open stream) is never reaped.
func (c *cache) reap(now time.Time) {
	var dead []*entry
	c.mu.Lock()
	for key, sl := range c.objs {
		kept := sl.entries[:0]
		for _, e := range sl.entries {
			switch {
			case !e.done():
				// Still building.
				kept = append(kept, e)
			case e.used.Swap(false), e.refs.Load() > 1:
				e.lastUsed = now
				kept = append(kept, e)
			case now.Sub(e.lastUsed) >= c.idleTimeout:
				dead = append(dead, e)
			default:
				kept = append(kept, e)
			}
		}
		clear(sl.entries[len(kept):])
		sl.entries = kept
		if len(kept) == 0 {
			delete(c.objs, key)
		}
	}
	c.count -= len(dead)
	c.metrics.entries.Set(float64(c.count))
	c.mu.Unlock()
	for _, e := range dead {
		c.debug("idle scaler instance closing", e)
		c.release(e)
	}
}

// closeWorkers bounds the scaler Close calls run at once when the cache
// closes, so that one Close that hangs does not hold up the others.
const closeWorkers = 8

// close closes every instance (those still in use when their last caller
// lets go), cancels builds and stops the janitor; later acquires fail. It
// waits for the builds and the closes until ctx ends, then returns an
// error saying what it left running.
func (c *cache) close(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	var all []*entry
	for _, sl := range c.objs {
		all = append(all, sl.entries...)
	}
	c.objs = nil
	c.count = 0
	c.metrics.entries.Set(0)
	c.mu.Unlock()
	c.cancel()

	var closing sync.WaitGroup
	work := make(chan *entry)
	for range min(closeWorkers, len(all)) {
		closing.Go(func() {
			for e := range work {
				c.release(e)
			}
		})
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Builds end at once on cancel (their factories may not: those
		// are left behind) and so does the janitor.
		c.wg.Wait()
		for _, e := range all {
			work <- e
		}
		close(work)
		closing.Wait()
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("closing scaler instances: %w (builds or scaler closes still running are left behind)", ctx.Err())
	}
}

// len returns the number of instances in the map (for tests).
func (c *cache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	n := 0
	for _, sl := range c.objs {
		n += len(sl.entries)
	}
	return n
}

func (c *cache) debug(msg string, e *entry) {
	if c.logger.Enabled(context.Background(), slog.LevelDebug) {
		c.logger.Debug(msg, "scalerType", e.meta.scalerType, "scaledObject", e.key.String())
	}
}

// fingerprint hashes a metadata map independently of iteration order.
func fingerprint(seed maphash.Seed, md map[string]string) uint64 {
	var sum uint64
	var h maphash.Hash
	h.SetSeed(seed)
	for k, v := range md {
		h.Reset()
		h.WriteString(k)
		h.WriteByte(0)
		h.WriteString(v)
		// Addition commutes, so the order of the map does not matter; a
		// multiply-xorshift keeps pairs from cancelling.
		x := h.Sum64()
		x ^= x >> 31
		x *= 0x9e3779b97f4a7c15
		sum += x
	}
	return sum
}
