package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
)

// designAgentConfig is the design's agent configuration, verbatim
// (shared/design/original-design.md, "Agent Configuration"): metrics
// appears twice under agent.
const designAgentConfig = `agent:
  # Cluster Information
  clusterID: "production-cluster-1"
  tenantID: "company-prod"
  agentVersion: "1.0.0"
  
  # Connection Configuration
  server:
    endpoint: "backend.hpa-system.svc.cluster.local:50051"
    tls:
      enabled: true
      certFile: "/etc/certs/client.crt"
      keyFile: "/etc/certs/client.key"
      caFile: "/etc/certs/ca.crt"
      serverName: "hpa-backend"
  
  # Metrics Collection
  metrics:
    interval: "15s"
    timeout: "10s"
    
    collectors:
      resource:
        enabled: true
        sources: ["metrics-server", "kubelet"]
      
      custom:
        enabled: true
        sources: ["prometheus", "datadog"]
  
  # Kubernetes Integration
  kubernetes:
    config: "in-cluster"  # or path to kubeconfig
    
    watchers:
      pods: true
      nodes: true
      deployments: true
      hpa: true
      pdb: true
  
  # Safety Configuration
  safety:
    dryRun: false
    maxScaleUpPercent: 100
    maxScaleDownPercent: 50
    
    pdb:
      respectPDBs: true
      minAvailable: 1
  
  # Performance Tuning
  performance:
    workerThreads: 4
    queueSize: 1000
    batchSize: 100
    flushInterval: "1s"
  
  # Observability
  logging:
    level: "info"
    format: "structured"
  
  metrics:
    enabled: true
    port: 9092
    endpoint: "/metrics"
`

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAgentDesignConfig(t *testing.T) {
	c, err := parseAgentConfig([]byte(designAgentConfig))
	if err != nil {
		t.Fatal(err)
	}
	m := c.Metrics
	if m.Interval.Duration != 15*time.Second || m.Timeout.Duration != 10*time.Second || !*m.Enabled || *m.Port != 9092 || m.Endpoint != "/metrics" {
		t.Errorf("the two metrics blocks, merged: %+v", m)
	}
	if got := m.Collectors.Custom.Sources; !cmp.Equal(got, []string{"prometheus", "datadog"}) {
		t.Errorf("collectors.custom.sources %q", got)
	}
	if c.Kubernetes.Config != "in-cluster" || !*c.Kubernetes.Watchers.PDB || *c.Safety.MaxScaleDownPercent != 50 || *c.Safety.PDB.MinAvailable != 1 ||
		*c.Performance.WorkerThreads != 4 || c.Performance.FlushInterval.Duration != time.Second || c.Server.TLS.ServerName != "hpa-backend" {
		t.Errorf("config %+v", c)
	}
}

// agentFlags resolves the agent's flags as the binary does (flags, then
// HPA_*, then --config) without running it.
func agentFlags(t *testing.T, args []string) (*agentOpts, *globalOpts, error) {
	t.Helper()
	g := &globalOpts{}
	o := &agentOpts{}
	root := &cobra.Command{Use: "hpa-autoscaler", SilenceErrors: true, SilenceUsage: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error { return applyEnv(cmd) }}
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", "text", "")
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "info", "")
	cmd := newAgentCmdWith(g, o)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := o.applyConfigFile(cmd); err != nil {
			return err
		}
		return o.validate()
	}
	root.AddCommand(cmd)
	root.SetArgs(append([]string{"agent"}, args...))
	root.SetOut(io.Discard)
	root.SetErr(io.Discard)
	return o, g, root.Execute()
}

// TestAgentConfigPrecedence: flags win over HPA_* variables, which win
// over the file; the file wins over the defaults.
func TestAgentConfigPrecedence(t *testing.T) {
	file := writeFile(t, "agent.yaml", `agent:
  metrics:
    interval: 30s
    timeout: 5s
  safety:
    dryRun: true
    maxScaleUpPercent: 200
    pdb:
      respectPDBs: true
      minAvailable: 2
  performance:
    workerThreads: 8
  logging:
    level: debug
    format: structured
  metrics:
    port: 9100
`)
	t.Setenv("HPA_SOURCE_TIMEOUT", "7s")
	t.Setenv("HPA_WORKERS", "3")
	o, g, err := agentFlags(t, []string{"--config", file, "--sync-period", "10s"})
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprintf("sync %v timeout %v workers %d dryRun %v up %d pdbs %v min %d metrics %s level %s format %s",
		o.syncPeriod, o.sourceTimeout, o.workers, o.dryRun, o.maxScaleUpPercent, o.respectPDBs, o.pdbMinAvailable, o.metricsAddr, g.logLevel, g.logFormat)
	want := "sync 10s timeout 7s workers 3 dryRun true up 200 pdbs true min 2 metrics :9100 level debug format json"
	if got != want {
		t.Errorf("resolved:\n got %s\nwant %s", got, want)
	}

	o, _, err = agentFlags(t, []string{"--config", writeFile(t, "off.yaml", "agent:\n  metrics:\n    enabled: false\n  kubernetes:\n    config: /etc/kube/config\n")})
	if err != nil {
		t.Fatal(err)
	}
	if o.metricsAddr != "0" || o.kubeconfig != "/etc/kube/config" {
		t.Errorf("metrics.enabled false: %q; kubernetes.config: %q", o.metricsAddr, o.kubeconfig)
	}
}

func TestAgentFlagErrors(t *testing.T) {
	bad := "Bad_NS"
	nsMsg := validation.IsDNS1123Label(bad)[0]
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	_, openErr := os.ReadFile(missing)
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string // the whole message on stderr, after "error: "
	}{
		{name: "durations", args: []string{"--sync-period", "0s", "--source-timeout", "-1s"},
			want: "--sync-period 0s: must be > 0\n--source-timeout -1s: must be > 0"},
		{name: "address", args: []string{"--metrics-addr", "localhost"}, want: `--metrics-addr "localhost": expected host:port, e.g. 127.0.0.1:9443`},
		{name: "same address", args: []string{"--metrics-addr", "127.0.0.1:9000", "--health-addr", "127.0.0.1:9000"},
			want: `--health-addr "127.0.0.1:9000": same address as --metrics-addr`},
		{name: "namespace", args: []string{"--namespace", bad}, want: fmt.Sprintf("--namespace %q: not a namespace name: %s", bad, nsMsg)},
		{name: "workers", args: []string{"--workers", "0"}, want: "--workers 0: must be > 0"},
		{name: "election timing", args: []string{"--leader-elect-renew-deadline", "20s"},
			want: "--leader-elect-renew-deadline 20s: must be less than --leader-elect-lease-duration 15s"},
		{name: "caps", args: []string{"--max-scale-down-percent", "101"},
			want: "--max-scale-up-percent, --max-scale-down-percent, --pdb-min-available: maxScaleDownPercent 101: expected 0 (no cap) to 100"},
		{name: "from the environment", env: map[string]string{"HPA_SYNC_PERIOD": "soon"},
			want: `HPA_SYNC_PERIOD "soon": invalid argument "soon" for "--sync-period" flag: time: invalid duration "soon"`},
		{name: "extra argument", args: []string{"now"}, want: `agent takes no arguments, got ["now"]`},
		{name: "missing config", args: []string{"--config", missing}, want: "--config CONFIG: open CONFIG: " + errors.Unwrap(openErr).Error()},
		{name: "unknown key", args: []string{"--config", writeFile(t, "a.yaml", "agent:\n  metrics:\n    intervall: 15s\n  safty: {}\n")},
			want: "--config CONFIG: line 3: agent.metrics.intervall: unknown key\nline 4: agent.safty: unknown key"},
		{name: "metrics key twice", args: []string{"--config", writeFile(t, "b.yaml", "agent:\n  metrics:\n    port: 1\n  metrics:\n    port: 2\n")},
			want: "--config CONFIG: line 5: agent.metrics.port: also set at line 3 (the two metrics blocks are merged and must not share a key)"},
		{name: "bad values in the file", args: []string{"--config", writeFile(t, "c.yaml", "agent:\n  metrics:\n    interval: soon\n    endpoint: /stats\n  logging:\n    format: xml\n")},
			want: "--config CONFIG: line 3: agent.metrics.interval \"soon\": expected a duration such as \"15s\""},
		{name: "bad settings in the file", args: []string{"--config", writeFile(t, "d.yaml", "agent:\n  metrics:\n    endpoint: /stats\n    port: 0\n  logging:\n    format: xml\n  performance:\n    workerThreads: 0\n")},
			want: "--config CONFIG: agent.metrics.port 0: expected 1 to 65535\nagent.metrics.endpoint \"/stats\": only /metrics is served\nagent.performance.workerThreads 0: expected at least 1\nagent.logging.format \"xml\": expected json, structured (json) or text"},
		{name: "bad kubeconfig", args: []string{"--kubeconfig", missing}, want: "--kubeconfig " + missing + ": stat " + missing + ": no such file or directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var out, errb bytes.Buffer
			code := run(t.Context(), append([]string{"agent"}, tc.args...), strings.NewReader(""), &out, &errb)
			if code != 2 {
				t.Fatalf("exit code %d, want 2 (stderr %q)", code, errb.String())
			}
			got := strings.TrimSuffix(strings.TrimPrefix(errb.String(), "error: "), "\n")
			for i, a := range tc.args {
				if i > 0 && tc.args[i-1] == "--config" {
					got = strings.ReplaceAll(got, a, "CONFIG")
				}
			}
			want := tc.want
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
		})
	}
}

// TestAgentBinary runs `hpa-autoscaler agent` (the test binary as a child,
// see TestMain) against a real API server through a kubeconfig: it scales
// a Deployment on a Redis list, serves /healthz, /readyz and /metrics, and
// exits 0 on SIGTERM.
func TestAgentBinary(t *testing.T) {
	kube := testenv.StartKube(t, testenv.KubeOptions{CRDPaths: []string{"../../config/crd"}, AddToScheme: []func(*runtime.Scheme) error{v1.AddToScheme}})
	ns := kube.NewNamespace(t)
	r := testenv.StartRedis(t)
	ctx := t.Context()
	createRedisScaled(t, kube, ns, r.Addr(), 10)
	if _, err := r.Do("RPUSH", "jobs", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11"); err != nil {
		t.Fatal(err)
	}

	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: kube.Config.Host, CertificateAuthorityData: kube.Config.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: kube.Config.CertData, ClientKeyData: kube.Config.KeyData, Token: kube.Config.BearerToken}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin"}
	kc.CurrentContext = "envtest"
	if err := clientcmd.WriteToFile(*kc, kubeconfig); err != nil {
		t.Fatal(err)
	}
	metricsAddr, healthAddr := freeAddr(t), freeAddr(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cmd := exec.Command(exe, "agent", "--kubeconfig", kubeconfig, "--namespace", ns, "--sync-period", "200ms",
		"--metrics-addr", metricsAddr, "--health-addr", healthAddr, "--log-format", "json")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("agent stderr:\n%s", stderr.String())
		}
	})

	scalertest.Eventually(t, 90*time.Second, "the agent to scale web to 3 (11 items at 5 per replica)", func() error {
		var d appsv1.Deployment
		if err := kube.Client.Get(ctx, keyOf(ns, "web"), &d); err != nil {
			return err
		}
		if *d.Spec.Replicas != 3 {
			return fmt.Errorf("%d replicas", *d.Spec.Replicas)
		}
		return nil
	})
	for _, path := range []string{"/healthz", "/readyz"} {
		scalertest.Eventually(t, 30*time.Second, path+" 200", func() error {
			body, code, err := httpGet(ctx, "http://"+healthAddr+path)
			if err != nil || code != http.StatusOK {
				return fmt.Errorf("%d %q %v", code, body, err)
			}
			return nil
		})
	}
	scalertest.Eventually(t, 30*time.Second, "the agent's metrics on /metrics", func() error {
		body, _, err := httpGet(ctx, "http://"+metricsAddr+"/metrics")
		if err != nil {
			return err
		}
		for _, want := range []string{
			`hpa_scaling_decisions_total{namespace="` + ns + `",rule="MetricProposal",scaler="web"}`,
			`hpa_current_replicas{namespace="` + ns + `",scaler="web"} 3`,
			`hpa_desired_replicas{namespace="` + ns + `",scaler="web"} 3`,
			`hpa_metric_collection_duration_seconds_count{namespace="` + ns + `",scaler="web",trigger="redis"}`,
			`hpa_decision_engine_duration_seconds_count`,
		} {
			if !strings.Contains(body, want) {
				return fmt.Errorf("no %s", want)
			}
		}
		return nil
	})

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		if waitErr != nil {
			t.Fatalf("the agent exited with %v after SIGTERM", waitErr)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the agent did not exit within 60s of SIGTERM")
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func httpGet(ctx context.Context, url string) (string, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), resp.StatusCode, err
}

func keyOf(ns, name string) types.NamespacedName {
	return types.NamespacedName{Namespace: ns, Name: name}
}

// createRedisScaled creates the Deployment web (1 replica) in ns and the
// Scaler web that scales it on the Redis list jobs at addr (5 per
// replica, at most maxReplicas).
func createRedisScaled(t *testing.T, kube *testenv.Kube, ns, addr string, maxReplicas int32) {
	t.Helper()
	ctx := t.Context()
	replicas := int32(1)
	labels := map[string]string{"app": "web"}
	if err := kube.Client.Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: appsv1.DeploymentSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}}}},
	}); err != nil {
		t.Fatal(err)
	}
	if err := kube.Client.Create(ctx, &v1.Scaler{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: v1.ScalerSpec{
			TargetRef: v1.TargetRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			Scaling:   v1.Scaling{MaxReplicas: maxReplicas},
			ScalerSpec: &v1.TriggerSpec{Type: "redis", Metadata: map[string]string{
				"address": addr, "listName": "jobs", "listLength": "5"}},
		},
	}); err != nil {
		t.Fatal(err)
	}
}
