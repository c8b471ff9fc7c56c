package controller_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
	"github.com/hpa-autoscaler/hpa-autoscaler/controller"
	"github.com/hpa-autoscaler/hpa-autoscaler/controller/backendlink"
	"github.com/hpa-autoscaler/hpa-autoscaler/controller/linktest"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
	agentv1 "github.com/hpa-autoscaler/hpa-autoscaler/proto/agent/v1"
)

// startLink runs a backend link to srv until the test ends.
func startLink(t *testing.T, srv *linktest.Server, token string) *backendlink.Link {
	t.Helper()
	l, err := backendlink.New(backendlink.Options{
		Addr: srv.Addr(), ClusterID: "c1", Token: func() (string, error) { return token, nil },
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(wait):
			t.Errorf("the backend link did not stop within %v", wait)
		}
	})
	return l
}

// results are the decisions the backend applied.
func results(srv *linktest.Server) []*agentv1.ScalingResult {
	var out []*agentv1.ScalingResult
	for _, m := range srv.Got() {
		if r := m.GetResult(); r != nil {
			out = append(out, r)
		}
	}
	return out
}

// waitResult waits for an applied decision from -> to with rule.
func waitResult(t *testing.T, e *env, srv *linktest.Server, from, to int32, rule string) *agentv1.ScalingResult {
	t.Helper()
	var found *agentv1.ScalingResult
	scalertest.Eventually(t, wait, fmt.Sprintf("the backend has the decision %d -> %d (%s)", from, to, rule), func() error {
		var seen []string
		for _, r := range results(srv) {
			if r.GetApplied() && r.GetCurrentReplicas() == from && r.GetDesiredReplicas() == to && r.GetRule() == rule {
				found = r
				return nil
			}
			seen = append(seen, fmt.Sprintf("%d->%d %s applied=%v", r.GetCurrentReplicas(), r.GetDesiredReplicas(), r.GetRule(), r.GetApplied()))
		}
		return fmt.Errorf("decisions %v; %s", seen, e.describe(t, "web"))
	})
	return found
}

// TestBackendLink: an agent with a link to an AgentService reports its
// inventory, metric values, every decision once and its scaling events;
// the backend's forecast floor raises the count until it expires, and its
// budget cap clamps a scale-up (rule BudgetCap).
func TestBackendLink(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := testenv.StartRedis(t)
	const token = "backend-link-token"
	srv, err := linktest.Start(linktest.Options{Token: token, Heartbeat: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	link := startLink(t, srv, token)
	e.deployment(t, "web", 1)
	// A pod of the target (no controller runs here to make one): its
	// requests go into the inventory.
	e.create(t, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: e.ns, Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{
			{Name: "app", Image: "registry.example/app:1", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("128Mi")}}},
			{Name: "sidecar", Image: "registry.example/sidecar:1", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("50m")}}},
		}},
	})
	e.create(t, e.redisScaler("web", "web", r.Addr(), "jobs", nil))
	e.startAgent(t, nil, func(o *controller.AgentOptions) { o.Backend = link })

	scalertest.Eventually(t, wait, "the inventory with Scaler web and its pod's requests", func() error {
		for _, m := range srv.Got() {
			for _, s := range m.GetInventory().GetScalers() {
				if s.GetNamespace() == e.ns && s.GetName() == "web" && strings.Contains(string(s.GetSpecJson()), `"listName":"jobs"`) &&
					s.GetPodRequests().GetCpuMillis() == 300 && s.GetPodRequests().GetMemoryBytes() == 128<<20 {
					return nil
				}
			}
		}
		return fmt.Errorf("no inventory with it (%d messages)", len(srv.Got()))
	})

	// Reactive.
	push(t, r, "jobs", 18)
	e.waitReplicas(t, "web", "web", 4, "18 items at 5 per replica")
	waitResult(t, e, srv, 1, 4, "MetricProposal")
	scalertest.Eventually(t, wait, "the metric reports and the scaling event", func() error {
		metrics, events := 0, 0
		for _, m := range srv.Got() {
			if mr := m.GetMetrics(); mr != nil && mr.GetScalerName() == "web" && len(mr.GetMetrics()) == 1 && mr.GetMetrics()[0].GetValue() == 18 && mr.GetMetrics()[0].GetTarget() == 5 {
				metrics++
			}
			if ev := m.GetEvent(); ev != nil && ev.GetFromReplicas() == 1 && ev.GetToReplicas() == 4 {
				events++
			}
		}
		if metrics == 0 || events != 1 {
			return fmt.Errorf("%d metric reports of 18 for 5, %d events 1 -> 4", metrics, events)
		}
		return nil
	})

	// The backend's floor raises the count while it is valid.
	e.clock.Step(20 * time.Second)
	srv.Recommend(&agentv1.Recommendation{Namespace: e.ns, ScalerName: "web", Floor: 7, Forecast: 33, Confidence: 0.9, Model: "test",
		ExpiresAt: timestamppb.New(e.clock.Now().Add(10 * time.Minute))})
	e.waitReplicas(t, "web", "web", 7, "the backend's floor 7")
	e.waitStatus(t, "web", "the floor's reason", func(s *v1.Scaler) error {
		if err := decided(s, "ForecastFloor"); err != nil {
			return err
		}
		if !strings.Contains(s.Status.LastDecision.Reason, "backend forecast 33") {
			return fmt.Errorf("reason %q", s.Status.LastDecision.Reason)
		}
		return nil
	})
	if got := waitResult(t, e, srv, 4, 7, "ForecastFloor"); got.GetForecastFloor() != 7 {
		t.Fatalf("the decision's forecast floor %d, want 7", got.GetForecastFloor())
	}

	// Expired: back to the reactive count.
	e.clock.Step(11 * time.Minute)
	e.waitReplicas(t, "web", "web", 4, "the floor expired")
	waitResult(t, e, srv, 7, 4, "MetricProposal")

	// A budget cap clamps a scale-up.
	srv.Recommend(&agentv1.Recommendation{Namespace: e.ns, ScalerName: "web", BudgetMaxReplicas: 6, PricePerReplicaHourMicros: 250000, PriceTableHash: "0123456789abcdef0123",
		ExpiresAt: timestamppb.New(e.clock.Now().Add(10 * time.Minute))})
	scalertest.Eventually(t, wait, "the budget applied by the link", func() error {
		if a := link.Advice(e.ns, "web", e.clock.Now()); a.BudgetMaxReplicas != 6 {
			return fmt.Errorf("advice %+v", a)
		}
		return nil
	})
	e.clock.Step(20 * time.Second)
	push(t, r, "jobs", 22) // 40 items: 8 replicas asked
	e.waitReplicas(t, "web", "web", 6, "the budget cap 6")
	st := e.waitStatus(t, "web", "rule BudgetCap", func(s *v1.Scaler) error { return decided(s, "BudgetCap") })
	if !strings.Contains(st.Status.LastDecision.Reason, "capped at 6 by the budget") || strings.Contains(st.Status.LastDecision.Reason, "no price source") {
		t.Errorf("reason %q", st.Status.LastDecision.Reason)
	}
	got := waitResult(t, e, srv, 4, 6, "BudgetCap")
	if got.GetBudgetMaxReplicas() != 6 || got.GetPriceTableHash() != "0123456789abcdef0123" {
		t.Fatalf("the capped decision: budget %d hash %q", got.GetBudgetMaxReplicas(), got.GetPriceTableHash())
	}

	// Every decision once: distinct ids, no resend applied, no gap.
	ids := map[string]int{}
	for _, r := range results(srv) {
		ids[r.GetDecisionId()]++
		if ids[r.GetDecisionId()] > 1 {
			t.Errorf("decision %s reported twice", r.GetDecisionId())
		}
	}
	applied := 0
	for _, r := range results(srv) {
		if r.GetApplied() {
			applied++
		}
	}
	if applied != 4 {
		t.Errorf("%d applied decisions reported, want 4 (1->4, 4->7, 7->4, 4->6)", applied)
	}
	if s := srv.Stats(); len(s.Gaps) > 0 || s.Dups > 0 {
		t.Errorf("gaps %v, %d resends applied before", s.Gaps, s.Dups)
	}
}
