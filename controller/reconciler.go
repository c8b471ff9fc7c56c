package controller

import (
	"context"
	"fmt"
	"sync"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
	"github.com/hpa-autoscaler/hpa-autoscaler/scaling"
)

// Rules of the agent's own, beside the engine's (scaling.Rule).
const (
	// RulePDBFloor: a PodDisruptionBudget (or the agent's
	// pdb.minAvailable) held the count up.
	RulePDBFloor = "PDBFloor"
	// RulePaused: the paused annotation holds the target.
	RulePaused = "Paused"
	// RulePausedReplicas: the paused-replicas annotation sets the count.
	RulePausedReplicas = "PausedReplicas"
	// RuleConflict: another autoscaler targets the workload.
	RuleConflict = "Conflict"
)

// Reasons of the Ready condition.
const (
	ReasonReconciled         = "Reconciled"
	ReasonInvalidSpec        = "InvalidSpec"
	ReasonTargetNotFound     = "TargetNotFound"
	ReasonTargetUnavailable  = "TargetUnavailable"
	ReasonTargetNotScalable  = "TargetNotScalable"
	ReasonScaleFailed        = "ScaleFailed"
	ReasonMetricsUnavailable = "MetricsUnavailable"
	ReasonCheckFailed        = "CheckFailed"
)

// Event reasons.
const (
	EventScaled        = "Scaled"
	EventDryRun        = "DryRunDecision"
	EventScaleFailed   = "ScaleFailed"
	EventInvalidSpec   = "InvalidSpec"
	EventTargetError   = "TargetError"
	EventTriggerFailed = "TriggerFailed"
	EventConflict      = "Conflict"
	EventFallback      = "Fallback"
	EventCheckFailed   = "CheckFailed"
)

// Reconciler reconciles Scalers: it measures their triggers, asks the
// decision engine, patches the target's /scale, and explains it in status
// and Events. Build it with NewReconciler; Reconcile is called by
// controller-runtime (several Scalers at once, one reconcile per Scaler at
// a time); Close closes every scaler.
type Reconciler struct {
	o       Options
	metrics *agentMetrics
	keda    kedaCache

	mu     sync.Mutex
	states map[types.NamespacedName]*scalerState
	closed bool
}

var _ reconcile.Reconciler = (*Reconciler)(nil)

// NewReconciler checks o and registers the metrics on o.Registerer.
func NewReconciler(o Options) (*Reconciler, error) {
	o.withDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, fmt.Errorf("controller: metrics: %w", err)
	}
	r := &Reconciler{o: o, metrics: m, states: map[types.NamespacedName]*scalerState{}}
	if o.Backend != nil {
		o.Backend.SetInventory(r.inventory)
	}
	return r, nil
}

// Close closes the scalers of every Scaler and makes later reconciles do
// nothing. It waits for reconciles in progress.
func (r *Reconciler) Close() {
	r.mu.Lock()
	r.closed = true
	states := r.states
	r.states = map[types.NamespacedName]*scalerState{}
	r.mu.Unlock()
	for _, st := range states {
		st.mu.Lock()
		st.closed = true
		st.closeTriggers()
		st.mu.Unlock()
	}
}

// stateFor returns the state of key for the Scaler with uid, new when the
// Scaler was recreated under the same name; nil once closed.
func (r *Reconciler) stateFor(key types.NamespacedName, s *v1.Scaler, now time.Time) *scalerState {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	old := r.states[key]
	if old != nil && old.uid == s.UID {
		r.mu.Unlock()
		return old
	}
	st := &scalerState{uid: s.UID, lastEvents: map[string]string{}}
	r.states[key] = st
	r.mu.Unlock()
	if old != nil {
		// The Scaler was deleted and created again under its name; no
		// reconcile of key runs but this one.
		old.mu.Lock()
		old.closed = true
		old.closeTriggers()
		old.mu.Unlock()
	}
	if t := s.Status.LastScaleTime; t != nil {
		st.lastScale = t.Time
	}
	if t := s.Status.LastActiveTime; t != nil {
		st.lastActive = t.Time
	}
	if meta.IsStatusConditionTrue(s.Status.Conditions, v1.ConditionActive) {
		// The previous agent saw a trigger active and may have gone on
		// seeing it until it stopped (a steady state writes nothing): the
		// scale-to-zero cooldown counts from now, never shorter.
		st.lastActive = now
	}
	return st
}

// forget closes and drops the state of a Scaler that is gone.
func (r *Reconciler) forget(key types.NamespacedName) {
	r.mu.Lock()
	st := r.states[key]
	delete(r.states, key)
	r.mu.Unlock()
	r.metrics.forget(key.Namespace, key.Name)
	if b := r.o.Backend; b != nil {
		b.Forget(key.Namespace, key.Name)
		b.Changed(key.Namespace, key.Name, 0, true)
	}
	if st == nil {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	st.closed = true
	st.closeTriggers()
}

// Reconcile implements reconcile.Reconciler. One reconcile is bounded
// (the longest source bound plus 30 s for the API calls), so that an API
// server that stops answering cannot hold a worker for ever.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, r.o.timeouts().Max+30*time.Second)
	defer cancel()
	var s v1.Scaler
	if err := r.o.Client.Get(ctx, req.NamespacedName, &s); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(req.NamespacedName)
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, err
	}
	if s.DeletionTimestamp != nil {
		r.forget(req.NamespacedName)
		return reconcile.Result{}, nil
	}
	now := r.o.Clock.Now()
	st := r.stateFor(req.NamespacedName, &s, now)
	if st == nil {
		return reconcile.Result{}, nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closed {
		return reconcile.Result{}, nil
	}
	status, evs := r.sync(ctx, &s, st, now)
	moved := statusMoved(&s.Status, &status)
	if moved {
		orig := s.DeepCopy()
		s.Status = status
		if err := r.o.Client.Status().Patch(ctx, &s, client.MergeFrom(orig)); err != nil {
			if ctx.Err() != nil {
				// The agent is stopping: the next one writes it.
				return reconcile.Result{}, nil
			}
			r.metrics.errors.WithLabelValues(s.Namespace, s.Name, "", "status").Inc()
			evs.record(r.o.Recorder, &s)
			return reconcile.Result{}, fmt.Errorf("write status: %w", err)
		}
	}
	evs.record(r.o.Recorder, &s)
	if b := r.o.Backend; b != nil && moved {
		// A new Scaler, a new generation or a status change (a steady
		// state writes nothing and sends no inventory).
		b.Changed(s.Namespace, s.Name, s.Generation, false)
	}
	return reconcile.Result{RequeueAfter: r.o.SyncPeriod}, nil
}

// target is the Scaler's workload as read through /scale.
type target struct {
	gvr      schema.GroupVersionResource
	scale    *autoscalingv1.Scale
	selector labels.Selector // nil: /scale has no selector
}

// readScale maps targetRef to its resource and reads its /scale.
func (r *Reconciler) readScale(ctx context.Context, s *v1.Scaler) (*target, string, error) {
	ref := s.Spec.TargetRef
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return nil, ReasonTargetNotFound, fmt.Errorf("spec.targetRef.apiVersion %q: %v", ref.APIVersion, err)
	}
	mapping, err := r.o.RESTMapper.RESTMapping(schema.GroupKind{Group: gv.Group, Kind: ref.Kind}, gv.Version)
	if err != nil {
		if meta.IsNoMatchError(err) {
			return nil, ReasonTargetNotFound, fmt.Errorf("spec.targetRef: the API server serves no kind %s in %s", ref.Kind, ref.APIVersion)
		}
		return nil, ReasonTargetUnavailable, fmt.Errorf("spec.targetRef: map %s %s: %w", ref.APIVersion, ref.Kind, err)
	}
	sc, err := r.o.Scales.Scales(s.Namespace).Get(ctx, mapping.Resource.GroupResource(), ref.Name, metav1.GetOptions{})
	if err != nil {
		if apierrors.IsNotFound(err) {
			if r.o.Discovery != nil && !hasScale(r.o.Discovery, mapping.Resource) {
				return nil, ReasonTargetNotScalable, fmt.Errorf("spec.targetRef: kind %s (%s) has no /scale subresource", ref.Kind, ref.APIVersion)
			}
			return nil, ReasonTargetNotFound, fmt.Errorf("%s %s/%s not found (or it has no /scale subresource)", ref.Kind, s.Namespace, ref.Name)
		}
		return nil, ReasonTargetUnavailable, fmt.Errorf("read the /scale of %s %s: %w", ref.Kind, ref.Name, err)
	}
	t := &target{gvr: mapping.Resource, scale: sc}
	if sc.Status.Selector != "" {
		if sel, err := labels.Parse(sc.Status.Selector); err == nil {
			t.selector = sel
		}
	}
	return t, "", nil
}

// hasScale reports whether discovery lists the /scale subresource of gvr
// (true when discovery cannot tell).
func hasScale(d discovery.ServerResourcesInterface, gvr schema.GroupVersionResource) bool {
	list, err := d.ServerResourcesForGroupVersion(gvr.GroupVersion().String())
	if err != nil {
		return true
	}
	for _, res := range list.APIResources {
		if res.Name == gvr.Resource+"/scale" {
			return true
		}
	}
	return false
}

// patchScale sets the target's spec.replicas and returns the count the
// API server answered.
func (r *Reconciler) patchScale(ctx context.Context, s *v1.Scaler, t *target, replicas int32) (int32, error) {
	patch := fmt.Appendf(nil, `{"spec":{"replicas":%d}}`, replicas)
	sc, err := r.o.Scales.Scales(s.Namespace).Patch(ctx, t.gvr, s.Spec.TargetRef.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	if err != nil {
		return 0, err
	}
	return sc.Spec.Replicas, nil
}

// verdict is what the agent does with one decision.
type verdict struct {
	current, desired, hpaDesired int32
	rule                         string
	reason                       string
	limits                       []string
	// apply: patch /scale to desired (desired differs from current and
	// nothing holds it).
	apply  bool
	dryRun bool
}

// sync is one reconcile of s: it returns the new status and the Events to
// record.
func (r *Reconciler) sync(ctx context.Context, s *v1.Scaler, st *scalerState, now time.Time) (v1.ScalerStatus, *eventList) {
	log := logf.FromContext(ctx)
	status := *s.Status.DeepCopy()
	status.ObservedGeneration = s.Generation
	status.Target = s.Spec.TargetRef.Kind + "/" + s.Spec.TargetRef.Name
	evs := &eventList{st: st}
	gen := s.Generation
	ready := func(ok bool, reason, msg string) {
		setCondition(&status, v1.ConditionReady, ok, reason, msg, gen, now)
		if ok {
			evs.clear("ready")
		}
	}

	specErr := r.prepare(ctx, s, st, now)
	var pausedReplicas *int32
	if v, ok := s.Annotations[v1.AnnotationPausedReplicas]; ok && specErr == nil {
		n, err := parsePausedReplicas(v)
		if err != nil {
			specErr = err
		} else {
			pausedReplicas = &n
		}
	}
	paused := s.Annotations[v1.AnnotationPaused] == "true"
	status.Triggers = triggerStatuses(st, nil)
	if specErr != nil {
		r.metrics.errors.WithLabelValues(s.Namespace, s.Name, "", "spec").Inc()
		ready(false, ReasonInvalidSpec, specErr.Error())
		evs.warnOnce("ready", EventInvalidSpec, specErr.Error())
		return status, evs
	}

	t, reason, err := r.readScale(ctx, s)
	if err != nil {
		r.metrics.errors.WithLabelValues(s.Namespace, s.Name, "", "target").Inc()
		ready(false, reason, err.Error())
		evs.warnOnce("ready", EventTargetError, err.Error())
		return status, evs
	}
	cur := t.scale.Spec.Replicas
	status.CurrentReplicas = cur
	r.readPodRequests(ctx, s.Namespace, st, t.selector, now)
	r.metrics.current.WithLabelValues(s.Namespace, s.Name).Set(float64(cur))

	cReason, cMsg, cErr := r.conflict(ctx, s, st.pol, now)
	if cErr != nil {
		r.metrics.errors.WithLabelValues(s.Namespace, s.Name, "", "check").Inc()
	}

	values, active := r.measure(ctx, s, st, t.selector, now)
	if active {
		st.lastActive = now
	}
	obs := scaling.Observed{
		CurrentReplicas: cur,
		StatusReplicas:  t.scale.Status.Replicas,
		ReadyPodCount:   t.scale.Status.Replicas,
		Metrics:         values,
		Active:          active,
		LastActive:      st.lastActive,
		CreatedAt:       s.CreationTimestamp.Time,
		LastScaleTime:   st.lastScale,
	}
	if hasValueTrigger(st) && t.selector != nil {
		if n, err := r.readyPods(ctx, s.Namespace, t.selector); err == nil {
			obs.ReadyPodCount = n
		} else {
			log.Info("ready pods not counted", "err", err)
		}
	}
	var floorNote string
	advice := r.advice(s, now)
	applyBudget(st, advice)
	switch {
	case advice.FloorValid:
		// The backend's forecast, while valid, replaces the local one.
		obs.ForecastFloor, floorNote = advice.Floor, backendFloorNote(advice)
	case st.pol.predictive != nil:
		obs.ForecastFloor, floorNote = forecastFloor(st, now)
	}

	start := time.Now()
	d := st.auto.Decide(&obs, now)
	r.metrics.engine.Observe(time.Since(start).Seconds())
	v := verdict{current: cur, desired: d.DesiredReplicas, hpaDesired: d.HPADesiredReplicas, rule: string(d.Rule)}
	v.reason, v.limits = explain(d, st, floorNote)
	if note := budgetNote(d, advice); note != "" {
		v.reason = v.reason + "; " + note
		v.limits = append(v.limits, string(scaling.RuleBudgetCap))
	}

	if st.pol.pdbChecks && d.DesiredReplicas < cur {
		floor, by, err := r.pdbFloor(ctx, s.Namespace, t.selector, cur, st.pol)
		switch {
		case err != nil:
			// Without knowing the floor, no scale-down.
			r.metrics.errors.WithLabelValues(s.Namespace, s.Name, "", "check").Inc()
			d.DesiredReplicas, v.rule = cur, RulePDBFloor
			v.reason = "held at " + fmt.Sprint(cur) + ": the PodDisruptionBudgets could not be read: " + err.Error()
			v.limits = append(v.limits, RulePDBFloor)
		case min(floor, cur) > d.DesiredReplicas:
			f := min(floor, cur)
			v.reason = fmt.Sprintf("%s; held at %d by %s", v.reason, f, by)
			d.DesiredReplicas, v.rule = f, RulePDBFloor
			v.limits = append(v.limits, RulePDBFloor)
		}
		d.Rescale = d.DesiredReplicas != cur
		v.desired = d.DesiredReplicas
	}

	engineDesired := d.DesiredReplicas
	switch {
	case pausedReplicas != nil:
		d.DesiredReplicas, d.Rescale = *pausedReplicas, *pausedReplicas != cur
		v.desired, v.rule = *pausedReplicas, RulePausedReplicas
		v.reason = fmt.Sprintf("held at %d by annotation %s (the triggers ask for %d: %s)", *pausedReplicas, v1.AnnotationPausedReplicas, engineDesired, v.reason)
		v.limits = nil
	case paused:
		d.DesiredReplicas, d.Rescale = cur, false
		v.desired, v.rule = cur, RulePaused
		v.reason = fmt.Sprintf("paused by annotation %s (the triggers ask for %d: %s)", v1.AnnotationPaused, engineDesired, v.reason)
		v.limits = nil
	case cErr != nil:
		d.DesiredReplicas, d.Rescale = cur, false
		v.desired, v.rule = cur, RuleConflict
		v.reason = fmt.Sprintf("not applied: the conflict check failed: %v (the triggers ask for %d)", cErr, engineDesired)
	case cReason != "":
		d.DesiredReplicas, d.Rescale = cur, false
		v.desired, v.rule = cur, RuleConflict
		v.reason = fmt.Sprintf("%s (the triggers ask for %d)", cMsg, engineDesired)
	}
	v.dryRun = st.pol.dryRun
	v.apply = d.Rescale && !v.dryRun

	applied := false
	var scaleErr error
	if v.apply {
		got, err := r.patchScale(ctx, s, t, v.desired)
		if err != nil {
			scaleErr = err
			r.metrics.errors.WithLabelValues(s.Namespace, s.Name, "", "scale").Inc()
		} else {
			applied = true
			st.lastScale = now
			status.CurrentReplicas = got
			lt := statusTime(now)
			status.LastScaleTime = &lt
			evs.normal(EventScaled, fmt.Sprintf("%d -> %d: %s: %s", cur, v.desired, v.rule, v.reason))
			log.Info("scaled", "from", cur, "to", v.desired, "rule", v.rule, "reason", v.reason)
		}
	}
	st.auto.Commit(applied, now)
	r.metrics.decisions.WithLabelValues(s.Namespace, s.Name, v.rule).Inc()
	r.metrics.desired.WithLabelValues(s.Namespace, s.Name).Set(float64(v.desired))

	status.DesiredReplicas = v.desired
	if !st.lastActive.IsZero() {
		lt := statusTime(st.lastActive)
		status.LastActiveTime = &lt
	}
	status.Triggers = triggerStatuses(st, d)
	dec := decisionStatus(d, st, v, now)
	if v.dryRun && d.Rescale && (s.Status.LastDecision == nil || decisionMoved(s.Status.LastDecision, dec)) {
		evs.normal(EventDryRun, fmt.Sprintf("%d -> %d (dry run, not applied): %s: %s", cur, v.desired, v.rule, v.reason))
	}
	status.LastDecision = dec
	status.History = historyStatus(st.auto.History(), st.spec, now)
	r.toBackend(s, st, d, v, dec, advice, applied, now)

	// Conditions.
	invalid, failing, healthy := triggerHealth(st)
	switch {
	case scaleErr != nil:
		msg := fmt.Sprintf("patch the /scale of %s to %d: %v", status.Target, v.desired, scaleErr)
		ready(false, ReasonScaleFailed, msg)
		evs.warnOnce("ready", EventScaleFailed, msg)
	case invalid != "":
		ready(false, ReasonInvalidSpec, invalid)
		evs.warnOnce("ready", EventInvalidSpec, invalid)
	case cErr != nil:
		msg := "conflict check failed: " + cErr.Error()
		ready(false, ReasonCheckFailed, msg)
		evs.warnOnce("ready", EventCheckFailed, msg)
	case healthy == 0:
		ready(false, ReasonMetricsUnavailable, "no trigger could be read: "+failing)
	default:
		ready(true, ReasonReconciled, "")
	}
	for _, tr := range st.triggers {
		if tr.healthy || tr.invalid {
			evs.clear("trigger/" + tr.name)
			continue
		}
		evs.warnOnce("trigger/"+tr.name, EventTriggerFailed, fmt.Sprintf("trigger %s: %s", tr.name, tr.lastErr))
	}
	if act := activeTriggers(st); act != "" {
		setCondition(&status, v1.ConditionActive, true, "TriggerActive", "active: "+act, gen, now)
	} else {
		setCondition(&status, v1.ConditionActive, false, "NoTriggerActive", "", gen, now)
	}
	if len(v.limits) > 0 {
		setCondition(&status, v1.ConditionScalingLimited, true, v.limits[len(v.limits)-1], v.reason, gen, now)
	} else {
		setCondition(&status, v1.ConditionScalingLimited, false, "DesiredWithinRange", "", gen, now)
	}
	switch {
	case cReason != "":
		setCondition(&status, v1.ConditionConflict, true, cReason, cMsg, gen, now)
		evs.warnOnce("conflict", EventConflict, cMsg)
	case cErr == nil:
		setCondition(&status, v1.ConditionConflict, false, ReasonNoConflict, "", gen, now)
		evs.clear("conflict")
	}
	if d.Fallback {
		msg := fallbackMessage(d, st)
		setCondition(&status, v1.ConditionFallback, true, "FallbackApplied", msg, gen, now)
		evs.warnOnce("fallback", EventFallback, msg)
	} else {
		setCondition(&status, v1.ConditionFallback, false, "NoFallback", "", gen, now)
		evs.clear("fallback")
	}
	switch {
	case pausedReplicas != nil:
		setCondition(&status, v1.ConditionPaused, true, RulePausedReplicas, fmt.Sprintf("annotation %s holds the target at %d", v1.AnnotationPausedReplicas, *pausedReplicas), gen, now)
	case paused:
		setCondition(&status, v1.ConditionPaused, true, RulePaused, fmt.Sprintf("annotation %s: the agent measures and reports, and does not scale", v1.AnnotationPaused), gen, now)
	default:
		setCondition(&status, v1.ConditionPaused, false, "NotPaused", "", gen, now)
	}
	return status, evs
}

func hasValueTrigger(st *scalerState) bool {
	for _, t := range st.triggers {
		if t.metricType == "Value" && t.healthy {
			return true
		}
	}
	return false
}
