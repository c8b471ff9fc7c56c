package controller_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
	"github.com/hpa-autoscaler/hpa-autoscaler/controller"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
)

// metricSum sums the series of a metric of reg whose labels include
// want.
func metricSum(t *testing.T, reg *prometheus.Registry, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if labels[k] != v {
					continue series
				}
			}
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			case m.Histogram != nil:
				sum += float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return sum
}

// decisions waits until the agent has made n more decisions for the
// Scaler than it had when called (a sync happened), and returns the count.
func (a *runningAgent) waitDecisions(t *testing.T, ns, scaler string, n int) {
	t.Helper()
	labels := map[string]string{"namespace": ns, "scaler": scaler}
	start := metricSum(t, a.reg, "hpa_scaling_decisions_total", labels)
	scalertest.Eventually(t, wait, fmt.Sprintf("%d more decisions of Scaler %s", n, scaler), func() error {
		if got := metricSum(t, a.reg, "hpa_scaling_decisions_total", labels); got < start+float64(n) {
			return fmt.Errorf("%v decisions, want %v", got, start+float64(n))
		}
		return nil
	})
}

// TestSteadyStateWritesNothing: once nothing moves, syncs make no status
// write, no Event and no patch of the target.
func TestSteadyStateWritesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := testenv.StartRedis(t)
	e.deployment(t, "web", 1)
	e.create(t, e.redisScaler("web", "web", r.Addr(), "jobs", nil))
	push(t, r, "jobs", 10)
	a := e.startAgent(t, nil, nil)
	e.waitReplicas(t, "web", "web", 2, "10 items")
	e.waitStatus(t, "web", "the status of the scale-up", func(s *v1.Scaler) error {
		if s.Status.CurrentReplicas != 2 {
			return fmt.Errorf("currentReplicas %d", s.Status.CurrentReplicas)
		}
		return nil
	})
	// Let the status settle (the first sync after the scale-up may
	// still write), then count.
	a.waitDecisions(t, e.ns, "web", 3)
	before, err := e.scaler(t, "web")
	if err != nil {
		t.Fatal(err)
	}
	deploy := func() string {
		rv, err := e.deploymentVersion(t, "web")
		if err != nil {
			t.Fatal(err)
		}
		return rv
	}
	dv := deploy()
	events := len(e.events(t, "web", "Scaled")) + len(e.events(t, "web", "TriggerFailed"))
	a.waitDecisions(t, e.ns, "web", 8)
	after, err := e.scaler(t, "web")
	if err != nil {
		t.Fatal(err)
	}
	if after.ResourceVersion != before.ResourceVersion {
		t.Errorf("the Scaler was written in a steady state: resourceVersion %s -> %s; %s", before.ResourceVersion, after.ResourceVersion, e.describe(t, "web"))
	}
	if got := deploy(); got != dv {
		t.Errorf("the Deployment was written in a steady state: resourceVersion %s -> %s", dv, got)
	}
	if n := len(e.events(t, "web", "Scaled")) + len(e.events(t, "web", "TriggerFailed")); n != events {
		t.Errorf("%d events in a steady state, had %d", n, events)
	}

	// The Scaler deleted: its scaler is closed, its series dropped.
	if err := e.c.Delete(t.Context(), after); err != nil {
		t.Fatal(err)
	}
	scalertest.Eventually(t, wait, "the deleted Scaler's scaler closed and its series dropped", func() error {
		labels := map[string]string{"namespace": e.ns, "scaler": "web"}
		if n := a.redisClients(); n != 0 {
			return fmt.Errorf("%d Redis clients open", n)
		}
		if n := metricSum(t, a.reg, "hpa_current_replicas", labels) + metricSum(t, a.reg, "hpa_scaling_decisions_total", labels); n != 0 {
			return fmt.Errorf("series left: %v", n)
		}
		return nil
	})
}

// TestDryRun: spec.advanced.dryRun and the agent's dry run decide and
// report, and never patch.
func TestDryRun(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		spec  bool
		agent bool
	}{
		{name: "spec.advanced.dryRun", spec: true},
		{name: "--dry-run", agent: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			r := testenv.StartRedis(t)
			e.deployment(t, "web", 1)
			e.create(t, e.redisScaler("web", "web", r.Addr(), "jobs", func(s *v1.Scaler) {
				if tc.spec {
					s.Spec.Advanced = &v1.Advanced{DryRun: true}
				}
			}))
			push(t, r, "jobs", 18)
			e.startAgent(t, nil, func(o *controller.AgentOptions) { o.Defaults.DryRun = tc.agent })
			e.waitStatus(t, "web", "a dry-run decision to 4", func(s *v1.Scaler) error {
				d := s.Status.LastDecision
				if d == nil || !d.DryRun || d.DesiredReplicas != 4 || s.Status.DesiredReplicas != 4 {
					return fmt.Errorf("decision %+v", d)
				}
				return nil
			})
			e.waitEvent(t, "web", "DryRunDecision", "1 -> 4 (dry run, not applied): MetricProposal")
			if n, _ := e.replicas(t, "web"); n != 1 {
				t.Errorf("dry run patched the target: %d replicas", n)
			}
			if n := len(e.events(t, "web", "Scaled")); n != 0 {
				t.Errorf("%d Scaled events in a dry run", n)
			}
		})
	}
}

// TestPause: the paused annotation holds the count (the agent still
// measures and reports); paused-replicas sets a count and holds it; both
// removed, the triggers decide again.
func TestPause(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := testenv.StartRedis(t)
	e.deployment(t, "web", 1)
	e.create(t, e.redisScaler("web", "web", r.Addr(), "jobs", func(s *v1.Scaler) {
		s.Annotations = map[string]string{v1.AnnotationPaused: "true"}
	}))
	push(t, r, "jobs", 18)
	e.startAgent(t, nil, nil)
	e.waitStatus(t, "web", "paused", func(s *v1.Scaler) error {
		if err := condition(s, v1.ConditionPaused, metav1.ConditionTrue, "Paused"); err != nil {
			return err
		}
		if err := decided(s, "Paused"); err != nil {
			return err
		}
		if !strings.Contains(s.Status.LastDecision.Reason, "the triggers ask for 4") || s.Status.Triggers[0].Value != "18" {
			return fmt.Errorf("reason %q, trigger %+v", s.Status.LastDecision.Reason, s.Status.Triggers[0])
		}
		return nil
	})
	if n, _ := e.replicas(t, "web"); n != 1 {
		t.Fatalf("paused, yet %d replicas", n)
	}

	e.annotate(t, "web", map[string]*string{v1.AnnotationPaused: nil, v1.AnnotationPausedReplicas: ptr("7")})
	e.waitReplicas(t, "web", "web", 7, "paused-replicas 7")
	e.waitStatus(t, "web", "paused at 7", func(s *v1.Scaler) error {
		if err := condition(s, v1.ConditionPaused, metav1.ConditionTrue, "PausedReplicas"); err != nil {
			return err
		}
		return decided(s, "PausedReplicas")
	})
	e.waitEvent(t, "web", "Scaled", "1 -> 7: PausedReplicas")

	e.annotate(t, "web", map[string]*string{v1.AnnotationPausedReplicas: nil})
	e.waitStatus(t, "web", "not paused", func(s *v1.Scaler) error {
		return condition(s, v1.ConditionPaused, metav1.ConditionFalse, "NotPaused")
	})
	// 7 -> 4 is a scale-down: the default window (300 s) holds it.
	e.clock.Step(301 * time.Second)
	e.waitReplicas(t, "web", "web", 4, "the triggers decide again")

	e.annotate(t, "web", map[string]*string{v1.AnnotationPausedReplicas: ptr("many")})
	e.waitStatus(t, "web", "a bad paused-replicas is an invalid spec", func(s *v1.Scaler) error {
		return condition(s, v1.ConditionReady, metav1.ConditionFalse, "InvalidSpec")
	})
}

// annotate sets (nil: removes) annotations of a Scaler.
func (e *env) annotate(t *testing.T, name string, set map[string]*string) {
	t.Helper()
	s, err := e.scaler(t, name)
	if err != nil {
		t.Fatal(err)
	}
	orig := s.DeepCopy()
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	for k, v := range set {
		if v == nil {
			delete(s.Annotations, k)
		} else {
			s.Annotations[k] = *v
		}
	}
	if err := e.c.Patch(t.Context(), s, client.MergeFrom(orig)); err != nil {
		t.Fatalf("annotate Scaler %s: %v", name, err)
	}
}

// TestRestartKeepsStabilization: a new agent restores the history from
// status.history: the scale-down window still ends when it would have
// (not one window after the restart).
func TestRestartKeepsStabilization(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := testenv.StartRedis(t)
	e.deployment(t, "web", 1)
	e.create(t, e.redisScaler("web", "web", r.Addr(), "jobs", func(s *v1.Scaler) {
		s.Spec.Scaling.ScaleDownPolicy = &v1.ScalingRules{StabilizationWindowSeconds: ptr(int32(120))}
	}))
	push(t, r, "jobs", 18)
	a := e.startAgent(t, nil, nil)
	e.waitReplicas(t, "web", "web", 4, "18 items")
	drain(t, r, "jobs")
	e.waitStatus(t, "web", "the scale-down held by the window", func(s *v1.Scaler) error { return decided(s, "ScaleDownStabilized") })
	a.stop()
	if n := a.redisClients(); n != 0 {
		t.Errorf("the stopped agent left %d Redis clients open", n)
	}

	// 60 s into the 120 s window, a new agent: it must hold for 60 s
	// more, not 120.
	e.clock.Step(60 * time.Second)
	b := e.startAgent(t, nil, nil)
	b.waitDecisions(t, e.ns, "web", 2)
	if n, _ := e.replicas(t, "web"); n != 4 {
		t.Fatalf("the new agent scaled to %d within the window; %s", n, e.describe(t, "web"))
	}
	e.waitStatus(t, "web", "still held after the restart", func(s *v1.Scaler) error { return decided(s, "ScaleDownStabilized") })
	e.clock.Step(61 * time.Second)
	e.waitReplicas(t, "web", "web", 1, "the window of the first agent's recommendations passed")
}

// TestLeaderElection: of two agents with leader election only the leader
// acts; when it stops, the other takes over.
func TestLeaderElection(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := testenv.StartRedis(t)
	e.deployment(t, "web", 1)
	e.create(t, e.redisScaler("web", "web", r.Addr(), "jobs", nil))
	push(t, r, "jobs", 7)
	le := func(o *controller.AgentOptions) {
		o.LeaderElection = true
		o.LeaderElectionNamespace = e.ns
		o.LeaseDuration, o.RenewDeadline, o.RetryPeriod = 3*time.Second, 2*time.Second, 200*time.Millisecond
	}
	a := e.startAgent(t, nil, le)
	e.waitReplicas(t, "web", "web", 2, "7 items, the first agent leads")
	b := e.startAgent(t, nil, le)
	a.waitDecisions(t, e.ns, "web", 5)
	labels := map[string]string{"namespace": e.ns, "scaler": "web"}
	if n := metricSum(t, b.reg, "hpa_scaling_decisions_total", labels); n != 0 {
		t.Fatalf("the second agent decided %v times while the first led", n)
	}
	a.stop()
	push(t, r, "jobs", 10) // 17 items: 4 replicas
	e.waitReplicas(t, "web", "web", 4, "the second agent took over")
	if n := metricSum(t, b.reg, "hpa_scaling_decisions_total", labels); n == 0 {
		t.Fatal("the second agent made no decision")
	}
}

// TestSecretRotation: a Redis password changed in Redis and then in the
// Secret is picked up within a sync: the scaler is rebuilt from the new
// Secret version.
func TestSecretRotation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := testenv.StartRedisWith(t, testenv.RedisOptions{Password: "first-Passw0rd"})
	e.deployment(t, "web", 1)
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "redis-auth", Namespace: e.ns}, Data: map[string][]byte{"password": []byte("first-Passw0rd")}}
	e.create(t, secret)
	e.create(t, e.redisScaler("web", "web", r.Addr(), "jobs", func(s *v1.Scaler) {
		s.Spec.ScalerSpec.SecretRefs = []v1.SecretRef{{Parameter: "password", Name: "redis-auth", Key: "password"}}
	}))
	push(t, r, "jobs", 10)
	a := e.startAgent(t, nil, nil)
	e.waitReplicas(t, "web", "web", 2, "10 items with the first password")

	// Rotate in Redis, and drop the connections logged in with the old.
	if _, err := r.Do("CONFIG", "SET", "requirepass", "second-Passw0rd"); err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClient(&goredis.Options{Addr: r.Addr(), Password: "second-Passw0rd"})
	defer c.Close()
	if err := c.Do(t.Context(), "CLIENT", "KILL", "TYPE", "normal").Err(); err != nil {
		t.Fatal(err)
	}
	e.waitStatus(t, "web", "the old password refused", func(s *v1.Scaler) error {
		tr := s.Status.Triggers[0]
		if tr.Healthy || tr.LastError == "" {
			return fmt.Errorf("trigger %+v", tr)
		}
		if strings.Contains(tr.LastError, "first-Passw0rd") {
			t.Errorf("lastError shows the password: %q", tr.LastError)
		}
		return nil
	})
	e.waitEvent(t, "web", "TriggerFailed", "trigger queue: ")

	secret.Data["password"] = []byte("second-Passw0rd")
	if err := e.c.Update(t.Context(), secret); err != nil {
		t.Fatal(err)
	}
	e.waitStatus(t, "web", "healthy with the rotated Secret", func(s *v1.Scaler) error {
		if tr := s.Status.Triggers[0]; !tr.Healthy || tr.Value != "10" {
			return fmt.Errorf("trigger %+v", tr)
		}
		return nil
	})
	if n := a.redisClients(); n != 1 {
		t.Errorf("%d Redis clients open after the rebuild, want 1 (the old one closed)", n)
	}
	if err := c.RPush(t.Context(), "jobs", 1, 2, 3, 4, 5, 6, 7, 8).Err(); err != nil {
		t.Fatal(err)
	}
	e.waitReplicas(t, "web", "web", 4, "18 items, read with the new password")
}

// TestMetricFailureFallback: a source that goes away makes its trigger
// unhealthy; past failureThreshold the fallback's replicas apply
// (condition Fallback); the source back, the trigger is used again.
func TestMetricFailureFallback(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := testenv.StartRedis(t)
	e.deployment(t, "web", 1)
	e.create(t, e.redisScaler("web", "web", r.Addr(), "jobs", func(s *v1.Scaler) {
		s.Spec.Advanced = &v1.Advanced{Fallback: &v1.Fallback{FailureThreshold: ptr(int32(2)), Replicas: ptr(int32(3))}}
	}))
	e.startAgent(t, nil, nil)
	e.waitStatus(t, "web", "healthy", func(s *v1.Scaler) error {
		if len(s.Status.Triggers) != 1 || !s.Status.Triggers[0].Healthy {
			return fmt.Errorf("triggers %+v", s.Status.Triggers)
		}
		return nil
	})
	r.Kill()
	e.waitReplicas(t, "web", "web", 3, "the fallback's 3 replicas")
	s := e.waitStatus(t, "web", "the fallback applied", func(s *v1.Scaler) error {
		if err := condition(s, v1.ConditionFallback, metav1.ConditionTrue, "FallbackApplied"); err != nil {
			return err
		}
		if tr := s.Status.Triggers[0]; tr.Healthy || tr.ConsecutiveFailures < 3 || tr.LastError == "" {
			return fmt.Errorf("trigger %+v", tr)
		}
		return nil
	})
	if rec := s.Status.LastDecision.Recommendations; len(rec) != 1 || !strings.Contains(rec[0].Note, "fallback") {
		t.Errorf("recommendations %+v", rec)
	}
	e.waitEvent(t, "web", "TriggerFailed", "trigger queue: ")
	e.waitEvent(t, "web", "Fallback", "queue")

	r.Start()
	push(t, r, "jobs", 30)
	e.waitStatus(t, "web", "the source back", func(s *v1.Scaler) error {
		if err := condition(s, v1.ConditionFallback, metav1.ConditionFalse, "NoFallback"); err != nil {
			return err
		}
		if tr := s.Status.Triggers[0]; !tr.Healthy || tr.ConsecutiveFailures != 0 || tr.Value != "30" {
			return fmt.Errorf("trigger %+v", tr)
		}
		return nil
	})
	e.waitReplicas(t, "web", "web", 6, "30 items at 5 per replica")
}

// deploymentVersion returns a Deployment's resourceVersion.
func (e *env) deploymentVersion(t *testing.T, name string) (string, error) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	d, err := e.kube.Clientset.AppsV1().Deployments(e.ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	return d.ResourceVersion, nil
}

// TestFailingTriggerWritesRarely: a trigger that keeps failing the same
// way writes status at 1, 2, 3, 4, then each doubling of its failures, and
// records one Warning.
func TestFailingTriggerWritesRarely(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := testenv.StartRedis(t)
	e.deployment(t, "web", 1)
	e.create(t, e.redisScaler("web", "web", r.Addr(), "jobs", nil))
	a := e.startAgent(t, nil, nil)
	e.waitStatus(t, "web", "healthy", func(s *v1.Scaler) error {
		if len(s.Status.Triggers) != 1 || !s.Status.Triggers[0].Healthy {
			return fmt.Errorf("triggers %+v", s.Status.Triggers)
		}
		return nil
	})
	r.Kill()
	before := e.waitStatus(t, "web", "4 failures written", func(s *v1.Scaler) error {
		if n := s.Status.Triggers[0].ConsecutiveFailures; n != 4 {
			return fmt.Errorf("%d failures", n)
		}
		return nil
	})
	// Failures 5, 6 and 7 write nothing (8 would).
	a.waitDecisions(t, e.ns, "web", 2)
	after, err := e.scaler(t, "web")
	if err != nil {
		t.Fatal(err)
	}
	if after.ResourceVersion != before.ResourceVersion && after.Status.Triggers[0].ConsecutiveFailures < 8 {
		t.Errorf("status written at %d failures", after.Status.Triggers[0].ConsecutiveFailures)
	}
	e.waitStatus(t, "web", "8 failures written", func(s *v1.Scaler) error {
		if n := s.Status.Triggers[0].ConsecutiveFailures; n < 8 {
			return fmt.Errorf("%d failures", n)
		}
		return nil
	})
	if n := len(e.events(t, "web", "TriggerFailed")); n != 1 {
		t.Errorf("%d TriggerFailed events, want 1", n)
	}
}
