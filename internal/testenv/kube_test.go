package testenv

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// eventually calls cond until it returns nil, failing the test with cond's
// last error after limit.
func eventually(tb testing.TB, limit time.Duration, what string, cond func() error) {
	tb.Helper()
	if err := poll(limit, what, nil, cond); err != nil {
		tb.Fatal(err)
	}
}

func testContext(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	tb.Cleanup(cancel)
	return ctx
}

func TestKube(t *testing.T) {
	t.Parallel()
	k := kube.Get(t)
	if k.Version != KubeVersion {
		t.Errorf("Version = %q, want %q", k.Version, KubeVersion)
	}
	ctx := testContext(t)
	ns := k.NewNamespace(t)
	if !strings.HasPrefix(ns, "testkube-") {
		t.Errorf("namespace %q is not named after the test", ns)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "c"}, Data: map[string]string{"k": "v"}}
	if err := k.Client.Create(ctx, cm); err != nil {
		t.Fatal(err)
	}
	got, err := k.Clientset.CoreV1().ConfigMaps(ns).Get(ctx, "c", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(cm.Data, got.Data); diff != "" {
		t.Errorf("ConfigMap data (-want +got):\n%s", diff)
	}
}

func TestKEDAScaledObjectCRD(t *testing.T) {
	t.Parallel()
	path, err := KEDAScaledObjectCRD()
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join("github.com", "kedacore", "keda", "v2@v2.21.0", "config", "crd", "bases", "keda.sh_scaledobjects.yaml"); !strings.HasSuffix(path, want) {
		t.Errorf("path %s does not end in %s", path, want)
	}
	k := kube.Get(t) // TestMain installed it
	ctx := testContext(t)
	ns := k.NewNamespace(t)
	so := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "keda.sh/v1alpha1",
		"kind":       "ScaledObject",
		"metadata":   map[string]any{"namespace": ns, "name": "so"},
		"spec": map[string]any{
			"scaleTargetRef": map[string]any{"name": "web"},
			"triggers":       []any{map[string]any{"type": "external", "metadata": map[string]any{"scalerAddress": "hpa:9090"}}},
		},
	}}
	if err := k.Client.Create(ctx, so); err != nil {
		t.Fatal(err)
	}
	got := &unstructured.Unstructured{}
	got.SetGroupVersionKind(so.GroupVersionKind())
	if err := k.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "so"}, got); err != nil {
		t.Fatal(err)
	}
	if name, _, _ := unstructured.NestedString(got.Object, "spec", "scaleTargetRef", "name"); name != "web" {
		t.Errorf("spec.scaleTargetRef.name = %q, want web", name)
	}
}

func TestLaunchKubeWithoutBinaries(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	k, err := LaunchKube(KubeOptions{AssetsDir: dir})
	if err == nil {
		_ = k.Close()
		t.Fatal("LaunchKube started without binaries")
	}
	for _, want := range []string{filepath.Join(dir, "kube-apiserver"), "make envtest"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestServiceAccountConfig(t *testing.T) {
	t.Parallel()
	k := kube.Get(t)
	ctx := testContext(t)
	ns := k.NewNamespace(t)
	cfg := ServiceAccountConfig(t, k, ns, "agent")
	cs := kubernetes.NewForConfigOrDie(cfg)

	_, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("a ServiceAccount without RBAC listed pods: err = %v, want Forbidden", err)
	}
	if want := "system:serviceaccount:" + ns + ":agent"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name the user %s", err, want)
	}

	bindRole(t, k, ns, "agent", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list"}})
	// RBAC reads Roles from the API server's informers: a moment late.
	eventually(t, 30*time.Second, "the bound Role to allow listing pods", func() error {
		_, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		return err
	})
	// Still only what the Role gives.
	if _, err := cs.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("listing configmaps: err = %v, want Forbidden", err)
	}
	// Another config for the same account (the account exists already).
	if _, err := kubernetes.NewForConfigOrDie(ServiceAccountConfig(t, k, ns, "agent")).CoreV1().Pods(ns).List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("second config: %v", err)
	}
}

// bindRole creates a Role with rules in ns and binds it to the
// ServiceAccount ns/sa.
func bindRole(tb testing.TB, k *Kube, ns, sa string, rules ...rbacv1.PolicyRule) {
	tb.Helper()
	ctx := testContext(tb)
	name := sa + "-role"
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Rules: rules}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: sa}},
	}
	for _, obj := range []client.Object{role, binding} {
		if err := k.Client.Create(ctx, obj); err != nil {
			tb.Fatal(err)
		}
	}
}

func TestPodMetrics(t *testing.T) {
	t.Parallel()
	k := kube.Get(t)
	pm := StartPodMetrics(t, k)
	if again := StartPodMetrics(t, k); again != pm {
		t.Error("a second StartPodMetrics made another server")
	}
	ctx := testContext(t)
	ns := k.NewNamespace(t)
	for name, labels := range map[string]map[string]string{
		"web-1":    {"app": "web"},
		"web-2":    {"app": "web"},
		"web-idle": {"app": "web"}, // no metrics
		"db-1":     {"app": "db"},
	} {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app"}}},
		}
		if err := k.Client.Create(ctx, pod); err != nil {
			t.Fatal(err)
		}
	}
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	usage := func(cpu, mem string) corev1.ResourceList {
		return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)}
	}
	pm.Set(ns, "web-1", map[string]corev1.ResourceList{"app": usage("250m", "64Mi"), "sidecar": usage("10m", "8Mi")}, at, 15*time.Second)
	pm.Set(ns, "web-2", map[string]corev1.ResourceList{"app": usage("750m", "96Mi")}, at, 15*time.Second)
	pm.Set(ns, "db-1", map[string]corev1.ResourceList{"db": usage("1", "1Gi")}, at, 15*time.Second)
	pm.Set(ns, "no-such-pod", map[string]corev1.ResourceList{"app": usage("1", "1Gi")}, at, 15*time.Second)

	// What the agent runs as: a ServiceAccount with RBAC on
	// pods.metrics.k8s.io and nothing else.
	saCfg := ServiceAccountConfig(t, k, ns, "agent")
	saMetrics := metricsclient.NewForConfigOrDie(saCfg).MetricsV1beta1()
	if _, err := saMetrics.PodMetricses(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("a ServiceAccount without RBAC listed pod metrics: err = %v, want Forbidden", err)
	}
	bindRole(t, k, ns, "agent", rbacv1.PolicyRule{APIGroups: []string{"metrics.k8s.io"}, Resources: []string{"pods"}, Verbs: []string{"get", "list"}})
	eventually(t, 30*time.Second, "the bound Role to allow listing pod metrics", func() error {
		_, err := saMetrics.PodMetricses(ns).List(ctx, metav1.ListOptions{})
		return err
	})

	protoCfg := rest.CopyConfig(saCfg)
	protoCfg.ContentType = runtime.ContentTypeProtobuf
	protoCfg.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	for _, c := range []struct {
		name   string
		config *rest.Config
	}{{"json", saCfg}, {"protobuf", protoCfg}} {
		t.Run(c.name, func(t *testing.T) {
			mc := metricsclient.NewForConfigOrDie(c.config).MetricsV1beta1()
			list, err := mc.PodMetricses(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
			if err != nil {
				t.Fatal(err)
			}
			want := []string{"web-1: app cpu=250m memory=64Mi, sidecar cpu=10m memory=8Mi; labels map[app:web]; 2026-05-01T12:00:00Z 15s",
				"web-2: app cpu=750m memory=96Mi; labels map[app:web]; 2026-05-01T12:00:00Z 15s"}
			if diff := cmp.Diff(want, describeAll(list.Items)); diff != "" {
				t.Errorf("list app=web (-want +got):\n%s", diff)
			}

			got, err := mc.PodMetricses(ns).Get(ctx, "db-1", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff("db-1: db cpu=1 memory=1Gi; labels map[app:db]; 2026-05-01T12:00:00Z 15s", describe(*got)); diff != "" {
				t.Errorf("get db-1 (-want +got):\n%s", diff)
			}
			for _, name := range []string{"web-idle", "no-such-pod"} {
				if _, err := mc.PodMetricses(ns).Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
					t.Errorf("get %s: err = %v, want NotFound", name, err)
				}
			}
			if _, err := mc.PodMetricses(ns).List(ctx, metav1.ListOptions{LabelSelector: "app in (web"}); !apierrors.IsBadRequest(err) {
				t.Errorf("a bad selector: err = %v, want BadRequest", err)
			}
		})
	}

	admin := metricsclient.NewForConfigOrDie(k.Config).MetricsV1beta1()
	all, err := admin.PodMetricses(metav1.NamespaceAll).List(ctx, metav1.ListOptions{FieldSelector: "metadata.namespace=" + ns})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"db-1", "web-1", "web-2"}, names(all.Items)); diff != "" {
		t.Errorf("all namespaces (-want +got):\n%s", diff)
	}

	pm.Delete(ns, "web-1")
	pm.Set(ns, "web-2", map[string]corev1.ResourceList{"app": usage("100m", "96Mi")}, time.Time{}, 30*time.Second)
	before := time.Now().Add(-time.Second) // metav1.Time has whole seconds
	list, err := admin.PodMetricses(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || list.Items[0].Name != "web-2" {
		t.Fatalf("after Delete(web-1): %v", describeAll(list.Items))
	}
	if cpu := list.Items[0].Containers[0].Usage.Cpu().String(); cpu != "100m" {
		t.Errorf("web-2 cpu after Set = %s, want 100m", cpu)
	}
	if ts := list.Items[0].Timestamp.Time; ts.Before(before) {
		t.Errorf("a zero timestamp gave %v, want the time of the request (after %v)", ts, before)
	}

	// The raw path metrics-server serves, as `kubectl get --raw` asks it.
	raw, err := k.Clientset.CoreV1().RESTClient().Get().AbsPath("/apis/metrics.k8s.io/v1beta1/namespaces", ns, "pods").DoRaw(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"kind":"PodMetricsList"`) {
		t.Errorf("raw list: %s", raw)
	}
}

func describeAll(items []metricsv1beta1.PodMetrics) []string {
	var out []string
	for _, m := range items {
		out = append(out, describe(m))
	}
	return out
}

func describe(m metricsv1beta1.PodMetrics) string {
	var cs []string
	for _, c := range m.Containers {
		cs = append(cs, fmt.Sprintf("%s cpu=%s memory=%s", c.Name, c.Usage.Cpu(), c.Usage.Memory()))
	}
	return fmt.Sprintf("%s: %s; labels %v; %s %s", m.Name, strings.Join(cs, ", "), m.Labels, m.Timestamp.UTC().Format(time.RFC3339), m.Window.Duration)
}

func names(items []metricsv1beta1.PodMetrics) []string {
	var out []string
	for _, m := range items {
		out = append(out, m.Name)
	}
	return out
}

// TestStartKube starts a private API server (with a flag of its own) and
// checks that the watchdog stops it when the test process's end of the
// pipe closes, as it does when the process dies without Close.
func TestStartKube(t *testing.T) {
	t.Parallel()
	k := StartKube(t, KubeOptions{APIServerFlags: map[string][]string{"event-ttl": {"5m"}}})
	ctx := testContext(t)
	if _, err := k.Clientset.CoreV1().Namespaces().Get(ctx, metav1.NamespaceDefault, metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	apiPid, err := childWithArg(k.env.ControlPlane.APIServer.CertDir)
	if err != nil {
		t.Fatal(err)
	}
	etcdPid, err := childWithArg(k.env.ControlPlane.Etcd.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.reaperPipe.Close(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range []int{apiPid, etcdPid} {
		eventually(t, 30*time.Second, fmt.Sprintf("the watchdog to kill process %d", pid), func() error {
			return groupGone(pid)
		})
	}
	// The watchdog has exited; Close (in Cleanup) finds the servers gone.
	_ = k.reaper.Wait()
	k.reaper = nil
}

func TestNamespacePrefix(t *testing.T) {
	for _, c := range []struct{ name, test, want string }{
		{"simple", "TestKube", "testkube-"},
		{"subtest", "TestPodMetrics/json", "testpodmetrics-json-"},
		{"odd characters", "Test_A#B  c", "test-a-b-c-"},
		{"long", "Test" + strings.Repeat("x", 100), "test" + strings.Repeat("x", 36) + "-"},
		{"nothing left", "###", "test-"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := namespacePrefix(c.test); got != c.want {
				t.Errorf("namespacePrefix(%q) = %q, want %q", c.test, got, c.want)
			}
		})
	}
}
