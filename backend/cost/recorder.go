package cost

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/big"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/utils/clock"

	"github.com/hpa-autoscaler/hpa-autoscaler/backend/store"
)

// Observation is one look at a workload: its replica count and one pod's
// requests at Time (from the agent's inventory; the Scaler CRD states no
// requests), where its pods run and whether spot prices apply (the
// Scaler's costOptimization.spotInstancesEnabled).
type Observation struct {
	Workload
	Time      time.Time
	Replicas  int32
	Requests  Requests
	Placement Placement
	Spot      bool
	// Usage, when HasUsage, is what one pod uses on average (for
	// hpa_efficiency_score).
	UsedCPUMilli, UsedMemoryBytes int64
	HasUsage                      bool
}

// SampleWriter writes and prunes cost samples (store.Store implements
// it).
type SampleWriter interface {
	RecordCostSamples(ctx context.Context, tenant store.TenantID, samples []store.CostSample) error
	PruneCostSamples(ctx context.Context, tenant store.TenantID, before time.Time) (int64, error)
}

// RecorderOptions configure NewRecorder. Store is required.
type RecorderOptions struct {
	Store SampleWriter
	// Prices is the table in effect (read at each step's close, so a
	// reload prices the next steps); nil is DefaultTable.
	Prices func() *Table
	// Step is the sampling step (default 1m, whole seconds), as the
	// metric history's.
	Step time.Duration
	// Grace is how long after its end a step stays open for late
	// observations (default 15s, the agents' report interval; less than
	// Step).
	Grace time.Duration
	// Clock drives Run (default the real clock).
	Clock clock.WithTicker
	// Registerer gets the gauges (nil: not registered).
	Registerer prometheus.Registerer
	// Logger (nil: discard).
	Logger *slog.Logger
	// MaxPending bounds the samples kept while the store fails (default
	// 100,000); past it the oldest are dropped, and counted.
	MaxPending int
	// WriteTimeout bounds one write (default 10s).
	WriteTimeout time.Duration
	// Retention is how long samples are kept (default 35 days, the
	// history's; < 0 keeps them): Run deletes older ones hourly, for the
	// tenants it recorded for.
	Retention time.Duration
}

// DefaultRetention is the samples' default retention.
const DefaultRetention = 35 * 24 * time.Hour

// Recorder accumulates observations into cost samples, one per workload
// and step, and writes the closed steps in batches. A step's cost is its
// average replica count (of the observations in it) × the requests last
// observed in it × the blended rate × the step; a step without an
// observation costs nothing (the workload was not seen). An observation
// older than the workload's open step is dropped.
type Recorder struct {
	o     RecorderOptions
	table func() *Table

	mu      sync.Mutex
	open    map[Workload]*acc
	pending []pendingSample
	tenants map[store.TenantID]bool // recorded for: pruned by Run
	rates   map[Workload]current    // the last closed step of each workload
	// spot sums rates per cluster: replicas×1000 and their spot part
	// (replicas×1000×PPM/1e6), for the spot ratio without a scan.
	spot    map[string]*spotSum
	dropped int64

	costPerHour *prometheus.GaugeVec
	spotRatio   *prometheus.GaugeVec
	efficiency  *prometheus.GaugeVec
}

type acc struct {
	start    time.Time
	sum, n   int64 // replicas
	last     Observation
	usedCPU  int64
	usedMem  int64
	usageN   int64
	lastSeen time.Time
}

type spotSum struct{ all, spot int64 }

type pendingSample struct {
	tenant store.TenantID
	s      store.CostSample
}

// current is a workload's cost per hour at its last closed step.
type current struct {
	perHour       Micros
	replicasMilli int64
	spot          PPM
	seen          time.Time
}

// NewRecorder returns a Recorder; Run writes what it records.
func NewRecorder(o RecorderOptions) (*Recorder, error) {
	if o.Store == nil {
		return nil, errors.New("cost: RecorderOptions.Store is required")
	}
	if o.Step == 0 {
		o.Step = time.Minute
	}
	if o.Step < time.Second || o.Step%time.Second != 0 {
		return nil, fmt.Errorf("cost: step %v: want whole seconds", o.Step)
	}
	if o.Grace == 0 {
		o.Grace = min(15*time.Second, o.Step/2)
	}
	if o.Grace < 0 || o.Grace >= o.Step {
		return nil, fmt.Errorf("cost: grace %v: want 0 to less than the step %v", o.Grace, o.Step)
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxPending <= 0 {
		o.MaxPending = 100_000
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.Retention == 0 {
		o.Retention = DefaultRetention
	}
	r := &Recorder{o: o, table: o.Prices, open: map[Workload]*acc{}, rates: map[Workload]current{}, tenants: map[store.TenantID]bool{}, spot: map[string]*spotSum{}}
	if r.table == nil {
		def := DefaultTable()
		r.table = func() *Table { return def }
	}
	r.costPerHour = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "hpa_cost_per_hour",
		Help: "A workload's cost per hour at its last closed step, in the price table's currency."}, []string{"cluster", "namespace", "workload"})
	r.spotRatio = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "hpa_spot_instance_usage_ratio",
		Help: "The share of a cluster's replicas priced as spot (0 to 1), at their last closed step."}, []string{"cluster"})
	r.efficiency = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "hpa_efficiency_score",
		Help: "Used over requested resources of a workload, weighted by their cost (0 to 1), at its last closed step with usage."}, []string{"cluster", "workload"})
	if o.Registerer != nil {
		for _, c := range []prometheus.Collector{r.costPerHour, r.spotRatio, r.efficiency} {
			if err := o.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("cost: register metrics: %w", err)
			}
		}
	}
	return r, nil
}

// Record adds an observation. It does no I/O: the step is written after
// it closes (Run, Flush).
func (r *Recorder) Record(o Observation) error {
	if err := o.Requests.Validate(); err != nil {
		return fmt.Errorf("cost: %s/%s/%s: %w", o.Cluster, o.Namespace, o.Name, err)
	}
	if o.Replicas < 0 || o.Time.IsZero() || o.Tenant == "" || o.Cluster == "" || o.Namespace == "" || o.Name == "" {
		return fmt.Errorf("cost: observation %s/%s/%s of tenant %q: want a tenant, cluster, namespace, name, time and replicas >= 0", o.Cluster, o.Namespace, o.Name, o.Tenant)
	}
	start := o.Time.UTC().Truncate(r.o.Step)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tenants[o.Tenant] = true
	a := r.open[o.Workload]
	switch {
	case a == nil:
		a = &acc{start: start}
		r.open[o.Workload] = a
	case start.Before(a.start):
		r.dropped++
		return nil
	case start.After(a.start):
		r.close(o.Workload, a)
		*a = acc{start: start}
	}
	a.sum += int64(o.Replicas)
	a.n++
	a.last = o
	a.lastSeen = o.Time
	if o.HasUsage {
		a.usedCPU += o.UsedCPUMilli
		a.usedMem += o.UsedMemoryBytes
		a.usageN++
	}
	return nil
}

// close prices a's step and queues its sample (r.mu held).
func (r *Recorder) close(w Workload, a *acc) {
	if a.n == 0 {
		return
	}
	t := r.table()
	o := a.last
	replicasMilli := roundDiv(big.NewInt(a.sum*1000), big.NewInt(a.n))
	rate := t.Pool(o.Placement.Pool, o.Placement.InstanceType).Rate(o.Spot)
	b := rate.Cost(replicasMilli, o.Requests, r.o.Step)
	r.pending = append(r.pending, pendingSample{w.Tenant, store.CostSample{Cluster: w.Cluster, Namespace: w.Namespace, Workload: w.Name, Start: a.start, Step: r.o.Step,
		ReplicasMilli: replicasMilli, CPUMilli: o.Requests.CPUMilli, MemoryBytes: o.Requests.MemoryBytes, GPU: o.Requests.GPU, SpotPPM: int64(rate.SpotShare),
		CPUMicros: int64(b.CPU), RAMMicros: int64(b.Memory), GPUMicros: int64(b.GPU), PriceTable: t.Hash()}})
	if over := len(r.pending) - r.o.MaxPending; over > 0 {
		r.pending = append(r.pending[:0], r.pending[over:]...)
		r.dropped += int64(over)
	}
	perHour := rate.Cost(replicasMilli, o.Requests, time.Hour)
	r.forget(w)
	c := current{perHour: perHour.Total(), replicasMilli: replicasMilli, spot: rate.SpotShare, seen: a.lastSeen}
	r.rates[w] = c
	sum := r.spot[w.Cluster]
	if sum == nil {
		sum = &spotSum{}
		r.spot[w.Cluster] = sum
	}
	sum.all += c.replicasMilli
	sum.spot += c.replicasMilli * int64(c.spot) / int64(One)
	r.costPerHour.WithLabelValues(w.Cluster, w.Namespace, w.Name).Set(perHour.Total().Float())
	r.setSpotRatio(w.Cluster)
	if a.usageN > 0 && perHour.CPU+perHour.Memory > 0 {
		used := func(sum, req int64) float64 {
			if req <= 0 {
				return 0
			}
			return math.Min(float64(sum)/float64(a.usageN)/float64(req), 1)
		}
		score := (used(a.usedCPU, o.Requests.CPUMilli)*float64(perHour.CPU) + used(a.usedMem, o.Requests.MemoryBytes)*float64(perHour.Memory)) / float64(perHour.CPU+perHour.Memory)
		r.efficiency.WithLabelValues(w.Cluster, w.Name).Set(score)
	}
}

// forget takes w's last step out of its cluster's spot sums (r.mu held).
func (r *Recorder) forget(w Workload) {
	c, ok := r.rates[w]
	if !ok {
		return
	}
	delete(r.rates, w)
	if sum := r.spot[w.Cluster]; sum != nil {
		sum.all -= c.replicasMilli
		sum.spot -= c.replicasMilli * int64(c.spot) / int64(One)
	}
}

// setSpotRatio sets a cluster's spot ratio from its sums (r.mu held);
// a cluster without workloads loses its series.
func (r *Recorder) setSpotRatio(cluster string) {
	sum := r.spot[cluster]
	switch {
	case sum == nil:
	case sum.all <= 0 && !r.hasCluster(cluster):
		delete(r.spot, cluster)
		r.spotRatio.DeleteLabelValues(cluster)
	case sum.all <= 0:
		r.spotRatio.WithLabelValues(cluster).Set(0)
	default:
		r.spotRatio.WithLabelValues(cluster).Set(float64(sum.spot) / float64(sum.all))
	}
}

func (r *Recorder) hasCluster(cluster string) bool {
	for w := range r.rates {
		if w.Cluster == cluster {
			return true
		}
	}
	return false
}

// CostPerHourExcept implements RateSource: the cost per hour, at their
// last closed step, of the workloads b covers other than except.
func (r *Recorder) CostPerHourExcept(tenant store.TenantID, b store.Budget, except Workload) Micros {
	r.mu.Lock()
	defer r.mu.Unlock()
	var sum Micros
	for w, c := range r.rates {
		if w.Tenant == tenant && w != except && b.Covers(w.Cluster, w.Namespace, w.Name) {
			sum += c.perHour
		}
	}
	return sum
}

// CostPerHour is a workload's cost per hour at its last closed step.
func (r *Recorder) CostPerHour(w Workload) (Micros, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.rates[w]
	return c.perHour, ok
}

// Dropped counts the observations and samples dropped (late, or shed
// while the store failed).
func (r *Recorder) Dropped() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dropped
}

// staleSteps: a workload not observed for that many steps is forgotten
// (its gauges removed).
const staleSteps = 5

// Flush closes every step that ended by now − Grace and writes the samples
// waiting, per tenant. Samples a write fails for stay queued for the next
// Flush (a resend replaces a step, so nothing is counted twice).
func (r *Recorder) Flush(ctx context.Context, now time.Time) error {
	r.mu.Lock()
	for w, a := range r.open {
		if !a.start.Add(r.o.Step + r.o.Grace).After(now) {
			r.close(w, a)
			if now.Sub(a.lastSeen) >= staleSteps*r.o.Step {
				delete(r.open, w)
			} else {
				*a = acc{start: now.UTC().Truncate(r.o.Step), lastSeen: a.lastSeen}
			}
		}
	}
	for w, c := range r.rates {
		if now.Sub(c.seen) >= staleSteps*r.o.Step {
			r.forget(w)
			r.costPerHour.DeleteLabelValues(w.Cluster, w.Namespace, w.Name)
			r.efficiency.DeleteLabelValues(w.Cluster, w.Name)
			r.setSpotRatio(w.Cluster)
		}
	}
	batch := r.pending
	r.pending = nil
	r.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	byTenant := map[store.TenantID][]store.CostSample{}
	var order []store.TenantID
	for _, p := range batch {
		if _, ok := byTenant[p.tenant]; !ok {
			order = append(order, p.tenant)
		}
		byTenant[p.tenant] = append(byTenant[p.tenant], p.s)
	}
	var errs []error
	var failed []pendingSample
	for _, tenant := range order {
		samples := byTenant[tenant]
		for len(samples) > 0 {
			n := min(len(samples), 1000)
			wctx, cancel := context.WithTimeout(ctx, r.o.WriteTimeout)
			err := r.o.Store.RecordCostSamples(wctx, tenant, samples[:n])
			cancel()
			if err != nil {
				errs = append(errs, fmt.Errorf("tenant %s: %w", tenant, err))
				if errors.Is(err, store.ErrInvalid) {
					// Not retried: the same samples would fail again.
					r.o.Logger.Warn("cost: samples refused by the store, dropped", "tenant", tenant, "samples", n, "err", err)
				} else {
					for _, s := range samples[:n] {
						failed = append(failed, pendingSample{tenant, s})
					}
				}
			}
			samples = samples[n:]
		}
	}
	if len(failed) > 0 {
		r.mu.Lock()
		r.pending = append(failed, r.pending...)
		if over := len(r.pending) - r.o.MaxPending; over > 0 {
			r.pending = r.pending[over:]
			r.dropped += int64(over)
		}
		r.mu.Unlock()
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cost: write samples: %w", err)
	}
	return nil
}

// Prune deletes the samples older than the retention at now, of every
// tenant recorded for.
func (r *Recorder) Prune(ctx context.Context, now time.Time) error {
	if r.o.Retention < 0 {
		return nil
	}
	r.mu.Lock()
	tenants := make([]store.TenantID, 0, len(r.tenants))
	for t := range r.tenants {
		tenants = append(tenants, t)
	}
	r.mu.Unlock()
	var errs []error
	for _, t := range tenants {
		wctx, cancel := context.WithTimeout(ctx, r.o.WriteTimeout)
		n, err := r.o.Store.PruneCostSamples(wctx, t, now.Add(-r.o.Retention))
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("tenant %s: %w", t, err))
		} else if n > 0 {
			r.o.Logger.Debug("cost: samples past their retention deleted", "tenant", t, "samples", n)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cost: prune samples: %w", err)
	}
	return nil
}

// pruneEvery is how often Run prunes.
const pruneEvery = time.Hour

// Run flushes at every step, and prunes hourly, until ctx ends; then it
// writes the steps closed by then (the open ones are not written: a
// partial step would be priced as a whole one).
func (r *Recorder) Run(ctx context.Context) {
	tick := r.o.Clock.NewTicker(r.o.Step)
	defer tick.Stop()
	lastPrune := r.o.Clock.Now()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.o.WriteTimeout)
			r.flushLogged(fctx, r.o.Clock.Now())
			cancel()
			return
		case <-tick.C():
			now := r.o.Clock.Now()
			r.flushLogged(ctx, now)
			if now.Sub(lastPrune) >= pruneEvery {
				lastPrune = now
				if err := r.Prune(ctx, now); err != nil {
					r.o.Logger.Warn("cost: old samples not pruned yet, retried in an hour", "err", err)
				}
			}
		}
	}
}

func (r *Recorder) flushLogged(ctx context.Context, now time.Time) {
	if err := r.Flush(ctx, now); err != nil {
		r.o.Logger.Warn("cost: samples not written yet, retried at the next step", "err", err)
	}
}
