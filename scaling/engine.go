package scaling

import (
	"math"
	"time"
)

// Decide computes the decision for spec and the observed state at now,
// given the stored history. It does not modify h (Autoscaler.Commit stores
// what the controller would store). d is overwritten; its Metrics buffer is
// reused, so a Decision kept across calls makes the call allocation-free.
// A nil h is an empty history that was never written.
func Decide(spec *Spec, obs *Observed, h *History, now time.Time, d *Decision) {
	d.reset()
	var empty History
	if h == nil {
		h = &empty
	}
	nowNs := now.UnixNano()
	cur := obs.CurrentReplicas
	d.CurrentReplicas = cur
	d.DesiredReplicas = cur

	minReplicas := spec.MinReplicas
	if spec.Activation != nil {
		act := Activate(activationInput(spec, obs), now)
		d.Activation, d.HasActivation = act, true
		switch act.Action {
		case ActionActivate:
			d.finishFixed(act.DesiredReplicas, RuleActivation)
			return
		case ActionDeactivate:
			d.finishFixed(act.DesiredReplicas, RuleDeactivation)
			return
		case ActionRestoreMin:
			d.finishFixed(act.DesiredReplicas, RuleMinReplicaCount)
			return
		}
		if cur == 0 {
			// KEDA owns zero; the HPA is disabled there.
			d.finishFixed(0, RuleScalingDisabled)
			return
		}
		// The HPA KEDA creates never goes below one replica.
		minReplicas = max(minReplicas, 1)
	}

	// Pre-checks of reconcileAutoscaler.
	scaledToZero := spec.Features.HPAScaleToZero && obs.ScaledToZeroCondition
	canScaleFromZero := scaledToZero && hasObjectOrExternal(spec.Metrics)
	switch {
	case cur == 0:
		if !((minReplicas != 0 && scaledToZero) || canScaleFromZero) {
			// Scaling is disabled since the target was scaled to zero
			// (by hand, or without the feature).
			d.finishFixed(0, RuleScalingDisabled)
			return
		}
	case cur > spec.MaxReplicas:
		d.finishFixed(spec.MaxReplicas, RuleAboveMaxReplicas)
		return
	case cur < minReplicas:
		d.finishFixed(minReplicas, RuleBelowMinReplicas)
		return
	}

	d.Tolerances = TolerancesFor(spec)
	proposal, ok := d.computeMetrics(spec, obs, now)
	if !ok {
		// All metrics invalid, or some invalid and the rest would scale
		// down: the controller does not scale.
		d.finishFixed(cur, RuleMetricsUnavailable)
		return
	}
	var desired int32
	if proposal > desired {
		desired = proposal
	}
	d.Recommendation = desired
	d.SeedRecommendation = !h.seeded
	d.Normalized = true

	var rule Rule
	if spec.Behavior == nil {
		stabilized := stabilizeLegacy(h, !h.seeded, cur, desired, nowNs, spec.Controller.DownscaleStabilizationWindow)
		d.StabilizedReplicas = stabilized
		d.AbleToScaleReason = ReasonReadyForNewScale
		if stabilized != desired {
			d.AbleToScaleReason = ReasonScaleDownStabilized
		}
		limited, reason, upLimit := convertWithRules(cur, stabilized, minReplicas, spec.MaxReplicas)
		d.LimitReason, d.ScaleUpLimit, d.HasScaleUpLimit = reason, upLimit, true
		d.ScalingLimited = limited != stabilized
		desired = limited
	} else {
		up, down := windows(spec.Behavior, spec.Controller.DownscaleStabilizationWindow)
		stabilized, reason := stabilizeWithBehavior(h, !h.seeded, cur, desired, nowNs, up, down)
		d.StabilizedReplicas = stabilized
		d.AbleToScaleReason = ReasonReadyForNewScale
		if stabilized != desired {
			d.AbleToScaleReason = reason
		}
		rr := convertWithBehaviorRate(spec.Behavior, h, cur, stabilized, minReplicas, spec.MaxReplicas, nowNs)
		d.LimitReason = rr.reason
		d.ScaleUpLimit, d.HasScaleUpLimit = rr.upLimit, rr.hasUp
		d.ScaleDownLimit, d.HasScaleDownLimit = rr.downLimit, rr.hasDown
		d.ScalingLimited = rr.replicas != stabilized
		desired = rr.replicas
	}
	switch {
	case d.ScalingLimited:
		rule = Rule(d.LimitReason)
	case d.StabilizedReplicas != d.Recommendation:
		rule = Rule(d.AbleToScaleReason)
	case d.MetricIndex >= 0 && d.Metrics[d.MetricIndex].Fallback:
		rule = RuleFallback
	case d.MetricIndex >= 0 && d.Metrics[d.MetricIndex].WithinTolerance && desired == cur:
		rule = RuleWithinTolerance
	default:
		rule = RuleMetricProposal
	}
	// Scaling from zero with a raised minReplicas goes at least to it.
	if cur == 0 && minReplicas != 0 && scaledToZero && desired < minReplicas {
		desired = minReplicas
		rule = RuleBelowMinReplicas
	}
	d.HPADesiredReplicas, d.HPARule = desired, rule
	d.applyAdditions(spec, obs, now, minReplicas)
}

// finishFixed ends a decision that did not go through normalization.
func (d *Decision) finishFixed(desired int32, rule Rule) {
	d.HPADesiredReplicas, d.HPARule = desired, rule
	d.DesiredReplicas, d.Rule = desired, rule
	d.Rescale = desired != d.CurrentReplicas
}

// computeMetrics is computeReplicasForMetrics: the largest proposal, or
// false when no usable proposal exists.
func (d *Decision) computeMetrics(spec *Spec, obs *Observed, now time.Time) (int32, bool) {
	d.MetricsComputed = true
	if obs.HasMetricDesiredReplicas {
		d.MetricReplicas, d.MetricReplicasValid = obs.MetricDesiredReplicas, true
		return obs.MetricDesiredReplicas, true
	}
	in := ProposalInput{
		SpecReplicas:            obs.CurrentReplicas,
		StatusReplicas:          obs.StatusReplicas,
		ReadyPodCount:           obs.ReadyPodCount,
		Tolerances:              d.Tolerances,
		Pods:                    obs.Pods,
		Now:                     now,
		CPUInitializationPeriod: spec.Controller.CPUInitializationPeriod,
		InitialReadinessDelay:   spec.Controller.InitialReadinessDelay,
	}
	var replicas int32
	invalid := 0
	for i := range spec.Metrics {
		var r MetricResult
		if i < len(obs.Metrics) {
			mv := &obs.Metrics[i]
			r = propose(&spec.Metrics[i], mv, &in)
			if !r.Valid && spec.Fallback != nil && mv.Failed && mv.Failures > spec.Fallback.FailureThreshold {
				r = spec.Fallback.propose(&spec.Metrics[i], mv, &in, now)
				d.Fallback = true
			}
		} else {
			r = MetricResult{Err: MetricFailed}
		}
		d.Metrics = append(d.Metrics, r)
		if !r.Valid {
			invalid++
			continue
		}
		// Upstream's comparison, kept as is: a zero maximum is replaced by
		// any later proposal.
		if replicas == 0 || r.Replicas > replicas {
			replicas = r.Replicas
			d.MetricIndex = i
		}
	}
	d.InvalidMetrics = invalid
	if invalid >= len(spec.Metrics) || (invalid > 0 && replicas < obs.CurrentReplicas) {
		return 0, false
	}
	d.MetricReplicas, d.MetricReplicasValid = replicas, true
	return replicas, true
}

func hasObjectOrExternal(metrics []MetricSpec) bool {
	for i := range metrics {
		if metrics[i].Type == ObjectMetric || metrics[i].Type == ExternalMetric {
			return true
		}
	}
	return false
}

// applyAdditions applies our additions, in order: forecast floor, budget
// cap, safety caps, cooldown. Each only moves the count toward the current
// count or up to the floor, so the result stays within [min, max] when the
// current count is.
func (d *Decision) applyAdditions(spec *Spec, obs *Observed, now time.Time, minReplicas int32) {
	cur := d.CurrentReplicas
	desired, rule := d.HPADesiredReplicas, d.HPARule
	maxReplicas := spec.MaxReplicas

	if floor := obs.ForecastFloor; floor > 0 {
		d.ForecastFloor = floor
		if f := min(floor, maxReplicas); f > desired {
			// A forecast only raises; scale-in never happens on it alone.
			desired, rule = f, RuleForecastFloor
		}
	}
	if b := spec.Budget; b != nil && b.PricePerReplicaHour > 0 {
		limit := max(b.MaxReplicas(), minReplicas)
		d.BudgetMaxReplicas, d.HasBudgetCap = limit, true
		if desired > limit {
			desired, rule = limit, RuleBudgetCap
		}
	}
	if s := spec.Safety; s != nil {
		if desired > cur && s.MaxScaleUpPercent > 0 {
			limit := int32(min(math.Ceil(float64(cur)*(1+float64(s.MaxScaleUpPercent)/100)), math.MaxInt32))
			limit = max(limit, cur+1)
			if desired > limit {
				desired, rule, d.SafetyCapped = limit, RuleSafetyScaleUpCap, true
			}
		}
		if desired < cur && s.MaxScaleDownPercent > 0 {
			limit := int32(math.Floor(float64(cur) * (1 - float64(s.MaxScaleDownPercent)/100)))
			limit = min(limit, cur-1)
			if desired < limit {
				desired, rule, d.SafetyCapped = limit, RuleSafetyScaleDownCap, true
			}
		}
		if desired != cur && desired < minReplicas {
			// From zero, a cap must not stop below minReplicas.
			desired = minReplicas
		}
	}
	if cd := spec.CooldownPeriod; cd > 0 && desired != cur && !obs.LastScaleTime.IsZero() {
		if elapsed := now.Sub(obs.LastScaleTime); elapsed < cd {
			d.CooldownRemaining = cd - elapsed
			desired, rule = cur, RuleCooldown
		}
	}
	d.DesiredReplicas, d.Rule = desired, rule
	d.Rescale = desired != cur
}
