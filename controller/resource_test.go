package controller_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
	"github.com/hpa-autoscaler/hpa-autoscaler/controller"
	hparesource "github.com/hpa-autoscaler/hpa-autoscaler/controller/resource"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
)

// readyPod creates a Running, Ready pod of app with one container
// requesting cpuRequest, started long before now.
func (e *env) readyPod(t *testing.T, name, app, cpuRequest string) {
	t.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.ns, Labels: map[string]string{"app": app}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpuRequest)}}}}},
	}
	e.create(t, p)
	since := metav1.NewTime(e.clock.Now().Add(-time.Hour))
	p.Status = corev1.PodStatus{Phase: corev1.PodRunning, StartTime: &since,
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: since}}}
	if err := e.c.Status().Update(t.Context(), p); err != nil {
		t.Fatalf("status of pod %s: %v", name, err)
	}
}

// TestResourceTrigger: a CPU Utilization trigger measured through
// metrics.k8s.io (the selector from the target's /scale) scales as the
// HPA does; without metrics for its pods the trigger reports why.
func TestResourceTrigger(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	pm := testenv.StartPodMetrics(t, e.kube)
	mc, err := metricsclient.NewForConfig(e.kube.Config)
	if err != nil {
		t.Fatal(err)
	}
	e.deployment(t, "web", 2)
	for _, name := range []string{"web-a", "web-b"} {
		e.readyPod(t, name, "web", "500m")
		pm.Set(e.ns, name, map[string]corev1.ResourceList{"app": {corev1.ResourceCPU: resource.MustParse("450m")}}, time.Time{}, 30*time.Second)
	}
	e.create(t, &v1.Scaler{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: e.ns},
		Spec: v1.ScalerSpec{
			TargetRef: v1.TargetRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			Scaling:   v1.Scaling{MinReplicas: ptr(int32(1)), MaxReplicas: 10},
			ScalerSpec: &v1.TriggerSpec{Type: "resource", Resource: &v1.ResourceTrigger{
				ResourceName: "cpu", TargetType: "Utilization", TargetAverageUtilization: ptr(int32(50))}},
		},
	})
	e.startAgent(t, nil, func(o *controller.AgentOptions) {
		o.ResourceMetrics = hparesource.New(hparesource.Options{Pods: e.kube.Client, Metrics: mc.MetricsV1beta1()})
	})
	// 90% of the requests for a target of 50%: ceil(2 * 90 / 50) = 4.
	e.waitReplicas(t, "web", "web", 4, "CPU at 90% of requests, target 50%")
	e.waitEvent(t, "web", "Scaled", "2 -> 4: MetricProposal: trigger resource proposes 4 (utilization 90%, target 50%)")
	e.waitStatus(t, "web", "the trigger's utilization", func(s *v1.Scaler) error {
		if tr := s.Status.Triggers; len(tr) != 1 || tr[0].Value != "90" || tr[0].Target != "50" || !tr[0].Healthy || tr[0].Metric != "cpu" {
			return fmt.Errorf("triggers %+v", tr)
		}
		return nil
	})

	pm.Delete(e.ns, "web-a")
	pm.Delete(e.ns, "web-b")
	e.waitStatus(t, "web", "no pod metrics: the trigger fails and says why", func(s *v1.Scaler) error {
		if tr := s.Status.Triggers[0]; tr.Healthy || !strings.HasPrefix(tr.LastError, "cpu: ") {
			return fmt.Errorf("trigger %+v", tr)
		}
		return nil
	})
}

// TestInvalidSpecReported: what the API server cannot refuse (an unknown
// scaler type, metadata its scaler refuses, a kind with no /scale) is
// reported in status (Ready False) and as a Warning, and the agent goes
// on with the other Scalers.
func TestInvalidSpecReported(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := testenv.StartRedis(t)
	e.deployment(t, "web", 1)
	e.create(t, e.redisScaler("unknown-type", "web", r.Addr(), "jobs", func(s *v1.Scaler) { s.Spec.ScalerSpec.Type = "nosuch" }))
	e.create(t, e.redisScaler("bad-metadata", "web", r.Addr(), "jobs", func(s *v1.Scaler) { s.Spec.ScalerSpec.Metadata["listLength"] = "lots" }))
	e.create(t, e.redisScaler("no-target", "missing", r.Addr(), "jobs", nil))
	e.create(t, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: e.ns}})
	e.create(t, e.redisScaler("no-scale", "web", r.Addr(), "jobs", func(s *v1.Scaler) {
		s.Spec.TargetRef = v1.TargetRef{APIVersion: "v1", Kind: "ConfigMap", Name: "web"}
	}))
	e.create(t, e.redisScaler("no-kind", "web", r.Addr(), "jobs", func(s *v1.Scaler) {
		s.Spec.TargetRef = v1.TargetRef{APIVersion: "example.com/v1", Kind: "Widget", Name: "web"}
	}))
	e.startAgent(t, nil, nil)
	for _, tc := range []struct{ scaler, reason, event, msg string }{
		{"unknown-type", "InvalidSpec", "InvalidSpec", `spec.scalerSpec: build nosuch scaler: invalid metadata: scalerType "nosuch": unknown scaler type, expected one of: custom, kafka, `},
		{"bad-metadata", "InvalidSpec", "InvalidSpec", `listLength "lots"`},
		{"no-target", "TargetNotFound", "TargetError", "Deployment " + e.ns + "/missing not found (or it has no /scale subresource)"},
		{"no-scale", "TargetNotScalable", "TargetError", "spec.targetRef: kind ConfigMap (v1) has no /scale subresource"},
		{"no-kind", "TargetNotFound", "TargetError", "spec.targetRef: the API server serves no kind Widget in example.com/v1"},
	} {
		e.waitStatus(t, tc.scaler, "reported: "+tc.reason, func(s *v1.Scaler) error {
			if err := condition(s, v1.ConditionReady, metav1.ConditionFalse, tc.reason); err != nil {
				return err
			}
			if c := conditionOf(s, v1.ConditionReady); !strings.Contains(c.Message, tc.msg) {
				return fmt.Errorf("message %q, want %q", c.Message, tc.msg)
			}
			return nil
		})
		e.waitEvent(t, tc.scaler, tc.event, tc.msg)
	}
	// A valid Scaler of another workload is reconciled as usual.
	e.deployment(t, "other", 1)
	e.create(t, e.redisScaler("valid", "other", r.Addr(), "jobs", nil))
	push(t, r, "jobs", 12)
	e.waitReplicas(t, "other", "valid", 3, "the valid Scaler acts beside the broken ones")
}
