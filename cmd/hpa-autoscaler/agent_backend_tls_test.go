package main

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hpa-autoscaler/hpa-autoscaler/controller/backendlink"
	"github.com/hpa-autoscaler/hpa-autoscaler/controller/linktest"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
)

// TestAgentBackendMTLS: the TLS configuration the agent's flags make
// (--backend-tls-ca, --backend-tls-cert, --backend-tls-key) connects to
// a backend that requires a client certificate, and presents it; without
// the certificate the handshake fails and nothing is authenticated.
func TestAgentBackendMTLS(t *testing.T) {
	pki := testenv.NewPKI(t)
	dir := t.TempDir()
	certFile, keyFile := pki.ClientCert(t, "c1").WriteFiles(t, dir, "agent")
	srv, err := linktest.Start(linktest.Options{Token: "tok", TLS: pki.MTLSServerConfig(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	tokenFile := writeFile(t, "token", "tok\n")

	run := func(b agentBackendOpts, reg prometheus.Registerer) (*backendlink.Link, func()) {
		t.Helper()
		if errs := b.validate(); len(errs) > 0 {
			t.Fatalf("flags: %v", errs)
		}
		o := backendlink.Options{Addr: b.addr, ClusterID: b.clusterID, Token: func() (string, error) { return readTokenFile(b.tokenFile) },
			TLS: b.tlsConfig, MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, Logger: slog.New(slog.DiscardHandler),
			Inventory: func(context.Context) ([]backendlink.Scaler, error) { return nil, nil }, Registerer: reg}
		l, err := backendlink.New(o)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- l.Run(ctx) }()
		return l, func() { cancel(); <-done }
	}
	base := agentBackendOpts{addr: srv.Addr(), clusterID: "c1", tokenFile: tokenFile, tlsCA: pki.WriteCA(t, dir),
		keepaliveTime: backendlink.DefaultKeepaliveTime, bufferSize: 100}

	// No client certificate: refused at the handshake.
	reg := prometheus.NewRegistry()
	_, stop := run(base, reg)
	scalertest.Eventually(t, 30*time.Second, "two failed connects without a client certificate", func() error {
		fams, err := reg.Gather()
		if err != nil {
			return err
		}
		for _, f := range fams {
			if f.GetName() == "hpa_agent_backend_reconnects_total" && f.GetMetric()[0].GetCounter().GetValue() >= 2 {
				return nil
			}
		}
		return fmt.Errorf("not yet")
	})
	withCert := base
	withCert.tlsCert, withCert.tlsKey = certFile, keyFile
	l, stop2 := run(withCert, nil)
	defer stop2()
	scalertest.Eventually(t, 30*time.Second, "the mTLS link connected", func() error {
		if !l.Connected() {
			return fmt.Errorf("not connected")
		}
		return nil
	})
	stop()
	if peers := srv.Peers(); len(peers) != 1 || peers[0] != "c1" {
		t.Fatalf("authenticated streams' client certificates %q: want only [c1] (the one without a certificate refused)", peers)
	}
}
