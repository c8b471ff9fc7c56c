package charttest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/lint/support"
	"helm.sh/helm/v3/pkg/releaseutil"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/valuesschema"
)

const (
	repoRoot = "../.."
	chartDir = repoRoot + "/charts/hpa-autoscaler"
	// kubeVersion is what the chart is rendered for: the envtest API
	// server's (hack/envtest/build.sh). The SDK's default is 1.20.
	kubeVersion = "v1.36.3"
)

func kubeVersionOf(tb testing.TB) *chartutil.KubeVersion {
	tb.Helper()
	kv, err := chartutil.ParseKubeVersion(kubeVersion)
	if err != nil {
		tb.Fatal(err)
	}
	return kv
}

// loadChart loads the chart from its directory, as helm install ./chart.
func loadChart(tb testing.TB) *chart.Chart {
	tb.Helper()
	ch, err := loader.Load(chartDir)
	if err != nil {
		tb.Fatalf("load %s: %v", chartDir, err)
	}
	return ch
}

// valuesFile reads a values file of testdata (or "" for none).
func valuesFile(tb testing.TB, name string) map[string]any {
	tb.Helper()
	if name == "" {
		return map[string]any{}
	}
	vals, err := chartutil.ReadValuesFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return vals.AsMap()
}

// render runs helm install --dry-run (client only, as helm template) and
// returns the release's objects and its NOTES.
func render(tb testing.TB, ch *chart.Chart, namespace string, vals map[string]any) ([]*unstructured.Unstructured, string) {
	tb.Helper()
	objs, notes, err := tryRender(tb, ch, namespace, vals)
	if err != nil {
		tb.Fatalf("render: %v", err)
	}
	return objs, notes
}

func tryRender(tb testing.TB, ch *chart.Chart, namespace string, vals map[string]any) ([]*unstructured.Unstructured, string, error) {
	tb.Helper()
	inst := action.NewInstall(&action.Configuration{})
	inst.DryRun = true
	inst.ClientOnly = true
	inst.Replace = true
	inst.ReleaseName = "hpa"
	inst.Namespace = namespace
	inst.KubeVersion = kubeVersionOf(tb)
	inst.IncludeCRDs = true
	rel, err := inst.Run(ch, vals)
	if err != nil {
		return nil, "", err
	}
	objs, err := decode(rel.Manifest)
	return objs, rel.Info.Notes, err
}

// decode splits a release's manifest into objects, in Helm's order.
func decode(manifest string) ([]*unstructured.Unstructured, error) {
	docs := releaseutil.SplitManifests(manifest)
	keys := make([]string, 0, len(docs))
	for k := range docs {
		keys = append(keys, k)
	}
	sort.Sort(releaseutil.BySplitManifestsOrder(keys))
	var objs []*unstructured.Unstructured
	for _, k := range keys {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(docs[k]), &m); err != nil {
			return nil, fmt.Errorf("%s: %w\n%s", k, err, docs[k])
		}
		if m == nil {
			continue
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
	return objs, nil
}

func kinds(objs []*unstructured.Unstructured) map[string]int {
	m := map[string]int{}
	for _, o := range objs {
		m[o.GetKind()]++
	}
	return m
}

func find(tb testing.TB, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	tb.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	tb.Fatalf("no %s %s among the rendered objects", kind, name)
	return nil
}

// withDashboard is the chart with one dashboard file, as the chart will
// have under dashboards/ (the dashboards' JSON is a later part of issue 13).
func withDashboard(ch *chart.Chart) *chart.Chart {
	ch.Files = append(ch.Files, &chart.File{Name: "dashboards/scaling-overview.json",
		Data: []byte(`{"title": "hpa-autoscaler: scaling overview", "panels": []}` + "\n")})
	return ch
}

// makefileImage is the repository `make image` tags (Makefile's IMAGE).
func makefileImage(tb testing.TB) string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "Makefile"))
	if err != nil {
		tb.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^IMAGE\s*\?=\s*(\S+)\s*$`).FindSubmatch(b)
	if m == nil {
		tb.Fatal("Makefile: no IMAGE ?= line")
	}
	return string(m[1])
}

func TestLintStrict(t *testing.T) {
	for _, file := range []string{"", "all-features.yaml", "production.yaml"} {
		t.Run("values="+file, func(t *testing.T) {
			l := action.NewLint()
			l.Strict = true
			l.Namespace = "hpa-system"
			l.KubeVersion = kubeVersionOf(t)
			res := l.Run([]string{chartDir}, valuesFile(t, file))
			for _, m := range res.Messages {
				// INFO is advice (an icon); warnings are errors under Strict.
				if m.Severity > support.InfoSev {
					t.Errorf("lint: %s", m)
				}
			}
			for _, err := range res.Errors {
				t.Errorf("lint error: %v", err)
			}
		})
	}
}

// TestRenderDefaults: the defaults are the embedded SQLite on a claim, one
// backend, one agent, the CRD, least-privilege RBAC, self-signed mTLS;
// nothing that needs another operator.
func TestRenderDefaults(t *testing.T) {
	objs, notes := render(t, loadChart(t), "hpa-system", nil)
	want := map[string]int{
		"CustomResourceDefinition": 1,
		"ServiceAccount":           2,
		"Secret":                   4, // the CA and the backend's, agent's and client's certificates
		"ConfigMap":                1,
		"PersistentVolumeClaim":    1,
		"ClusterRole":              1,
		"ClusterRoleBinding":       1,
		"Role":                     1,
		"RoleBinding":              1,
		"Service":                  2,
		"Deployment":               2,
	}
	if diff := cmp.Diff(want, kinds(objs)); diff != "" {
		t.Errorf("kinds (-want +got):\n%s", diff)
	}
	checkObjects(t, objs, "0.1.0")

	backend := find(t, objs, "Deployment", "hpa-hpa-autoscaler-backend")
	if r := intField(backend, "spec", "replicas"); r != 1 {
		t.Errorf("backend replicas %d, want 1 (SQLite)", r)
	}
	if s, _, _ := unstructured.NestedString(backend.Object, "spec", "strategy", "type"); s != "Recreate" {
		t.Errorf("backend strategy %q, want Recreate (one pod owns the SQLite file)", s)
	}
	cm := find(t, objs, "ConfigMap", "hpa-hpa-autoscaler-backend")
	cfg, _, _ := unstructured.NestedString(cm.Object, "data", "backend.yaml")
	for _, want := range []string{"type: sqlite", "path: /var/lib/hpa-autoscaler/hpa-autoscaler.db",
		`certFile: "/etc/hpa-autoscaler/tls/tls.crt"`, "clientAuth: require-and-verify", "port: 9090"} {
		if !strings.Contains(cfg, want) {
			t.Errorf("backend.yaml has no %q:\n%s", want, cfg)
		}
	}
	agent := find(t, objs, "Deployment", "hpa-hpa-autoscaler-agent")
	args := containerArgs(t, agent)
	for _, want := range []string{"agent", "--leader-elect", "--leader-elect-namespace=hpa-system", "--sync-period=15s"} {
		if !slices.Contains(args, want) {
			t.Errorf("agent args %q lack %s", args, want)
		}
	}
	if slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--backend") }) {
		t.Errorf("agent args %q: the backend link is off by default", args)
	}
	for _, want := range []string{"kubectl -n hpa-system port-forward svc/hpa-hpa-autoscaler-backend 8080:8080",
		"hpa-autoscaler-admin.token", "/hpa-autoscaler token create --db sqlite:/var/lib/hpa-autoscaler/hpa-autoscaler.db --tenant default --role admin", "kind: Scaler", "type: external", "scalerAddress: hpa-hpa-autoscaler-backend.hpa-system.svc:9443"} {
		if !strings.Contains(notes, want) {
			t.Errorf("NOTES.txt has no %q:\n%s", want, notes)
		}
	}
}

func containerArgs(tb testing.TB, o *unstructured.Unstructured) []string {
	tb.Helper()
	cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
	if len(cs) != 1 {
		tb.Fatalf("%s: %d containers, want 1", o.GetName(), len(cs))
	}
	args, _, _ := unstructured.NestedStringSlice(cs[0].(map[string]any), "args")
	return args
}

func TestRenderAllFeatures(t *testing.T) {
	objs, _ := render(t, withDashboard(loadChart(t)), "hpa-system", valuesFile(t, "all-features.yaml"))
	want := map[string]int{
		"CustomResourceDefinition": 1,
		"ServiceAccount":           2,
		"Secret":                   4,
		"ConfigMap":                2, // serve's configuration, one dashboard
		"ClusterRole":              1,
		"ClusterRoleBinding":       1,
		"Role":                     1,
		"RoleBinding":              1,
		"Service":                  2,
		"Deployment":               2,
		"PodDisruptionBudget":      2,
		"NetworkPolicy":            2,
		"ServiceMonitor":           1,
		"PrometheusRule":           1,
	}
	if diff := cmp.Diff(want, kinds(objs)); diff != "" {
		t.Errorf("kinds (-want +got):\n%s", diff)
	}
	checkObjects(t, objs, "v1.2.3-test")

	backend := find(t, objs, "Deployment", "hpa-hpa-autoscaler-backend")
	if r := intField(backend, "spec", "replicas"); r != 3 {
		t.Errorf("backend replicas %d, want 3", r)
	}
	if _, ok, _ := unstructured.NestedString(backend.Object, "spec", "strategy", "type"); ok {
		t.Error("backend on PostgreSQL has the Recreate strategy")
	}
	for _, d := range []*unstructured.Unstructured{backend, find(t, objs, "Deployment", "hpa-hpa-autoscaler-agent")} {
		// Without it the Secrets' files are root's, unreadable by 65532.
		if g := intField(d, "spec", "template", "spec", "securityContext", "fsGroup"); g != 65532 {
			t.Errorf("%s: fsGroup %d, want 65532", d.GetName(), g)
		}
	}
	if k := kinds(objs)["PersistentVolumeClaim"]; k != 0 {
		t.Errorf("PostgreSQL with 3 replicas: %d claims, want none", k)
	}
	cm := find(t, objs, "ConfigMap", "hpa-hpa-autoscaler-backend")
	cfg, _, _ := unstructured.NestedString(cm.Object, "data", "backend.yaml")
	for _, want := range []string{"type: postgres", `host: "postgres.database.svc"`, "passwordFile: /etc/hpa-autoscaler/database/password",
		"maxConnections: 100", "signingKeyFile: /etc/hpa-autoscaler/audit/signing.key", "requestsPerMinute: 1200", "level: debug"} {
		if !strings.Contains(cfg, want) {
			t.Errorf("backend.yaml has no %q:\n%s", want, cfg)
		}
	}
	if !slices.Contains(containerArgs(t, backend), "--grpc-max-connection-age=30m") {
		t.Error("backend.extraArgs not passed")
	}
	agent := find(t, objs, "Deployment", "hpa-hpa-autoscaler-agent")
	if r := intField(agent, "spec", "replicas"); r != 2 {
		t.Errorf("agent replicas %d, want 2", r)
	}
	args := containerArgs(t, agent)
	for _, want := range []string{"--backend=hpa-hpa-autoscaler-backend.hpa-system.svc:9443", "--cluster-id=prod-eu-1",
		"--agent-token-file=/etc/hpa-autoscaler/agent-token/token", "--namespace=apps",
		"--backend-tls-ca=/etc/hpa-autoscaler/tls/ca.crt", "--backend-tls-cert=/etc/hpa-autoscaler/tls/tls.crt", "--backend-tls-key=/etc/hpa-autoscaler/tls/tls.key", "--dry-run", "--sync-period=30s", "--log-level=debug"} {
		if !slices.Contains(args, want) {
			t.Errorf("agent args %q lack %s", args, want)
		}
	}
	crd := find(t, objs, "CustomResourceDefinition", "scalers.autoscaling.hpa-agent.io")
	if _, ok := crd.GetAnnotations()["helm.sh/resource-policy"]; ok {
		t.Error("crds.keep false, but the CRD has helm.sh/resource-policy")
	}
	dash := find(t, objs, "ConfigMap", "hpa-hpa-autoscaler-dashboard-scaling-overview")
	if l := dash.GetLabels(); l["grafana_dashboard"] != "1" || l["grafana_folder"] != "hpa-autoscaler" {
		t.Errorf("dashboard ConfigMap labels %v", l)
	}
	rule := find(t, objs, "PrometheusRule", "hpa-hpa-autoscaler")
	var alerts []string
	groups, _, _ := unstructured.NestedSlice(rule.Object, "spec", "groups")
	for _, g := range groups {
		rules, _, _ := unstructured.NestedSlice(g.(map[string]any), "rules")
		for _, r := range rules {
			alerts = append(alerts, r.(map[string]any)["alert"].(string))
		}
	}
	if diff := cmp.Diff([]string{"HPAScalingLatencyHigh", "HPAAgentDisconnected", "HPAHighErrorRate"}, alerts); diff != "" {
		t.Errorf("alerts (-want +got):\n%s", diff)
	}
	if l := rule.GetLabels(); l["release"] != "kube-prometheus-stack" {
		t.Errorf("PrometheusRule labels %v lack monitoring.prometheus.labels", l)
	}
}

// TestDesignProductionValues: the design's values-production.yaml is
// accepted key for key by the schema; it names a PostgreSQL host and three
// replicas without the Secrets they need, and the chart says which.
func TestDesignProductionValues(t *testing.T) {
	ch := loadChart(t)
	_, _, err := tryRender(t, ch, "hpa-system", valuesFile(t, "values-production.yaml"))
	if err == nil || !strings.Contains(err.Error(), "backend.audit.signingKeySecret: required with PostgreSQL and more than one replica") {
		t.Fatalf("render of the design's file: %v, want the signing key's requirement", err)
	}
	objs, _ := render(t, ch, "hpa-system", valuesFile(t, "production.yaml"))
	backend := find(t, objs, "Deployment", "hpa-hpa-autoscaler-backend")
	if r := intField(backend, "spec", "replicas"); r != 3 {
		t.Errorf("backend replicas %d, want 3", r)
	}
	cs, _, _ := unstructured.NestedSlice(backend.Object, "spec", "template", "spec", "containers")
	if lim, _, _ := unstructured.NestedString(cs[0].(map[string]any), "resources", "limits", "memory"); lim != "4Gi" {
		t.Errorf("backend memory limit %q, want 4Gi", lim)
	}
	// The design's certificate paths: the Secret is mounted under them.
	cm := find(t, objs, "ConfigMap", "hpa-hpa-autoscaler-backend")
	cfg, _, _ := unstructured.NestedString(cm.Object, "data", "backend.yaml")
	if !strings.Contains(cfg, `certFile: "/etc/certs/server.crt"`) {
		t.Errorf("backend.yaml:\n%s", cfg)
	}
	mounts, _, _ := unstructured.NestedSlice(cs[0].(map[string]any), "volumeMounts")
	if !slices.ContainsFunc(mounts, func(m any) bool { return m.(map[string]any)["mountPath"] == "/etc/certs" }) {
		t.Errorf("no volume at /etc/certs: %v", mounts)
	}
	if n := kinds(objs)["DaemonSet"]; n != 0 {
		t.Errorf("%d DaemonSets: the agent is a Deployment whatever agent.daemonset.enabled says", n)
	}
}

// TestValuesRejected: the schema closes every object of values.yaml, and
// the chart's own checks name the key.
func TestValuesRejected(t *testing.T) {
	ch := loadChart(t)
	tests := []struct {
		name string
		vals string
		want string
	}{
		{"unknown key", "backend: {replica: 2}", "replica"},
		{"wrong type", "backend: {replicas: three}", "replicas"},
		{"bad enum", "certificates: {mode: acme}", "mode"},
		{"sqlite replicas", "backend: {replicas: 2}", "backend.replicas: more than 1 needs PostgreSQL"},
		{"postgres without password", "backend: {database: {host: db}}", "backend.database.existingSecret: required"},
		{"password twice", "backend: {database: {host: db, password: x, existingSecret: s}}", "backend.database.password: given with"},
		{"link without token", "agent: {config: {backend: {enabled: true, clusterID: c}}}", "agent.config.backend.tokenSecret: required"},
		{"link without cluster", "agent: {config: {backend: {enabled: true, tokenSecret: t}}}", "agent.config.backend.clusterID: required"},
		{"existing secret unnamed", "certificates: {mode: existingSecret}", "certificates.existingSecret.backend: required"},
		{"tls files apart", "backend: {grpc: {tls: {keyFile: /elsewhere/tls.key}}}", "one directory"},
		{"postgres replicas without a key", "backend: {replicas: 2, database: {host: db, existingSecret: s}}", "backend.audit.signingKeySecret: required with PostgreSQL and more than one replica"},
		{"bad duration", "agent: {config: {metricsInterval: soon}}", "metricsInterval"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var vals map[string]any
			if err := yaml.Unmarshal([]byte(tc.vals), &vals); err != nil {
				t.Fatal(err)
			}
			_, _, err := tryRender(t, ch, "hpa-system", vals)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("render: %v, want an error naming %q", err, tc.want)
			}
		})
	}
}

func TestRenderTLSModes(t *testing.T) {
	ch := loadChart(t)
	t.Run("certManager", func(t *testing.T) {
		objs, _ := render(t, ch, "hpa-system", map[string]any{"certificates": map[string]any{"mode": "certManager"}})
		k := kinds(objs)
		if k["Issuer"] != 2 || k["Certificate"] != 4 || k["Secret"] != 0 {
			t.Errorf("kinds %v, want 2 Issuers (self-signed, CA), 4 Certificates (CA, backend, agent, client), no Secret", k)
		}
		checkObjects(t, objs, "0.1.0")
		with, _ := render(t, ch, "hpa-system", map[string]any{"certificates": map[string]any{"mode": "certManager",
			"certManager": map[string]any{"issuerRef": map[string]any{"name": "corp-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"}}}})
		if k := kinds(with); k["Issuer"] != 0 || k["Certificate"] != 3 {
			t.Errorf("with issuerRef: kinds %v, want no Issuer, 3 Certificates", k)
		}
		cert := find(t, with, "Certificate", "hpa-hpa-autoscaler-backend-tls")
		if n, _, _ := unstructured.NestedString(cert.Object, "spec", "issuerRef", "name"); n != "corp-ca" {
			t.Errorf("backend Certificate issuer %q, want corp-ca", n)
		}
	})
	t.Run("existingSecret", func(t *testing.T) {
		objs, _ := render(t, ch, "hpa-system", map[string]any{"certificates": map[string]any{"mode": "existingSecret",
			"existingSecret": map[string]any{"backend": "my-backend-tls", "agent": "my-agent-tls"}}})
		if k := kinds(objs); k["Secret"] != 0 {
			t.Errorf("kinds %v, want no Secret", k)
		}
		backend := find(t, objs, "Deployment", "hpa-hpa-autoscaler-backend")
		vols, _, _ := unstructured.NestedSlice(backend.Object, "spec", "template", "spec", "volumes")
		if !slices.ContainsFunc(vols, func(v any) bool {
			n, _, _ := unstructured.NestedString(v.(map[string]any), "secret", "secretName")
			return n == "my-backend-tls"
		}) {
			t.Errorf("backend volumes %v lack my-backend-tls", vols)
		}
	})
	t.Run("off", func(t *testing.T) {
		objs, _ := render(t, ch, "hpa-system", map[string]any{"backend": map[string]any{"grpc": map[string]any{"tls": map[string]any{"enabled": false}}}})
		if k := kinds(objs); k["Secret"] != 0 {
			t.Errorf("kinds %v, want no Secret", k)
		}
		cm := find(t, objs, "ConfigMap", "hpa-hpa-autoscaler-backend")
		if cfg, _, _ := unstructured.NestedString(cm.Object, "data", "backend.yaml"); !strings.Contains(cfg, "enabled: false") {
			t.Errorf("backend.yaml:\n%s", cfg)
		}
	})
}

// checkObjects holds every rendered object to the chart's rules: labels,
// the images `make image` builds, secure pods, no secret in a ConfigMap.
func checkObjects(t *testing.T, objs []*unstructured.Unstructured, tag string) {
	t.Helper()
	wantImage := makefileImage(t) + ":" + tag
	var secrets []string
	for _, o := range objs {
		if o.GetKind() != "Secret" {
			continue
		}
		data, _, _ := unstructured.NestedStringMap(o.Object, "data")
		for k, v := range data {
			dec, err := decodeBase64(v)
			if err != nil {
				t.Errorf("Secret %s key %s: %v", o.GetName(), k, err)
			}
			secrets = append(secrets, dec)
		}
	}
	for _, o := range objs {
		id := o.GetKind() + " " + o.GetName()
		l := o.GetLabels()
		for _, k := range []string{"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/managed-by", "app.kubernetes.io/part-of", "helm.sh/chart"} {
			if l[k] == "" {
				t.Errorf("%s: no label %s (labels %v)", id, k, l)
			}
		}
		if o.GetNamespace() == "" && !slices.Contains([]string{"CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"}, o.GetKind()) {
			t.Errorf("%s: no namespace", id)
		}
		switch o.GetKind() {
		case "Deployment", "StatefulSet", "DaemonSet", "Job":
			checkPod(t, id, o, wantImage)
		case "ConfigMap":
			data, _, _ := unstructured.NestedStringMap(o.Object, "data")
			for k, v := range data {
				for _, s := range secrets {
					if len(s) >= 8 && strings.Contains(v, s) {
						t.Errorf("%s key %s holds a Secret's value", id, k)
					}
				}
				for _, marker := range []string{"PRIVATE KEY", "password:"} {
					if strings.Contains(v, marker) {
						t.Errorf("%s key %s holds %q", id, k, marker)
					}
				}
				if apiToken.MatchString(v) {
					t.Errorf("%s key %s holds an API token", id, k)
				}
			}
		case "ClusterRole", "Role":
			rules, _, _ := unstructured.NestedSlice(o.Object, "rules")
			for _, r := range rules {
				res, _, _ := unstructured.NestedStringSlice(r.(map[string]any), "resources")
				verbs, _, _ := unstructured.NestedStringSlice(r.(map[string]any), "verbs")
				if slices.Contains(res, "secrets") && !cmp.Equal(verbs, []string{"get"}) {
					t.Errorf("%s: secrets with verbs %v, want get only", id, verbs)
				}
				if slices.Contains(res, "*") || slices.Contains(verbs, "*") {
					t.Errorf("%s: a wildcard rule %v", id, r)
				}
			}
		}
	}
}

// apiToken is the shape of an API token (backend/auth).
var apiToken = regexp.MustCompile(`hpa_[a-z0-9-]+_[A-Za-z0-9]+_[A-Za-z0-9]+_[A-Za-z0-9]+`)

// intField is a number of a decoded object (JSON numbers are float64).
func intField(o *unstructured.Unstructured, path ...string) int64 {
	v, _, _ := unstructured.NestedFieldNoCopy(o.Object, path...)
	switch n := v.(type) {
	case float64:
		return int64(n)
	case int64:
		return n
	}
	return -1
}

func decodeBase64(s string) (string, error) {
	var b []byte
	if err := json.Unmarshal([]byte(`"`+s+`"`), &b); err != nil { // JSON []byte is base64
		return "", err
	}
	return string(b), nil
}

func checkPod(t *testing.T, id string, o *unstructured.Unstructured, wantImage string) {
	t.Helper()
	spec, _, _ := unstructured.NestedMap(o.Object, "spec", "template", "spec")
	psc, _, _ := unstructured.NestedMap(spec, "securityContext")
	if psc["runAsNonRoot"] != true {
		t.Errorf("%s: pod runAsNonRoot %v", id, psc["runAsNonRoot"])
	}
	if s, _, _ := unstructured.NestedString(psc, "seccompProfile", "type"); s != "RuntimeDefault" {
		t.Errorf("%s: pod seccompProfile %q", id, s)
	}
	if labels, _, _ := unstructured.NestedStringMap(o.Object, "spec", "template", "metadata", "labels"); labels["app.kubernetes.io/component"] == "" {
		t.Errorf("%s: pod template without a component label", id)
	}
	var containers []any
	for _, k := range []string{"initContainers", "containers"} {
		cs, _, _ := unstructured.NestedSlice(spec, k)
		containers = append(containers, cs...)
	}
	for _, c := range containers {
		c := c.(map[string]any)
		cid := id + " container " + c["name"].(string)
		if c["image"] != wantImage {
			t.Errorf("%s: image %v, want %s (make image)", cid, c["image"], wantImage)
		}
		sc, _, _ := unstructured.NestedMap(c, "securityContext")
		for k, want := range map[string]any{"runAsNonRoot": true, "readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false} {
			if sc[k] != want {
				t.Errorf("%s: %s %v, want %v", cid, k, sc[k], want)
			}
		}
		if drop, _, _ := unstructured.NestedStringSlice(sc, "capabilities", "drop"); !cmp.Equal(drop, []string{"ALL"}) {
			t.Errorf("%s: capabilities drop %v, want [ALL]", cid, drop)
		}
		if add, ok, _ := unstructured.NestedStringSlice(sc, "capabilities", "add"); ok && len(add) > 0 {
			t.Errorf("%s: capabilities add %v", cid, add)
		}
		if s, _, _ := unstructured.NestedString(sc, "seccompProfile", "type"); s != "RuntimeDefault" {
			t.Errorf("%s: seccompProfile %q", cid, s)
		}
		if _, ok := c["resources"]; !ok {
			t.Errorf("%s: no resources", cid)
		}
		for _, p := range []string{"livenessProbe", "readinessProbe"} {
			if _, ok := c[p]; !ok {
				t.Errorf("%s: no %s", cid, p)
			}
		}
	}
}

// TestCRDsMatchConfig: the chart's CRD is config/crd's, byte for byte in
// files/crds/ and object for object once rendered (the chart adds only its
// labels and the keep annotation).
func TestCRDsMatchConfig(t *testing.T) {
	entries, err := os.ReadDir(filepath.Join(repoRoot, "config", "crd"))
	if err != nil {
		t.Fatal(err)
	}
	objs, _ := render(t, loadChart(t), "hpa-system", nil)
	var names []string
	for _, e := range entries {
		want, err := os.ReadFile(filepath.Join(repoRoot, "config", "crd", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(chartDir, "files", "crds", e.Name()))
		if err != nil {
			t.Fatalf("%v (make generate copies config/crd/ to the chart)", err)
		}
		if !bytes.Equal(want, got) {
			t.Errorf("charts/hpa-autoscaler/files/crds/%s differs from config/crd/ (run make generate)", e.Name())
		}
		var crd map[string]any
		if err := yaml.Unmarshal(want, &crd); err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{Object: crd}
		names = append(names, u.GetName())
		rendered := find(t, objs, "CustomResourceDefinition", u.GetName()).DeepCopy()
		if rendered.GetAnnotations()["helm.sh/resource-policy"] != "keep" {
			t.Errorf("%s: crds.keep is on by default, annotation missing", u.GetName())
		}
		a := rendered.GetAnnotations()
		delete(a, "helm.sh/resource-policy")
		rendered.SetAnnotations(a)
		rendered.SetLabels(nil)
		if diff := cmp.Diff(u.Object, rendered.Object); diff != "" {
			t.Errorf("rendered %s differs from config/crd/%s (-config +chart):\n%s", u.GetName(), e.Name(), diff)
		}
	}
	if k := kinds(objs)["CustomResourceDefinition"]; k != len(names) {
		t.Errorf("%d CRDs rendered, config/crd has %d", k, len(names))
	}
	off, _ := render(t, loadChart(t), "hpa-system", map[string]any{"crds": map[string]any{"install": false}})
	if k := kinds(off)["CustomResourceDefinition"]; k != 0 {
		t.Errorf("crds.install false: %d CRDs rendered", k)
	}
}

// TestRBACMatchesConfig: the chart's roles have config/rbac/role.yaml's
// rules, generated from the agent's kubebuilder markers.
func TestRBACMatchesConfig(t *testing.T) {
	want, err := os.ReadFile(filepath.Join(repoRoot, "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(chartDir, "files", "rbac", "role.yaml"))
	if err != nil || !bytes.Equal(want, got) {
		t.Fatalf("charts/hpa-autoscaler/files/rbac/role.yaml differs from config/rbac/role.yaml (run make generate): %v", err)
	}
	roles, err := decode(string(want))
	if err != nil {
		t.Fatal(err)
	}
	objs, _ := render(t, loadChart(t), "hpa-system", nil)
	for _, r := range roles {
		rendered := find(t, objs, r.GetKind(), "hpa-hpa-autoscaler-agent")
		if diff := cmp.Diff(r.Object["rules"], rendered.Object["rules"]); diff != "" {
			t.Errorf("%s rules (-config/rbac +chart):\n%s", r.GetKind(), diff)
		}
		binding := find(t, objs, r.GetKind()+"Binding", "hpa-hpa-autoscaler-agent")
		subjects, _, _ := unstructured.NestedSlice(binding.Object, "subjects")
		if len(subjects) != 1 || subjects[0].(map[string]any)["name"] != "hpa-hpa-autoscaler-agent" {
			t.Errorf("%sBinding subjects %v, want the agent's ServiceAccount", r.GetKind(), subjects)
		}
	}
	off, _ := render(t, loadChart(t), "hpa-system", map[string]any{"security": map[string]any{"rbac": map[string]any{"create": false}}})
	if k := kinds(off); k["ClusterRole"]+k["Role"]+k["ClusterRoleBinding"]+k["RoleBinding"] != 0 {
		t.Errorf("security.rbac.create false: kinds %v", k)
	}
}

// TestSchemaUpToDate: values.schema.json is what hack/valuesschema makes
// of values.yaml.
func TestSchemaUpToDate(t *testing.T) {
	values, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := valuesschema.Generate(values)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(chartDir, "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(want, got) {
		t.Errorf("charts/hpa-autoscaler/values.schema.json is stale: run make generate (go run ./hack/valuesschema charts/hpa-autoscaler)")
	}
	// Every key of values.yaml has a description.
	var schema map[string]any
	if err := json.Unmarshal(got, &schema); err != nil {
		t.Fatal(err)
	}
	var undocumented []string
	var walk func(path string, s map[string]any)
	walk = func(path string, s map[string]any) {
		props, _ := s["properties"].(map[string]any)
		for k, v := range props {
			p := strings.TrimPrefix(path+"."+k, ".")
			v := v.(map[string]any)
			if _, ok := v["description"]; !ok {
				if _, obj := v["properties"]; !obj {
					undocumented = append(undocumented, p)
				}
			}
			walk(p, v)
		}
	}
	walk("", schema)
	sort.Strings(undocumented)
	if len(undocumented) > 0 {
		t.Errorf("keys of values.yaml without a comment: %v", undocumented)
	}
}

// TestImageRepository: values.yaml's image is the one `make image` tags.
func TestImageRepository(t *testing.T) {
	ch := loadChart(t)
	img := ch.Values["image"].(map[string]any)
	if img["repository"] != makefileImage(t) {
		t.Errorf("image.repository %v, Makefile IMAGE %s", img["repository"], makefileImage(t))
	}
	objs, _ := render(t, ch, "hpa-system", map[string]any{"image": map[string]any{"digest": "sha256:" + strings.Repeat("ab", 32)}})
	backend := find(t, objs, "Deployment", "hpa-hpa-autoscaler-backend")
	cs, _, _ := unstructured.NestedSlice(backend.Object, "spec", "template", "spec", "containers")
	if got := cs[0].(map[string]any)["image"]; got != makefileImage(t)+"@sha256:"+strings.Repeat("ab", 32) {
		t.Errorf("image with a digest: %v", got)
	}
}

// TestDocsListEveryValue: docs/install.md names every key of
// values.schema.json (down to the open objects such as resources).
func TestDocsListEveryValue(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(repoRoot, "docs", "install.md"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(chartDir, "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(b, &schema); err != nil {
		t.Fatal(err)
	}
	var missing []string
	var walk func(path string, s map[string]any)
	walk = func(path string, s map[string]any) {
		props, ok := s["properties"].(map[string]any)
		if !ok {
			if !bytes.Contains(doc, []byte("`"+path+"`")) {
				missing = append(missing, path)
			}
			return
		}
		for k, v := range props {
			walk(strings.TrimPrefix(path+"."+k, "."), v.(map[string]any))
		}
	}
	walk("", schema)
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("docs/install.md does not name these values (as `key`): %v", missing)
	}
}

// goModDownload is `go mod download -json mod@version` of one module
// (into the module cache; go.mod is not changed): its directory.
func goModDownload(tb testing.TB, mod string) string {
	tb.Helper()
	cmd := exec.Command("go", "mod", "download", "-json", mod)
	cmd.Dir = repoRoot
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("go mod download %s: %v: %s", mod, err, stderr.String())
	}
	var info struct{ Dir, Error string }
	if err := json.Unmarshal(out, &info); err != nil || info.Dir == "" {
		tb.Fatalf("go mod download %s: %v %s", mod, err, info.Error)
	}
	return info.Dir
}

// TestPostgresOneReplica: one PostgreSQL replica keeps its audit key and
// token file on the claim (no signing-key Secret needed), and the claim
// makes the strategy Recreate.
func TestPostgresOneReplica(t *testing.T) {
	objs, _ := render(t, loadChart(t), "hpa-system", map[string]any{"backend": map[string]any{
		"database": map[string]any{"host": "db", "existingSecret": "s"}}})
	if k := kinds(objs)["PersistentVolumeClaim"]; k != 1 {
		t.Errorf("%d claims, want 1", k)
	}
	backend := find(t, objs, "Deployment", "hpa-hpa-autoscaler-backend")
	if s, _, _ := unstructured.NestedString(backend.Object, "spec", "strategy", "type"); s != "Recreate" {
		t.Errorf("strategy %q, want Recreate", s)
	}
	cm := find(t, objs, "ConfigMap", "hpa-hpa-autoscaler-backend")
	if cfg, _, _ := unstructured.NestedString(cm.Object, "data", "backend.yaml"); strings.Contains(cfg, "signingKeyFile") || !strings.Contains(cfg, "type: postgres") {
		t.Errorf("backend.yaml:\n%s", cfg)
	}
}

// TestOneComponent: the backend alone and the agent alone render, each
// without the other's objects.
func TestOneComponent(t *testing.T) {
	ch := loadChart(t)
	backendOnly, _ := render(t, ch, "hpa-system", map[string]any{"agent": map[string]any{"enabled": false}})
	checkObjects(t, backendOnly, "0.1.0")
	if k := kinds(backendOnly); k["ClusterRole"] != 0 || k["Deployment"] != 1 || k["ServiceAccount"] != 1 {
		t.Errorf("agent off: kinds %v", k)
	}
	agentOnly, _ := render(t, ch, "hpa-system", map[string]any{"backend": map[string]any{"enabled": false}})
	checkObjects(t, agentOnly, "0.1.0")
	if k := kinds(agentOnly); k["ConfigMap"] != 0 || k["PersistentVolumeClaim"] != 0 || k["Deployment"] != 1 || k["ClusterRole"] != 1 {
		t.Errorf("backend off: kinds %v", k)
	}
}
