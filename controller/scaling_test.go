package controller_test

import (
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
)

// TestRedisListScales: a Deployment follows the length of a Redis list:
// up at once (the default scale-up policies allow it), down only after
// the scale-down stabilization window of the fake clock has passed.
func TestRedisListScales(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := testenv.StartRedis(t)
	e.deployment(t, "web", 1)
	s := e.redisScaler("web", "web", r.Addr(), "jobs", func(s *v1.Scaler) {
		s.Spec.Scaling.ScaleDownPolicy = &v1.ScalingRules{StabilizationWindowSeconds: ptr(int32(60))}
	})
	e.create(t, s)
	e.startAgent(t, nil, nil)

	e.waitStatus(t, "web", "the first decision, ready", func(s *v1.Scaler) error {
		if err := condition(s, v1.ConditionReady, metav1.ConditionTrue, "Reconciled"); err != nil {
			return err
		}
		if s.Status.LastDecision == nil {
			return fmt.Errorf("no decision yet")
		}
		return nil
	})
	push(t, r, "jobs", 18)
	e.waitReplicas(t, "web", "web", 4, "18 items at 5 per replica")
	e.waitEvent(t, "web", "Scaled", "1 -> 4: MetricProposal: trigger queue proposes 4")
	st := e.waitStatus(t, "web", "the status of the scale-up", func(s *v1.Scaler) error {
		if s.Status.CurrentReplicas != 4 || s.Status.DesiredReplicas != 4 || s.Status.LastScaleTime == nil {
			return fmt.Errorf("current %d desired %d lastScaleTime %v", s.Status.CurrentReplicas, s.Status.DesiredReplicas, s.Status.LastScaleTime)
		}
		return nil
	})
	if tr := st.Status.Triggers; len(tr) != 1 || tr[0].Value != "18" || tr[0].Target != "5" || !tr[0].Healthy || !tr[0].Active || tr[0].Metric == "" {
		t.Errorf("trigger status %+v", tr)
	}
	if st.Status.Target != "Deployment/web" {
		t.Errorf("target %q", st.Status.Target)
	}

	drain(t, r, "jobs")
	e.waitStatus(t, "web", "the scale-down held by the window", func(s *v1.Scaler) error { return decided(s, "ScaleDownStabilized") })
	if n, _ := e.replicas(t, "web"); n != 4 {
		t.Fatalf("%d replicas within the stabilization window, want 4", n)
	}
	e.clock.Step(61 * time.Second)
	e.waitReplicas(t, "web", "web", 1, "the window passed")
	e.waitEvent(t, "web", "Scaled", "4 -> 1: ")
}

// TestScaleToZeroAndBack: minReplicas 0 scales to zero after the cooldown
// with no trigger active, and back when one is (KEDA's activation).
func TestScaleToZeroAndBack(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := testenv.StartRedis(t)
	e.deployment(t, "worker", 1)
	e.create(t, e.redisScaler("worker", "worker", r.Addr(), "jobs", func(s *v1.Scaler) {
		s.Spec.Scaling.MinReplicas = ptr(int32(0))
		s.Spec.Scaling.CooldownPeriod = &metav1.Duration{Duration: 30 * time.Second}
		s.Spec.ScalerSpec.Metadata["activationListLength"] = "0"
	}))
	push(t, r, "jobs", 3)
	e.startAgent(t, nil, nil)
	e.waitReplicas(t, "worker", "worker", 1, "3 items: one replica")
	e.waitStatus(t, "worker", "active", func(s *v1.Scaler) error {
		return condition(s, v1.ConditionActive, metav1.ConditionTrue, "TriggerActive")
	})

	drain(t, r, "jobs")
	e.waitStatus(t, "worker", "inactive, cooling down", func(s *v1.Scaler) error {
		return condition(s, v1.ConditionActive, metav1.ConditionFalse, "NoTriggerActive")
	})
	if n, _ := e.replicas(t, "worker"); n != 1 {
		t.Fatalf("%d replicas within the cooldown, want 1", n)
	}
	e.clock.Step(31 * time.Second)
	e.waitReplicas(t, "worker", "worker", 0, "the cooldown passed")
	e.waitEvent(t, "worker", "Scaled", "1 -> 0: Deactivation")

	push(t, r, "jobs", 12)
	e.waitReplicas(t, "worker", "worker", 1, "active again: from zero")
	e.waitEvent(t, "worker", "Scaled", "0 -> 1: Activation")
	e.waitReplicas(t, "worker", "worker", 3, "then the HPA: 12 items at 5 per replica")
}
