package scaling

import (
	"math"
	"time"
)

// Legacy scale-up limit of an HPA without behavior: max(2*current, 4).
const (
	scaleUpLimitFactor  = 2.0
	scaleUpLimitMinimum = 4.0
)

// seedAge is the age of the controller's initial recommendation at
// stabilization: it is recorded at the start of the sync, a moment before
// the stabilization reads the clock, so it is never "now" itself.
const seedAge = 1

// stabilizeLegacy is stabilizeRecommendation: the max of the proposal and
// every recommendation not older than the downscale window (an entry exactly
// as old as the window is inside it).
func stabilizeLegacy(h *History, seed bool, current, proposal int32, now int64, window time.Duration) int32 {
	best := proposal
	cutoff := now - int64(window)
	if seed && !(now-seedAge < cutoff) && current > best {
		best = current
	}
	for i := range h.recs {
		r := &h.recs[i]
		if !(r.at < cutoff) && r.replicas > best {
			best = r.replicas
		}
	}
	return best
}

// convertWithRules is convertDesiredReplicasWithRules: clamp to min, to
// max and to the legacy scale-up limit max(2*current, 4).
func convertWithRules(current, desired, minReplicas, maxReplicas int32) (int32, string, int32) {
	scaleUpLimit := legacyScaleUpLimit(current)
	maxAllowed := maxReplicas
	reason := string(RuleTooManyReplicas)
	if maxReplicas > scaleUpLimit {
		maxAllowed = scaleUpLimit
		reason = string(RuleScaleUpLimit)
	}
	switch {
	case desired < minReplicas:
		return minReplicas, string(RuleTooFewReplicas), scaleUpLimit
	case desired > maxAllowed:
		return maxAllowed, reason, scaleUpLimit
	}
	return desired, ReasonDesiredWithinRange, scaleUpLimit
}

func legacyScaleUpLimit(current int32) int32 {
	return int32(math.Max(scaleUpLimitFactor*float64(current), scaleUpLimitMinimum))
}

// windows returns the stabilization windows of a behavior in nanoseconds,
// with an unset scale-down window replaced by the controller's.
func windows(b *Behavior, controllerDown time.Duration) (up, down int64) {
	up = int64(b.ScaleUp.StabilizationWindowSeconds) * int64(time.Second)
	if b.ScaleDown.StabilizationWindowSeconds < 0 {
		// maybeInitScaleDownStabilizationWindow: (int32)(window.Seconds()).
		down = int64(int32(controllerDown.Seconds())) * int64(time.Second)
	} else {
		down = int64(b.ScaleDown.StabilizationWindowSeconds) * int64(time.Second)
	}
	return up, down
}

// stabilizeWithBehavior is stabilizeRecommendationWithBehaviors: the
// proposal is held between the lowest recommendation of the scale-up window
// and the highest of the scale-down window (entries strictly younger than
// the window), starting from the current count.
func stabilizeWithBehavior(h *History, seed bool, current, proposal int32, now, upWindow, downWindow int64) (int32, string) {
	upRec, downRec := proposal, proposal
	upCutoff, downCutoff := now-upWindow, now-downWindow
	if seed {
		if now-seedAge > upCutoff && current < upRec {
			upRec = current
		}
		if now-seedAge > downCutoff && current > downRec {
			downRec = current
		}
	}
	for _, r := range h.recs {
		if r.at > upCutoff && r.replicas < upRec {
			upRec = r.replicas
		}
		if r.at > downCutoff && r.replicas > downRec {
			downRec = r.replicas
		}
	}
	rec := current
	if rec < upRec {
		rec = upRec
	}
	if rec > downRec {
		rec = downRec
	}
	if proposal >= current {
		return rec, ReasonScaleUpStabilized
	}
	return rec, ReasonScaleDownStabilized
}

// scaleUpLimit is calculateScaleUpLimitWithScalingRules.
func scaleUpLimit(current int32, h *History, rules *ScalingRules, now int64) int32 {
	var result int32
	var pick func(a, b int32) int32
	switch rules.SelectPolicy {
	case SelectDisabled:
		return current
	case SelectMin:
		result, pick = math.MaxInt32, min32
	default:
		result, pick = math.MinInt32, max32
	}
	for i := range rules.Policies {
		p := &rules.Policies[i]
		added := changeInPeriod(h.up, now, p.PeriodSeconds)
		deleted := changeInPeriod(h.down, now, p.PeriodSeconds)
		start := current - added + deleted
		var proposed int32
		switch p.Type {
		case PodsPolicy:
			proposed = start + p.Value
		case PercentPolicy:
			// Rounded up so a small percentage still adds a pod.
			proposed = int32(math.Ceil(float64(start) * (1 + float64(p.Value)/100)))
		}
		result = pick(result, proposed)
	}
	return result
}

// scaleDownLimit is calculateScaleDownLimitWithBehaviors.
func scaleDownLimit(current int32, h *History, rules *ScalingRules, now int64) int32 {
	var result int32
	var pick func(a, b int32) int32
	switch rules.SelectPolicy {
	case SelectDisabled:
		return current
	case SelectMin:
		result, pick = math.MinInt32, max32
	default:
		result, pick = math.MaxInt32, min32
	}
	for i := range rules.Policies {
		p := &rules.Policies[i]
		added := changeInPeriod(h.up, now, p.PeriodSeconds)
		deleted := changeInPeriod(h.down, now, p.PeriodSeconds)
		start := current - added + deleted
		var proposed int32
		switch p.Type {
		case PodsPolicy:
			proposed = start - p.Value
		case PercentPolicy:
			proposed = int32(float64(start) * (1 - float64(p.Value)/100))
		}
		result = pick(result, proposed)
	}
	return result
}

// rateResult is the outcome of convertDesiredReplicasWithBehaviorRate.
type rateResult struct {
	replicas  int32
	reason    string
	upLimit   int32
	hasUp     bool
	downLimit int32
	hasDown   bool
}

// convertWithBehaviorRate is convertDesiredReplicasWithBehaviorRate: limit
// the change by the policies, then clamp to min/max in the direction of the
// change only.
func convertWithBehaviorRate(b *Behavior, h *History, current, desired, minReplicas, maxReplicas int32, now int64) rateResult {
	switch {
	case desired > current:
		limit := scaleUpLimit(current, h, &b.ScaleUp, now)
		if limit < current {
			// No further scale-up until the recent events leave the period.
			limit = current
		}
		res := rateResult{upLimit: limit, hasUp: true}
		maxAllowed, reason := maxReplicas, string(RuleTooManyReplicas)
		if maxAllowed > limit {
			maxAllowed, reason = limit, string(RuleScaleUpLimit)
		}
		if desired > maxAllowed {
			res.replicas, res.reason = maxAllowed, reason
			return res
		}
		res.replicas, res.reason = desired, ReasonDesiredWithinRange
		return res
	case desired < current:
		limit := scaleDownLimit(current, h, &b.ScaleDown, now)
		if limit > current {
			// No further scale-down until the recent events leave the period.
			limit = current
		}
		res := rateResult{downLimit: limit, hasDown: true}
		minAllowed, reason := minReplicas, string(RuleTooFewReplicas)
		if minAllowed < limit {
			minAllowed, reason = limit, string(RuleScaleDownLimit)
		}
		if desired < minAllowed {
			res.replicas, res.reason = minAllowed, reason
			return res
		}
		res.replicas, res.reason = desired, ReasonDesiredWithinRange
		return res
	}
	return rateResult{replicas: desired, reason: ReasonDesiredWithinRange}
}

// longestPeriod is getLongestPolicyPeriod.
func longestPeriod(rules *ScalingRules) int32 {
	var longest int32
	for _, p := range rules.Policies {
		if p.PeriodSeconds > longest {
			longest = p.PeriodSeconds
		}
	}
	return longest
}

func min32(a, b int32) int32 { return min(a, b) }
func max32(a, b int32) int32 { return max(a, b) }
