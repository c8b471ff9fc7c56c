package controller

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
)

// Reasons of the Conflict condition.
const (
	ReasonHPAConflict          = "HPAConflict"
	ReasonScaledObjectConflict = "ScaledObjectConflict"
	ReasonScalerConflict       = "ScalerConflict"
	ReasonNoConflict           = "NoConflict"
)

// scaledObjectGVK is KEDA's ScaledObject, read as unstructured.
var scaledObjectGVK = schema.GroupVersionKind{Group: "keda.sh", Version: "v1alpha1", Kind: "ScaledObject"}

// kedaRecheck is how long the answer "is ScaledObject served?" is kept.
const kedaRecheck = 5 * time.Minute

// workload identifies a scaled workload: the group of its apiVersion, its
// kind and name (the version does not matter: apps/v1 and
// extensions/v1beta1 Deployments are one object).
type workload struct{ group, kind, name string }

// String is the workload as the agent's cache indexes Scalers by it
// (targetIndex): group, kind and name, which no name or kind contains a
// "/" of.
func (w workload) String() string { return w.group + "/" + w.kind + "/" + w.name }

// targetIndex is the field index of the agent's cache over Scalers by the
// workload they target, so the conflict check lists the few Scalers on one
// workload instead of every Scaler of the namespace (at 1,000 Scalers the
// full list, deep-copied at every reconcile, was 64 % of the agent's CPU).
const targetIndex = "spec.targetRef.workload"

// scalerTarget is targetIndex's function.
func scalerTarget(o client.Object) []string {
	s, ok := o.(*v1.Scaler)
	if !ok {
		return nil
	}
	return []string{workloadOf(s.Spec.TargetRef.APIVersion, s.Spec.TargetRef.Kind, s.Spec.TargetRef.Name).String()}
}

func workloadOf(apiVersion, kind, name string) workload {
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return workload{group: apiVersion, kind: kind, name: name}
	}
	return workload{group: gv.Group, kind: kind, name: name}
}

// kedaCache remembers whether the API server serves ScaledObject, so that
// a cluster without KEDA costs one discovery per kedaRecheck, not one per
// sync.
type kedaCache struct {
	mu      sync.Mutex
	checked time.Time
	served  bool
}

func (r *Reconciler) scaledObjectsServed(now time.Time) (bool, error) {
	c := &r.keda
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.checked.IsZero() && !now.Before(c.checked) && now.Sub(c.checked) < kedaRecheck {
		return c.served, nil
	}
	_, err := r.o.RESTMapper.RESTMapping(scaledObjectGVK.GroupKind(), scaledObjectGVK.Version)
	switch {
	case err == nil:
		c.served = true
	case meta.IsNoMatchError(err):
		c.served = false
	default:
		return false, fmt.Errorf("discover %s: %w", scaledObjectGVK.GroupKind(), err)
	}
	c.checked = now
	return c.served, nil
}

// conflict returns the Conflict condition's reason and message when
// another autoscaler targets the Scaler's workload: an older Scaler
// (always: two Scalers on one workload are never meant; the newer one,
// by creationTimestamp then name, stands down), and with conflict
// detection a HorizontalPodAutoscaler or a KEDA ScaledObject.
func (r *Reconciler) conflict(ctx context.Context, s *v1.Scaler, pol policy, now time.Time) (reason, msg string, err error) {
	target := workloadOf(s.Spec.TargetRef.APIVersion, s.Spec.TargetRef.Kind, s.Spec.TargetRef.Name)
	what := s.Spec.TargetRef.Kind + "/" + s.Spec.TargetRef.Name
	var list v1.ScalerList
	if err := r.o.Client.List(ctx, &list, client.InNamespace(s.Namespace), client.MatchingFields{targetIndex: target.String()}); err != nil {
		return "", "", fmt.Errorf("list Scalers: %w", err)
	}
	var older []string
	for i := range list.Items {
		o := &list.Items[i]
		// The index gave only the Scalers on target.
		if o.UID == s.UID || o.DeletionTimestamp != nil {
			continue
		}
		if newer(s, o) {
			older = append(older, o.Name)
		}
	}
	if len(older) > 0 {
		slices.Sort(older)
		return ReasonScalerConflict, fmt.Sprintf("Scaler %s also targets %s and is older: this one does not act while it exists", strings.Join(older, ", "), what), nil
	}
	if !pol.conflicts {
		return "", "", nil
	}
	var hpas autoscalingv2.HorizontalPodAutoscalerList
	if err := r.o.Client.List(ctx, &hpas, client.InNamespace(s.Namespace)); err != nil {
		return "", "", fmt.Errorf("list HorizontalPodAutoscalers: %w", err)
	}
	var found []string
	for _, h := range hpas.Items {
		ref := h.Spec.ScaleTargetRef
		if workloadOf(ref.APIVersion, ref.Kind, ref.Name) == target {
			found = append(found, h.Name)
		}
	}
	served, err := r.scaledObjectsServed(now)
	if err != nil {
		return "", "", err
	}
	var sos []string
	if served {
		var l unstructured.UnstructuredList
		l.SetGroupVersionKind(scaledObjectGVK.GroupVersion().WithKind("ScaledObjectList"))
		if err := r.o.Client.List(ctx, &l, client.InNamespace(s.Namespace)); err != nil {
			return "", "", fmt.Errorf("list ScaledObjects: %w", err)
		}
		for _, so := range l.Items {
			name, _, _ := unstructured.NestedString(so.Object, "spec", "scaleTargetRef", "name")
			kind, _, _ := unstructured.NestedString(so.Object, "spec", "scaleTargetRef", "kind")
			apiVersion, _, _ := unstructured.NestedString(so.Object, "spec", "scaleTargetRef", "apiVersion")
			// KEDA's defaults of scaleTargetRef.
			if kind == "" {
				kind = "Deployment"
			}
			if apiVersion == "" {
				apiVersion = "apps/v1"
			}
			if workloadOf(apiVersion, kind, name) == target {
				sos = append(sos, so.GetName())
			}
		}
	}
	switch {
	case len(sos) > 0:
		slices.Sort(sos)
		// KEDA's own HPA (keda-hpa-<name>) is then expected too.
		return ReasonScaledObjectConflict, fmt.Sprintf("KEDA ScaledObject %s also targets %s: this Scaler does not act while it exists", strings.Join(sos, ", "), what), nil
	case len(found) > 0:
		slices.Sort(found)
		return ReasonHPAConflict, fmt.Sprintf("HorizontalPodAutoscaler %s also targets %s: this Scaler does not act while it exists", strings.Join(found, ", "), what), nil
	}
	return "", "", nil
}

// newer reports whether a is newer than b: created later, or at the same
// second with a greater name.
func newer(a, b *v1.Scaler) bool {
	at, bt := a.CreationTimestamp.Time, b.CreationTimestamp.Time
	if !at.Equal(bt) {
		return at.After(bt)
	}
	return a.Name > b.Name
}

// pdbFloor returns the lowest count the PodDisruptionBudgets selecting the
// target's pods allow from cur: minAvailable (a number, or a percentage of
// cur rounded up), or cur minus maxUnavailable (a number, or a percentage
// of cur rounded up); the highest of all, and the agent's own minimum. It
// names what set it.
func (r *Reconciler) pdbFloor(ctx context.Context, ns string, selector labels.Selector, cur int32, pol policy) (int32, string, error) {
	floor, by := int32(0), ""
	if pol.pdbMinAvailable > 0 {
		floor, by = pol.pdbMinAvailable, fmt.Sprintf("the agent's pdb.minAvailable %d", pol.pdbMinAvailable)
	}
	if selector == nil {
		return floor, by, nil
	}
	var pdbs policyv1.PodDisruptionBudgetList
	if err := r.o.Client.List(ctx, &pdbs, client.InNamespace(ns)); err != nil {
		return 0, "", fmt.Errorf("list PodDisruptionBudgets: %w", err)
	}
	if len(pdbs.Items) == 0 {
		return floor, by, nil
	}
	podLabels, err := r.targetPodLabels(ctx, ns, selector)
	if err != nil {
		return 0, "", err
	}
	for i := range pdbs.Items {
		p := &pdbs.Items[i]
		sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
		if err != nil {
			continue
		}
		if !slices.ContainsFunc(podLabels, func(l labels.Set) bool { return sel.Matches(l) }) {
			continue
		}
		var f int32
		var how string
		switch {
		case p.Spec.MinAvailable != nil:
			n, err := intstr.GetScaledValueFromIntOrPercent(p.Spec.MinAvailable, int(cur), true)
			if err != nil {
				continue
			}
			f, how = int32(n), "minAvailable "+p.Spec.MinAvailable.String()
		case p.Spec.MaxUnavailable != nil:
			n, err := intstr.GetScaledValueFromIntOrPercent(p.Spec.MaxUnavailable, int(cur), true)
			if err != nil {
				continue
			}
			f, how = max(cur-int32(n), 0), "maxUnavailable "+p.Spec.MaxUnavailable.String()
		default:
			continue
		}
		if f > floor {
			floor, by = f, fmt.Sprintf("PodDisruptionBudget %s (%s of %d)", p.Name, how, cur)
		}
	}
	return floor, by, nil
}

// targetPodLabels returns the label sets of the target's pods; without
// pods (none created yet, or scaled to zero) the labels the selector
// requires, so that a PodDisruptionBudget for those pods still counts.
func (r *Reconciler) targetPodLabels(ctx context.Context, ns string, selector labels.Selector) ([]labels.Set, error) {
	var pods corev1.PodList
	if err := r.o.APIReader.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabelsSelector{Selector: selector}); err != nil {
		return nil, fmt.Errorf("list the target's pods: %w", err)
	}
	var out []labels.Set
	for _, p := range pods.Items {
		out = append(out, labels.Set(p.Labels))
	}
	if len(out) > 0 {
		return out, nil
	}
	reqs, _ := selector.Requirements()
	set := labels.Set{}
	for _, req := range reqs {
		switch req.Operator() {
		case selection.Equals, selection.DoubleEquals, selection.In:
			if v := req.Values().List(); len(v) == 1 {
				set[req.Key()] = v[0]
			}
		}
	}
	return []labels.Set{set}, nil
}

// readyPods counts the target's running and ready pods (the ready count an
// External Value target multiplies by).
func (r *Reconciler) readyPods(ctx context.Context, ns string, selector labels.Selector) (int32, error) {
	var pods corev1.PodList
	if err := r.o.APIReader.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabelsSelector{Selector: selector}); err != nil {
		return 0, fmt.Errorf("list the target's pods: %w", err)
	}
	var n int32
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
			continue
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				n++
			}
		}
	}
	return n, nil
}
