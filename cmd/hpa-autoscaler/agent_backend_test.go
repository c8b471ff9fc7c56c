package main

import (
	"os"
	"strings"
	"testing"
)

func TestAgentBackendFlagErrors(t *testing.T) {
	dir := t.TempDir()
	tokenFile := writeFile(t, "token", "  s3cret-agent-token\n")
	empty := writeFile(t, "empty", "\n")
	notPEM := writeFile(t, "ca.pem", "not a certificate")
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"token without backend", []string{"--agent-token-file", tokenFile}, []string{"--agent-token-file: needs --backend"}},
		{"backend alone", []string{"--backend", "backend:50051"}, []string{"--cluster-id: required with --backend", "--agent-token-file: required with --backend"}},
		{"bad address", []string{"--backend", "backend", "--cluster-id", "c1", "--agent-token-file", tokenFile}, []string{`--backend "backend": expected host:port`}},
		{"bad port", []string{"--backend", "backend:0", "--cluster-id", "c1", "--agent-token-file", tokenFile}, []string{`port "0"`}},
		{"empty token", []string{"--backend", "backend:50051", "--cluster-id", "c1", "--agent-token-file", empty}, []string{"--agent-token-file: " + empty + ": empty"}},
		{"missing token", []string{"--backend", "backend:50051", "--cluster-id", "c1", "--agent-token-file", dir + "/nope"}, []string{"--agent-token-file: open " + dir + "/nope"}},
		{"cert without key", []string{"--backend", "backend:50051", "--cluster-id", "c1", "--agent-token-file", tokenFile, "--backend-tls-cert", notPEM}, []string{"--backend-tls-cert and --backend-tls-key: give both or neither"}},
		{"bad CA", []string{"--backend", "backend:50051", "--cluster-id", "c1", "--agent-token-file", tokenFile, "--backend-tls-ca", notPEM}, []string{"--backend-tls-ca " + notPEM + ": no PEM certificate"}},
		{"keepalive too short", []string{"--backend", "backend:50051", "--cluster-id", "c1", "--agent-token-file", tokenFile, "--backend-keepalive-time", "1s"}, []string{"--backend-keepalive-time 1s: expected at least 10s"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := agentFlags(t, tc.args)
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q: want %q in it", err, w)
				}
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("the token is in the error: %q", err)
			}
		})
	}
	if _, _, err := agentFlags(t, []string{"--backend", "backend:50051", "--cluster-id", "c1", "--agent-token-file", tokenFile}); err != nil {
		t.Fatalf("valid backend flags: %v", err)
	}
}

func TestAgentBackendConfigFile(t *testing.T) {
	tokenFile := writeFile(t, "token", "tok")
	file := writeFile(t, "agent.yaml", `agent:
  clusterID: "production-cluster-1"
  server:
    endpoint: "backend.hpa-system.svc.cluster.local:50051"
    tls:
      enabled: true
      serverName: "hpa-backend"
  performance:
    queueSize: 5000
`)
	o, _, err := agentFlags(t, []string{"--config", file, "--agent-token-file", tokenFile, "--cluster-id", "from-flag"})
	if err != nil {
		t.Fatal(err)
	}
	b := o.backend
	if b.addr != "backend.hpa-system.svc.cluster.local:50051" || b.clusterID != "from-flag" || !b.tls || b.tlsServerName != "hpa-backend" || b.bufferSize != 5000 {
		t.Fatalf("backend options %+v", b)
	}
}

// The token is read at every connect: a rotated file is used next time.
func TestAgentTokenFileReread(t *testing.T) {
	p := writeFile(t, "token", "first\n")
	if tok, err := readTokenFile(p); err != nil || tok != "first" {
		t.Fatalf("read %q, %v", tok, err)
	}
	if err := os.WriteFile(p, []byte("second"), 0o600); err != nil {
		t.Fatal(err)
	}
	if tok, err := readTokenFile(p); err != nil || tok != "second" {
		t.Fatalf("after rotation: %q, %v", tok, err)
	}
	big := writeFile(t, "big", strings.Repeat("x", maxTokenFile+1))
	if _, err := readTokenFile(big); err == nil || strings.Contains(err.Error(), "xxxx") {
		t.Fatalf("oversized token file: %v", err)
	}
}
