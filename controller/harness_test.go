package controller_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
	"github.com/hpa-autoscaler/hpa-autoscaler/controller"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/custom"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/kafka"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/metricsapi"
	promscaler "github.com/hpa-autoscaler/hpa-autoscaler/scalers/prometheus"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/rabbitmq"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/redis"
)

// wait is the limit of every wait: far above what a loaded 2-core machine
// needs; a wait ends as soon as its condition holds.
const wait = 90 * time.Second

// syncPeriod is the agents' sync period in tests (real time; decisions
// use the fake clock).
const syncPeriod = 150 * time.Millisecond

// env is one test's namespace on the shared API server, with a fake
// clock for the agents' decisions.
type env struct {
	kube  *testenv.Kube
	ns    string
	clock *clocktesting.FakeClock
	c     client.Client
}

func newEnv(t *testing.T) *env {
	t.Helper()
	k := kube.Get(t)
	// The fake clock starts at the real time (whole seconds), so that the
	// API server's creation times are in its past.
	return &env{kube: k, ns: k.NewNamespace(t), clock: clocktesting.NewFakeClock(time.Now().Truncate(time.Second)), c: k.Client}
}

// registry has every scaler type of the binary, as cmd's newRegistry, and
// the count of shared Redis clients open (one per distinct connection of
// the scalers alive).
func registry() (*scalers.Registry, func() int) {
	r := scalers.NewRegistry()
	r.MustRegister("kafka", kafka.New)
	r.MustRegister("rabbitmq", rabbitmq.New, scalers.WithDefaultTarget(rabbitmq.DefaultTarget))
	r.MustRegister(promscaler.Type, promscaler.New, scalers.WithDefaultTarget(promscaler.DefaultTarget))
	r.MustRegister(metricsapi.Type, metricsapi.New, scalers.WithDefaultTarget(metricsapi.DefaultTarget))
	rc := redis.NewClients(redis.ClientsOptions{})
	for _, typ := range redis.Types() {
		r.MustRegister(typ, rc.Factory(typ))
	}
	r.MustRegister("custom", custom.NewFactory(r))
	return r, func() int { open, _ := rc.Stats(); return open }
}

// runningAgent is an agent running in the test.
type runningAgent struct {
	t      *testing.T
	cancel context.CancelFunc
	done   chan error
	reg    *prometheus.Registry
	// redisClients is the number of Redis clients its scalers hold open.
	redisClients func() int
}

// startAgent runs an agent on cfg (nil: the administrator's) limited to
// the test's namespace; mod changes its options. It is stopped when the
// test ends, if not before.
func (e *env) startAgent(t *testing.T, cfg *rest.Config, mod func(*controller.AgentOptions)) *runningAgent {
	t.Helper()
	if cfg == nil {
		cfg = e.kube.Config
	}
	reg := prometheus.NewRegistry()
	scalerRegistry, redisClients := registry()
	o := controller.AgentOptions{
		Options: controller.Options{
			Registry:   scalerRegistry,
			Clock:      e.clock,
			Registerer: reg,
			SyncPeriod: syncPeriod,
			Logger:     testLogger(t),
		},
		Namespace: e.ns,
		Workers:   2,
	}
	if mod != nil {
		mod(&o)
	}
	a, err := controller.NewAgent(cfg, o)
	if err != nil {
		t.Fatalf("agent: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ra := &runningAgent{t: t, cancel: cancel, done: make(chan error, 1), reg: reg, redisClients: redisClients}
	go func() { ra.done <- a.Run(ctx) }()
	t.Cleanup(ra.stop)
	return ra
}

// stop stops the agent and waits for it.
func (a *runningAgent) stop() {
	a.t.Helper()
	if a.cancel == nil {
		return
	}
	a.cancel()
	a.cancel = nil
	// What still runs when the manager's grace period ends says which
	// runnable held the shutdown up.
	dump := time.AfterFunc(25*time.Second, func() {
		var buf strings.Builder
		_ = pprof.Lookup("goroutine").WriteTo(&buf, 1)
		a.t.Logf("agent still stopping after 25s; goroutines:\n%s", buf.String())
	})
	defer dump.Stop()
	select {
	case err := <-a.done:
		if err != nil {
			a.t.Errorf("agent stopped with: %v", err)
		}
	case <-time.After(wait):
		a.t.Errorf("the agent did not stop within %v", wait)
	}
}

// testLogger logs to the test at warn and above (debug with
// HPA_TEST_LOG=debug).
func testLogger(t *testing.T) *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("HPA_TEST_LOG") == "debug" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: level}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func ptr[T any](v T) *T { return &v }

// deployment creates a Deployment with replicas.
func (e *env) deployment(t *testing.T, name string, replicas int32) *appsv1.Deployment {
	t.Helper()
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}},
			},
		},
	}
	if err := e.c.Create(t.Context(), d); err != nil {
		t.Fatalf("create Deployment %s: %v", name, err)
	}
	return d
}

// replicas reads spec.replicas of a Deployment.
func (e *env) replicas(t *testing.T, name string) (int32, error) {
	var d appsv1.Deployment
	if err := e.c.Get(t.Context(), client.ObjectKey{Namespace: e.ns, Name: name}, &d); err != nil {
		return 0, err
	}
	return *d.Spec.Replicas, nil
}

// scaler reads a Scaler.
func (e *env) scaler(t *testing.T, name string) (*v1.Scaler, error) {
	var s v1.Scaler
	err := e.c.Get(t.Context(), client.ObjectKey{Namespace: e.ns, Name: name}, &s)
	return &s, err
}

// describe summarises a Scaler's status for a failure message.
func (e *env) describe(t *testing.T, name string) string {
	s, err := e.scaler(t, name)
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "status: current %d desired %d", s.Status.CurrentReplicas, s.Status.DesiredReplicas)
	if d := s.Status.LastDecision; d != nil {
		fmt.Fprintf(&b, "; last decision %d -> %d rule %s: %s", d.CurrentReplicas, d.DesiredReplicas, d.Rule, d.Reason)
	}
	for _, c := range s.Status.Conditions {
		fmt.Fprintf(&b, "; %s=%s %s %s", c.Type, c.Status, c.Reason, c.Message)
	}
	for _, tr := range s.Status.Triggers {
		fmt.Fprintf(&b, "; trigger %s healthy=%v active=%v value=%s err=%s", tr.Name, tr.Healthy, tr.Active, tr.Value, tr.LastError)
	}
	return b.String()
}

// waitReplicas waits until the Deployment has want replicas.
func (e *env) waitReplicas(t *testing.T, deploy, scaler string, want int32, what string) {
	t.Helper()
	scalertest.Eventually(t, wait, fmt.Sprintf("%s: Deployment %s at %d replicas", what, deploy, want), func() error {
		n, err := e.replicas(t, deploy)
		if err != nil {
			return err
		}
		if n != want {
			return fmt.Errorf("%d replicas; %s", n, e.describe(t, scaler))
		}
		return nil
	})
}

// waitStatus waits until cond accepts the Scaler's status.
func (e *env) waitStatus(t *testing.T, name, what string, cond func(s *v1.Scaler) error) *v1.Scaler {
	t.Helper()
	var last *v1.Scaler
	scalertest.Eventually(t, wait, fmt.Sprintf("Scaler %s: %s", name, what), func() error {
		s, err := e.scaler(t, name)
		if err != nil {
			return err
		}
		last = s
		if s.Status.ObservedGeneration == 0 {
			// The agent has not written a status yet (it patches /scale
			// before it writes status): nothing to check.
			return fmt.Errorf("no status written yet; %s", e.describe(t, name))
		}
		if err := cond(s); err != nil {
			return fmt.Errorf("%v; %s", err, e.describe(t, name))
		}
		return nil
	})
	return last
}

// condition returns an error unless the Scaler has the condition with
// status and reason ("" reason: any).
func condition(s *v1.Scaler, typ string, status metav1.ConditionStatus, reason string) error {
	c := meta.FindStatusCondition(s.Status.Conditions, typ)
	switch {
	case c == nil:
		return fmt.Errorf("no %s condition", typ)
	case c.Status != status || (reason != "" && c.Reason != reason):
		return fmt.Errorf("%s=%s reason %s, want %s reason %q", typ, c.Status, c.Reason, status, reason)
	case c.ObservedGeneration != s.Generation:
		return fmt.Errorf("%s observedGeneration %d, generation %d", typ, c.ObservedGeneration, s.Generation)
	}
	return nil
}

// decided returns an error unless the Scaler's last decision has rule.
func decided(s *v1.Scaler, rule string) error {
	if s.Status.LastDecision == nil {
		return errors.New("no decision yet")
	}
	if s.Status.LastDecision.Rule != rule {
		return fmt.Errorf("rule %s, want %s", s.Status.LastDecision.Rule, rule)
	}
	return nil
}

// events returns the notes of the Events of a Scaler with reason.
func (e *env) events(t *testing.T, scaler, reason string) []string {
	t.Helper()
	var list eventsv1.EventList
	if err := e.c.List(t.Context(), &list, client.InNamespace(e.ns)); err != nil {
		t.Fatalf("list events: %v", err)
	}
	var out []string
	for _, ev := range list.Items {
		if ev.Regarding.Name == scaler && ev.Regarding.Kind == "Scaler" && ev.Reason == reason {
			out = append(out, ev.Note)
		}
	}
	return out
}

// waitEvent waits for an Event of the Scaler with reason whose note
// contains want.
func (e *env) waitEvent(t *testing.T, scaler, reason, want string) {
	t.Helper()
	scalertest.Eventually(t, wait, fmt.Sprintf("an Event %s of Scaler %s with %q", reason, scaler, want), func() error {
		notes := e.events(t, scaler, reason)
		for _, n := range notes {
			if strings.Contains(n, want) {
				return nil
			}
		}
		return fmt.Errorf("events %s: %q", reason, notes)
	})
}

// redisScaler is a Scaler of Deployment target on a Redis list.
func (e *env) redisScaler(name, target, addr, list string, mod func(*v1.Scaler)) *v1.Scaler {
	s := &v1.Scaler{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.ns},
		Spec: v1.ScalerSpec{
			TargetRef: v1.TargetRef{APIVersion: "apps/v1", Kind: "Deployment", Name: target},
			Scaling:   v1.Scaling{MinReplicas: ptr(int32(1)), MaxReplicas: 10},
			ScalerSpec: &v1.TriggerSpec{Type: "redis", Name: "queue", Metadata: map[string]string{
				"address": addr, "listName": list, "listLength": "5",
			}},
		},
	}
	if mod != nil {
		mod(s)
	}
	return s
}

func (e *env) create(t *testing.T, obj client.Object) {
	t.Helper()
	if err := e.c.Create(t.Context(), obj); err != nil {
		t.Fatalf("create %T %s: %v", obj, obj.GetName(), err)
	}
}

// push adds n items to a Redis list; drain empties it.
func push(t *testing.T, r *testenv.Redis, list string, n int) {
	t.Helper()
	args := []string{"RPUSH", list}
	for i := range n {
		args = append(args, fmt.Sprint(i))
	}
	if _, err := r.Do(args...); err != nil {
		t.Fatalf("RPUSH: %v", err)
	}
}

func drain(t *testing.T, r *testenv.Redis, list string) {
	t.Helper()
	if _, err := r.Do("DEL", list); err != nil {
		t.Fatalf("DEL: %v", err)
	}
}
