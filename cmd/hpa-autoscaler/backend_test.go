package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
)

// The tests of serve that pass no --db (and the binary they start as a
// child, which inherits the environment) must not create the default
// database in the package's directory: HPA_DB points them at a
// temporary directory of this test process.
func init() {
	if os.Getenv("HPA_DB") != "" {
		return
	}
	dir, err := os.MkdirTemp("", "hpa-autoscaler-cmd-test-")
	if err != nil {
		panic(err)
	}
	os.Setenv("HPA_DB", "sqlite:"+filepath.Join(dir, "hpa-autoscaler.db"))
}

// served is serve running in process.
type served struct {
	http   string
	stderr *syncBuffer
	stop   func() int // ends serve's context and returns its exit code
}

// startServeInProcess runs `serve args...` with JSON logs and waits for
// its serving line.
func startServeInProcess(t *testing.T, args ...string) *served {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &served{stderr: &syncBuffer{}}
	codec := make(chan int, 1)
	go func() {
		codec <- run(ctx, append([]string{"serve", "--log-format", "json", "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"}, args...),
			strings.NewReader(""), io.Discard, s.stderr)
	}()
	stopped := false
	code := 0
	s.stop = func() int {
		if !stopped {
			stopped = true
			cancel()
			select {
			case code = <-codec:
			case <-time.After(30 * time.Second):
				t.Fatal("serve did not stop within 30s")
			}
		}
		return code
	}
	t.Cleanup(func() { s.stop() })
	deadline := time.Now().Add(30 * time.Second)
	for s.http == "" {
		if time.Now().After(deadline) {
			t.Fatalf("no serving line within 30s; stderr:\n%s", s.stderr.String())
		}
		select {
		case c := <-codec:
			stopped = true
			t.Fatalf("serve exited early with %d; stderr:\n%s", c, s.stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
		for _, line := range strings.Split(s.stderr.String(), "\n") {
			if strings.Contains(line, `"external scaler serving"`) {
				var rec struct {
					HTTP string `json:"http"`
				}
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Fatalf("log line %q: %v", line, err)
				}
				s.http = rec.HTTP
			}
		}
	}
	return s
}

// get GETs url with token (none if "") and returns the status and body.
func get(t testing.TB, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func readToken(t testing.TB, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func TestServeBackend(t *testing.T) {
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "hpa.db")
	s := startServeInProcess(t, "--db", db)

	tokenFile := filepath.Join(dir, adminTokenFileName)
	fi, err := os.Stat(tokenFile)
	if err != nil {
		t.Fatalf("admin token file: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("admin token file mode: got %v, want 0600", fi.Mode().Perm())
	}
	keyFile := filepath.Join(dir, auditKeyFileName)
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("signing key file: %v, %v; want mode 0600", fi, err)
	}
	token := readToken(t, tokenFile)
	if !strings.HasPrefix(token, "hpa_default_") {
		t.Errorf("admin token %q: want a token of tenant default", token[:min(len(token), 12)])
	}

	base := "http://" + s.http
	if code, body := get(t, base+"/api/v1/scalers", token); code != http.StatusOK || !strings.Contains(body, `"items"`) {
		t.Errorf("GET /api/v1/scalers with the admin token: %d %s", code, body)
	}
	if code, _ := get(t, base+"/api/v1/scalers", ""); code != http.StatusUnauthorized {
		t.Errorf("GET /api/v1/scalers without a token: %d, want 401", code)
	}
	if code, body := get(t, base+"/metrics", ""); code != http.StatusOK || !strings.Contains(body, "hpa_grpc_requests_total") {
		t.Errorf("GET /metrics beside the API: %d", code)
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if code, _ := get(t, base+p, ""); code != http.StatusOK {
			t.Errorf("GET %s: %d", p, code)
		}
	}
	http.DefaultClient.CloseIdleConnections()
	if code := s.stop(); code != 0 {
		t.Fatalf("exit code: %d; stderr:\n%s", code, s.stderr.String())
	}
	logs := s.stderr.String()
	if strings.Contains(logs, token) {
		t.Error("a log line contains the admin token")
	}
	if !strings.Contains(logs, tokenFile) || !strings.Contains(logs, keyFile) {
		t.Errorf("the log names neither the token file %s nor the key file %s:\n%s", tokenFile, keyFile, logs)
	}

	// A second start keeps the database's tokens: no new admin token.
	s = startServeInProcess(t, "--db", db)
	if got := readToken(t, tokenFile); got != token {
		t.Error("the second start wrote another admin token")
	}
	if code, _ := get(t, "http://"+s.http+"/api/v1/scalers", token); code != http.StatusOK {
		t.Errorf("the admin token after a restart: %d", code)
	}
	if strings.Contains(s.stderr.String(), "system-admin token") {
		t.Error("the second start logged a new admin token")
	}

	// serve signs checkpoints of the log (the first records at once)
	// with the key next to the database, and the whole log verifies
	// without --allow-no-checkpoint.
	scalertest.Eventually(t, 30*time.Second, "serve's first checkpoint", func() error {
		if code, body := get(t, "http://"+s.http+"/api/v1/audit/checkpoint", token); code != http.StatusOK {
			return fmt.Errorf("GET /api/v1/audit/checkpoint: %d %s", code, body)
		}
		return nil
	})
	http.DefaultClient.CloseIdleConnections()
	if code := s.stop(); code != 0 {
		t.Fatalf("exit code: %d; stderr:\n%s", code, s.stderr.String())
	}
	code, stdout, stderr := runCmd(t, "audit", "verify", "--db", db)
	if code != 0 || !strings.HasPrefix(stdout, "ok: ") {
		t.Errorf("audit verify of serve's log: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

// TestServeBootstrapKeepsAnotherTokenFile: an empty database next to an
// admin token file already there (of another database, or of another
// serve starting at once) is refused, and the file left as it was.
func TestServeBootstrapKeepsAnotherTokenFile(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, adminTokenFileName)
	if err := os.WriteFile(tokenFile, []byte("hpa_default_old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCmd(t, "serve", "--db", "sqlite:"+filepath.Join(dir, "hpa.db"), "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0")
	if code != 1 || !strings.Contains(stderr, "the database has no token, but "+tokenFile+" exists") {
		t.Errorf("exit %d, stderr %q; want 1 and the file named", code, stderr)
	}
	if got := readToken(t, tokenFile); got != "hpa_default_old" {
		t.Errorf("the token file was rewritten: %q", got)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "."+adminTokenFileName+".*")); len(m) > 0 {
		t.Errorf("temporary files left: %v", m)
	}
}
