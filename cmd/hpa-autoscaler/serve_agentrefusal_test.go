package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
	agentv1 "github.com/hpa-autoscaler/hpa-autoscaler/proto/agent/v1"
)

// TestServeAgentRefusals: a serve process of its own, with mTLS on the
// gRPC port and --agent-require-client-cert, refuses an agent whose
// token is bound to another cluster (of its tenant, or of another
// tenant) and one whose certificate names another cluster; the agent
// whose token and certificate name its cluster is served.
func TestServeAgentRefusals(t *testing.T) {
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "db.sqlite")
	token := func(tenant, cluster string) string {
		t.Helper()
		if code, _, stderr := runCmd(t, "tenant", "create", tenant, "--db", db); code != 0 && !strings.Contains(stderr, "exists") {
			t.Fatalf("tenant create %s: %d %s", tenant, code, stderr)
		}
		code, out, stderr := runCmd(t, "token", "create", "--db", db, "--tenant", tenant, "--role", "operator", "--cluster", cluster)
		if code != 0 {
			t.Fatalf("token create --tenant %s --cluster %s: %d %s", tenant, cluster, code, stderr)
		}
		return strings.TrimSpace(out)
	}
	shopProd, globexProd := token("shop", "prod"), token("globex", "globex-prod")

	pki := testenv.NewPKI(t)
	certFile, keyFile := pki.ServerCert(t).WriteFiles(t, dir, "server")
	s := startServe(t, "--db", db, "--tls-cert", certFile, "--tls-key", keyFile, "--tls-client-ca", pki.WriteCA(t, dir), "--agent-require-client-cert")

	connect := func(cn, cluster, tok string) (*agentv1.ServerMessage, error) {
		t.Helper()
		cc, err := grpc.NewClient(s.grpc, grpc.WithTransportCredentials(credentials.NewTLS(pki.ClientConfig(pki.ClientCert(t, cn)))))
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		st, err := agentv1.NewAgentServiceClient(cc).Connect(ctx)
		if err != nil {
			return nil, err
		}
		if err := st.Send(&agentv1.AgentMessage{Payload: &agentv1.AgentMessage_Auth{Auth: &agentv1.AuthRequest{ClusterId: cluster, AgentToken: tok}}}); err != nil {
			return nil, err
		}
		return st.Recv()
	}
	// Served: token and certificate name the cluster.
	if m, err := connect("prod", "prod", shopProd); err != nil || m.GetAuth().GetTenant() != "shop" || m.GetAuth().GetClusterId() != "prod" {
		t.Fatalf("shop's agent of prod: %v %v", m, err)
	}
	for _, c := range []struct {
		name, cn, cluster, token, want string
	}{
		{"a token of tenant globex for shop's cluster", "prod", "prod", globexProd, "bound to another cluster"},
		{"shop's token of prod for another of its clusters", "staging", "staging", shopProd, "bound to another cluster"},
		{"a certificate of cluster staging as prod", "staging", "prod", shopProd, "the client certificate names another cluster"},
	} {
		m, err := connect(c.cn, c.cluster, c.token)
		if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v %v, want PermissionDenied saying %q", c.name, m, err, c.want)
		}
		for _, tok := range []string{shopProd, globexProd} {
			if err != nil && strings.Contains(err.Error(), tok) {
				t.Errorf("%s: the error shows a token", c.name)
			}
		}
	}
	if strings.Contains(s.stderr.String(), shopProd) || strings.Contains(s.stderr.String(), globexProd) {
		t.Error("serve's log shows a token")
	}
}
