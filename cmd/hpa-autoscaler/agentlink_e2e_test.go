package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
)

// The agent's backend link end to end: a real `serve` (a child process on
// SQLite, its gRPC port fixed so that it comes back where the agent dials)
// and a real `hpa-autoscaler agent` (a child too) on an envtest API
// server. serve is killed with SIGKILL mid-stream and started again, and
// the agent is restarted; each applied scaling must be audited exactly
// once and the audit log must verify.

// startLinkServe runs serve on db in dir with its gRPC port at grpcAddr
// and waits for GET /api/v1/health.
func startLinkServe(t *testing.T, dir, db, grpcAddr string) *serveProc {
	t.Helper()
	c := startChild(t, dir, "serve", "--db", db, "--grpc-addr", grpcAddr, "--http-addr", "127.0.0.1:0", "--log-format", "json",
		"--rate-limit", "-1", "--agent-heartbeat-interval", "1s")
	p := &serveProc{child: c}
	awaitServe(t, p)
	return p
}

// agentProc is one `hpa-autoscaler agent` child.
type agentProc struct{ *child }

func startLinkAgent(t *testing.T, kubeconfig, ns, backend, tokenFile string) *agentProc {
	t.Helper()
	c := startChild(t, "", "agent", "--kubeconfig", kubeconfig, "--namespace", ns, "--sync-period", "200ms",
		"--metrics-addr", "0", "--health-addr", "0", "--log-format", "json", "--log-level", "debug",
		"--backend", backend, "--agent-token-file", tokenFile, "--cluster-id", "c1")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("agent stderr (last 40 lines):\n%s", tail(c.stderr.String(), 40))
		}
	})
	return &agentProc{c}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// auditedDecision is a decision's audit record.
type auditedDecision struct {
	seq                int64
	id                 string
	current, desired   int32
	applied            bool
	rule               string
	cluster, namespace string
}

// auditedDecisions reads the decision records of the audit log; it fails
// on a decision id recorded twice.
func auditedDecisions(t *testing.T, admin *apiClient) []auditedDecision {
	t.Helper()
	var out []auditedDecision
	seen := map[string]int64{}
	for seq, r := range auditLog(t, admin) {
		if r.Kind != "decision" {
			continue
		}
		var body struct {
			ID        string `json:"id"`
			Cluster   string `json:"cluster"`
			Namespace string `json:"namespace"`
			Current   int32  `json:"currentReplicas"`
			Desired   int32  `json:"desiredReplicas"`
			Rule      string `json:"rule"`
			Applied   bool   `json:"applied"`
		}
		raw := []byte(r.Body)
		var wrapped struct {
			Payload json.RawMessage `json:"payload"`
		}
		if json.Unmarshal(raw, &wrapped) == nil && len(wrapped.Payload) > 0 {
			raw = wrapped.Payload
		}
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Fatalf("audit record %d: %v: %s", seq, err, r.Body)
		}
		if id, ok := strings.CutPrefix(r.Subject, "decisions/"); ok && body.ID == "" {
			body.ID = id
		}
		if body.ID == "" {
			t.Fatalf("audit record %d: a decision without an id: subject %q body %s", seq, r.Subject, r.Body)
		}
		if prev, dup := seen[body.ID]; dup {
			t.Fatalf("decision %s audited twice: records %d and %d", body.ID, prev, seq)
		}
		seen[body.ID] = seq
		out = append(out, auditedDecision{seq: seq, id: body.ID, current: body.Current, desired: body.Desired, applied: body.Applied, rule: body.Rule, cluster: body.Cluster, namespace: body.Namespace})
	}
	return out
}

// scaledEvents are the from -> to of the Scaler's Scaled Events.
func scaledEvents(t *testing.T, kube *testenv.Kube, ns string) map[string]bool {
	t.Helper()
	var list eventsv1.EventList
	if err := kube.Client.List(t.Context(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, ev := range list.Items {
		if ev.Reason == "Scaled" && ev.Regarding.Kind == "Scaler" {
			from, to, _ := strings.Cut(strings.SplitN(ev.Note, ":", 2)[0], " -> ")
			out[strings.TrimSpace(from)+"->"+strings.TrimSpace(to)] = true
		}
	}
	return out
}

// waitAudited waits until every Scaled Event of the Scaler has its
// applied decision in the audit log (each once), and one from -> to is
// there.
func waitAudited(t *testing.T, kube *testenv.Kube, admin *apiClient, ns string, from, to int32) []auditedDecision {
	t.Helper()
	var ds []auditedDecision
	scalertest.Eventually(t, 90*time.Second, fmt.Sprintf("the applied decision %d -> %d and every Scaled Event audited", from, to), func() error {
		ds = auditedDecisions(t, admin)
		applied := map[string]bool{}
		for _, d := range ds {
			if d.applied {
				applied[fmt.Sprintf("%d->%d", d.current, d.desired)] = true
			}
		}
		if !applied[fmt.Sprintf("%d->%d", from, to)] {
			return fmt.Errorf("applied decisions audited: %v", applied)
		}
		for ev := range scaledEvents(t, kube, ns) {
			if !applied[ev] {
				return fmt.Errorf("the Scaled Event %s has no audited decision (audited: %v)", ev, applied)
			}
		}
		return nil
	})
	return ds
}

func waitDeployment(t *testing.T, kube *testenv.Kube, ns string, want int32) {
	t.Helper()
	scalertest.Eventually(t, 90*time.Second, fmt.Sprintf("Deployment web at %d replicas", want), func() error {
		var d appsv1.Deployment
		if err := kube.Client.Get(t.Context(), keyOf(ns, "web"), &d); err != nil {
			return err
		}
		if *d.Spec.Replicas != want {
			return fmt.Errorf("%d replicas", *d.Spec.Replicas)
		}
		return nil
	})
}

func TestAgentLinkE2E(t *testing.T) {
	kube := testenv.StartKube(t, testenv.KubeOptions{CRDPaths: []string{"../../config/crd"}, AddToScheme: []func(*runtime.Scheme) error{v1.AddToScheme}})
	ns := kube.NewNamespace(t)
	r := testenv.StartRedis(t)
	createRedisScaled(t, kube, ns, r.Addr(), 20)
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: kube.Config.Host, CertificateAuthorityData: kube.Config.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: kube.Config.CertData, ClientKeyData: kube.Config.KeyData, Token: kube.Config.BearerToken}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin"}
	kc.CurrentContext = "envtest"
	if err := clientcmd.WriteToFile(*kc, kubeconfig); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "hpa.db")
	grpcAddr := freeAddr(t)
	sp := startLinkServe(t, dir, db, grpcAddr)
	admin := &apiClient{base: sp.base, token: readAdminToken(t, dir), hc: newHTTPClient(t)}
	code, agentToken, stderr := runCmd(t, "token", "create", "--tenant", "default", "--role", "operator", "--cluster", "c1", "--db", db)
	if code != 0 {
		t.Fatalf("token create: exit %d, stderr %q", code, stderr)
	}
	tokenFile := filepath.Join(t.TempDir(), "agent-token")
	if err := os.WriteFile(tokenFile, []byte(agentToken), 0o600); err != nil {
		t.Fatal(err)
	}

	ag := startLinkAgent(t, kubeconfig, ns, grpcAddr, tokenFile)
	// Connect and inventory: the backend knows the Scaler.
	scalertest.Eventually(t, 90*time.Second, "the Scaler in the backend's inventory", func() error {
		code, _, body, err := admin.do("GET", "/api/v1/scalers?limit=100", nil)
		if err != nil {
			return err
		}
		if code != http.StatusOK || !strings.Contains(string(body), `"web"`) || !strings.Contains(string(body), ns) {
			return fmt.Errorf("%d %s", code, body)
		}
		return nil
	})
	if _, err := r.Do("RPUSH", "jobs", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11"); err != nil {
		t.Fatal(err)
	}
	waitDeployment(t, kube, ns, 3)
	waitAudited(t, kube, admin, ns, 1, 3)

	// The backend killed mid-stream: the agent goes on scaling alone and
	// buffers; serve comes back on the same port with the same database.
	sp.kill9(t)
	push := func(n int) {
		t.Helper()
		args := []string{"RPUSH", "jobs"}
		for i := range n {
			args = append(args, fmt.Sprint(i))
		}
		if _, err := r.Do(args...); err != nil {
			t.Fatal(err)
		}
	}
	push(10) // 21 items: 5 replicas
	waitDeployment(t, kube, ns, 5)
	sp = startLinkServe(t, dir, db, grpcAddr)
	admin.base = sp.base
	waitAudited(t, kube, admin, ns, 3, 5)

	// The agent restarted: the new process resumes on the stream.
	if err := ag.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := ag.exitCode(t, 60*time.Second, "the agent's exit after SIGTERM"); code != 0 {
		t.Fatalf("agent exit code %d after SIGTERM; stderr:\n%s", code, tail(ag.stderr.String(), 40))
	}
	before := len(auditedDecisions(t, admin))
	startLinkAgent(t, kubeconfig, ns, grpcAddr, tokenFile)
	push(10) // 31 items: 7 replicas
	waitDeployment(t, kube, ns, 7)
	ds := waitAudited(t, kube, admin, ns, 5, 7)
	if len(ds) <= before {
		t.Fatalf("%d decisions audited after the agent's restart, %d before", len(ds), before)
	}
	for _, d := range ds {
		if d.cluster != "c1" || d.namespace != ns {
			t.Errorf("decision %s audited for cluster %q namespace %q", d.id, d.cluster, d.namespace)
		}
	}
	checkLogHasNoToken(t, sp.stderr.String(), strings.TrimSpace(agentToken))

	sp.stop(t)
	if n := auditVerify(t, dir, db); n < int64(len(ds)) {
		t.Fatalf("audit verify: %d records, fewer than the %d decisions", n, len(ds))
	}
	t.Logf("%d decisions audited, each once; the audit log verifies", len(ds))
}
