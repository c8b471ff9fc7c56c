package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
)

// httpsClient trusts roots and presents cert (none if nil); each request
// is a new connection, so a rotated certificate is seen at once.
func httpsClient(roots *x509.CertPool, cert *testenv.Cert, h2 bool) *http.Client {
	cfg := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{cert.Pair}
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true, ForceAttemptHTTP2: h2}}
}

// request sends method url with token (none if "") and returns the
// status and body, or the error of the connection.
func request(c *http.Client, method, url, token string) (int, string, error) {
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		return 0, "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// grpcAddr is the gRPC address of serve's serving line.
func grpcAddr(t *testing.T, s *served) string {
	t.Helper()
	var rec struct {
		GRPC string `json:"grpc"`
	}
	if !logRecord(s.stderr.String(), "external scaler serving", &rec) {
		t.Fatal("no serving line")
	}
	return rec.GRPC
}

// grpcHealth calls the gRPC health service over TLS.
func grpcHealth(t *testing.T, addr string, roots *x509.CertPool, cert *testenv.Cert) error {
	t.Helper()
	cfg := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{cert.Pair}
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	return err
}

// rotate writes a new certificate and key over the files, with a later
// modification time (the reloader compares it).
func rotate(t *testing.T, c testenv.Cert, certFile, keyFile string) {
	t.Helper()
	later := time.Now().Add(time.Minute)
	for _, f := range []struct {
		path string
		data []byte
	}{{certFile, c.CertPEM}, {keyFile, c.KeyPEM}} {
		if err := os.WriteFile(f.path, f.data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(f.path, later, later); err != nil {
			t.Fatal(err)
		}
	}
}

// TestServeTLSMutual: with --tls-cert, --tls-key and --tls-client-ca the
// HTTP port is HTTPS with mTLS: the API and /metrics need a client
// certificate signed by the CA, the probes answer without one (kubelet
// presents none), a certificate of another CA and plain HTTP are refused,
// the gRPC port takes the same certificates, and rotated files are served
// at the next handshake.
func TestServeTLSMutual(t *testing.T) {
	serverCA, clientCA, otherCA, nextCA := testenv.NewPKI(t), testenv.NewPKI(t), testenv.NewPKI(t), testenv.NewPKI(t)
	dir := t.TempDir()
	certFile, keyFile := serverCA.ServerCert(t).WriteFiles(t, dir, "server")
	caFile := clientCA.WriteCA(t, dir)
	s := startServeInProcess(t, "--db", "sqlite:"+filepath.Join(dir, "hpa.db"), "--tls-cert", certFile, "--tls-key", keyFile, "--tls-client-ca", caFile)
	base := "https://" + s.http
	token := readToken(t, filepath.Join(dir, adminTokenFileName))
	good, other := clientCA.ClientCert(t, "operator"), otherCA.ClientCert(t, "intruder")

	tests := []struct {
		name   string
		client *http.Client
		path   string
		want   int // 0: the connection fails
	}{
		{name: "API with a client certificate", client: httpsClient(serverCA.Pool, &good, false), path: "/api/v1/scalers", want: http.StatusOK},
		{name: "API over HTTP/2", client: httpsClient(serverCA.Pool, &good, true), path: "/api/v1/scalers", want: http.StatusOK},
		{name: "metrics with a client certificate", client: httpsClient(serverCA.Pool, &good, false), path: "/metrics", want: http.StatusOK},
		{name: "API without a client certificate", client: httpsClient(serverCA.Pool, nil, false), path: "/api/v1/scalers", want: http.StatusUnauthorized},
		{name: "metrics without a client certificate", client: httpsClient(serverCA.Pool, nil, false), path: "/metrics", want: http.StatusUnauthorized},
		{name: "liveness probe without a client certificate", client: httpsClient(serverCA.Pool, nil, false), path: "/healthz", want: http.StatusOK},
		{name: "readiness probe without a client certificate", client: httpsClient(serverCA.Pool, nil, false), path: "/readyz", want: http.StatusOK},
		{name: "client certificate of another CA", client: httpsClient(serverCA.Pool, &other, false), path: "/healthz"},
		{name: "client not trusting the server's CA", client: httpsClient(otherCA.Pool, &good, false), path: "/healthz"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body, err := request(tc.client, http.MethodGet, base+tc.path, token)
			if tc.want == 0 {
				if err == nil {
					t.Fatalf("got %d %s, want the connection refused", code, body)
				}
				return
			}
			if err != nil || code != tc.want {
				t.Fatalf("got %d %q %v, want %d", code, body, err, tc.want)
			}
		})
	}
	t.Run("plain HTTP", func(t *testing.T) {
		code, body, err := request(http.DefaultClient, http.MethodGet, "http://"+s.http+"/healthz", "")
		if err == nil && code != http.StatusBadRequest {
			t.Fatalf("got %d %q, want 400 (an HTTP request to an HTTPS server) or no answer", code, body)
		}
	})
	gaddr := grpcAddr(t, s)
	if err := grpcHealth(t, gaddr, serverCA.Pool, &good); err != nil {
		t.Errorf("gRPC with a client certificate: %v", err)
	}
	if err := grpcHealth(t, gaddr, serverCA.Pool, nil); err == nil {
		t.Error("gRPC without a client certificate: served")
	}

	// Rotation (cert-manager replacing the Secret's files): the next
	// handshakes of both ports present the new certificate.
	rotate(t, nextCA.ServerCert(t), certFile, keyFile)
	if code, body, err := request(httpsClient(nextCA.Pool, &good, false), http.MethodGet, base+"/api/v1/scalers", token); err != nil || code != http.StatusOK {
		t.Errorf("after rotation, trusting the new CA: %d %q %v", code, body, err)
	}
	if _, _, err := request(httpsClient(serverCA.Pool, &good, false), http.MethodGet, base+"/healthz", ""); err == nil {
		t.Error("after rotation, trusting only the old CA: served")
	}
	if err := grpcHealth(t, gaddr, nextCA.Pool, &good); err != nil {
		t.Errorf("gRPC after rotation: %v", err)
	}
}

// TestServeTLSRequireClientCert: --http-client-auth require refuses the
// handshake without a client certificate, probes included.
func TestServeTLSRequireClientCert(t *testing.T) {
	serverCA, clientCA := testenv.NewPKI(t), testenv.NewPKI(t)
	dir := t.TempDir()
	certFile, keyFile := serverCA.ServerCert(t).WriteFiles(t, dir, "server")
	s := startServeInProcess(t, "--db", "sqlite:"+filepath.Join(dir, "hpa.db"), "--tls-cert", certFile, "--tls-key", keyFile,
		"--tls-client-ca", clientCA.WriteCA(t, dir), "--http-client-auth", "require")
	good := clientCA.ClientCert(t, "prometheus")
	if _, _, err := request(httpsClient(serverCA.Pool, nil, false), http.MethodGet, "https://"+s.http+"/healthz", ""); err == nil {
		t.Error("a probe without a client certificate: served")
	}
	if code, _, err := request(httpsClient(serverCA.Pool, &good, false), http.MethodGet, "https://"+s.http+"/healthz", ""); err != nil || code != http.StatusOK {
		t.Errorf("a probe with a client certificate: %d %v", code, err)
	}
}

// TestServeTLSReloadFiles: a reload that names other certificate files,
// then a client CA, puts them in use without a restart: the new
// certificate is served, then the API needs a client certificate.
func TestServeTLSReloadFiles(t *testing.T) {
	oldCA, newCA, clientCA := testenv.NewPKI(t), testenv.NewPKI(t), testenv.NewPKI(t)
	dir := t.TempDir()
	oldCert, oldKey := oldCA.ServerCert(t).WriteFiles(t, dir, "old")
	newCert, newKey := newCA.ServerCert(t).WriteFiles(t, dir, "new")
	caFile := clientCA.WriteCA(t, dir)
	config := func(cert, key, ca string) string {
		return "backend:\n  port: 0\n  grpcPort: 0\n  host: 127.0.0.1\n  database:\n    url: sqlite:" + filepath.Join(dir, "hpa.db") +
			"\n  grpc:\n    tls:\n      certFile: " + cert + "\n      keyFile: " + key + "\n      caFile: " + ca + "\n"
	}
	file := writeConfig(t, dir, config(oldCert, oldKey, ""))
	t.Setenv("HPA_DB", "")
	os.Unsetenv("HPA_DB")
	s := startServeConfig(t, "--config", file)
	base := "https://" + s.http
	token := readToken(t, filepath.Join(dir, adminTokenFileName))
	reloadWith := func(c *http.Client) (int, string) {
		t.Helper()
		code, body, err := request(c, http.MethodPost, base+"/api/v1/config/reload", token)
		if err != nil {
			t.Fatalf("reload: %v", err)
		}
		return code, body
	}

	writeConfig(t, dir, config(newCert, newKey, ""))
	code, body := reloadWith(httpsClient(oldCA.Pool, nil, false))
	if code != http.StatusOK || body != `{"applied":["backend.grpc.tls.certFile","backend.grpc.tls.keyFile"],"restartRequired":[]}`+"\n" {
		t.Fatalf("reload of new files: %d %s", code, body)
	}
	if code, body, err := request(httpsClient(newCA.Pool, nil, false), http.MethodGet, base+"/api/v1/scalers", token); err != nil || code != http.StatusOK {
		t.Errorf("after the reload, trusting the new CA: %d %q %v", code, body, err)
	}
	if err := grpcHealth(t, grpcAddr(t, s), newCA.Pool, nil); err != nil {
		t.Errorf("gRPC after the reload, trusting the new CA: %v", err)
	}

	// Files that do not load: 400, the certificate in use stays.
	writeConfig(t, dir, config(filepath.Join(dir, "missing.crt"), newKey, ""))
	if code, body := reloadWith(httpsClient(newCA.Pool, nil, false)); code != http.StatusBadRequest || !strings.Contains(body, `"field":"backend.grpc.tls.certFile"`) {
		t.Errorf("reload of a missing file: %d %s, want 400 naming backend.grpc.tls.certFile", code, body)
	}

	writeConfig(t, dir, config(newCert, newKey, caFile))
	if code, body := reloadWith(httpsClient(newCA.Pool, nil, false)); code != http.StatusOK || !strings.Contains(body, `"applied":["backend.grpc.tls.caFile"]`) {
		t.Fatalf("reload with a client CA: %d %s", code, body)
	}
	if code, _, err := request(httpsClient(newCA.Pool, nil, false), http.MethodGet, base+"/api/v1/scalers", token); err != nil || code != http.StatusUnauthorized {
		t.Errorf("after mTLS was turned on, without a client certificate: %d %v, want 401", code, err)
	}
	good := clientCA.ClientCert(t, "operator")
	if code, _, err := request(httpsClient(newCA.Pool, &good, false), http.MethodGet, base+"/api/v1/scalers", token); err != nil || code != http.StatusOK {
		t.Errorf("after mTLS was turned on, with a client certificate: %d %v", code, err)
	}
}
