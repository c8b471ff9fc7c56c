package controller_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
	"github.com/hpa-autoscaler/hpa-autoscaler/controller"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
)

// agentRoles reads config/rbac/role.yaml: the ClusterRole and the Role of
// the Lease.
func agentRoles(t *testing.T) (*rbacv1.ClusterRole, *rbacv1.Role) {
	t.Helper()
	raw, err := os.ReadFile("../config/rbac/role.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cr *rbacv1.ClusterRole
	var role *rbacv1.Role
	for doc := range strings.SplitSeq(string(raw), "\n---\n") {
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
			t.Fatal(err)
		}
		switch tm.Kind {
		case "ClusterRole":
			cr = &rbacv1.ClusterRole{}
			if err := yaml.UnmarshalStrict([]byte(doc), cr); err != nil {
				t.Fatal(err)
			}
		case "Role":
			role = &rbacv1.Role{}
			if err := yaml.UnmarshalStrict([]byte(doc), role); err != nil {
				t.Fatal(err)
			}
		}
	}
	if cr == nil || role == nil {
		t.Fatal("config/rbac/role.yaml: want a ClusterRole and a Role")
	}
	return cr, role
}

// TestAgentRBAC runs the agent as a ServiceAccount bound to nothing but
// config/rbac/role.yaml (the ClusterRole, and the Lease Role in the
// agent's namespace), with leader election, a Secret, and the PDB and
// conflict checks: it scales, writes status and records Events.
func TestAgentRBAC(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cr, role := agentRoles(t)
	cr.Name = "hpa-autoscaler-agent-" + e.ns // cluster-scoped: one per test
	role.Namespace = e.ns
	e.create(t, cr)
	t.Cleanup(func() { _ = e.c.Delete(context.Background(), cr) })
	e.create(t, role)
	subject := []rbacv1.Subject{{Kind: "ServiceAccount", Name: "agent", Namespace: e.ns}}
	crb := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: cr.Name}, Subjects: subject,
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: cr.Name}}
	e.create(t, crb)
	t.Cleanup(func() { _ = e.c.Delete(context.Background(), crb) })
	e.create(t, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "agent-leases", Namespace: e.ns}, Subjects: subject,
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name}})
	cfg := testenv.ServiceAccountConfig(t, e.kube, e.ns, "agent")

	r := testenv.StartRedisWith(t, testenv.RedisOptions{Password: "rbac-Passw0rd"})
	e.create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "redis-auth", Namespace: e.ns}, Data: map[string][]byte{"password": []byte("rbac-Passw0rd")}})
	e.deployment(t, "web", 1)
	e.create(t, e.redisScaler("web", "web", r.Addr(), "jobs", func(s *v1.Scaler) {
		s.Spec.ScalerSpec.SecretRefs = []v1.SecretRef{{Parameter: "password", Name: "redis-auth", Key: "password"}}
		s.Spec.Advanced = &v1.Advanced{Safety: &v1.Safety{EnablePDBChecks: true, EnableHPAConflictDetection: true}}
	}))
	push(t, r, "jobs", 18)
	e.startAgent(t, cfg, func(o *controller.AgentOptions) {
		o.LeaderElection = true
		o.LeaderElectionNamespace = e.ns
	})
	e.waitReplicas(t, "web", "web", 4, "18 items, as the agent's ServiceAccount")
	e.waitEvent(t, "web", "Scaled", "1 -> 4: ")
	drain(t, r, "jobs")
	e.clock.Step(301 * time.Second)
	// A scale-down asks the PDB floor: the lookups of PDBs and pods.
	e.waitReplicas(t, "web", "web", 1, "drained, with the PDB check")
	e.waitStatus(t, "web", "ready", func(s *v1.Scaler) error {
		return condition(s, v1.ConditionReady, metav1.ConditionTrue, "Reconciled")
	})
}

// TestRBACUpToDate fails when config/rbac/role.yaml is not what make
// generate writes from the kubebuilder markers of controller/.
func TestRBACUpToDate(t *testing.T) {
	t.Parallel()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^CONTROLLER_GEN_VERSION := (\S+)$`).FindSubmatch(mk)
	if m == nil {
		t.Fatal("Makefile has no CONTROLLER_GEN_VERSION line")
	}
	gen := filepath.Join(root, "bin", "tools", "controller-gen-"+string(m[1]))
	if _, err := os.Stat(gen); err != nil {
		cmd := exec.Command("make", "-C", root, "bin/tools/controller-gen-"+string(m[1]))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("installing controller-gen %s: %v\n%s", m[1], err, out)
		}
	}
	dir := t.TempDir()
	cmd := exec.Command(gen, "rbac:roleName=hpa-autoscaler-agent", "paths=./controller/...", "output:rbac:artifacts:config="+dir)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("controller-gen rbac: %v\n%s", err, stderr.Bytes())
	}
	want, err := os.ReadFile(filepath.Join(dir, "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	have, err := os.ReadFile(filepath.Join(root, "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(want, have) {
		t.Errorf("config/rbac/role.yaml is stale: run make generate\nwant:\n%s", want)
	}
}
