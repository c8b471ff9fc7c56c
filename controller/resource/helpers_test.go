package resource_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"
	metricsv1beta1 "k8s.io/metrics/pkg/client/clientset/versioned/typed/metrics/v1beta1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
	hparesource "github.com/hpa-autoscaler/hpa-autoscaler/controller/resource"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
	"github.com/hpa-autoscaler/hpa-autoscaler/scaling"
)

func testContext(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	tb.Cleanup(cancel)
	return ctx
}

// env is one test's namespace on the package's API server, with the
// metrics.k8s.io server and a Metrics reading through the API server as
// the agent does (pods with the admin's controller-runtime client,
// PodMetrics with k8s.io/metrics' clientset).
type env struct {
	k  *testenv.Kube
	pm *testenv.PodMetrics
	ns string
	mc metricsv1beta1.MetricsV1beta1Interface
	m  *hparesource.Metrics
}

func newEnv(tb testing.TB) *env {
	tb.Helper()
	k := kube.Get(tb)
	e := &env{k: k, pm: testenv.StartPodMetrics(tb, k), ns: k.NewNamespace(tb)}
	e.mc = metricsClient(tb, k.Config)
	e.m = hparesource.New(hparesource.Options{Pods: k.Client, Metrics: e.mc})
	return e
}

// metricsClient is a metrics.k8s.io client on cfg whose connections close
// with the test.
func metricsClient(tb testing.TB, cfg *rest.Config) metricsv1beta1.MetricsV1beta1Interface {
	tb.Helper()
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(hc.CloseIdleConnections)
	cs, err := metricsclient.NewForConfigAndClient(cfg, hc)
	if err != nil {
		tb.Fatal(err)
	}
	return cs.MetricsV1beta1()
}

// podsClient is a controller-runtime client on cfg whose connections
// close with the test.
func podsClient(tb testing.TB, k *testenv.Kube, cfg *rest.Config) client.Client {
	tb.Helper()
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(hc.CloseIdleConnections)
	c, err := client.New(cfg, client.Options{Scheme: k.Scheme, HTTPClient: hc})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// list makes a ResourceList of "name=quantity" pairs.
func list(tb testing.TB, pairs ...string) corev1.ResourceList {
	tb.Helper()
	l := corev1.ResourceList{}
	for _, p := range pairs {
		name, q, ok := strings.Cut(p, "=")
		if !ok {
			tb.Fatalf("resource %q: want name=quantity", p)
		}
		l[corev1.ResourceName(name)] = resource.MustParse(q)
	}
	return l
}

func container(tb testing.TB, name string, requests ...string) corev1.Container {
	tb.Helper()
	return corev1.Container{Name: name, Image: "registry.invalid/" + name + ":1", Resources: corev1.ResourceRequirements{Requests: list(tb, requests...)}}
}

// sidecar is a restartable init container.
func sidecar(tb testing.TB, name string, requests ...string) corev1.Container {
	tb.Helper()
	c := container(tb, name, requests...)
	always := corev1.ContainerRestartPolicyAlways
	c.RestartPolicy = &always
	return c
}

// pod is a Pod to create, with the status a kubelet would have written.
type pod struct {
	name        string
	app         string // label app; "" is web
	containers  []corev1.Container
	init        []corev1.Container
	podRequests corev1.ResourceList
	phase       corev1.PodPhase        // "" is Running
	ready       corev1.ConditionStatus // "" is no Ready condition
	readySince  time.Time
	started     time.Time // zero: no startTime
	deleting    bool      // deleted, held by a finalizer
}

// create creates p, writes its status through the status subresource
// and, for a deleting pod, deletes it.
func (e *env) create(tb testing.TB, p pod) *corev1.Pod {
	tb.Helper()
	ctx := testContext(tb)
	app := p.app
	if app == "" {
		app = "web"
	}
	obj := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: p.name, Labels: map[string]string{"app": app}},
		Spec:       corev1.PodSpec{Containers: p.containers, InitContainers: p.init},
	}
	if p.podRequests != nil {
		obj.Spec.Resources = &corev1.ResourceRequirements{Requests: p.podRequests}
	}
	if p.deleting {
		obj.Finalizers = []string{"test.hpa-agent.io/hold"}
	}
	if err := e.k.Client.Create(ctx, obj); err != nil {
		tb.Fatalf("create pod %s: %v", p.name, err)
	}
	obj.Status = corev1.PodStatus{Phase: p.phase}
	if obj.Status.Phase == "" {
		obj.Status.Phase = corev1.PodRunning
	}
	if !p.started.IsZero() {
		obj.Status.StartTime = &metav1.Time{Time: p.started}
	}
	if p.ready != "" {
		obj.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: p.ready, LastTransitionTime: metav1.Time{Time: p.readySince}}}
	}
	if err := e.k.Client.Status().Update(ctx, obj); err != nil {
		tb.Fatalf("status of pod %s: %v", p.name, err)
	}
	if p.deleting {
		if err := e.k.Client.Delete(ctx, obj); err != nil {
			tb.Fatalf("delete pod %s: %v", p.name, err)
		}
	}
	return obj
}

// ready is a pod that started at start and has been ready since.
func ready(name string, start time.Time, containers ...corev1.Container) pod {
	return pod{name: name, containers: containers, ready: corev1.ConditionTrue, readySince: start, started: start}
}

func cpuUtilization(percent int32) *v1.ResourceTrigger {
	return &v1.ResourceTrigger{ResourceName: "cpu", TargetType: "Utilization", TargetAverageUtilization: &percent}
}

func trigger(resourceName, targetType, container string) *v1.ResourceTrigger {
	t := &v1.ResourceTrigger{ResourceName: resourceName, TargetType: targetType, Container: container}
	switch targetType {
	case "Utilization":
		p := int32(50)
		t.TargetAverageUtilization = &p
	case "AverageValue":
		t.TargetAverageValue = "100m"
	}
	return t
}

func selector(tb testing.TB, s string) labels.Selector {
	tb.Helper()
	sel, err := labels.Parse(s)
	if err != nil {
		tb.Fatal(err)
	}
	return sel
}

// groups groups mv's pods for a metric on resource at now, with the
// controller's default flags, as the engine does.
func groups(mv scaling.MetricValue, resource string, now time.Time) ([]scaling.PodGroup, scaling.PodCounts) {
	cfg := scaling.DefaultControllerConfig()
	return scaling.GroupPods(mv.Pods, mv.PodSamples, cfg.GroupOptions(resource), now, nil)
}

// propose is the engine's proposal for ms on mv with current replicas, at
// now, with the controller's defaults.
func propose(ms scaling.MetricSpec, mv scaling.MetricValue, current int32, now time.Time) scaling.MetricResult {
	cfg := scaling.DefaultControllerConfig()
	return scaling.Propose(&ms, &mv, scaling.ProposalInput{
		SpecReplicas: current, StatusReplicas: current, ReadyPodCount: scaling.CountReadyPods(mv.Pods),
		Tolerances: scaling.Tolerances{Down: cfg.Tolerance, Up: cfg.Tolerance}, Now: now,
		CPUInitializationPeriod: cfg.CPUInitializationPeriod, InitialReadinessDelay: cfg.InitialReadinessDelay,
	})
}

// eventually waits (with a deadline far above what an idle machine
// needs) for cond.
func eventually(tb testing.TB, limit time.Duration, what string, cond func() error) {
	tb.Helper()
	scalertest.Eventually(tb, limit, what, cond)
}

var errNotYet = errors.New("not yet")

// rbacRule grants list on one resource of one API group.
type rbacRule struct{ group, resource string }

// createRole gives the ServiceAccount sa of e's namespace a Role with
// rules, bound to it.
func createRole(tb testing.TB, e *env, sa string, rules []rbacRule) {
	tb.Helper()
	ctx := testContext(tb)
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: sa}}
	for _, r := range rules {
		role.Rules = append(role.Rules, rbacv1.PolicyRule{APIGroups: []string{r.group}, Resources: []string{r.resource}, Verbs: []string{"list"}})
	}
	if err := e.k.Client.Create(ctx, role); err != nil {
		tb.Fatal(err)
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: sa},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: sa},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: e.ns, Name: sa}},
	}
	if err := e.k.Client.Create(ctx, binding); err != nil {
		tb.Fatal(err)
	}
}

func serviceAccountConfig(tb testing.TB, e *env, sa string) *rest.Config {
	tb.Helper()
	return testenv.ServiceAccountConfig(tb, e.k, e.ns, sa)
}
