package externalscaler

import (
	"math"
	"sync/atomic"
	"time"
)

// predictedFloor is what GetMetrics last served of one metric's forecast
// floor, for /metrics: the replicas, or -1 for no floor.
type predictedFloor struct {
	replicas atomic.Int64
}

// floorValue is the metric value that makes KEDA's HPA ask for exactly
// replicas with an AverageValue target of target per replica. KEDA hands
// both to the HPA as quantities of three decimals (it prints them with
// %.3f), and the HPA proposes ceil(value / target) on those milli-values:
// replicas × the target's milli-value, as a value, gives exactly
// replicas (the largest value that does: one milli more asks for one
// more). The HPA's tolerance (0.1) still applies against the current
// count: within it the HPA keeps the count, as it does for any value.
func floorValue(replicas int32, target float64) float64 {
	if replicas <= 0 {
		return 0
	}
	tm := max(math.Round(target*1000), 1)
	return float64(replicas) * tm / 1000
}

// impliedReplicas is the HPA's proposal for value against target (both
// as KEDA sends them): ceil(value milli / target milli), 0 for no demand.
func impliedReplicas(value, target float64) int32 {
	vm := math.Round(value * 1000)
	tm := max(math.Round(target*1000), 1)
	if !(vm > 0) {
		return 0
	}
	return int32(min(math.Ceil(vm/tm), math.MaxInt32))
}

// predicted is v raised to the value that makes KEDA's HPA run e's
// forecast floor for metric (at index i of e.names) at now; with no floor
// (too little history, low confidence) it is v. The floor is a lookup:
// the forecast behind it is computed once per history step.
func (s *Server) predicted(e *entry, i int, metric string, v float64, now time.Time) float64 {
	f := e.pred.Floor(now)
	pf := &e.predicted[i]
	for _, mf := range f.Metrics {
		if mf.Metric != metric {
			continue
		}
		if !mf.OK {
			break
		}
		for _, sp := range e.scaler.MetricSpecs() {
			if sp.Name == metric {
				pf.replicas.Store(int64(mf.Replicas))
				return max(v, floorValue(mf.Replicas, sp.Target))
			}
		}
	}
	pf.replicas.Store(-1)
	return v
}
