package charttest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/hpa-autoscaler/hpa-autoscaler/backend/audit"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

// removeBinary removes what binary built, after the package's tests.
type removeBinary struct{ m interface{ Run() int } }

func (r removeBinary) Run() int {
	code := r.m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	return code
}

// binary builds cmd/hpa-autoscaler once for the package's tests.
func binary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "charttest-bin-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "hpa-autoscaler")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/hpa-autoscaler")
		cmd.Dir = repoRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build ./cmd/hpa-autoscaler: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// flagsOf lists the flags `hpa-autoscaler <cmd> --help` prints.
func flagsOf(t *testing.T, bin, sub string) map[string]bool {
	t.Helper()
	out, err := exec.Command(bin, sub, "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("%s --help: %v\n%s", sub, err, out)
	}
	flags := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s+(?:-\w, )?--([a-z0-9-]+)`).FindAllStringSubmatch(string(out), -1) {
		flags[m[1]] = true
	}
	if len(flags) < 5 {
		t.Fatalf("%s --help: found only %v", sub, flags)
	}
	return flags
}

// TestArgsAreFlagsOfTheBinary: every flag the chart passes, in the
// all-features render (the agent's link included), is one the binary has.
func TestArgsAreFlagsOfTheBinary(t *testing.T) {
	bin := binary(t)
	objs, _ := render(t, loadChart(t), "hpa-system", valuesFile(t, "all-features.yaml"))
	for _, d := range []struct{ deploy, sub string }{
		{"hpa-hpa-autoscaler-backend", "serve"},
		{"hpa-hpa-autoscaler-agent", "agent"},
	} {
		flags := flagsOf(t, bin, d.sub)
		args := containerArgs(t, find(t, objs, "Deployment", d.deploy))
		if len(args) == 0 || args[0] != d.sub {
			t.Errorf("%s: args %q, want %s first", d.deploy, args, d.sub)
			continue
		}
		for _, a := range args[1:] {
			name, ok := strings.CutPrefix(a, "--")
			if !ok {
				t.Errorf("%s: argument %q is not a flag", d.deploy, a)
				continue
			}
			name, _, _ = strings.Cut(name, "=")
			if !flags[name] {
				t.Errorf("%s: --%s is not a flag of hpa-autoscaler %s", d.deploy, name, d.sub)
			}
		}
	}
}

// TestServeRunsTheRenderedConfig starts the binary's serve on the
// configuration file the chart renders by default, with the
// certificates of its Secrets (the container's paths moved into a
// temporary directory and the ports onto free loopback ones): it must
// start, answer /readyz over HTTPS to a client that trusts the chart's
// CA, refuse the API without a client certificate, answer it with the
// chart's client certificate and the admin token serve wrote, and serve
// /metrics in plain HTTP on the metrics port.
func TestServeRunsTheRenderedConfig(t *testing.T) {
	bin := binary(t)
	objs, _ := render(t, loadChart(t), "hpa-system", nil)
	cm := find(t, objs, "ConfigMap", "hpa-hpa-autoscaler-backend")
	cfg, _, _ := unstructured.NestedString(cm.Object, "data", "backend.yaml")

	dir := t.TempDir()
	data, tlsDir := filepath.Join(dir, "data"), filepath.Join(dir, "tls")
	for _, d := range []string{data, tlsDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	backendTLS := secretData(t, find(t, objs, "Secret", "hpa-hpa-autoscaler-backend-tls"))
	for _, k := range []string{"tls.crt", "tls.key", "ca.crt"} {
		if err := os.WriteFile(filepath.Join(tlsDir, k), backendTLS[k], 0o400); err != nil {
			t.Fatal(err)
		}
	}
	ports := freePorts(t, 3)
	httpPort, grpcPort, metricsPort := ports[0], ports[1], ports[2]
	for _, r := range []struct{ old, new string }{
		{"/var/lib/hpa-autoscaler", data},
		{"/etc/hpa-autoscaler/tls", tlsDir},
		{`host: "0.0.0.0"`, `host: "127.0.0.1"`},
		{"port: 8080", fmt.Sprintf("port: %d", httpPort)},
		{"grpcPort: 9443", fmt.Sprintf("grpcPort: %d", grpcPort)},
		{"port: 9090", fmt.Sprintf("port: %d", metricsPort)},
	} {
		if !strings.Contains(cfg, r.old) {
			t.Fatalf("backend.yaml has no %q:\n%s", r.old, cfg)
		}
		cfg = strings.ReplaceAll(cfg, r.old, r.new)
	}
	cfgFile := filepath.Join(dir, "backend.yaml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}

	exited := startChild(t, bin, data, "serve", "--config="+cfgFile)

	ca := x509.NewCertPool()
	if !ca.AppendCertsFromPEM(backendTLS["ca.crt"]) {
		t.Fatal("ca.crt: no certificate")
	}
	noCert := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca, ServerName: "localhost"}}}
	defer noCert.CloseIdleConnections()
	base := fmt.Sprintf("https://127.0.0.1:%d", httpPort)
	waitFor(t, exited, 2*time.Minute, "serve's /readyz over HTTPS with the chart's CA", func() error {
		return expectStatus(noCert, base+"/readyz", "", http.StatusOK)
	})
	if err := expectStatus(noCert, base+"/api/v1/scalers", "", http.StatusUnauthorized); err != nil {
		t.Errorf("API without a client certificate: %v", err)
	}

	client := secretData(t, find(t, objs, "Secret", "hpa-hpa-autoscaler-client-tls"))
	pair, err := tls.X509KeyPair(client["tls.crt"], client["tls.key"])
	if err != nil {
		t.Fatal(err)
	}
	withCert := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: ca, ServerName: "localhost", Certificates: []tls.Certificate{pair}}}}
	defer withCert.CloseIdleConnections()
	var token []byte
	waitFor(t, exited, 30*time.Second, "the admin token file in the data directory", func() error {
		token, err = os.ReadFile(filepath.Join(data, "hpa-autoscaler-admin.token"))
		return err
	})
	if err := expectStatus(withCert, base+"/api/v1/scalers", strings.TrimSpace(string(token)), http.StatusOK); err != nil {
		t.Errorf("API with the chart's client certificate and the admin token: %v", err)
	}
	// NOTES.txt's way to a token: the binary in the pod, on the same file
	// while serve runs.
	out, err := exec.Command(bin, "token", "create", "--db", "sqlite:"+filepath.Join(data, "hpa-autoscaler.db"),
		"--tenant", "default", "--role", "admin").Output()
	if err != nil {
		t.Fatalf("token create: %v", err)
	}
	if err := expectStatus(withCert, base+"/api/v1/scalers", strings.TrimSpace(string(out)), http.StatusOK); err != nil {
		t.Errorf("API with a token of token create: %v", err)
	}
	plain := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{}}
	defer plain.CloseIdleConnections()
	if err := expectStatus(plain, fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort), "", http.StatusOK); err != nil {
		t.Errorf("metrics port: %v", err)
	}
	for _, f := range []string{"hpa-autoscaler.db", "hpa-autoscaler-audit.key"} {
		if _, err := os.Stat(filepath.Join(data, f)); err != nil {
			t.Errorf("the data directory (the claim): %v", err)
		}
	}
}

// startChild runs bin with args in dir, its output in a log file printed
// if the test fails, and stops it (SIGTERM, then SIGKILL after 30 s) at
// the test's end. The channel closes when it exits.
func startChild(t *testing.T, bin, dir string, args ...string) <-chan struct{} {
	t.Helper()
	logFile, err := os.Create(filepath.Join(t.TempDir(), args[0]+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		logFile.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logFile.Name())
			t.Logf("%s's log:\n%s", args[0], b)
		}
	})
	return exited
}

func expectStatus(c *http.Client, url, token string, want int) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != want {
		return fmt.Errorf("GET %s: %d %s, want %d", url, resp.StatusCode, body, want)
	}
	return nil
}

// waitFor polls cond until it holds, the process exits or the limit
// passes; the failure names what was awaited and the last error.
func waitFor(t *testing.T, exited <-chan struct{}, limit time.Duration, what string, cond func() error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	delay := 10 * time.Millisecond
	for {
		err := cond()
		if err == nil {
			return
		}
		select {
		case <-exited:
			t.Fatalf("the process exited while waiting for %s (last: %v)", what, err)
		case <-ctx.Done():
			t.Fatalf("no %s within %v: %v", what, limit, err)
		case <-time.After(delay):
		}
		delay = min(2*delay, 250*time.Millisecond)
	}
}

func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		if err := l.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			t.Fatal(err)
		}
	}
	return ports
}

// TestServeReadsAMountedSigningKey: with backend.audit.signingKeySecret,
// serve reads the key where the chart mounts it, in the mode kubelet gives
// a Secret's file under the pod's fsGroup (0440), and generates none.
func TestServeReadsAMountedSigningKey(t *testing.T) {
	bin := binary(t)
	objs, _ := render(t, loadChart(t), "hpa-system", map[string]any{
		"backend": map[string]any{"audit": map[string]any{"signingKeySecret": "hpa-audit-key"}, "grpc": map[string]any{"tls": map[string]any{"enabled": false}}}})
	cm := find(t, objs, "ConfigMap", "hpa-hpa-autoscaler-backend")
	cfg, _, _ := unstructured.NestedString(cm.Object, "data", "backend.yaml")
	dir := t.TempDir()
	data, auditDir := filepath.Join(dir, "data"), filepath.Join(dir, "audit")
	for _, d := range []string{data, auditDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	keyFile := filepath.Join(auditDir, "signing.key")
	if _, _, err := audit.LoadOrGenerateKey(keyFile, "hpa-autoscaler/hpa-autoscaler"); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(keyFile, 0o440); err != nil {
		t.Fatal(err)
	}
	ports := freePorts(t, 3)
	for _, r := range []struct{ old, new string }{
		{"/var/lib/hpa-autoscaler", data},
		{"/etc/hpa-autoscaler/audit", auditDir},
		{`host: "0.0.0.0"`, `host: "127.0.0.1"`},
		{"port: 8080", fmt.Sprintf("port: %d", ports[0])},
		{"grpcPort: 9443", fmt.Sprintf("grpcPort: %d", ports[1])},
		{"port: 9090", fmt.Sprintf("port: %d", ports[2])},
	} {
		if !strings.Contains(cfg, r.old) {
			t.Fatalf("backend.yaml has no %q:\n%s", r.old, cfg)
		}
		cfg = strings.ReplaceAll(cfg, r.old, r.new)
	}
	cfgFile := filepath.Join(dir, "backend.yaml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	exited := startChild(t, bin, data, "serve", "--config="+cfgFile)
	plain := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{}}
	defer plain.CloseIdleConnections()
	waitFor(t, exited, 2*time.Minute, "serve's /readyz with the mounted signing key", func() error {
		return expectStatus(plain, fmt.Sprintf("http://127.0.0.1:%d/readyz", ports[0]), "", http.StatusOK)
	})
	if _, err := os.Stat(filepath.Join(data, "hpa-autoscaler-audit.key")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("serve generated a key of its own next to the database: %v", err)
	}
}

// startRenderedServe starts serve on a rendered backend.yaml with the
// given certificate Secret's data (tls.crt, tls.key, ca.crt), the
// container's paths moved into a temporary directory and the ports onto
// free loopback ones; it returns the data directory, the HTTP, gRPC and
// metrics ports, once /readyz answers on the metrics-free HTTP port (over
// HTTPS trusting the CA).
func startRenderedServe(t *testing.T, bin, cfg string, tlsData map[string][]byte) (data string, httpPort, grpcPort, metricsPort int) {
	t.Helper()
	dir := t.TempDir()
	data, tlsDir := filepath.Join(dir, "data"), filepath.Join(dir, "tls")
	for _, d := range []string{data, tlsDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{"tls.crt", "tls.key", "ca.crt"} {
		if err := os.WriteFile(filepath.Join(tlsDir, k), tlsData[k], 0o400); err != nil {
			t.Fatal(err)
		}
	}
	ports := freePorts(t, 3)
	httpPort, grpcPort, metricsPort = ports[0], ports[1], ports[2]
	for _, r := range []struct{ old, new string }{
		{"/var/lib/hpa-autoscaler", data},
		{"/etc/hpa-autoscaler/tls", tlsDir},
		{`host: "0.0.0.0"`, `host: "127.0.0.1"`},
		{"port: 8080", fmt.Sprintf("port: %d", httpPort)},
		{"grpcPort: 9443", fmt.Sprintf("grpcPort: %d", grpcPort)},
		{"port: 9090", fmt.Sprintf("port: %d", metricsPort)},
	} {
		if !strings.Contains(cfg, r.old) {
			t.Fatalf("backend.yaml has no %q:\n%s", r.old, cfg)
		}
		cfg = strings.ReplaceAll(cfg, r.old, r.new)
	}
	cfgFile := filepath.Join(dir, "backend.yaml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	exited := startChild(t, bin, data, "serve", "--config="+cfgFile)
	ca := x509.NewCertPool()
	if !ca.AppendCertsFromPEM(tlsData["ca.crt"]) {
		t.Fatal("ca.crt: no certificate")
	}
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca, ServerName: "localhost"}}}
	defer c.CloseIdleConnections()
	waitFor(t, exited, 2*time.Minute, "serve's /readyz", func() error {
		return expectStatus(c, fmt.Sprintf("https://127.0.0.1:%d/readyz", httpPort), "", http.StatusOK)
	})
	return data, httpPort, grpcPort, metricsPort
}

// metricLine waits until a plain-HTTP /metrics holds line.
func metricLine(t *testing.T, exited <-chan struct{}, url, line string) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{}}
	defer c.CloseIdleConnections()
	waitFor(t, exited, 2*time.Minute, line+" on "+url, func() error {
		resp, err := c.Get(url)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		for _, l := range strings.Split(string(b), "\n") {
			if l == line {
				return nil
			}
		}
		return errors.New("not yet")
	})
}
