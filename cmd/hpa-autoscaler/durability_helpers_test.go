package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hpa-autoscaler/hpa-autoscaler/backend/api"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/audit"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
)

// The durability tests run the real binary's serve in a process of its
// own (the test binary, see TestMain), talk to it over HTTP only, kill it
// with SIGKILL and run `audit verify` as another process.

// serveProc is one `serve` process on a database (a child, as the
// shutdown tests run it), with the REST API on a port it picked.
type serveProc struct {
	*child
	base string // http://host:port
}

// startServeProc runs serve on db in the working directory dir (where
// the admin token and the audit key go for PostgreSQL) and returns once
// GET /api/v1/health answers 200.
func startServeProc(t *testing.T, dir, db string) *serveProc {
	t.Helper()
	p := launchServe(t, dir, db)
	awaitServe(t, p)
	return p
}

// awaitServe waits for p's serving line (which gives p.base) and for GET
// /api/v1/health to answer 200.
func awaitServe(t *testing.T, p *serveProc) {
	t.Helper()
	scalertest.Eventually(t, waitLimit, "serve's serving line with the HTTP address", func() error {
		select {
		case <-p.exited:
			t.Fatalf("serve exited before serving (%v); stderr:\n%s", p.err, p.stderr.String())
		default:
		}
		for _, line := range strings.Split(p.stderr.String(), "\n") {
			var rec struct {
				Msg  string `json:"msg"`
				HTTP string `json:"http"`
			}
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "external scaler serving" && rec.HTTP != "" {
				p.base = "http://" + rec.HTTP
				return nil
			}
		}
		return errors.New("no serving line yet")
	})
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	scalertest.Eventually(t, waitLimit, "GET /api/v1/health answering 200", func() error {
		resp, err := hc.Get(p.base + "/api/v1/health")
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
}

// launchServe starts the process without waiting for anything; it is
// killed when the test ends, and with the test binary.
func launchServe(t *testing.T, dir, db string) *serveProc {
	t.Helper()
	// No rate limit: these tests are about what is acknowledged, and a
	// fast machine would have a client's posts and resends (with no
	// restart in between) overrun its token's burst.
	c := startChild(t, dir, "serve", "--db", db, "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--log-format", "json", "--rate-limit", "-1")
	return &serveProc{child: c}
}

// wait waits for the process to exit and returns its exit code (-1 for a
// signal).
func (p *serveProc) wait(t *testing.T, what string) int {
	t.Helper()
	return p.exitCode(t, waitLimit, what)
}

// kill9 kills the process with SIGKILL and waits until it is gone.
func (p *serveProc) kill9(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 serve: %v", err)
	}
	if code := p.wait(t, "serve's exit after SIGKILL"); code != -1 {
		t.Fatalf("serve after SIGKILL: exit code %d, want killed by the signal", code)
	}
}

// stop sends SIGTERM and wants exit 0.
func (p *serveProc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM serve: %v", err)
	}
	if code := p.wait(t, "serve's exit after SIGTERM"); code != 0 {
		t.Fatalf("serve after SIGTERM: exit code %d, want 0; stderr:\n%s", code, p.stderr.String())
	}
}

// apiClient calls the REST API with one token.
type apiClient struct {
	base  string
	token string
	hc    *http.Client
}

// newHTTPClient is a client for one serve process; its idle connections
// are closed when the test ends.
func newHTTPClient(t *testing.T) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Timeout: 30 * time.Second, Transport: tr}
}

// do sends a JSON request and returns the status, the headers and the
// body; err is a transport error (no answer).
func (c *apiClient) do(method, path string, body any) (int, http.Header, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, nil, err
	}
	return resp.StatusCode, resp.Header, b, nil
}

// must sends a request that must answer want, and decodes the answer
// into out (if not nil).
func (c *apiClient) must(t *testing.T, method, path string, body any, want int, out any) {
	t.Helper()
	status, _, b, err := c.do(method, path, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if status != want {
		t.Fatalf("%s %s: status %d, want %d; body %s", method, path, status, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: answer %s: %v", method, path, b, err)
		}
	}
}

// readAdminToken reads the token serve's first start wrote into dir.
func readAdminToken(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, adminTokenFileName))
	if err != nil {
		t.Fatalf("the admin token file: %v", err)
	}
	return strings.TrimSpace(string(b))
}

// durScaler is the scaler the durability tests post events to.
const durScaler = "web"

// setUpScaler creates a cluster and the scaler durScaler, and n operator
// tokens (one per client, so that no client waits for another's rate
// limit), returned.
func setUpScaler(t *testing.T, admin *apiClient, n int) []string {
	t.Helper()
	admin.must(t, "POST", "/api/v1/clusters", map[string]any{"id": "eu1", "name": "Europe 1"}, http.StatusCreated, nil)
	admin.must(t, "POST", "/api/v1/scalers", map[string]any{
		"name": durScaler, "namespace": "prod", "cluster": "eu1",
		"spec": map[string]any{
			"targetRef": map[string]any{"kind": "Deployment", "name": "web"},
			"scaling":   map[string]any{"maxReplicas": 5},
			"scalerSpec": map[string]any{"type": "redis",
				"metadata":   map[string]string{"address": "redis:6379", "listName": "jobs", "listLength": "5"},
				"secretRefs": []map[string]string{{"parameter": "password", "name": "redis", "key": "password"}}},
		},
	}, http.StatusCreated, nil)
	tokens := make([]string, n)
	for i := range tokens {
		var tok struct {
			Token string `json:"token"`
		}
		admin.must(t, "POST", "/api/v1/tokens", map[string]any{"name": fmt.Sprint("client-", i), "role": "operator"}, http.StatusCreated, &tok)
		tokens[i] = tok.Token
	}
	return tokens
}

// eventBody is the posted event of id.
func eventBody(id, reason string) api.EventBody {
	return api.EventBody{ID: id, Time: time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC), FromReplicas: 1, ToReplicas: 2, Rule: "scaleUp", Reason: reason}
}

// listEvents reads every event of durScaler, page by page, and fails on
// an id listed twice.
func listEvents(t *testing.T, admin *apiClient) map[string]api.Event {
	t.Helper()
	out := map[string]api.Event{}
	token := ""
	for {
		var page api.List[api.Event]
		admin.must(t, "GET", "/api/v1/scalers/"+durScaler+"/events?limit=1000&pageToken="+url.QueryEscape(token), nil, http.StatusOK, &page)
		for _, e := range page.Items {
			if prev, ok := out[e.ID]; ok {
				t.Fatalf("event %s listed twice: seq %d and %d", e.ID, prev.Seq, e.Seq)
			}
			out[e.ID] = e
		}
		if page.NextPageToken == "" {
			return out
		}
		token = page.NextPageToken
	}
}

// auditLog reads the whole audit log (the admin token is a system admin's).
func auditLog(t *testing.T, admin *apiClient) map[int64]audit.Exported {
	t.Helper()
	out := map[int64]audit.Exported{}
	var after int64
	for {
		var page api.AuditList
		admin.must(t, "GET", "/api/v1/audit?limit=1000&after="+strconv.FormatInt(after, 10), nil, http.StatusOK, &page)
		for _, r := range page.Items {
			out[r.Seq] = r
		}
		if page.Next == 0 {
			return out
		}
		after = page.Next
	}
}

var verifyOK = regexp.MustCompile(`^ok: (\d+) records, head ([0-9a-f]{64})\n$`)

// auditVerify runs `hpa-autoscaler audit verify --db db` (the binary, in
// dir) and returns the number of records it verified.
func auditVerify(t *testing.T, dir, db string) int64 {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "audit", "verify", "--db", db)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("audit verify: %v; stdout %q, stderr %q", err, stdout.String(), stderr.String())
	}
	m := verifyOK.FindStringSubmatch(stdout.String())
	if m == nil {
		t.Fatalf("audit verify: stdout %q, want ok: N records, head HEX; stderr %q", stdout.String(), stderr.String())
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	return n
}

// checkLogHasNoToken fails if a token appears in serve's log.
func checkLogHasNoToken(t *testing.T, log string, tokens ...string) {
	t.Helper()
	for _, tok := range tokens {
		if tok != "" && strings.Contains(log, tok) {
			t.Errorf("serve's log holds a token")
		}
	}
	if strings.Contains(log, "hpa_default_") {
		t.Errorf("serve's log holds something like a token (hpa_default_...)")
	}
}
