package controller_test

import (
	"strings"
	"testing"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
)

// TestPDBFloor: with enablePDBChecks a scale-down stops at what the
// PodDisruptionBudget selecting the target's pods requires: minAvailable,
// then (maxUnavailable) the current count minus it, one step at a time.
func TestPDBFloor(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := testenv.StartRedis(t)
	e.deployment(t, "web", 4)
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: e.ns},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: ptr(intstr.FromInt32(3)),
			Selector:     &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		},
	}
	e.create(t, pdb)
	e.create(t, e.redisScaler("web", "web", r.Addr(), "jobs", func(s *v1.Scaler) {
		s.Spec.Scaling.ScaleDownPolicy = &v1.ScalingRules{StabilizationWindowSeconds: ptr(int32(0))}
		s.Spec.Advanced = &v1.Advanced{Safety: &v1.Safety{EnablePDBChecks: true}}
	}))
	e.startAgent(t, nil, nil)
	e.waitReplicas(t, "web", "web", 3, "the PDB's minAvailable 3")
	s := e.waitStatus(t, "web", "held by the PDB", func(s *v1.Scaler) error {
		if err := decided(s, "PDBFloor"); err != nil {
			return err
		}
		return condition(s, v1.ConditionScalingLimited, metav1.ConditionTrue, "PDBFloor")
	})
	if d := s.Status.LastDecision; !strings.Contains(d.Reason, "held at 3 by PodDisruptionBudget web (minAvailable 3 of ") {
		t.Errorf("reason %q", d.Reason)
	}
	e.waitEvent(t, "web", "Scaled", "4 -> 3: PDBFloor: ")

	if err := e.c.Get(t.Context(), client.ObjectKeyFromObject(pdb), pdb); err != nil {
		t.Fatal(err)
	}
	pdb.Spec.MinAvailable, pdb.Spec.MaxUnavailable = nil, ptr(intstr.FromInt32(1))
	if err := e.c.Update(t.Context(), pdb); err != nil {
		t.Fatal(err)
	}
	e.waitReplicas(t, "web", "web", 1, "maxUnavailable 1: one replica at a time, down to the metric's 1")
	e.waitEvent(t, "web", "Scaled", "3 -> 2: PDBFloor: ")
	e.waitEvent(t, "web", "Scaled", "2 -> 1: ")
}

// TestConflicts: with enableHPAConflictDetection a HorizontalPodAutoscaler
// or a KEDA ScaledObject on the same workload stops the agent (condition
// Conflict); of two Scalers on one workload the newer stands down,
// whatever the flag.
func TestConflicts(t *testing.T) {
	t.Parallel()
	detect := func(s *v1.Scaler) {
		s.Spec.Advanced = &v1.Advanced{Safety: &v1.Safety{EnableHPAConflictDetection: true}}
	}
	t.Run("HorizontalPodAutoscaler", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		r := testenv.StartRedis(t)
		e.deployment(t, "web", 1)
		hpa := &autoscalingv2.HorizontalPodAutoscaler{
			ObjectMeta: metav1.ObjectMeta{Name: "web-hpa", Namespace: e.ns},
			Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
				ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
				MaxReplicas:    5,
			},
		}
		e.create(t, hpa)
		e.create(t, e.redisScaler("web", "web", r.Addr(), "jobs", detect))
		push(t, r, "jobs", 18)
		e.startAgent(t, nil, nil)
		e.waitConflict(t, "web", "HPAConflict", "HorizontalPodAutoscaler web-hpa also targets Deployment/web")
		if err := e.c.Delete(t.Context(), hpa); err != nil {
			t.Fatal(err)
		}
		e.waitReplicas(t, "web", "web", 4, "the HPA gone")
	})
	t.Run("ScaledObject", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		r := testenv.StartRedis(t)
		e.deployment(t, "web", 1)
		so := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
			"metadata": map[string]any{"name": "web-so", "namespace": e.ns},
			"spec": map[string]any{
				"scaleTargetRef": map[string]any{"name": "web"},
				"triggers":       []any{map[string]any{"type": "cpu", "metricType": "Utilization", "metadata": map[string]any{"value": "50"}}},
			},
		}}
		e.create(t, so)
		e.create(t, e.redisScaler("web", "web", r.Addr(), "jobs", detect))
		push(t, r, "jobs", 18)
		e.startAgent(t, nil, nil)
		e.waitConflict(t, "web", "ScaledObjectConflict", "KEDA ScaledObject web-so also targets Deployment/web")
		if err := e.c.Delete(t.Context(), so); err != nil {
			t.Fatal(err)
		}
		e.waitReplicas(t, "web", "web", 4, "the ScaledObject gone")
	})
	t.Run("two Scalers", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		r := testenv.StartRedis(t)
		e.deployment(t, "web", 1)
		e.create(t, e.redisScaler("a-first", "web", r.Addr(), "jobs", nil))
		e.create(t, e.redisScaler("b-second", "web", r.Addr(), "other", nil))
		push(t, r, "jobs", 18)
		push(t, r, "other", 40)
		e.startAgent(t, nil, nil)
		e.waitConflictHeld(t, "b-second", "ScalerConflict", "Scaler a-first also targets Deployment/web and is older", false)
		e.waitReplicas(t, "web", "a-first", 4, "the older Scaler acts")
		e.waitStatus(t, "a-first", "no conflict for the older", func(s *v1.Scaler) error {
			return condition(s, v1.ConditionConflict, metav1.ConditionFalse, "NoConflict")
		})
	})
}

// TestConflictWithoutKEDA: on a cluster without KEDA's CRD the ScaledObject
// check is skipped, and the agent acts.
func TestConflictWithoutKEDA(t *testing.T) {
	t.Parallel()
	k := testenv.StartKube(t, testenv.KubeOptions{CRDPaths: []string{"../config/crd"}, AddToScheme: []func(*runtime.Scheme) error{v1.AddToScheme}})
	e := newEnv(t)
	e.kube, e.c, e.ns = k, k.Client, k.NewNamespace(t)
	r := testenv.StartRedis(t)
	e.deployment(t, "web", 1)
	e.create(t, e.redisScaler("web", "web", r.Addr(), "jobs", func(s *v1.Scaler) {
		s.Spec.Advanced = &v1.Advanced{Safety: &v1.Safety{EnableHPAConflictDetection: true}}
	}))
	push(t, r, "jobs", 18)
	e.startAgent(t, nil, nil)
	e.waitReplicas(t, "web", "web", 4, "no KEDA, no conflict")
	e.waitStatus(t, "web", "no conflict", func(s *v1.Scaler) error {
		return condition(s, v1.ConditionConflict, metav1.ConditionFalse, "NoConflict")
	})
}

// waitConflict waits for the Conflict condition and checks the agent does
// not act: rule Conflict, the count held, a Warning event.
func (e *env) waitConflict(t *testing.T, scaler, reason, msg string) {
	t.Helper()
	e.waitConflictHeld(t, scaler, reason, msg, true)
}

// waitConflictHeld is waitConflict; held: check the target's count stayed.
func (e *env) waitConflictHeld(t *testing.T, scaler, reason, msg string, held bool) {
	t.Helper()
	s := e.waitStatus(t, scaler, "in conflict", func(s *v1.Scaler) error {
		if err := condition(s, v1.ConditionConflict, metav1.ConditionTrue, reason); err != nil {
			return err
		}
		return decided(s, "Conflict")
	})
	if c := conditionOf(s, v1.ConditionConflict); !strings.Contains(c.Message, msg) {
		t.Errorf("conflict message %q, want %q", c.Message, msg)
	}
	if n, _ := e.replicas(t, s.Spec.TargetRef.Name); held && n != 1 {
		t.Errorf("in conflict, yet %d replicas", n)
	}
	e.waitEvent(t, scaler, "Conflict", msg)
}

func conditionOf(s *v1.Scaler, typ string) metav1.Condition {
	for _, c := range s.Status.Conditions {
		if c.Type == typ {
			return c
		}
	}
	return metav1.Condition{}
}
