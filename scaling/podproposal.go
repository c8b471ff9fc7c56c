package scaling

import (
	"math"
)

// The replica calculator with per-pod samples: GetResourceReplicas and
// calcPlainMetricReplicas with groupPods. Pods are grouped (counted,
// unready, missing, ignored); the ratio is computed over the counted pods
// (plus, for averages, the values of unlisted pods); then, when some pods
// were missing or a scale-up set unready pods aside, the ratio is
// recomputed with those pods assumed at 0 or at the target, and the change
// is dropped when it is small or would reverse. No allocation: the groups
// are summed in one pass.

// samplePods returns the pods that mv's samples belong to.
func samplePods(mv *MetricValue, in *ProposalInput) []PodInfo {
	if mv.Pods != nil {
		return mv.Pods
	}
	return in.Pods
}

// podUtilizationReplicas is GetResourceReplicas for a Utilization target.
func podUtilizationReplicas(target int32, resource string, mv *MetricValue, in *ProposalInput) MetricResult {
	pods := samplePods(mv, in)
	if len(pods) != len(mv.PodSamples) || target <= 0 {
		return MetricResult{Err: MetricInvalidSpec}
	}
	cpu := resource == ResourceCPU
	// A missing pod on a scale-down uses its whole request, or the target
	// when that is above 100%: an overestimate that damps the scale-down.
	fallback := int64(max(100, target))
	var counts PodCounts
	var usage, requests int64 // of the counted pods
	var unreadyRequests, missingRequests, missingUsage int64
	// Sums that do not fit are reported after the loop, so that the counts
	// are whole; those of unready and missing pods only if they are used.
	countedFits, unreadyFits, missingFits := true, true, true
	for i := range pods {
		s := &mv.PodSamples[i]
		g := groupPod(&pods[i], s, cpu, in.CPUInitializationPeriod, in.InitialReadinessDelay, in.Now)
		counts.add(g)
		switch g {
		case PodCounted:
			var ok1, ok2 bool
			usage, ok1 = addInt64(usage, s.ValueMilli)
			requests, ok2 = addInt64(requests, s.RequestMilli)
			countedFits = countedFits && ok1 && ok2
		case PodUnready:
			var ok bool
			unreadyRequests, ok = addInt64(unreadyRequests, s.RequestMilli)
			unreadyFits = unreadyFits && ok
		case PodMissing:
			var ok1, ok2, ok3 bool
			missingRequests, ok1 = addInt64(missingRequests, s.RequestMilli)
			v, ok2 := mulInt64(s.RequestMilli, fallback)
			missingUsage, ok3 = addInt64(missingUsage, v/100)
			missingFits = missingFits && ok1 && ok2 && ok3
		}
	}
	// The metrics left once ignored and unready pods are removed: counted
	// pods and pods the list does not hold.
	entries := int64(counts.Counted) + int64(len(mv.UnlistedPodValuesMilli))
	if entries == 0 {
		// "did not receive metrics for targeted pods (pods might be unready)"
		return MetricResult{Err: MetricNoPods, Pods: counts}
	}
	if !countedFits {
		return MetricResult{Err: MetricOutOfRange, Pods: counts}
	}
	if requests == 0 {
		// Only unlisted pods have metrics: no request matches them.
		return MetricResult{Err: MetricNoRequests, Pods: counts}
	}
	utilization, ok := utilizationPercent(usage, requests)
	if !ok {
		return MetricResult{Err: MetricOutOfRange, Pods: counts}
	}
	ratio := float64(utilization) / float64(target)
	r := MetricResult{Valid: true, Utilization: utilization, UsageMilli: usage / int64(counts.Counted), UsageRatio: ratio, Pods: counts}

	scaleUpWithUnready := counts.Unready > 0 && ratio > 1
	if !scaleUpWithUnready && counts.Missing == 0 {
		if in.Tolerances.Within(ratio) {
			r.Replicas, r.WithinTolerance = in.SpecReplicas, true
			return r
		}
		// Nothing to rebalance: the counted pods are the ready pods.
		r.Replicas = ceilInt32(ratio * float64(counts.Counted))
		return r
	}

	newUsage, newRequests, n := usage, requests, entries
	if counts.Missing > 0 {
		switch {
		case ratio < 1:
			// Scale-down: missing pods at their fallback usage.
			if !missingFits {
				return MetricResult{Err: MetricOutOfRange, Pods: counts}
			}
			var ok1, ok2 bool
			newUsage, ok1 = addInt64(newUsage, missingUsage)
			newRequests, ok2 = addInt64(newRequests, missingRequests)
			if !ok1 || !ok2 {
				return MetricResult{Err: MetricOutOfRange, Pods: counts}
			}
			n += int64(counts.Missing)
		case ratio > 1:
			// Scale-up: missing pods at 0 (they add requests only).
			if !missingFits {
				return MetricResult{Err: MetricOutOfRange, Pods: counts}
			}
			var ok bool
			if newRequests, ok = addInt64(newRequests, missingRequests); !ok {
				return MetricResult{Err: MetricOutOfRange, Pods: counts}
			}
			n += int64(counts.Missing)
		}
		// At exactly the target, missing pods are left out.
	}
	if scaleUpWithUnready {
		// Scale-up: unready pods at 0, so that their start-up does not
		// inflate the scale-up.
		var ok bool
		if newRequests, ok = addInt64(newRequests, unreadyRequests); !ok || !unreadyFits {
			return MetricResult{Err: MetricOutOfRange, Pods: counts}
		}
		n += int64(counts.Unready)
	}
	if newRequests == 0 {
		return MetricResult{Err: MetricNoRequests, Pods: counts}
	}
	newUtilization, ok := utilizationPercent(newUsage, newRequests)
	if !ok {
		return MetricResult{Err: MetricOutOfRange, Pods: counts}
	}
	newRatio := float64(newUtilization) / float64(target)
	return r.rebalanced(ratio, newRatio, n, in)
}

// podPlainReplicas is calcPlainMetricReplicas (Pods AverageValue, and
// Resource AverageValue through GetRawResourceReplicas).
func podPlainReplicas(target int64, resource string, mv *MetricValue, in *ProposalInput) MetricResult {
	pods := samplePods(mv, in)
	if len(pods) != len(mv.PodSamples) {
		return MetricResult{Err: MetricInvalidSpec}
	}
	cpu := resource == ResourceCPU
	var counts PodCounts
	var total int64 // of the counted and the unlisted pods
	fits := true
	for i := range pods {
		s := &mv.PodSamples[i]
		g := groupPod(&pods[i], s, cpu, in.CPUInitializationPeriod, in.InitialReadinessDelay, in.Now)
		counts.add(g)
		if g == PodCounted {
			var ok bool
			total, ok = addInt64(total, s.ValueMilli)
			fits = fits && ok
		}
	}
	for _, v := range mv.UnlistedPodValuesMilli {
		var ok bool
		total, ok = addInt64(total, v)
		fits = fits && ok
	}
	entries := int64(counts.Counted) + int64(len(mv.UnlistedPodValuesMilli))
	if entries == 0 {
		return MetricResult{Err: MetricNoPods, Pods: counts}
	}
	if !fits {
		return MetricResult{Err: MetricOutOfRange, Pods: counts}
	}
	usage := total / entries
	ratio := float64(usage) / float64(target)
	r := MetricResult{Valid: true, UsageMilli: usage, UsageRatio: ratio, Pods: counts}

	scaleUpWithUnready := counts.Unready > 0 && ratio > 1
	if !scaleUpWithUnready && counts.Missing == 0 {
		if in.Tolerances.Within(ratio) {
			r.Replicas, r.WithinTolerance = in.SpecReplicas, true
			return r
		}
		// Upstream multiplies by the ready pods here, not by the number of
		// values: unlisted pods weigh in the average only.
		r.Replicas = ceilInt32(ratio * float64(counts.Counted))
		return r
	}

	newTotal, n := total, entries
	if counts.Missing > 0 {
		switch {
		case ratio < 1:
			// Scale-down: missing pods exactly at the target.
			add, ok1 := mulInt64(target, int64(counts.Missing))
			var ok2 bool
			newTotal, ok2 = addInt64(newTotal, add)
			if !ok1 || !ok2 {
				return MetricResult{Err: MetricOutOfRange, Pods: counts}
			}
			n += int64(counts.Missing)
		case ratio > 1:
			// Scale-up: missing pods at 0.
			n += int64(counts.Missing)
		}
	}
	if scaleUpWithUnready {
		n += int64(counts.Unready)
	}
	newRatio := float64(newTotal/n) / float64(target)
	return r.rebalanced(ratio, newRatio, n, in)
}

// rebalanced finishes a proposal whose ratio was recomputed with missing or
// unready pods filled in: n is the number of values the new ratio is over.
func (r MetricResult) rebalanced(ratio, newRatio float64, n int64, in *ProposalInput) MetricResult {
	r.Rebalanced, r.RebalancedRatio = true, newRatio
	if in.Tolerances.Within(newRatio) {
		// The change would be too small.
		r.Replicas, r.WithinTolerance = in.SpecReplicas, true
		return r
	}
	if (ratio < 1 && newRatio > 1) || (ratio > 1 && newRatio < 1) {
		// The assumed values would reverse the direction of the change.
		r.Replicas, r.DirectionHeld = in.SpecReplicas, true
		return r
	}
	replicas := ceilInt32(newRatio * float64(n))
	if (newRatio < 1 && replicas > in.SpecReplicas) || (newRatio > 1 && replicas < in.SpecReplicas) {
		// Counting more pods than the current count would turn a
		// scale-down into a scale-up (or back), as during a rolling update
		// with surge pods.
		r.Replicas, r.DirectionHeld = in.SpecReplicas, true
		return r
	}
	r.Replicas = replicas
	return r
}

// utilizationPercent is int32(usage * 100 / requests), or false where
// upstream's int64 arithmetic would overflow.
func utilizationPercent(usage, requests int64) (int32, bool) {
	if usage > math.MaxInt64/100 || usage < math.MinInt64/100 {
		return 0, false
	}
	pct := usage * 100 / requests
	if pct > math.MaxInt32 || pct < math.MinInt32 {
		return 0, false
	}
	return int32(pct), true
}

// mulInt64 is a * b for b > 0, and whether it fits.
func mulInt64(a, b int64) (int64, bool) {
	return a * b, a <= math.MaxInt64/b && a >= math.MinInt64/b
}
