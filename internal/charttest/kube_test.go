package charttest

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"go.uber.org/goleak"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
)

// prometheusOperator is the module whose example/prometheus-operator-crd/
// holds the ServiceMonitor and PrometheusRule CRDs the chart renders
// objects of. Not in go.mod (no package of it is imported): the test
// downloads this version alone into the module cache. v0.85.0 requires
// k8s.io v0.33, below go.mod's, so it would change no other version if it
// were added.
const prometheusOperator = "github.com/prometheus-operator/prometheus-operator@v0.85.0"

// kube is the package's API server, with the Prometheus Operator's CRDs;
// the chart installs the Scaler CRD itself.
var kube testenv.SharedKube

func TestMain(m *testing.M) {
	ctrllog.SetLogger(logr.Discard())
	klog.SetLogger(logr.Discard())
	goleak.VerifyTestMain(removeBinary{kube.Wrap(m)},
		goleak.IgnoreTopFunction("k8s.io/klog/v2.(*flushDaemon).run.func1"),
		// client-go's and Helm's process-wide caches and watchers, started
		// once and never stopped.
		goleak.IgnoreAnyFunction("k8s.io/client-go/util/workqueue.(*Typed[...]).updateUnfinishedWorkLoop"),
		goleak.IgnoreAnyFunction("k8s.io/client-go/util/workqueue.(*delayingType[...]).waitingLoop"),
		goleak.IgnoreAnyFunction("k8s.io/apimachinery/pkg/util/wait.BackoffUntil"),
	)
}

func startKube(t *testing.T) *testenv.Kube {
	t.Helper()
	if kube.Options.CRDPaths == nil {
		dir := filepath.Join(goModDownload(t, prometheusOperator), "example", "prometheus-operator-crd")
		kube.Options = testenv.KubeOptions{CRDPaths: []string{
			filepath.Join(dir, "monitoring.coreos.com_servicemonitors.yaml"),
			filepath.Join(dir, "monitoring.coreos.com_prometheusrules.yaml"),
		}}
	}
	return kube.Get(t)
}

// TestServerSideDryRun applies every object of the default and the
// all-features renders with a server-side dry run: the API server checks
// each against its schema (the CRD's own OpenAPI for the ServiceMonitor
// and PrometheusRule), admission and defaulting, without creating it.
func TestServerSideDryRun(t *testing.T) {
	k := startKube(t)
	for _, file := range []string{"", "all-features.yaml", "production.yaml"} {
		t.Run("values="+file, func(t *testing.T) {
			ns := k.NewNamespace(t)
			objs, _ := render(t, withDashboard(loadChart(t)), ns, valuesFile(t, file))
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			// Apply writes the server's answer into its object: keep a copy.
			bad := find(t, objs, "Deployment", "hpa-hpa-autoscaler-agent").DeepCopy()
			for _, o := range objs {
				err := k.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(o),
					client.DryRunAll, client.ForceOwnership, client.FieldOwner("charttest"))
				if err != nil {
					t.Errorf("server-side dry-run apply of %s %s: %v", o.GetKind(), o.GetName(), err)
				}
			}
			// The same apply refuses a field the schema lacks: it checks.
			if err := unstructured.SetNestedField(bad.Object, int64(1), "spec", "replicaCount"); err != nil {
				t.Fatal(err)
			}
			err := k.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(bad),
				client.DryRunAll, client.ForceOwnership, client.FieldOwner("charttest"))
			if err == nil || !strings.Contains(err.Error(), "replicaCount") {
				t.Errorf("dry-run apply of a Deployment with spec.replicaCount: %v, want an error naming it", err)
			}
		})
	}
}

// TestUpgradeKeepsCertificates installs the chart into the API server
// with Helm's own client (action.Install, the release stored in a Secret),
// runs the built agent with the rendered arguments as the chart's
// ServiceAccount (agentRuns), then upgrades it: the upgrade's render looks
// the CA and the certificates up in the cluster and keeps them, and a
// certificate deleted in between is issued again by the same CA.
func TestUpgradeKeepsCertificates(t *testing.T) {
	k := startKube(t)
	ns := k.NewNamespace(t)
	cfg := helmConfig(t, k, ns)
	ch := loadChart(t)
	vals := map[string]any{"crds": map[string]any{"keep": false}}

	inst := action.NewInstall(cfg)
	inst.ReleaseName = "hpa"
	inst.Namespace = ns
	inst.Timeout = time.Minute
	if _, err := inst.Run(ch, vals); err != nil {
		t.Fatalf("helm install: %v", err)
	}
	t.Cleanup(func() {
		un := action.NewUninstall(cfg)
		un.Timeout = time.Minute
		if _, err := un.Run("hpa"); err != nil {
			t.Errorf("helm uninstall: %v", err)
		}
	})
	t.Run("agent as its ServiceAccount", func(t *testing.T) { agentRuns(t, k, ns, ch, vals) })
	t.Run("agent linked to serve with the installed certificates", func(t *testing.T) { agentLinked(t, k, ns, ch) })

	names := []string{"hpa-hpa-autoscaler-ca", "hpa-hpa-autoscaler-backend-tls", "hpa-hpa-autoscaler-agent-tls", "hpa-hpa-autoscaler-client-tls"}
	before := readSecrets(t, k, ns, names)
	checkChain(t, before, ns)

	// A render without the cluster (helm template) makes new ones: what
	// keeps them is the lookup.
	fresh, _ := render(t, ch, ns, vals)
	if d := secretData(t, find(t, fresh, "Secret", "hpa-hpa-autoscaler-ca")); string(d["tls.crt"]) == string(before["hpa-hpa-autoscaler-ca"]["tls.crt"]) {
		t.Fatal("a client-only render produced the installed CA: the test proves nothing")
	}

	upgrade(t, cfg, ns, ch, vals)
	after := readSecrets(t, k, ns, names)
	for _, n := range names {
		for key, v := range before[n] {
			if string(after[n][key]) != string(v) {
				t.Errorf("upgrade changed Secret %s key %s", n, key)
			}
		}
	}

	// The agent's certificate deleted: the next upgrade issues a new one
	// with the kept CA, and leaves the others alone.
	if err := k.Clientset.CoreV1().Secrets(ns).Delete(context.Background(), "hpa-hpa-autoscaler-agent-tls", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	upgrade(t, cfg, ns, ch, vals)
	again := readSecrets(t, k, ns, names)
	if string(again["hpa-hpa-autoscaler-agent-tls"]["tls.crt"]) == string(before["hpa-hpa-autoscaler-agent-tls"]["tls.crt"]) {
		t.Error("the deleted agent certificate came back as it was")
	}
	for _, n := range []string{"hpa-hpa-autoscaler-ca", "hpa-hpa-autoscaler-backend-tls", "hpa-hpa-autoscaler-client-tls"} {
		if string(again[n]["tls.crt"]) != string(before[n]["tls.crt"]) {
			t.Errorf("upgrade after the agent's Secret was deleted changed %s", n)
		}
	}
	checkChain(t, again, ns)

	// A new cluster id: the agent's certificate must name it (the
	// backend matches its CN with the cluster), so it is issued again.
	vals["agent"] = map[string]any{"config": map[string]any{"backend": map[string]any{"clusterID": "prod-2"}}}
	upgrade(t, cfg, ns, ch, vals)
	renamed := readSecrets(t, k, ns, names)
	if cn := parseCert(t, "agent", renamed["hpa-hpa-autoscaler-agent-tls"]["tls.crt"]).Subject.CommonName; cn != "prod-2" {
		t.Errorf("agent certificate CN %q after clusterID prod-2", cn)
	}
	if string(renamed["hpa-hpa-autoscaler-backend-tls"]["tls.crt"]) != string(before["hpa-hpa-autoscaler-backend-tls"]["tls.crt"]) {
		t.Error("a new clusterID changed the backend's certificate")
	}
	checkChain(t, renamed, ns)
}

// agentRuns starts the built agent with the arguments the chart renders,
// as the chart's ServiceAccount with only the chart's RBAC (a TokenRequest
// token): it must get ready (its informers synced) and win the election
// of the Lease in the release's namespace.
func agentRuns(t *testing.T, k *testenv.Kube, ns string, ch *chart.Chart, vals map[string]any) {
	bin := binary(t)
	objs, _ := render(t, ch, ns, vals)
	ports := freePorts(t, 2)
	var args []string
	for _, a := range containerArgs(t, find(t, objs, "Deployment", "hpa-hpa-autoscaler-agent")) {
		switch {
		case strings.HasPrefix(a, "--metrics-addr="):
			a = fmt.Sprintf("--metrics-addr=127.0.0.1:%d", ports[0])
		case strings.HasPrefix(a, "--health-addr="):
			a = fmt.Sprintf("--health-addr=127.0.0.1:%d", ports[1])
		}
		args = append(args, a)
	}
	sa := testenv.ServiceAccountConfig(t, k, ns, "hpa-hpa-autoscaler-agent")
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: sa.Host, CertificateAuthorityData: sa.CAData}
	kc.AuthInfos["agent"] = &clientcmdapi.AuthInfo{Token: sa.BearerToken}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "agent", Namespace: ns}
	kc.CurrentContext = "envtest"
	dir := t.TempDir()
	path := filepath.Join(dir, "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	exited := startChild(t, bin, dir, append(args, "--kubeconfig="+path)...)
	plain := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{}}
	defer plain.CloseIdleConnections()
	waitFor(t, exited, 2*time.Minute, "the agent's /readyz", func() error {
		return expectStatus(plain, fmt.Sprintf("http://127.0.0.1:%d/readyz", ports[1]), "", http.StatusOK)
	})
	waitFor(t, exited, 2*time.Minute, "the agent's Lease in "+ns, func() error {
		var lease coordinationv1.Lease
		if err := k.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "hpa-autoscaler-agent"}, &lease); err != nil {
			return err
		}
		if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity == "" {
			return errors.New("no holder")
		}
		return nil
	})
}

// agentLinked runs serve on the chart's configuration with the backend's
// certificate the install generated, and the agent with the rendered
// arguments of the backend link (its client certificate, a cluster-bound
// agent token from token create): the agent's stream authenticates over
// mTLS, the backend matching the certificate's CN with the cluster id.
func agentLinked(t *testing.T, k *testenv.Kube, ns string, ch *chart.Chart) {
	bin := binary(t)
	installed := readSecrets(t, k, ns, []string{"hpa-hpa-autoscaler-backend-tls", "hpa-hpa-autoscaler-agent-tls"})
	const cluster = "hpa-hpa-autoscaler-agent" // the agent certificate's CN without a clusterID
	if cn := parseCert(t, "agent", installed["hpa-hpa-autoscaler-agent-tls"]["tls.crt"]).Subject.CommonName; cn != cluster {
		t.Fatalf("installed agent certificate CN %q", cn)
	}
	objs, _ := render(t, ch, ns, nil)
	cfg, _, _ := unstructured.NestedString(find(t, objs, "ConfigMap", "hpa-hpa-autoscaler-backend").Object, "data", "backend.yaml")
	data, _, grpcPort, _ := startRenderedServe(t, bin, cfg, installed["hpa-hpa-autoscaler-backend-tls"])
	token, err := exec.Command(bin, "token", "create", "--db", "sqlite:"+filepath.Join(data, "hpa-autoscaler.db"),
		"--tenant", "default", "--role", "operator", "--name", "agent", "--cluster", cluster).Output()
	if err != nil {
		t.Fatalf("token create --cluster: %v", err)
	}

	dir := t.TempDir()
	files := map[string][]byte{"token": token}
	for _, key := range []string{"tls.crt", "tls.key", "ca.crt"} {
		files[key] = installed["hpa-hpa-autoscaler-agent-tls"][key]
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o400); err != nil {
			t.Fatal(err)
		}
	}
	linkVals := map[string]any{"agent": map[string]any{"config": map[string]any{"backend": map[string]any{
		"enabled": true, "clusterID": cluster, "tokenSecret": "agent-token", "address": fmt.Sprintf("127.0.0.1:%d", grpcPort)}}}}
	objs, _ = render(t, ch, ns, linkVals)
	ports := freePorts(t, 2)
	var args []string
	for _, a := range containerArgs(t, find(t, objs, "Deployment", "hpa-hpa-autoscaler-agent")) {
		switch {
		case strings.HasPrefix(a, "--metrics-addr="):
			a = fmt.Sprintf("--metrics-addr=127.0.0.1:%d", ports[0])
		case strings.HasPrefix(a, "--health-addr="):
			a = fmt.Sprintf("--health-addr=127.0.0.1:%d", ports[1])
		case strings.HasPrefix(a, "--agent-token-file="):
			a = "--agent-token-file=" + filepath.Join(dir, "token")
		case strings.HasPrefix(a, "--backend-tls-"):
			a = strings.Replace(a, "/etc/hpa-autoscaler/tls", dir, 1)
		}
		args = append(args, a)
	}
	kubeconfig := writeKubeconfig(t, k, ns)
	exited := startChild(t, bin, dir, append(args, "--kubeconfig="+kubeconfig)...)
	metricLine(t, exited, fmt.Sprintf("http://127.0.0.1:%d/metrics", ports[0]), "hpa_agent_backend_connected 1")
}

func upgrade(t *testing.T, cfg *action.Configuration, ns string, ch *chart.Chart, vals map[string]any) {
	t.Helper()
	up := action.NewUpgrade(cfg)
	up.Namespace = ns
	up.Timeout = time.Minute
	if _, err := up.Run("hpa", ch, vals); err != nil {
		t.Fatalf("helm upgrade: %v", err)
	}
}

// helmConfig is Helm's action configuration on the test API server, as
// the helm CLI builds it from a kubeconfig.
func helmConfig(t *testing.T, k *testenv.Kube, ns string) *action.Configuration {
	t.Helper()
	path := writeKubeconfig(t, k, ns)
	flags := genericclioptions.NewConfigFlags(false)
	flags.KubeConfig = &path
	flags.Namespace = &ns
	cfg := new(action.Configuration)
	if err := cfg.Init(flags, ns, "secret", func(format string, v ...any) { t.Logf("helm: "+format, v...) }); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// writeKubeconfig writes a kubeconfig of the API server's administrator.
func writeKubeconfig(t *testing.T, k *testenv.Kube, ns string) string {
	t.Helper()
	c := k.Config
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: c.Host, CertificateAuthorityData: c.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: c.CertData, ClientKeyData: c.KeyData, Token: c.BearerToken}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin", Namespace: ns}
	kc.CurrentContext = "envtest"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func readSecrets(t *testing.T, k *testenv.Kube, ns string, names []string) map[string]map[string][]byte {
	t.Helper()
	out := map[string]map[string][]byte{}
	for _, n := range names {
		var s corev1.Secret
		if err := k.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: n}, &s); err != nil {
			t.Fatalf("Secret %s: %v", n, err)
		}
		for _, key := range []string{"tls.crt", "tls.key", "ca.crt"} {
			if len(s.Data[key]) == 0 {
				t.Errorf("Secret %s has no %s", n, key)
			}
		}
		out[n] = s.Data
	}
	return out
}

func secretData(t *testing.T, o *unstructured.Unstructured) map[string][]byte {
	t.Helper()
	data, _, _ := unstructured.NestedStringMap(o.Object, "data")
	out := map[string][]byte{}
	for k, v := range data {
		d, err := decodeBase64(v)
		if err != nil {
			t.Fatal(err)
		}
		out[k] = []byte(d)
	}
	return out
}

func parseCert(t *testing.T, name string, b []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("%s: no PEM block", name)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return c
}

// checkChain: every certificate verifies against the CA in its own Secret
// and in the CA's, for server and client use; the backend's names its
// Service.
func checkChain(t *testing.T, secrets map[string]map[string][]byte, ns string) {
	t.Helper()
	ca := parseCert(t, "CA", secrets["hpa-hpa-autoscaler-ca"]["tls.crt"])
	if !ca.IsCA {
		t.Error("the CA is not a CA")
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	for _, n := range []string{"hpa-hpa-autoscaler-backend-tls", "hpa-hpa-autoscaler-agent-tls", "hpa-hpa-autoscaler-client-tls"} {
		if string(secrets[n]["ca.crt"]) != string(secrets["hpa-hpa-autoscaler-ca"]["tls.crt"]) {
			t.Errorf("%s: ca.crt is not the CA", n)
		}
		leaf := parseCert(t, n, secrets[n]["tls.crt"])
		for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
				t.Errorf("%s (usage %v): %v", n, usage, err)
			}
		}
	}
	backend := parseCert(t, "backend", secrets["hpa-hpa-autoscaler-backend-tls"]["tls.crt"])
	for _, dns := range []string{"hpa-hpa-autoscaler-backend", fmt.Sprintf("hpa-hpa-autoscaler-backend.%s.svc", ns)} {
		if !slices.Contains(backend.DNSNames, dns) {
			t.Errorf("backend certificate names %v, not %s", backend.DNSNames, dns)
		}
	}
}
