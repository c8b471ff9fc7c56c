package api

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hpa-autoscaler/hpa-autoscaler/backend/cost"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/store"
)

// CostSource is the price table the cost analysis reports in (serve's
// --pricing, or the built-in OpenCost defaults). The figures themselves
// are the stored cost samples; the source names their currency and the
// table in effect. Safe for concurrent use (a reload swaps the table).
type CostSource interface {
	Currency() string
	// PriceTableHash is the hash of the table in effect (the samples
	// each carry the hash of the table that priced them).
	PriceTableHash() string
}

// The cost route's own query parameters, added to the one table.
var _ = func() bool {
	queryParams["window"] = param{"string", "", "the window ending at `to`: days (7d) or a Go duration (24h, 90m); replaces from"}
	queryParams["aggregate"] = param{"string", "", "tenant, cluster, namespace or workload (default workload)"}
	queryParams["step"] = param{"string", "", "the step of the answer: 1d, 1h, 15m... (at least 1m, at most 1000 steps; default: the window, one step)"}
	return true
}()

var costQuery = append([]string{"window", "aggregate", "step"}, "from", "to", "namespace", "cluster", "scaler")

// Cost is the cost analysis: per key of the aggregate and per step, in
// the shape of OpenCost's allocation API (each item is one entry of
// OpenCost's data[step][key]).
type Cost struct {
	Window
	// Configured is false while the server has no price source; Items
	// is empty then.
	Configured bool   `json:"configured"`
	Reason     string `json:"reason,omitempty"`
	Currency   string `json:"currency,omitempty"`
	// PriceTable is the hash of the price table in effect.
	PriceTable string           `json:"priceTable,omitempty"`
	Aggregate  string           `json:"aggregate,omitempty"`
	Step       string           `json:"step,omitempty"`
	Items      []CostAllocation `json:"items"`
	// TotalCost sums the items (units of the currency); TotalCostMicros
	// exactly.
	TotalCost       float64 `json:"totalCost"`
	TotalCostMicros int64   `json:"totalCostMicros"`
}

// CostAllocation is one key's cost in one step. Costs are in units of
// the currency (rounded from the exact micro-units, which
// totalCostMicros gives); quantities are the requests integrated over
// time.
type CostAllocation struct {
	// Name is the key: the tenant, the cluster, the namespace, or
	// cluster/namespace/workload.
	Name      string    `json:"name"`
	Cluster   string    `json:"cluster,omitempty"`
	Namespace string    `json:"namespace,omitempty"`
	Workload  string    `json:"workload,omitempty"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`

	CPUCoreHours    float64 `json:"cpuCoreHours"`
	CPUCost         float64 `json:"cpuCost"`
	RAMByteHours    float64 `json:"ramByteHours"`
	RAMCost         float64 `json:"ramCost"`
	GPUHours        float64 `json:"gpuHours"`
	GPUCost         float64 `json:"gpuCost"`
	TotalCost       float64 `json:"totalCost"`
	TotalCostMicros int64   `json:"totalCostMicros"`
	// ReplicaHours is the replica time; SpotShare the part of it priced
	// at spot prices (0 to 1).
	ReplicaHours float64 `json:"replicaHours"`
	SpotShare    float64 `json:"spotShare"`
}

// windowParam parses window= and step=: whole days (7d) or a Go
// duration.
func durationParam(q url.Values, name string) (time.Duration, bool, error) {
	v := q.Get(name)
	if v == "" {
		return 0, false, nil
	}
	if days, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 1 || n > 366 {
			return 0, false, invalid(name, "%q: want 1d to 366d, or a duration like 24h", clip(v))
		}
		return time.Duration(n) * 24 * time.Hour, true, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Minute {
		return 0, false, invalid(name, "%q: want days (7d) or a duration of 1m or more (24h)", clip(v))
	}
	return d, true, nil
}

func getCost(s *server, r *request) (int, any, error) {
	q := r.URL.Query()
	window, hasWindow, err := durationParam(q, "window")
	if err != nil {
		return 0, nil, err
	}
	if hasWindow && q.Get("from") != "" {
		return 0, nil, invalid("window", "not with from")
	}
	if hasWindow && window > maxWindow {
		return 0, nil, invalid("window", "%q: want at most 366 days", clip(q.Get("window")))
	}
	f, err := analyticsQuery(q, s.o.Now())
	if err != nil {
		return 0, nil, err
	}
	if hasWindow {
		f.from = f.to.Add(-window)
	}
	step, hasStep, err := durationParam(q, "step")
	if err != nil {
		return 0, nil, err
	}
	if hasStep {
		if n := (f.to.Sub(f.from) + step - 1) / step; n > store.MaxBuckets {
			return 0, nil, invalid("step", "%q: %d steps in the window, want at most %d", clip(q.Get("step")), n, store.MaxBuckets)
		}
	} else {
		step = f.to.Sub(f.from)
	}
	agg := store.CostAggregate(q.Get("aggregate"))
	switch agg {
	case "":
		agg = store.AggregateWorkload
	case store.AggregateTenant, store.AggregateCluster, store.AggregateNamespace, store.AggregateWorkload:
	default:
		return 0, nil, invalid("aggregate", "%q: want tenant, cluster, namespace or workload", clip(string(agg)))
	}
	out := Cost{Window: Window{From: f.from, To: f.to}, Items: []CostAllocation{}}
	if s.o.Cost == nil {
		out.Reason = "no price source is configured on this server"
		return http.StatusOK, out, nil
	}
	if step < time.Minute {
		return 0, nil, invalid("step", "a step of %v: at least 1m (widen the window)", step)
	}
	rows, err := s.o.Store.CostAllocations(r.Context(), r.tenant, store.CostFilter{From: f.from, To: f.to, Step: step, Aggregate: agg,
		Cluster: f.cluster, Namespace: f.namespace, Workload: f.scaler})
	if err != nil {
		return 0, nil, err
	}
	out.Configured, out.Currency, out.PriceTable, out.Aggregate, out.Step = true, s.o.Cost.Currency(), s.o.Cost.PriceTableHash(), string(agg), step.String()
	for _, a := range rows {
		item := costItem(a, step)
		switch agg {
		case store.AggregateTenant:
			item.Name = string(r.tenant)
		case store.AggregateCluster:
			item.Name = a.Cluster
		case store.AggregateNamespace:
			item.Name = a.Namespace
		default:
			item.Name = a.Cluster + "/" + a.Namespace + "/" + a.Workload
		}
		out.TotalCostMicros += item.TotalCostMicros
		out.Items = append(out.Items, item)
	}
	out.TotalCost = cost.Micros(out.TotalCostMicros).Float()
	return http.StatusOK, out, nil
}

func costItem(a store.CostAllocation, step time.Duration) CostAllocation {
	total := a.CPUMicros + a.RAMMicros + a.GPUMicros
	it := CostAllocation{Cluster: a.Cluster, Namespace: a.Namespace, Workload: a.Workload, Start: a.Start, End: a.Start.Add(step),
		CPUCoreHours: float64(a.CPUMilliCoreSeconds) / 1000 / 3600, CPUCost: cost.Micros(a.CPUMicros).Float(),
		RAMByteHours: float64(a.RAMKiBSeconds) * 1024 / 3600, RAMCost: cost.Micros(a.RAMMicros).Float(),
		GPUHours: float64(a.GPUMilliSeconds) / 1000 / 3600, GPUCost: cost.Micros(a.GPUMicros).Float(),
		TotalCost: cost.Micros(total).Float(), TotalCostMicros: total,
		ReplicaHours: float64(a.ReplicaMilliSeconds) / 1000 / 3600}
	if a.ReplicaMilliSeconds > 0 {
		it.SpotShare = float64(a.SpotReplicaMilliSeconds) / float64(a.ReplicaMilliSeconds)
	}
	return it
}

// EfficiencyCost is a scaler's cost in the efficiency report's window,
// from the stored cost samples of its workload.
type EfficiencyCost struct {
	TotalCost       float64 `json:"totalCost"`
	TotalCostMicros int64   `json:"totalCostMicros"`
	ReplicaHours    float64 `json:"replicaHours"`
	// CostPerReplicaHour is the total over the replica-hours (0 when
	// none).
	CostPerReplicaHour float64 `json:"costPerReplicaHour"`
	SpotShare          float64 `json:"spotShare"`
}

// efficiencyCost fills the items' cost in f's window: one query, the
// window summed per workload (a scaler's workload is named as the
// scaler).
func (s *server) efficiencyCost(r *request, f analyticsFilter, items []ScalerEfficiency) error {
	if s.o.Cost == nil || len(items) == 0 || f.to.Sub(f.from) < time.Minute {
		return nil
	}
	rows, err := s.o.Store.CostAllocations(r.Context(), r.tenant, store.CostFilter{From: f.from, To: f.to, Aggregate: store.AggregateWorkload,
		Cluster: f.cluster, Namespace: f.namespace, Workload: f.scaler})
	if err != nil {
		return err
	}
	type key struct{ cluster, namespace, workload string }
	byKey := make(map[key]store.CostAllocation, len(rows))
	for _, a := range rows {
		byKey[key{a.Cluster, a.Namespace, a.Workload}] = a
	}
	for i := range items {
		it := costItem(byKey[key{items[i].Cluster, items[i].Namespace, items[i].Scaler}], 0)
		c := &EfficiencyCost{TotalCost: it.TotalCost, TotalCostMicros: it.TotalCostMicros, ReplicaHours: it.ReplicaHours, SpotShare: it.SpotShare}
		if it.ReplicaHours > 0 {
			c.CostPerReplicaHour = it.TotalCost / it.ReplicaHours
		}
		items[i].Cost = c
	}
	return nil
}
