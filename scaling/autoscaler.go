package scaling

import (
	"time"
)

// Autoscaler keeps the state the HPA controller keeps for one autoscaler
// (stored recommendations and scale events), plus what our additions need
// (consecutive metric failures, last good metric values, the last scaling
// action, the last active time), and runs Decide on it. All buffers are
// reused: after warm-up a Step does not allocate. The history stays bounded
// the way the controller's does: a new recommendation reuses the slot of one
// older than every stabilization window, a new scale event the slot of one
// older than its direction's longest policy period. (Dropping old entries
// instead would change results: the scale-up limit also counts scale-down
// events over scale-up periods, which may be longer.)
//
// An Autoscaler is not safe for concurrent use.
type Autoscaler struct {
	spec *Spec
	hist History
	dec  Decision
	obs  Observed
	work []MetricValue

	failures    []int32
	lastKnown   []MetricValue
	lastKnownAt []time.Time
	hasKnown    []bool
	lastScale   time.Time
	lastActive  time.Time
}

// NewAutoscaler returns an Autoscaler for spec with an empty history. The
// spec must not be modified while in use; use SetSpec to change it.
func NewAutoscaler(spec *Spec) *Autoscaler {
	a := &Autoscaler{}
	a.SetSpec(spec)
	return a
}

// SetSpec replaces the spec, keeping the history (as the controller does
// when an HPA is edited).
func (a *Autoscaler) SetSpec(spec *Spec) {
	a.spec = spec
	n := len(spec.Metrics)
	for len(a.failures) < n {
		a.failures = append(a.failures, 0)
		a.lastKnown = append(a.lastKnown, MetricValue{})
		a.lastKnownAt = append(a.lastKnownAt, time.Time{})
		a.hasKnown = append(a.hasKnown, false)
	}
}

// Spec returns the current spec.
func (a *Autoscaler) Spec() *Spec { return a.spec }

// History returns the stored history (for inspection; do not modify it
// while a decision is pending).
func (a *Autoscaler) History() *History { return &a.hist }

// LastScaleTime returns the time of the last applied scaling action.
func (a *Autoscaler) LastScaleTime() time.Time { return a.lastScale }

// Decide computes a decision for obs at now without changing the stored
// state. Fields of obs that the Autoscaler tracks (metric failure counts,
// last known values, LastScaleTime, LastActive) are filled in when obs
// leaves them zero. The returned Decision is owned by the Autoscaler and
// valid until the next call.
func (a *Autoscaler) Decide(obs *Observed, now time.Time) *Decision {
	a.work = a.work[:0]
	for i := range obs.Metrics {
		w := obs.Metrics[i]
		if i < len(a.failures) && w.Failed {
			if w.Failures == 0 {
				w.Failures = a.failures[i] + 1
			}
			if w.LastKnown == nil && a.hasKnown[i] {
				w.LastKnown, w.LastKnownAt = &a.lastKnown[i], a.lastKnownAt[i]
			}
		}
		a.work = append(a.work, w)
	}
	a.obs = *obs
	a.obs.Metrics = a.work
	if a.obs.LastScaleTime.IsZero() {
		a.obs.LastScaleTime = a.lastScale
	}
	if a.obs.LastActive.IsZero() {
		a.obs.LastActive = a.lastActive
	}
	Decide(a.spec, &a.obs, &a.hist, now, &a.dec)
	return &a.dec
}

// Commit stores what the controller stores after the decision returned by
// the last Decide: the initial recommendation, the unstabilized
// recommendation, and — when applied is true and the count changed — the
// scale event. applied=false models a failed update of the scale.
func (a *Autoscaler) Commit(applied bool, now time.Time) {
	d := &a.dec
	nowNs := now.UnixNano()
	spec := a.spec
	if !a.hist.seeded {
		a.hist.recs = append(a.hist.recs, recEntry{replicas: d.CurrentReplicas, at: nowNs - seedAge})
		a.hist.seeded = true
	}
	if d.Normalized {
		if spec.Behavior == nil {
			a.hist.storeRecommendationLegacy(d.Recommendation, nowNs, spec.Controller.DownscaleStabilizationWindow)
		} else {
			up, down := windows(spec.Behavior, spec.Controller.DownscaleStabilizationWindow)
			a.hist.storeRecommendationBehavior(d.Recommendation, nowNs, up, down)
		}
	}
	if applied && d.Rescale {
		a.lastScale = now
		if b := spec.Behavior; b != nil {
			if d.DesiredReplicas > d.CurrentReplicas {
				a.hist.storeScaleEvent(true, d.DesiredReplicas-d.CurrentReplicas, longestPeriod(&b.ScaleUp), nowNs)
			} else {
				a.hist.storeScaleEvent(false, d.CurrentReplicas-d.DesiredReplicas, longestPeriod(&b.ScaleDown), nowNs)
			}
		}
	}
	if d.HasActivation && d.Activation.LastActiveUpdated {
		a.lastActive = now
	}
	for i := range a.obs.Metrics {
		if i >= len(a.failures) {
			break
		}
		w := &a.obs.Metrics[i]
		if w.Failed {
			a.failures[i] = w.Failures
			continue
		}
		a.failures[i] = 0
		k := &a.lastKnown[i]
		k.PodValuesMilli = append(k.PodValuesMilli[:0], w.PodValuesMilli...)
		k.PodRequestsMilli = append(k.PodRequestsMilli[:0], w.PodRequestsMilli...)
		k.ValuesMilli = append(k.ValuesMilli[:0], w.ValuesMilli...)
		k.PodSamples = append(k.PodSamples[:0], w.PodSamples...)
		k.UnlistedPodValuesMilli = append(k.UnlistedPodValuesMilli[:0], w.UnlistedPodValuesMilli...)
		// Per-pod samples keep the pods of their time.
		pods := w.Pods
		if pods == nil {
			pods = a.obs.Pods
		}
		k.Pods = k.Pods[:0]
		if len(w.PodSamples) > 0 {
			k.Pods = append(k.Pods, pods...)
		}
		k.ValueMilli = w.ValueMilli
		a.lastKnownAt[i], a.hasKnown[i] = now, true
	}
}

// Step is Decide followed by Commit(true): the decision is applied.
func (a *Autoscaler) Step(obs *Observed, now time.Time) *Decision {
	d := a.Decide(obs, now)
	a.Commit(true, now)
	return d
}

// Reset forgets all state, keeping buffers.
func (a *Autoscaler) Reset() {
	a.hist.Reset()
	for i := range a.failures {
		a.failures[i], a.hasKnown[i] = 0, false
	}
	a.lastScale, a.lastActive = time.Time{}, time.Time{}
}
