package scaling

import (
	"fmt"
	"math"
	"time"
)

// FallbackBehavior is what a failing metric proposes once Fallback applies.
// The first four are KEDA's fallback behaviors.
type FallbackBehavior uint8

// Fallback behaviors.
const (
	// FallbackStatic proposes Fallback.Replicas.
	FallbackStatic FallbackBehavior = iota
	// FallbackCurrentReplicas proposes the current count.
	FallbackCurrentReplicas
	// FallbackCurrentReplicasIfHigher proposes max(current, Replicas).
	FallbackCurrentReplicasIfHigher
	// FallbackCurrentReplicasIfLower proposes min(current, Replicas).
	FallbackCurrentReplicasIfLower
	// FallbackLastKnownValue recomputes the proposal from the metric's last
	// good value while it is at most LastKnownMaxAge old, then acts as
	// FallbackStatic.
	FallbackLastKnownValue
)

var fallbackBehaviorNames = [...]string{"static", "currentReplicas", "currentReplicasIfHigher", "currentReplicasIfLower", "lastKnownValue"}

func (b FallbackBehavior) String() string {
	if int(b) < len(fallbackBehaviorNames) {
		return fallbackBehaviorNames[b]
	}
	return "unknown"
}

// ParseFallbackBehavior parses a behavior name; "" is static.
func ParseFallbackBehavior(s string) (FallbackBehavior, error) {
	if s == "" {
		return FallbackStatic, nil
	}
	for i, n := range fallbackBehaviorNames {
		if n == s {
			return FallbackBehavior(i), nil
		}
	}
	return 0, fmt.Errorf("%q: expected static, currentReplicas, currentReplicasIfHigher, currentReplicasIfLower or lastKnownValue", s)
}

// DefaultFailureThreshold and DefaultLastKnownMaxAge are the defaults of
// our fallback.
const (
	DefaultFailureThreshold = 3
	DefaultLastKnownMaxAge  = 5 * time.Minute
)

// Fallback replaces the proposal of a metric that failed more than
// FailureThreshold times in a row (KEDA's semantics: the threshold itself is
// still tolerated).
type Fallback struct {
	FailureThreshold int32
	Behavior         FallbackBehavior
	Replicas         int32
	// LastKnownMaxAge bounds how long FallbackLastKnownValue keeps using a
	// last good value.
	LastKnownMaxAge time.Duration
}

func (f *Fallback) propose(ms *MetricSpec, mv *MetricValue, in *ProposalInput, now time.Time) MetricResult {
	cur := in.SpecReplicas
	r := MetricResult{Valid: true, Fallback: true}
	switch f.Behavior {
	case FallbackCurrentReplicas:
		r.Replicas = cur
	case FallbackCurrentReplicasIfHigher:
		r.Replicas = max(cur, f.Replicas)
	case FallbackCurrentReplicasIfLower:
		r.Replicas = min(cur, f.Replicas)
	case FallbackLastKnownValue:
		if mv.LastKnown != nil && !mv.LastKnown.Failed && now.Sub(mv.LastKnownAt) <= f.LastKnownMaxAge {
			// Pods of a last known value are judged as of its time.
			lkIn := *in
			lkIn.Now = mv.LastKnownAt
			lk := propose(ms, mv.LastKnown, &lkIn)
			if lk.Valid {
				lk.Fallback, lk.LastKnown = true, true
				return lk
			}
		}
		r.Replicas = f.Replicas
	default:
		r.Replicas = f.Replicas
	}
	return r
}

// Safety caps the change of one decision, relative to the current count,
// as the original design's safety.maxScaleUpPercent/maxScaleDownPercent. A
// cap always allows a change of one replica. Zero disables a cap.
type Safety struct {
	MaxScaleUpPercent   int32
	MaxScaleDownPercent int32
}

// Budget caps the replica count by cost: at most MaxCostPerHour /
// PricePerReplicaHour replicas (never below minReplicas).
type Budget struct {
	MaxCostPerHour      float64
	PricePerReplicaHour float64
}

// MaxReplicas is the largest count whose hourly cost fits the budget.
func (b *Budget) MaxReplicas() int32 {
	if b.PricePerReplicaHour <= 0 {
		return math.MaxInt32
	}
	n := b.MaxCostPerHour / b.PricePerReplicaHour
	// A tiny epsilon keeps 50/0.1 at 500 despite binary fractions.
	n = math.Floor(n + 1e-9)
	switch {
	case n >= math.MaxInt32:
		return math.MaxInt32
	case n < 0:
		return 0
	}
	return int32(n)
}
