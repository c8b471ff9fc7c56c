package scaling

import (
	"math"
	"time"
)

// Tolerances are the usage-ratio tolerances of the two directions: a ratio
// r with 1-Down <= r <= 1+Up leaves the replica count unchanged.
type Tolerances struct {
	Down float64
	Up   float64
}

// Within reports whether ratio is inside the tolerance band (bounds
// included, as upstream's isWithin).
func (t Tolerances) Within(ratio float64) bool {
	return (1.0-t.Down) <= ratio && ratio <= (1.0+t.Up)
}

// TolerancesFor returns the tolerances the controller uses for spec: the
// controller tolerance, overridden per direction by the behavior when it
// sets one and HPAConfigurableTolerance is on.
func TolerancesFor(spec *Spec) Tolerances {
	t := Tolerances{Down: spec.Controller.Tolerance, Up: spec.Controller.Tolerance}
	b := spec.Behavior
	if b == nil || !spec.Features.HPAConfigurableTolerance {
		return t
	}
	if b.ScaleDown.HasTolerance {
		t.Down = b.ScaleDown.Tolerance
	}
	if b.ScaleUp.HasTolerance {
		t.Up = b.ScaleUp.Tolerance
	}
	return t
}

// ProposalInput is the replica state a proposal depends on.
type ProposalInput struct {
	// SpecReplicas is the scale's spec.replicas (the current count).
	SpecReplicas int32
	// StatusReplicas is the scale's status.replicas.
	StatusReplicas int32
	// ReadyPodCount counts running, ready pods.
	ReadyPodCount int32
	Tolerances    Tolerances

	// Pods, Now and the two controller flags feed metrics given as per-pod
	// samples (MetricValue.PodSamples): the target's pods, the time at
	// which their readiness is judged, and which pods a CPU metric sets
	// aside (ControllerConfig).
	Pods                    []PodInfo
	Now                     time.Time
	CPUInitializationPeriod time.Duration
	InitialReadinessDelay   time.Duration
}

// Propose computes the replica proposal of one metric, as the replica
// calculator does: for pods that are all ready and all have metrics
// (PodValuesMilli), or, with per-pod samples (PodSamples), after grouping
// the pods and rebalancing those without usable metrics.
func Propose(ms *MetricSpec, mv *MetricValue, in ProposalInput) MetricResult {
	return propose(ms, mv, &in)
}

// propose is Propose with the input by reference: ProposalInput no longer
// fits in registers, and the engine calls this once per metric.
func propose(ms *MetricSpec, mv *MetricValue, in *ProposalInput) MetricResult {
	if mv.Failed {
		return MetricResult{Err: MetricFailed}
	}
	switch ms.Type {
	case ResourceMetric, ContainerResourceMetric:
		switch ms.Target {
		case UtilizationTarget:
			if len(mv.PodSamples) > 0 {
				return podUtilizationReplicas(ms.TargetUtilization, ms.Resource, mv, in)
			}
			return resourceUtilizationReplicas(ms.TargetUtilization, mv, in)
		case AverageValueTarget:
			if len(mv.PodSamples) > 0 {
				// GetRawResourceReplicas groups by the resource too.
				return podPlainReplicas(ms.TargetMilli, ms.Resource, mv, in)
			}
			return plainMetricReplicas(ms.TargetMilli, mv, in)
		}
	case PodsMetric:
		if ms.Target == AverageValueTarget {
			if len(mv.PodSamples) > 0 {
				// A Pods metric has no resource: only the phase, deletion
				// and missing rules apply.
				return podPlainReplicas(ms.TargetMilli, "", mv, in)
			}
			return plainMetricReplicas(ms.TargetMilli, mv, in)
		}
	case ObjectMetric:
		switch ms.Target {
		case ValueTarget:
			return usageRatioReplicas(mv.ValueMilli, ms.TargetMilli, in)
		case AverageValueTarget:
			return perPodReplicas(mv.ValueMilli, ms.TargetMilli, in)
		}
	case ExternalMetric:
		if len(mv.ValuesMilli) == 0 {
			return MetricResult{Err: MetricNoValues}
		}
		switch ms.Target {
		case ValueTarget:
			// Sum the series, capping a positive overflow at MaxInt64.
			var usage int64
			for _, v := range mv.ValuesMilli {
				if v > 0 && usage > math.MaxInt64-v {
					usage = math.MaxInt64
					break
				}
				usage += v
			}
			return usageRatioReplicas(usage, ms.TargetMilli, in)
		case AverageValueTarget:
			// The per-pod path sums differently upstream: any wrap to a
			// negative total is taken as an overflow.
			var usage int64
			for _, v := range mv.ValuesMilli {
				usage += v
				if usage < 0 {
					usage = math.MaxInt64
					break
				}
			}
			return perPodReplicas(usage, ms.TargetMilli, in)
		}
	}
	return MetricResult{Err: MetricInvalidSpec}
}

// resourceUtilizationReplicas is GetResourceReplicas: utilization is the
// integer percentage of summed usage over summed requests, and the ratio is
// that integer over the target percentage.
func resourceUtilizationReplicas(target int32, mv *MetricValue, in *ProposalInput) MetricResult {
	n := len(mv.PodValuesMilli)
	if n == 0 {
		return MetricResult{Err: MetricNoPods}
	}
	if len(mv.PodRequestsMilli) != n || target <= 0 {
		return MetricResult{Err: MetricInvalidSpec}
	}
	var usage, requests int64
	for i, v := range mv.PodValuesMilli {
		var ok1, ok2 bool
		usage, ok1 = addInt64(usage, v)
		requests, ok2 = addInt64(requests, mv.PodRequestsMilli[i])
		if !ok1 || !ok2 {
			return MetricResult{Err: MetricOutOfRange}
		}
	}
	if requests == 0 {
		// The set of requests is disjoint from the metrics upstream.
		return MetricResult{Err: MetricNoRequests}
	}
	if usage > math.MaxInt64/100 || usage < math.MinInt64/100 {
		return MetricResult{Err: MetricOutOfRange}
	}
	pct := usage * 100 / requests
	if pct > math.MaxInt32 || pct < math.MinInt32 {
		return MetricResult{Err: MetricOutOfRange}
	}
	utilization := int32(pct)
	ratio := float64(utilization) / float64(target)
	r := MetricResult{Valid: true, Utilization: utilization, UsageMilli: usage / int64(n), UsageRatio: ratio}
	if in.Tolerances.Within(ratio) {
		// The change would be too small.
		r.Replicas = in.SpecReplicas
		r.WithinTolerance = true
		return r
	}
	// All pods are ready and have metrics: the ready count is the number of
	// pods with metrics.
	r.Replicas = ceilInt32(ratio * float64(n))
	return r
}

// plainMetricReplicas is calcPlainMetricReplicas (Pods AverageValue and
// Resource AverageValue): the integer average over pods against the target.
func plainMetricReplicas(target int64, mv *MetricValue, in *ProposalInput) MetricResult {
	n := len(mv.PodValuesMilli)
	if n == 0 {
		return MetricResult{Err: MetricNoPods}
	}
	var total int64
	for _, v := range mv.PodValuesMilli {
		var ok bool
		if total, ok = addInt64(total, v); !ok {
			return MetricResult{Err: MetricOutOfRange}
		}
	}
	usage := total / int64(n)
	ratio := float64(usage) / float64(target)
	r := MetricResult{Valid: true, UsageMilli: usage, UsageRatio: ratio}
	if in.Tolerances.Within(ratio) {
		r.Replicas = in.SpecReplicas
		r.WithinTolerance = true
		return r
	}
	r.Replicas = ceilInt32(ratio * float64(n))
	return r
}

// usageRatioReplicas is GetObjectMetricReplicas / GetExternalMetricReplicas
// with getUsageRatioReplicaCount: at zero replicas it ignores tolerance and
// ready pods so the target can scale from zero.
func usageRatioReplicas(usage, target int64, in *ProposalInput) MetricResult {
	ratio := float64(usage) / float64(target)
	r := MetricResult{Valid: true, UsageMilli: usage, UsageRatio: ratio}
	if in.SpecReplicas == 0 {
		r.Replicas = ceilInt32(ratio)
		return r
	}
	if in.Tolerances.Within(ratio) {
		r.Replicas = in.SpecReplicas
		r.WithinTolerance = true
		return r
	}
	if in.ReadyPodCount == 0 && in.StatusReplicas == 0 {
		// Listing the target's pods returned none.
		return MetricResult{Err: MetricNoPods}
	}
	f := ratio * float64(in.ReadyPodCount)
	if f > math.MaxInt32 {
		r.Replicas = math.MaxInt32
	} else {
		r.Replicas = ceilInt32(f)
	}
	return r
}

// perPodReplicas is GetObjectPerPodMetricReplicas /
// GetExternalPerPodMetricReplicas: the tolerance is checked against the
// per-pod usage over status.replicas, the proposal is total over target.
func perPodReplicas(usage, target int64, in *ProposalInput) MetricResult {
	replicas := in.StatusReplicas
	ratio := float64(usage) / (float64(target) * float64(replicas))
	r := MetricResult{Valid: true, UsageRatio: ratio}
	if in.Tolerances.Within(ratio) {
		r.WithinTolerance = true
	} else {
		// Upstream saturates the External path at MaxInt32; the Object path
		// converts unchecked, which only differs beyond 2^31 replicas.
		replicas = ceilInt32(float64(usage) / float64(target))
	}
	r.Replicas = replicas
	r.UsageMilli = perPodUsage(usage, in.StatusReplicas)
	return r
}

// perPodUsage is getPerPodUsage: MaxInt64 on overflow, 0 without replicas.
func perPodUsage(usage int64, statusReplicas int32) int64 {
	if float64(usage) >= float64(math.MaxInt64) {
		return math.MaxInt64
	}
	if statusReplicas == 0 {
		return 0
	}
	return int64(math.Ceil(float64(usage) / float64(statusReplicas)))
}

// ceilInt32 is int32(math.Ceil(f)), saturated where Go's conversion would be
// implementation-defined.
func ceilInt32(f float64) int32 {
	c := math.Ceil(f)
	switch {
	case c > math.MaxInt32:
		return math.MaxInt32
	case c < math.MinInt32:
		return math.MinInt32
	case c != c: // NaN
		return 0
	}
	return int32(c)
}

func addInt64(a, b int64) (int64, bool) {
	s := a + b
	return s, (b >= 0 && s >= a) || (b < 0 && s < a)
}
