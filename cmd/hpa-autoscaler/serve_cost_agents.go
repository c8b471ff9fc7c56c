package main

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"k8s.io/utils/clock"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/agentsvc"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/cost"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/store"
)

// costAgents joins the AgentService to the cost part: it is the
// service's WorkloadObserver (each inventory's replicas and pod requests)
// and its Budgets (a Scaler's budget cap). An inventory is sent when it
// changes, not every step, so the last one of each Scaler is held and
// recorded at every step (Run) until the store no longer has the Scaler.
type costAgents struct {
	rec    *cost.Recorder
	capper *cost.Capper
	prices func() *cost.Table
	store  store.Store
	clock  clock.WithTicker
	step   time.Duration
	log    *slog.Logger

	mu   sync.Mutex
	held map[agentsvc.ScalerRef]*heldWorkload
}

type heldWorkload struct {
	w agentsvc.Workload
	// spot: the stored spec's costOptimization.spotInstancesEnabled
	// (refreshed hourly).
	spot bool
}

var (
	_ agentsvc.WorkloadObserver = (*costAgents)(nil)
	_ agentsvc.Budgets          = (*costAgents)(nil)
)

func newCostAgents(rt *costRuntime, s store.Store, prices func() *cost.Table, logger *slog.Logger) *costAgents {
	return &costAgents{rec: rt.Recorder, capper: rt.Capper, prices: prices, store: s, clock: clock.RealClock{}, step: time.Minute, log: logger,
		held: map[agentsvc.ScalerRef]*heldWorkload{}}
}

func workloadOf(ref agentsvc.ScalerRef) cost.Workload {
	return cost.Workload{Tenant: ref.Tenant, Cluster: ref.Cluster, Namespace: ref.Namespace, Name: ref.Name}
}

func spotOf(spec *v1.ScalerSpec) bool {
	return spec != nil && spec.Advanced != nil && spec.Advanced.CostOptimization != nil && spec.Advanced.CostOptimization.SpotInstancesEnabled
}

// ObserveWorkload implements agentsvc.WorkloadObserver: no I/O.
func (c *costAgents) ObserveWorkload(ref agentsvc.ScalerRef, at time.Time, w agentsvc.Workload) {
	c.mu.Lock()
	h := c.held[ref]
	if h == nil {
		h = &heldWorkload{}
		c.held[ref] = h
	}
	h.w = w
	spot := h.spot
	c.mu.Unlock()
	c.record(ref, at, w, spot)
}

func (c *costAgents) record(ref agentsvc.ScalerRef, at time.Time, w agentsvc.Workload, spot bool) {
	err := c.rec.Record(cost.Observation{Workload: workloadOf(ref), Time: at, Replicas: w.CurrentReplicas,
		Requests: cost.Requests{CPUMilli: w.CPUMillis, MemoryBytes: w.MemoryBytes, GPU: w.GPUs}, Spot: spot})
	if err != nil {
		c.log.Debug("cost: workload not recorded", "cluster", ref.Cluster, "namespace", ref.Namespace, "scaler", ref.Name, "err", err)
	}
}

// BudgetCap implements agentsvc.Budgets: the stored Scaler's spec and
// the requests of its last inventory. MaxReplicas 0 is no cap (an
// overspent budget's cap of 0 replicas is sent as 1: the engine keeps
// minReplicas whatever the cap).
func (c *costAgents) BudgetCap(ctx context.Context, ref agentsvc.ScalerRef, now time.Time) (agentsvc.Cap, error) {
	sc, err := c.store.Scaler(ctx, ref.Tenant, ref.StoreName())
	if errors.Is(err, store.ErrNotFound) {
		return agentsvc.Cap{}, nil
	}
	if err != nil {
		return agentsvc.Cap{}, err
	}
	c.mu.Lock()
	h := c.held[ref]
	var w agentsvc.Workload
	if h != nil {
		w, h.spot = h.w, spotOf(&sc.Spec)
	}
	c.mu.Unlock()
	cp, err := c.capper.Cap(ctx, cost.CapInput{Workload: workloadOf(ref), Spec: &sc.Spec,
		Requests: cost.Requests{CPUMilli: w.CPUMillis, MemoryBytes: w.MemoryBytes, GPU: w.GPUs}}, now)
	if err != nil {
		return agentsvc.Cap{}, err
	}
	if !cp.Valid {
		return agentsvc.Cap{PricePerReplicaHourMicros: int64(cp.PricePerReplicaHour), PriceTableHash: cp.TableHash, Currency: c.prices().Currency()}, nil
	}
	return agentsvc.Cap{MaxReplicas: max(cp.MaxReplicas, 1), PricePerReplicaHourMicros: int64(cp.PricePerReplicaHour), PriceTableHash: cp.TableHash,
		Currency: c.prices().Currency()}, nil
}

// tick records every held workload at now, and hourly re-reads each
// Scaler's spec (its spot setting) and forgets the Scalers the store no
// longer has.
func (c *costAgents) tick(ctx context.Context, now time.Time, refresh bool) {
	c.mu.Lock()
	refs := make([]agentsvc.ScalerRef, 0, len(c.held))
	for ref := range c.held {
		refs = append(refs, ref)
	}
	c.mu.Unlock()
	for _, ref := range refs {
		if refresh {
			sc, err := c.store.Scaler(ctx, ref.Tenant, ref.StoreName())
			switch {
			case errors.Is(err, store.ErrNotFound):
				c.mu.Lock()
				delete(c.held, ref)
				c.mu.Unlock()
				continue
			case err == nil:
				c.mu.Lock()
				if h := c.held[ref]; h != nil {
					h.spot = spotOf(&sc.Spec)
				}
				c.mu.Unlock()
			}
		}
		c.mu.Lock()
		h := c.held[ref]
		var w agentsvc.Workload
		var spot bool
		if h != nil {
			w, spot = h.w, h.spot
		}
		c.mu.Unlock()
		if h != nil {
			c.record(ref, now, w, spot)
		}
	}
}

// Run records the held workloads every step until ctx ends.
func (c *costAgents) Run(ctx context.Context) {
	t := c.clock.NewTicker(c.step)
	defer t.Stop()
	last := time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			now := c.clock.Now()
			refresh := now.Sub(last) >= time.Hour
			if refresh {
				last = now
			}
			c.tick(ctx, now, refresh)
		}
	}
}
