package controller

import (
	"cmp"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
	"github.com/hpa-autoscaler/hpa-autoscaler/scaling"
)

// The HPA's memory of a Scaler (its recommendations and scale events) lives
// in a scaling.Autoscaler while the agent runs and in status.history across
// restarts. The status is written only when something other than times
// moved, so status.history can lag the memory by the recommendations of a
// steady state. That lag is harmless by construction: a change of the
// newest recommendation's value is a change that writes the status
// (historyMoved), so every recommendation not yet written has the value of
// the newest one written. restoreHistory therefore adds that value once
// more, at the time of the restore: the windows see every older value
// until the time they would have, so a window holding a scale-down (or up)
// on an older value ends when it would have, not one window after the
// restart; only the newest value is taken as recommended until the
// restart (its true last time is not written), which extends its window by
// at most the time the agent was down. TestRestoreKeepsDecisions checks
// this equivalence at every restart point.

// windowsOf returns the longest stabilization window and the longest
// policy period of spec: what a restored history needs.
func windowsOf(spec *scaling.Spec) (window, period time.Duration) {
	window = spec.Controller.DownscaleStabilizationWindow
	b := spec.Behavior
	if b == nil {
		return window, 0
	}
	up := time.Duration(b.ScaleUp.StabilizationWindowSeconds) * time.Second
	if s := b.ScaleDown.StabilizationWindowSeconds; s >= 0 {
		window = time.Duration(s) * time.Second
	}
	window = max(window, up)
	for _, r := range []*scaling.ScalingRules{&b.ScaleUp, &b.ScaleDown} {
		for _, p := range r.Policies {
			period = max(period, time.Duration(p.PeriodSeconds)*time.Second)
		}
	}
	return window, period
}

// historyStatus returns the history to write in status: the
// recommendations of the longest stabilization window (and always the
// newest one), the scale events of the longest policy period, in time
// order, equal entries once.
func historyStatus(h *scaling.History, spec *scaling.Spec, now time.Time) *v1.History {
	window, period := windowsOf(spec)
	out := &v1.History{}
	recs := h.Recommendations()
	slices.SortStableFunc(recs, func(a, b scaling.Recommendation) int { return a.Time.Compare(b.Time) })
	for i, r := range recs {
		newest := i == len(recs)-1
		if r.Time.Before(now.Add(-window)) && !newest {
			continue
		}
		tr := v1.TimedReplicas{Time: statusTime(r.Time), Replicas: r.Replicas}
		if n := len(out.Recommendations); n > 0 && sameTimed(out.Recommendations[n-1], tr) {
			continue
		}
		out.Recommendations = append(out.Recommendations, tr)
	}
	events := func(up bool) []v1.TimedReplicas {
		var list []v1.TimedReplicas
		for _, e := range h.ScaleEvents(up) {
			if e.Outdated || e.Time.Before(now.Add(-period)) {
				continue
			}
			list = append(list, v1.TimedReplicas{Time: statusTime(e.Time), Replicas: e.Change})
		}
		slices.SortStableFunc(list, func(a, b v1.TimedReplicas) int { return a.Time.Time.Compare(b.Time.Time) })
		return list
	}
	out.ScaleUpEvents, out.ScaleDownEvents = events(true), events(false)
	return out
}

func sameTimed(a, b v1.TimedReplicas) bool {
	return a.Replicas == b.Replicas && a.Time.Equal(&b.Time)
}

// statusTime is t as status keeps it: metav1.Time is written with whole
// seconds, so t is rounded up to the next second (UTC). Up, so that a
// restored recommendation or scale event stays in its window or period
// slightly longer, never shorter, and a restored last scale time keeps the
// cooldown.
func statusTime(t time.Time) metav1.Time {
	s := t.Truncate(time.Second)
	if s.Before(t) {
		s = s.Add(time.Second)
	}
	return metav1.NewTime(s.UTC())
}

// restoreHistory loads status.history into h (empty), as described above:
// the written recommendations and scale events, the newest
// recommendation's value once more at now, and the history marked written
// so that no initial recommendation is seeded (the controller seeds one
// only for an autoscaler it has never seen). A nil status history leaves
// h empty and unwritten: the first decision seeds it, as the controller
// does for a new HPA.
func restoreHistory(h *scaling.History, st *v1.History, now time.Time) {
	if st == nil {
		return
	}
	recs := slices.Clone(st.Recommendations)
	slices.SortStableFunc(recs, func(a, b v1.TimedReplicas) int { return a.Time.Time.Compare(b.Time.Time) })
	for _, r := range recs {
		h.AddRecommendation(r.Replicas, r.Time.Time)
	}
	if n := len(recs); n > 0 && recs[n-1].Time.Time.Before(now) {
		h.AddRecommendation(recs[n-1].Replicas, now)
	}
	for _, e := range st.ScaleUpEvents {
		h.AddScaleEvent(true, e.Replicas, e.Time.Time)
	}
	for _, e := range st.ScaleDownEvents {
		h.AddScaleEvent(false, e.Replicas, e.Time.Time)
	}
	h.MarkWritten()
}

// copyHistory copies src into dst (empty), for an Autoscaler renewed after
// its Scaler's metrics changed.
func copyHistory(dst, src *scaling.History) {
	for _, r := range src.Recommendations() {
		dst.AddRecommendation(r.Replicas, r.Time)
	}
	for _, up := range []bool{true, false} {
		for _, e := range src.ScaleEvents(up) {
			if !e.Outdated {
				dst.AddScaleEvent(up, e.Change, e.Time)
			}
		}
	}
	if src.Written() {
		dst.MarkWritten()
	}
}

// historyMoved reports whether the history to write differs from the
// written one in what a restore depends on: the newest recommendation's
// value, and the scale events. Times of recommendations alone do not
// count (see above).
func historyMoved(old, cur *v1.History) bool {
	if (old == nil) != (cur == nil) {
		return true
	}
	if old == nil {
		return false
	}
	newest := func(h *v1.History) (int32, bool) {
		if len(h.Recommendations) == 0 {
			return 0, false
		}
		last := slices.MaxFunc(h.Recommendations, func(a, b v1.TimedReplicas) int {
			return cmp.Compare(a.Time.UnixNano(), b.Time.UnixNano())
		})
		return last.Replicas, true
	}
	ov, ook := newest(old)
	cv, cok := newest(cur)
	if ov != cv || ook != cok {
		return true
	}
	return !slices.EqualFunc(old.ScaleUpEvents, cur.ScaleUpEvents, sameTimed) ||
		!slices.EqualFunc(old.ScaleDownEvents, cur.ScaleDownEvents, sameTimed)
}
