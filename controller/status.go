package controller

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/predictive"
	"github.com/hpa-autoscaler/hpa-autoscaler/scaling"
)

// setCondition sets one condition; its lastTransitionTime moves only when
// its status does.
func setCondition(status *v1.ScalerStatus, typ string, ok bool, reason, msg string, gen int64, now time.Time) {
	c := metav1.Condition{Type: typ, Status: metav1.ConditionFalse, Reason: reason, Message: msg, ObservedGeneration: gen, LastTransitionTime: statusTime(now)}
	if ok {
		c.Status = metav1.ConditionTrue
	}
	meta.SetStatusCondition(&status.Conditions, c)
}

// statusMoved reports whether cur differs from old in more than the times
// a steady state moves (lastDecision.time, the triggers'
// lastSuccessTime, lastActiveTime, the times of history's
// recommendations): only then is the status written, so that a steady
// state writes nothing.
func statusMoved(old, cur *v1.ScalerStatus) bool {
	a, b := old.DeepCopy(), cur.DeepCopy()
	for i := range b.Triggers {
		if i < len(a.Triggers) && a.Triggers[i].Name == b.Triggers[i].Name && !failuresMoved(a.Triggers[i].ConsecutiveFailures, b.Triggers[i].ConsecutiveFailures) {
			b.Triggers[i].ConsecutiveFailures = a.Triggers[i].ConsecutiveFailures
		}
	}
	for _, s := range []*v1.ScalerStatus{a, b} {
		if d := s.LastDecision; d != nil {
			d.Time = metav1.Time{}
			d.Reason = stable(d.Reason)
			for i := range d.Recommendations {
				d.Recommendations[i].Note = stable(d.Recommendations[i].Note)
			}
		}
		for i := range s.Triggers {
			s.Triggers[i].LastSuccessTime = nil
			s.Triggers[i].LastError = stable(s.Triggers[i].LastError)
		}
		for i := range s.Conditions {
			s.Conditions[i].Message = stable(s.Conditions[i].Message)
		}
		s.LastActiveTime = nil
		s.History = nil
	}
	// Times first appearing (a first success, a first active trigger)
	// come with a change of healthy or Active, so nil-ness is enough.
	if (old.LastActiveTime == nil) != (cur.LastActiveTime == nil) {
		return true
	}
	return !equality.Semantic.DeepEqual(a, b) || historyMoved(old.History, cur.History)
}

// durations matches the durations in a message ("170ms", "1.5s", "2m0s").
var durations = regexp.MustCompile(`\b[0-9]+(\.[0-9]+)?(ns|µs|us|ms|s|m|h)([0-9]+(\.[0-9]+)?(ns|µs|us|ms|s|m|h))*\b`)

// trailingNote matches a parenthesized note at the end of a message.
var trailingNote = regexp.MustCompile(` \([^()]*\)$`)

// stable is msg without what changes from one failed read to the next
// while the failure stays the same: its durations, and a parenthesized
// note at its end (a source that says when it was last tried and will be
// tried next, "(the last try, 170ms ago; the next in 80ms)", on some
// reads and not others). Status is written, and an Event recorded again,
// only when the stable form changes.
func stable(msg string) string {
	return durations.ReplaceAllString(trailingNote.ReplaceAllString(msg, ""), "#")
}

// failuresMoved reports whether a trigger's consecutive failures moved
// enough to write: back to 0, up to 4 (the default fallback threshold is
// 3; crossing a threshold changes the Fallback condition anyway), then at
// each doubling, so that a trigger failing for a long time writes status
// a logarithmic number of times, not at every sync.
func failuresMoved(old, cur int32) bool {
	if old == cur {
		return false
	}
	return cur <= 4 || cur&(cur-1) == 0
}

// decisionMoved reports whether a decision differs from the last one in
// more than its time.
func decisionMoved(old, cur *v1.Decision) bool {
	a, b := old.DeepCopy(), cur.DeepCopy()
	for _, d := range []*v1.Decision{a, b} {
		d.Time = metav1.Time{}
		d.Reason = stable(d.Reason)
		for i := range d.Recommendations {
			d.Recommendations[i].Note = stable(d.Recommendations[i].Note)
		}
	}
	return !equality.Semantic.DeepEqual(a, b)
}

// triggerStatuses reports every trigger; d (nil before a decision) gives
// the values of resource triggers.
func triggerStatuses(st *scalerState, d *scaling.Decision) []v1.TriggerStatus {
	out := make([]v1.TriggerStatus, 0, len(st.triggers))
	first := 0
	for _, t := range st.triggers {
		ts := v1.TriggerStatus{Name: t.name, Type: t.typ, Active: t.active, Healthy: t.healthy, ConsecutiveFailures: t.failures}
		if t.err != nil {
			ts.LastError = t.scrub(t.err.Error())
		} else if !t.healthy {
			ts.LastError = t.lastErr
		}
		if !t.lastSuccess.IsZero() {
			ls := statusTime(t.lastSuccess)
			ts.LastSuccessTime = &ls
		}
		if t.err == nil {
			ts.Metric = strings.Join(t.names, ",")
			value, target := triggerValues(t, d, first)
			ts.Value, ts.Target = value, target
		}
		out = append(out, ts)
		first += len(t.metrics)
	}
	return out
}

// triggerValues returns a trigger's value and target as decimals (joined
// by commas for a trigger with several metrics). A resource trigger's
// value is the engine's usage (utilization percent or average per pod).
func triggerValues(t *trigState, d *scaling.Decision, first int) (value, target string) {
	var vs, ts []string
	for i, m := range t.metrics {
		switch m.Target {
		case scaling.UtilizationTarget:
			ts = append(ts, fmt.Sprint(m.TargetUtilization))
		default:
			ts = append(ts, milliDecimal(m.TargetMilli))
		}
		if t.resource != nil {
			if d != nil && d.MetricsComputed && first+i < len(d.Metrics) && d.Metrics[first+i].Valid {
				r := d.Metrics[first+i]
				if m.Target == scaling.UtilizationTarget {
					vs = append(vs, fmt.Sprint(r.Utilization))
				} else {
					vs = append(vs, milliDecimal(r.UsageMilli))
				}
			}
			continue
		}
		if t.healthy && i < len(t.values) {
			vs = append(vs, decimal(t.values[i]))
		}
	}
	return strings.Join(vs, ","), strings.Join(ts, ",")
}

// triggerHealth returns the first invalid trigger's message, the failing
// triggers' messages, and the number of healthy triggers.
func triggerHealth(st *scalerState) (invalid, failing string, healthy int) {
	var fails []string
	for _, t := range st.triggers {
		switch {
		case t.invalid && invalid == "":
			invalid = t.scrub(t.err.Error())
		case t.healthy:
			healthy++
		}
		if !t.healthy {
			fails = append(fails, t.name+": "+trailingNote.ReplaceAllString(t.lastErr, ""))
		}
	}
	return invalid, strings.Join(fails, "; "), healthy
}

func activeTriggers(st *scalerState) string {
	var names []string
	for _, t := range st.triggers {
		if t.healthy && t.active {
			names = append(names, t.name)
		}
	}
	return strings.Join(names, ", ")
}

// metricOwner returns the trigger of metric index i.
func metricOwner(st *scalerState, i int) *trigState {
	for _, t := range st.triggers {
		if i < len(t.metrics) {
			return t
		}
		i -= len(t.metrics)
	}
	return nil
}

func fallbackMessage(d *scaling.Decision, st *scalerState) string {
	var names []string
	for i, m := range d.Metrics {
		if m.Fallback {
			if t := metricOwner(st, i); t != nil && !slices.Contains(names, t.name) {
				names = append(names, t.name)
			}
		}
	}
	return "the fallback proposes for failing trigger(s) " + strings.Join(names, ", ")
}

// decisionStatus is lastDecision.
func decisionStatus(d *scaling.Decision, st *scalerState, v verdict, now time.Time) *v1.Decision {
	out := &v1.Decision{
		Time:               statusTime(now),
		CurrentReplicas:    v.current,
		DesiredReplicas:    v.desired,
		HPADesiredReplicas: v.hpaDesired,
		Rule:               v.rule,
		Limits:             v.limits,
		Reason:             v.reason,
		DryRun:             v.dryRun && v.desired != v.current,
	}
	first := 0
	for _, t := range st.triggers {
		rec := v1.Recommendation{Trigger: t.name}
		if t.err == nil {
			rec.Value, rec.Target = triggerValues(t, d, first)
		}
		var best int32 = -1
		var notes []string
		for i := range t.metrics {
			k := first + i
			if !d.MetricsComputed || k >= len(d.Metrics) {
				continue
			}
			m := d.Metrics[k]
			switch {
			case m.Valid && m.LastKnown:
				notes = append(notes, "from the last known value (fallback)")
			case m.Valid && m.Fallback:
				notes = append(notes, "from the fallback")
			case !m.Valid:
				notes = append(notes, m.Err.String())
			}
			if m.Valid && m.Replicas > best {
				best = m.Replicas
			}
		}
		switch {
		case best >= 0:
			rec.Replicas = &best
		case !d.MetricsComputed:
			notes = append(notes, "no proposal computed ("+string(d.Rule)+")")
		}
		if !t.healthy && t.lastErr != "" {
			notes = append(notes, "failed: "+t.lastErr)
		}
		rec.Note = strings.Join(slices.Compact(notes), "; ")
		out.Recommendations = append(out.Recommendations, rec)
		first += len(t.metrics)
	}
	return out
}

// explain says in words why d decided what it did, and lists the limits
// that changed the count, in the order they applied.
func explain(d *scaling.Decision, st *scalerState, floorNote string) (string, []string) {
	var parts, limits []string
	if d.MetricsComputed && d.MetricReplicasValid && d.MetricIndex >= 0 {
		k := d.MetricIndex
		if t := metricOwner(st, k); t != nil {
			m := d.Metrics[k]
			parts = append(parts, fmt.Sprintf("trigger %s proposes %d%s", t.name, m.Replicas, usageNote(st.spec.Metrics[k], m, t)))
		}
	}
	sp := st.spec
	switch d.Rule {
	case scaling.RuleScalingDisabled:
		if d.HasActivation {
			parts = append(parts, "at zero replicas with no trigger active")
		} else {
			parts = append(parts, "scaling is disabled at zero replicas")
		}
	case scaling.RuleAboveMaxReplicas:
		parts = append(parts, fmt.Sprintf("the current count is above maxReplicas %d", sp.MaxReplicas))
		limits = append(limits, string(d.Rule))
	case scaling.RuleBelowMinReplicas:
		parts = append(parts, fmt.Sprintf("the current count is below minReplicas %d", max(sp.MinReplicas, 1)))
		limits = append(limits, string(d.Rule))
	case scaling.RuleMetricsUnavailable:
		parts = append(parts, "no usable metric (every trigger failed, or one failed and the others would scale down): no change")
	case scaling.RuleActivation:
		parts = append(parts, fmt.Sprintf("a trigger is active: scaled from zero to %d", d.DesiredReplicas))
	case scaling.RuleDeactivation:
		parts = append(parts, fmt.Sprintf("no trigger active for the cooldown period (%v): scaled to %d", sp.Activation.CooldownPeriod, d.DesiredReplicas))
	case scaling.RuleMinReplicaCount:
		parts = append(parts, fmt.Sprintf("restored to minReplicas %d", d.DesiredReplicas))
	}
	if d.Normalized {
		if d.StabilizedReplicas != d.Recommendation {
			w, dir, pick := stabilizationWindow(sp, d.StabilizedReplicas > d.Recommendation)
			parts = append(parts, fmt.Sprintf("held at %d by the %s stabilization window (%v: the %s recommendation within it)", d.StabilizedReplicas, dir, w, pick))
			limits = append(limits, d.AbleToScaleReason)
		}
		if d.ScalingLimited {
			switch scaling.Rule(d.LimitReason) {
			case scaling.RuleScaleUpLimit:
				if sp.Behavior == nil {
					parts = append(parts, fmt.Sprintf("limited to %d by the HPA's scale-up limit (twice the current count, at least 4)", d.HPADesiredReplicas))
				} else {
					parts = append(parts, fmt.Sprintf("limited to %d by the scale-up rate (policies)", d.HPADesiredReplicas))
				}
			case scaling.RuleScaleDownLimit:
				parts = append(parts, fmt.Sprintf("limited to %d by the scale-down rate (policies)", d.HPADesiredReplicas))
			case scaling.RuleTooManyReplicas:
				parts = append(parts, fmt.Sprintf("capped at maxReplicas %d", d.HPADesiredReplicas))
			case scaling.RuleTooFewReplicas:
				parts = append(parts, fmt.Sprintf("raised to minReplicas %d", d.HPADesiredReplicas))
			}
			limits = append(limits, d.LimitReason)
		}
		if d.Rule == scaling.RuleWithinTolerance {
			parts = append(parts, "within the tolerance of every target: no change")
		}
		if d.Rule == scaling.RuleFallback {
			parts = append(parts, "from the fallback of a failing trigger")
		}
	}
	if d.HasActivation && d.Activation.Action == scaling.ActionCooldown {
		parts = append(parts, fmt.Sprintf("no trigger active: scale to zero once %v have passed since one was", sp.Activation.CooldownPeriod))
	}
	if d.ForecastFloor > 0 {
		if f := min(d.ForecastFloor, sp.MaxReplicas); f > d.HPADesiredReplicas {
			parts = append(parts, fmt.Sprintf("raised to the forecast floor %d (%s)", f, floorNote))
			limits = append(limits, string(scaling.RuleForecastFloor))
		}
	} else if floorNote != "" {
		parts = append(parts, "no forecast floor: "+floorNote)
	}
	if d.SafetyCapped {
		if d.Rule == scaling.RuleSafetyScaleDownCap || (d.Rule != scaling.RuleSafetyScaleUpCap && d.DesiredReplicas < d.CurrentReplicas) {
			parts = append(parts, fmt.Sprintf("one step down capped at %d%% (maxScaleDownPercent)", sp.Safety.MaxScaleDownPercent))
			limits = append(limits, string(scaling.RuleSafetyScaleDownCap))
		} else {
			parts = append(parts, fmt.Sprintf("one step up capped at %d%% (maxScaleUpPercent)", sp.Safety.MaxScaleUpPercent))
			limits = append(limits, string(scaling.RuleSafetyScaleUpCap))
		}
	}
	if d.Rule == scaling.RuleCooldown {
		parts = append(parts, fmt.Sprintf("within the cooldown period after the last scaling action (%v left): no change", d.CooldownRemaining.Round(time.Second)))
		limits = append(limits, string(scaling.RuleCooldown))
	}
	if d.Rule == scaling.RuleMetricProposal && len(parts) <= 1 {
		if d.Rescale {
			parts = append(parts, "applied as proposed")
		} else {
			parts = append(parts, "no change")
		}
	}
	if st.pol.cost {
		parts = append(parts, "costOptimization: no price source yet, the budget cap is not applied")
	}
	return strings.Join(parts, "; "), limits
}

// usageNote says what a metric's proposal came from: the trigger's value
// and target (External), or the usage per pod (resource).
func usageNote(ms scaling.MetricSpec, r scaling.MetricResult, t *trigState) string {
	value := ""
	if t.resource == nil {
		// The index of the metric within its trigger.
		for i := range t.metrics {
			if t.metrics[i].Name == ms.Name && i < len(t.values) {
				value = decimal(t.values[i])
			}
		}
	}
	switch {
	case ms.Target == scaling.UtilizationTarget:
		return fmt.Sprintf(" (utilization %d%%, target %d%%)", r.Utilization, ms.TargetUtilization)
	case ms.Type == scaling.ExternalMetric && ms.Target == scaling.AverageValueTarget:
		return fmt.Sprintf(" (%s: %s for a target of %s per replica)", ms.Name, value, milliDecimal(ms.TargetMilli))
	case ms.Type == scaling.ExternalMetric:
		return fmt.Sprintf(" (%s: %s for a target of %s)", ms.Name, value, milliDecimal(ms.TargetMilli))
	default:
		return fmt.Sprintf(" (%s: %s per pod for a target of %s)", ms.Name, milliDecimal(r.UsageMilli), milliDecimal(ms.TargetMilli))
	}
}

// stabilizationWindow returns the window that held the count: up (the
// lowest recommendation) or down (the highest).
func stabilizationWindow(sp *scaling.Spec, down bool) (time.Duration, string, string) {
	if !down {
		w := time.Duration(0)
		if sp.Behavior != nil {
			w = time.Duration(sp.Behavior.ScaleUp.StabilizationWindowSeconds) * time.Second
		}
		return w, "scale-up", "lowest"
	}
	w := sp.Controller.DownscaleStabilizationWindow
	if sp.Behavior != nil && sp.Behavior.ScaleDown.StabilizationWindowSeconds >= 0 {
		w = time.Duration(sp.Behavior.ScaleDown.StabilizationWindowSeconds) * time.Second
	}
	return w, "scale-down", "highest"
}

// forecastFloor returns the highest forecast floor of the triggers'
// predictive wrappers at now, and a note on it: the trigger and metric
// that set it and the forecast's confidence, or why there is none.
func forecastFloor(st *scalerState, now time.Time) (int32, string) {
	var best int32
	var note string
	var why []string
	for _, t := range st.triggers {
		if t.scaler == nil {
			continue
		}
		p, ok := predictive.Find(t.scaler)
		if !ok {
			continue
		}
		f := p.Floor(now)
		if f.OK && f.Replicas > best {
			best = f.Replicas
			for _, m := range f.Metrics {
				if m.Metric == f.Metric {
					note = fmt.Sprintf("trigger %s, metric %s: forecast peak %s, confidence %.2f", t.name, m.Metric, decimal(m.Peak), m.Confidence)
				}
			}
			continue
		}
		for _, m := range f.Metrics {
			if !m.OK {
				why = append(why, fmt.Sprintf("trigger %s, metric %s: %s", t.name, m.Metric, m.Reason))
			}
		}
	}
	if best > 0 {
		return best, note
	}
	return 0, strings.Join(why, "; ")
}

// eventList collects the Events of one reconcile, recorded after the
// status write. Warnings are recorded once per problem (key) and message:
// a steady failure records nothing more.
type eventList struct {
	st   *scalerState
	list []event
}

type event struct{ typ, reason, msg string }

func (e *eventList) normal(reason, msg string) {
	e.list = append(e.list, event{"Normal", reason, msg})
}

// warnOnce adds a Warning unless the same message was recorded last for
// key.
func (e *eventList) warnOnce(key, reason, msg string) {
	k := reason + ": " + stable(msg)
	if e.st.lastEvents[key] == k {
		return
	}
	e.st.lastEvents[key] = k
	e.list = append(e.list, event{"Warning", reason, msg})
}

// clear forgets key's Warning: the problem is gone.
func (e *eventList) clear(key string) { delete(e.st.lastEvents, key) }

func (e *eventList) record(rec EventRecorder, obj runtime.Object) {
	if rec == nil {
		e.list = nil
		return
	}
	for _, ev := range e.list {
		rec.Eventf(obj, nil, ev.typ, ev.reason, ev.reason, "%s", ev.msg)
	}
	e.list = nil
}
