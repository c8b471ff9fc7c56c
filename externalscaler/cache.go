package externalscaler

import (
	"context"
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

	refs atomic.Int64
	used atomic.Bool // set by callers, cleared by the janitor

	// replaces are the instances a successful build of this one retires
	// (the ScaledObject's metadata changed); only the build reads it.
	replaces []*entry

	lastUsed time.Time // guarded by cache.mu
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

type cacheOptions struct {
	registry     Registry
	logger       *slog.Logger
	clock        clock.WithTicker
	idleTimeout  time.Duration
	buildTimeout time.Duration
	defaultPoll  time.Duration
	metrics      *metrics
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
// drops on error.
func (c *cache) wait(ctx context.Context, e *entry) (*entry, error) {
	if !e.ok.Load() {
		select {
		case <-e.ready:
		case <-ctx.Done():
			c.release(e)
			return nil, ctx.Err()
		}
		if e.err != nil {
			err := e.err
			c.release(e)
			return nil, err
		}
	}
	// Read before write: most calls find the flag set and leave the cache
	// line shared.
	if !e.used.Load() {
		e.used.Store(true)
	}
	return e, nil
}

// create adds an instance for new metadata and starts its build.
func (c *cache) create(ctx context.Context, key objKey, md map[string]string) (*entry, error) {
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
	sl := c.objs[key]
	if sl == nil {
		sl = &slot{}
		c.objs[key] = sl
	}
	// Another caller may have created it since we looked.
	for _, e := range sl.entries {
		if e.fp == fp && maps.Equal(e.md, md) {
			e.refs.Add(1)
			c.mu.Unlock()
			return c.wait(ctx, e)
		}
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
	var old []*entry
	if i := slices.Index(sl.retired, fp); i >= 0 {
		// A metadata set replaced a moment ago is back: this ScaledObject
		// has several triggers served here and KEDA alternates between
		// them. Keep the instances side by side; idle ones are reaped.
		sl.retired = slices.Delete(sl.retired, i, i+1)
		sl.entries = append(sl.entries, e)
		if len(sl.entries) > maxEntriesPerObject {
			old = append(old, sl.entries[0])
			sl.entries = slices.Delete(sl.entries, 0, 1)
		}
	} else {
		// New metadata: the ScaledObject changed, and its new instance
		// replaces the old ones once it is built. Until then the old ones
		// keep serving calls that still carry the old metadata; if the
		// build fails they stay (a broken trigger next to a working one
		// must not make the working one be rebuilt on every call).
		e.replaces = slices.Clone(sl.entries)
		sl.entries = append(sl.entries, e)
	}
	c.wg.Add(1)
	c.mu.Unlock()

	for _, o := range old {
		c.debug("scaler instance evicted", o)
		c.release(o)
	}
	go c.build(e)
	return c.wait(ctx, e)
}

// build builds e's scaler and drops the build's reference.
func (c *cache) build(e *entry) {
	defer c.wg.Done()
	sc, names, err := c.newScaler(e)
	// The build's reference goes before ready closes, so a waiter that
	// wakes up holds the only references besides the cache's: what it sees
	// afterwards (a replacement closing the scaler) is not raced by us.
	if err != nil {
		e.err = err
		e.tm.errors[reasonOf(err)].Inc()
		c.remove(e)
		c.release(e)
		close(e.ready)
		return
	}
	e.scaler, e.names = sc, names
	e.tm.builds.Inc()
	e.tm.instances.Inc()
	e.ok.Store(true)
	c.debug("scaler instance built", e)
	c.retire(e)
	c.release(e)
	close(e.ready)
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
				sl.retired = append(sl.retired, o.fp)
				return true
			}
			return false
		})
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

func (c *cache) newScaler(e *entry) (sc scalers.Scaler, names []string, err error) {
	if e.metaErr != nil {
		return nil, nil, e.metaErr
	}
	ctx, cancel := context.WithTimeout(c.baseCtx, c.buildTimeout)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			c.logger.Error("scaler factory panicked", "scalerType", e.meta.scalerType,
				"scaledObject", e.key.String(), "panic", r, "stack", string(debug.Stack()))
			sc, names = nil, nil
			err = fmt.Errorf("internal error: scaler type %q failed while being built", e.meta.scalerType)
		}
	}()
	sc, err = c.registry.New(ctx, scalers.Config{
		Type:      e.meta.scalerType,
		Metadata:  scalerMetadata(e.md),
		Namespace: e.key.namespace,
		Name:      e.key.name,
		Logger:    c.logger.With("scalerType", e.meta.scalerType, "scaledObject", e.key.String()),
	})
	if err != nil {
		return nil, nil, err
	}
	names, err = checkSpecs(e.meta.scalerType, sc.MetricSpecs())
	if err != nil {
		_ = sc.Close()
		return nil, nil, err
	}
	return sc, names, nil
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
	if sl := c.objs[e.key]; sl != nil {
		if i := slices.Index(sl.entries, e); i >= 0 {
			sl.entries = slices.Delete(sl.entries, i, i+1)
			found = true
			if len(sl.entries) == 0 {
				delete(c.objs, e.key)
			}
		}
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
			case !e.ok.Load():
				// Still building (failed builds remove themselves).
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
	c.mu.Unlock()
	for _, e := range dead {
		c.debug("idle scaler instance closing", e)
		c.release(e)
	}
}

// close closes every instance (those still in use when their last caller
// lets go) and stops the janitor. Later acquires fail.
func (c *cache) close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	var all []*entry
	for _, sl := range c.objs {
		all = append(all, sl.entries...)
	}
	c.objs = nil
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
	for _, e := range all {
		c.release(e)
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
