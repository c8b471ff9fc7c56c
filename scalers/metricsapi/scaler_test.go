package metricsapi

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// seen is what a fake API received.
type seen struct {
	method string
	url    *url.URL
	header http.Header
}

// fakeAPI answers every request with status, content type and body, and
// records the requests.
type fakeAPI struct {
	mu     sync.Mutex
	status int
	ctype  string
	body   string
	reqs   []seen
}

func (f *fakeAPI) set(status int, ctype, body string) {
	f.mu.Lock()
	f.status, f.ctype, f.body = status, ctype, body
	f.mu.Unlock()
}

func (f *fakeAPI) last(tb testing.TB) seen {
	tb.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.reqs) == 0 {
		tb.Fatal("the server got no request")
	}
	return f.reqs[len(f.reqs)-1]
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.reqs = append(f.reqs, seen{method: r.Method, url: r.URL, header: r.Header.Clone()})
	status, ctype, body := f.status, f.ctype, f.body
	f.mu.Unlock()
	if status == 0 {
		status = http.StatusOK
	}
	if ctype != "" {
		w.Header().Set("Content-Type", ctype)
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func newFake(tb testing.TB, body string) (*fakeAPI, *httptest.Server) {
	tb.Helper()
	f := &fakeAPI{ctype: "application/json", body: body}
	srv := httptest.NewServer(f)
	tb.Cleanup(srv.Close)
	return f, srv
}

// secretFiles allows the directories of md's <key>File keys, as the
// server's --secret-file-dir would.
func secretFiles(tb testing.TB, md map[string]string) scalers.FileAccess {
	tb.Helper()
	a, err := scalers.NewFileAccess(scalertest.FileDirs(md)...)
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

func newScaler(tb testing.TB, meta map[string]string, opts Options) *Scaler {
	tb.Helper()
	s, err := NewWithOptions(tb.Context(), scalers.Config{Type: Type, Metadata: meta, SecretFiles: secretFiles(tb, meta)}, opts)
	if err != nil {
		tb.Fatalf("NewWithOptions: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

func TestFormats(t *testing.T) {
	tests := []struct {
		format, file, ctype, loc string
		want                     float64
	}{
		{"", "answer.json", "application/json", "components.0.tasks", 32},
		{"json", "answer.json", "application/json", "count", 2.43},
		{"yaml", "answer.yaml", "application/yaml", "components.0.k", 1000},
		{"xml", "answer.xml", "application/xml", "stats.components.component.1.tasks", 7},
		{"prometheus", "answer.prom", "text/plain; version=0.0.4", `backend_queue_size{queueName="two", instance="zero"}`, 20},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			f, srv := newFake(t, string(readTestdata(t, tc.file)))
			f.ctype = tc.ctype
			s := newScaler(t, md("url", srv.URL+"/api/v1/stats?window=5m", "format", tc.format, "valueLocation", tc.loc,
				"targetValue", "10", "activationTargetValue", "1"), Options{})
			m, err := s.Metrics(t.Context())
			if err != nil {
				t.Fatalf("Metrics: %v", err)
			}
			want := scalers.Metrics{Values: []scalers.MetricValue{{Name: scalers.MetricName("metric-api", tc.loc), Value: tc.want}}, Active: true}
			if diff := cmp.Diff(want, m); diff != "" {
				t.Errorf("Metrics (-want +got):\n%s", diff)
			}
			got := f.last(t)
			if diff := cmp.Diff("GET /api/v1/stats?window=5m", got.method+" "+got.url.RequestURI()); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMetricSpecsAndActivity(t *testing.T) {
	f, srv := newFake(t, `{"v": 1}`)
	s := newScaler(t, md("url", srv.URL, "valueLocation", "components.worker.tasks", "targetValue", "8.8", "activationTargetValue", "3.8"), Options{})
	if diff := cmp.Diff([]scalers.MetricSpec{{Name: "metric-api-components-worker-tasks", Target: 8.8}}, s.MetricSpecs()); diff != "" {
		t.Errorf("MetricSpecs (-want +got):\n%s", diff)
	}
	for _, tc := range []struct {
		value      string
		want       float64
		wantActive bool
	}{{"3", 3, false}, {"3.8", 3.8, false}, {"3.9", 3.9, true}, {`"4k"`, 4000, true}} {
		t.Run(tc.value, func(t *testing.T) {
			f.set(200, "application/json", `{"components":{"worker":{"tasks":`+tc.value+`}}}`)
			m, err := s.Metrics(t.Context())
			if err != nil {
				t.Fatalf("Metrics: %v", err)
			}
			want := scalers.Metrics{Values: []scalers.MetricValue{{Name: "metric-api-components-worker-tasks", Value: tc.want}}, Active: tc.wantActive}
			if diff := cmp.Diff(want, m); diff != "" {
				t.Errorf("Metrics (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAnswers(t *testing.T) {
	f, srv := newFake(t, "")
	failed := "metrics-api: " + srv.URL + "/x: "
	tests := []struct {
		name    string
		status  int
		body    string
		format  string
		loc     string
		want    float64
		wantErr error
		wantMsg string // the whole message
	}{
		{name: "number", body: `{"a":{"b":5}}`, loc: "a.b", want: 5},
		{name: "non-numeric", body: `{"a":{"b":"five"}}`, loc: "a.b", wantErr: scalers.ErrNoData,
			wantMsg: failed + `valueLocation "a.b": the string "five" is not a number or a quantity (such as 1.5, 100m, 2k)`},
		{name: "missing", body: `{"a":{}}`, loc: "a.b", wantErr: scalers.ErrNoData, wantMsg: failed + `valueLocation "a.b": not found in the answer`},
		{name: "malformed JSON", body: `{"a":`, loc: "a", wantErr: scalers.ErrUnavailable, wantMsg: failed + "malformed answer: not valid JSON: the answer does not parse"},
		{name: "HTML instead of JSON", body: `<html>oops</html>`, loc: "a", wantErr: scalers.ErrUnavailable, wantMsg: failed + "malformed answer: not valid JSON: the answer does not parse"},
		{name: "malformed YAML", body: "a: [", format: "yaml", loc: "a", wantErr: scalers.ErrUnavailable,
			wantMsg: failed + "malformed answer: not valid YAML: yaml: line 1: did not find expected node content"},
		{name: "malformed XML", body: "<a>", format: "xml", loc: "a", wantErr: scalers.ErrUnavailable,
			wantMsg: failed + "malformed answer: not valid XML: XML syntax error on line 1: unexpected EOF"},
		{name: "malformed exposition", body: "x y z\n", format: "prometheus", loc: "x", wantErr: scalers.ErrUnavailable,
			wantMsg: failed + `malformed answer: not valid Prometheus text format: text format parsing error in line 1: expected float as value, got "y"`},
		// The body of an error answer stays out of the message.
		{name: "404", status: 404, body: "not here", loc: "a", wantErr: scalers.ErrUnavailable, wantMsg: failed + "status 404 Not Found, want 200"},
		{name: "500", status: 500, body: `{"a":1}`, loc: "a", wantErr: scalers.ErrUnavailable, wantMsg: failed + "status 500 Internal Server Error, want 200"},
		{name: "503", status: 503, loc: "a", wantErr: scalers.ErrUnavailable, wantMsg: failed + "status 503 Service Unavailable, want 200"},
		{name: "204 is not 200", status: 204, loc: "a", wantErr: scalers.ErrUnavailable, wantMsg: failed + "status 204 No Content, want 200"},
		{name: "201 is not 200", status: 201, body: `{"a":1}`, loc: "a", wantErr: scalers.ErrUnavailable, wantMsg: failed + "status 201 Created, want 200"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f.set(tc.status, "", tc.body)
			s := newScaler(t, md("url", srv.URL+"/x", "valueLocation", tc.loc, "format", tc.format), Options{})
			v, err := s.Value(t.Context())
			if tc.wantErr != nil {
				scalertest.CheckErr(t, err, tc.wantErr)
				scalertest.CheckMessage(t, err, tc.wantMsg)
				return
			}
			if err != nil || v != tc.want {
				t.Fatalf("got %v, %v; want %v", v, err, tc.want)
			}
		})
	}
}

func TestAuthModes(t *testing.T) {
	f, srv := newFake(t, `{"v": 3}`)
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte("key-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	basic := func(u, p string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p)) }
	tests := []struct {
		name       string
		md         map[string]string
		wantHeader map[string]string
		wantQuery  url.Values
	}{
		{name: "none", md: md(), wantHeader: map[string]string{"Authorization": "", "X-Api-Key": ""}, wantQuery: url.Values{"q": {"1"}}},
		{name: "basic", md: md("authMode", "basic", "username", "user", "password", "pass"),
			wantHeader: map[string]string{"Authorization": basic("user", "pass")}},
		{name: "bearer", md: md("authMode", "bearer", "token", "secure-token"),
			wantHeader: map[string]string{"Authorization": "Bearer secure-token"}},
		{name: "bearer with a trailing newline from env", md: md("authMode", "bearer", "bearerTokenFromEnv", "tok\n"),
			wantHeader: map[string]string{"Authorization": "Bearer tok"}},
		{name: "apiKey, default header", md: md("authMode", "apiKey", "apiKey", "apiikey"),
			wantHeader: map[string]string{"X-API-KEY": "apiikey"}},
		{name: "apiKey, named header", md: md("authMode", "apiKey", "apiKey", "apiikey", "method", "header", "keyParamName", "X-Custom"),
			wantHeader: map[string]string{"X-Custom": "apiikey", "X-API-KEY": ""}},
		{name: "apiKey, default query parameter", md: md("authMode", "apiKey", "apiKey", "a k&y", "method", "query"),
			wantQuery: url.Values{"q": {"1"}, "api_key": {"a k&y"}}, wantHeader: map[string]string{"X-API-KEY": ""}},
		{name: "apiKey, named query parameter", md: md("authMode", "apiKey", "apiKeyFile", keyFile, "method", "query", "keyParamName", "custom"),
			wantQuery: url.Values{"q": {"1"}, "custom": {"key-from-file"}}},
		{name: "custom header", md: md("authModes", "custom", "customAuthHeader", "X-Token", "customAuthValue", "v-1"),
			wantHeader: map[string]string{"X-Token": "v-1"}},
		{name: "apiKey and basic", md: md("authModes", "apiKey,basic", "apiKey", "k1", "username", "u", "password", "p"),
			wantHeader: map[string]string{"X-API-KEY": "k1", "Authorization": basic("u", "p")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.md["url"], tc.md["valueLocation"] = srv.URL+"/m?q=1", "v"
			s := newScaler(t, tc.md, Options{})
			if v, err := s.Value(t.Context()); err != nil || v != 3 {
				t.Fatalf("got %v, %v; want 3", v, err)
			}
			got := f.last(t)
			want, names := http.Header{}, []string{}
			for h, v := range tc.wantHeader {
				if v != "" {
					want[http.CanonicalHeaderKey(h)] = []string{v}
				} else {
					want[http.CanonicalHeaderKey(h)] = nil
				}
				names = append(names, h)
			}
			if diff := cmp.Diff(want, scalertest.Headers(got.header, names...)); diff != "" {
				t.Errorf("headers (-want +got):\n%s", diff)
			}
			if tc.wantQuery != nil {
				if diff := cmp.Diff(tc.wantQuery, got.url.Query()); diff != "" {
					t.Errorf("query (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestTLS(t *testing.T) {
	pki := testenv.NewPKI(t)
	client := pki.ClientCert(t, "test")
	ca, cert, key := string(pki.CAPEM), string(client.CertPEM), string(client.KeyPEM)
	f := &fakeAPI{body: `{"v": 9}`}
	mtls := pki.StartMTLSServer(t, f)
	plainTLS := httptest.NewUnstartedServer(f)
	plainTLS.Config.ErrorLog = log.New(io.Discard, "", 0)
	plainTLS.StartTLS()
	t.Cleanup(plainTLS.Close)
	dir := t.TempDir()
	caFile := pki.WriteCA(t, dir)
	certFile, keyFile := client.WriteFiles(t, dir, "tls")

	tests := []struct {
		name    string
		md      map[string]string
		wantErr string   // the whole message
		wantSub []string // parts of the message
	}{
		{name: "client certificate", md: md("url", mtls.URL, "authMode", "tls", "ca", ca, "cert", cert, "key", key)},
		{name: "client certificate from files", md: md("url", mtls.URL, "authMode", "tls", "caFile", caFile, "certFile", certFile, "keyFile", keyFile)},
		{name: "apiKey and tls", md: md("url", mtls.URL, "authMode", "apiKey,tls", "apiKey", "k", "ca", ca, "cert", cert, "key", key)},
		// TLS 1.3 reports a missing client certificate as an alert after
		// the handshake, which net/http words in more than one way
		// ("readLoopPeekFailLocked: " or not): wantSub, not wantErr.
		{name: "no client certificate", md: md("url", mtls.URL, "ca", ca),
			wantSub: []string{"metrics-api: " + mtls.URL + ": ", "remote error: tls: certificate required"}},
		{name: "unknown authority", md: md("url", plainTLS.URL),
			wantErr: "metrics-api: " + plainTLS.URL + ": tls: failed to verify certificate: x509: certificate signed by unknown authority"},
		{name: "unsafeSsl", md: md("url", plainTLS.URL, "unsafeSsl", "true")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.md["valueLocation"] = "v"
			s := newScaler(t, tc.md, Options{})
			v, err := s.Value(t.Context())
			if tc.wantSub != nil {
				scalertest.CheckErr(t, err, scalers.ErrUnavailable, tc.wantSub...)
				return
			}
			if tc.wantErr != "" {
				scalertest.CheckErr(t, err, scalers.ErrUnavailable)
				scalertest.CheckMessage(t, err, tc.wantErr)
				return
			}
			if err != nil || v != 9 {
				t.Fatalf("got %v, %v; want 9", v, err)
			}
		})
	}
}

func TestSlowAnswer(t *testing.T) {
	release := make(chan struct{})
	slowHeaders := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer slowHeaders.Close()
	// Headers at once, then a body that trickles.
	slowBody := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		_, _ = io.WriteString(w, `{"v": `)
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer slowBody.Close()
	defer close(release)
	for _, tc := range []struct{ url, stage string }{
		{slowHeaders.URL, "after sending the request"},
		{slowBody.URL, "while reading the answer"},
	} {
		s := newScaler(t, md("url", tc.url, "valueLocation", "v", "timeout", "150"), Options{})
		_, err := s.Value(t.Context())
		scalertest.CheckErr(t, err, scalers.ErrUnavailable)
		scalertest.CheckMessage(t, err, "metrics-api: "+tc.url+": no answer within 150ms (timeout "+tc.stage+")")
	}
}

func TestCallerCancels(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer srv.Close()
	s := newScaler(t, md("url", srv.URL, "timeout", "10s"), Options{})
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err := s.Value(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want the caller's context.Canceled", err)
	}
	if errors.Is(err, scalers.ErrUnavailable) {
		t.Errorf("got %v, want no ErrUnavailable: the caller gave up, not the source", err)
	}
	scalertest.CheckMessage(t, err, "metrics-api: context canceled")
}

func TestHugeAnswer(t *testing.T) {
	tests := []struct {
		name    string
		size    int
		wantErr bool
	}{
		{name: "exactly the cap", size: MaxAnswerBytes},
		{name: "one byte over", size: MaxAnswerBytes + 1, wantErr: true},
		{name: "far over", size: 64 << 20, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				// A valid JSON document of exactly size bytes: {"v":1,"p":"xxx..."}
				head := `{"v":1,"p":"`
				pad := tc.size - len(head) - 2
				_, _ = io.WriteString(w, head)
				chunk := strings.Repeat("x", 64<<10)
				for pad > 0 {
					n := min(pad, len(chunk))
					if _, err := io.WriteString(w, chunk[:n]); err != nil {
						return
					}
					pad -= n
				}
				_, _ = io.WriteString(w, `"}`)
			}))
			defer srv.Close()
			// Up to 64 MiB through a loaded machine (and -race) may take
			// longer than the default bound: the test is of the cap.
			s := newScaler(t, md("url", srv.URL, "valueLocation", "v", "timeout", "30s"), Options{})
			v, err := s.Value(t.Context())
			if tc.wantErr {
				scalertest.CheckErr(t, err, scalers.ErrUnavailable)
				scalertest.CheckMessage(t, err, "metrics-api: "+srv.URL+": answer larger than 10 MiB")
				return
			}
			if err != nil || v != 1 {
				t.Fatalf("got %v, %v; want 1", v, err)
			}
		})
	}
}

func TestDownAndBack(t *testing.T) {
	f := &fakeAPI{body: `{"v": 4}`}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	srv := httptest.NewUnstartedServer(f)
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	s := newScaler(t, md("url", "http://"+addr+"/m", "valueLocation", "v"), Options{})
	if v, err := s.Value(t.Context()); err != nil || v != 4 {
		t.Fatalf("before: got %v, %v; want 4", v, err)
	}
	srv.Close()
	_, err = s.Value(t.Context())
	scalertest.CheckErr(t, err, scalers.ErrUnavailable)
	scalertest.CheckMessage(t, err, "metrics-api: http://"+addr+"/m: dial tcp "+addr+": connect: connection refused")

	// Back on the same address.
	l2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen again on %s: %v", addr, err)
	}
	srv2 := httptest.NewUnstartedServer(f)
	srv2.Listener.Close()
	srv2.Listener = l2
	srv2.Start()
	defer srv2.Close()
	if v, err := s.Value(t.Context()); err != nil || v != 4 {
		t.Fatalf("after: got %v, %v; want 4", v, err)
	}
}

func TestSecretsNeverInErrors(t *testing.T) {
	const key = "very-secret-key-0042"
	// A server that echoes the request, credentials included.
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
		_, _ = fmt.Fprintf(w, "denied %s %s %s", r.URL, r.Header.Get("X-API-KEY"), r.Header.Get("Authorization"))
	}))
	defer echo.Close()
	// A JSON answer that repeats the key where the value should be.
	leaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = fmt.Fprintf(w, `{"v": "%s"}`, key)
	}))
	defer leaky.Close()
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	down := "http://" + l.Addr().String()
	_ = l.Close()

	forbidden := "metrics-api: " + echo.URL + ": status 403 Forbidden, want 200"
	refused := "metrics-api: " + down + ": dial tcp " + strings.TrimPrefix(down, "http://") + ": connect: connection refused"
	for _, tc := range []struct {
		name string
		md   map[string]string
		want string
	}{
		{"query key, forbidden", md("url", echo.URL, "authMode", "apiKey", "apiKey", key, "method", "query"), forbidden},
		{"header key, forbidden", md("url", echo.URL, "authMode", "apiKey", "apiKey", key), forbidden},
		{"bearer, forbidden", md("url", echo.URL, "authMode", "bearer", "token", key), forbidden},
		{"query key, server down", md("url", down, "authMode", "apiKey", "apiKey", key, "method", "query"), refused},
		{"key echoed as the value", md("url", leaky.URL, "authMode", "apiKey", "apiKey", key),
			"metrics-api: " + leaky.URL + `: valueLocation "v": the string "[redacted]" is not a number or a quantity (such as 1.5, 100m, 2k)`},
		{"password in the URL, server down", md("url", "http://user:"+key+"@"+strings.TrimPrefix(down, "http://")), refused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.md["valueLocation"] = "v"
			s := newScaler(t, tc.md, Options{})
			_, err := s.Value(t.Context())
			scalertest.CheckMessage(t, err, tc.want)
		})
	}
}

func TestRedirectKeepsCredentialsHome(t *testing.T) {
	other := &fakeAPI{body: `{"v": 5}`}
	otherSrv := httptest.NewServer(other)
	defer otherSrv.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, otherSrv.URL+"/moved", http.StatusFound)
	}))
	defer srv.Close()
	s := newScaler(t, md("url", srv.URL, "valueLocation", "v", "authModes", "apiKey", "apiKey", "home-only"), Options{})
	if v, err := s.Value(t.Context()); err != nil || v != 5 {
		t.Fatalf("got %v, %v; want 5", v, err)
	}
	if diff := cmp.Diff(http.Header{"X-Api-Key": nil}, scalertest.Headers(other.last(t).header, "X-API-KEY")); diff != "" {
		t.Errorf("headers at the redirect target (-want +got):\n%s", diff)
	}
}

func TestConnectionReuseAndConcurrency(t *testing.T) {
	f := &fakeAPI{body: `{"v": 3}`}
	srv, conns := scalertest.NewCountingServer(t, f)
	s := newScaler(t, md("url", srv.URL, "valueLocation", "v"), Options{})
	for range 20 {
		if _, err := s.Value(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	// Errors answers are drained too, so they keep the connection.
	f.set(500, "", "boom")
	for range 5 {
		if _, err := s.Value(t.Context()); err == nil {
			t.Fatal("got no error for a 500")
		}
	}
	if n := conns(); n != 1 {
		t.Errorf("25 sequential polls opened %d connections, want 1", n)
	}
	f.set(200, "", `{"v": 3}`)
	scalertest.Concurrently(t, 8, 5, func() error {
		if v, err := s.Value(t.Context()); err != nil || v != 3 {
			return fmt.Errorf("got %v, %v; want 3", v, err)
		}
		return nil
	})
}

func TestClosed(t *testing.T) {
	_, srv := newFake(t, `{"v":1}`)
	s := newScaler(t, md("url", srv.URL, "valueLocation", "v"), Options{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := s.Metrics(t.Context())
	scalertest.CheckErr(t, err, scalers.ErrClosed)
	scalertest.CheckMessage(t, err, "metrics-api scaler: closed")
}

func TestFactory(t *testing.T) {
	r := scalers.NewRegistry()
	r.MustRegister(Type, New)
	if _, err := r.New(t.Context(), scalers.Config{Type: Type, Metadata: map[string]string{}}); !errors.Is(err, scalers.ErrInvalidConfig) {
		t.Fatalf("empty metadata: got %v, want ErrInvalidConfig", err)
	}
	s, err := r.New(t.Context(), scalers.Config{Type: Type, Metadata: md()})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	_ = s.Close()
}

func BenchmarkMetrics(b *testing.B) {
	f := &fakeAPI{body: string(readTestdata(b, "answer.json"))}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, f.body)
	}))
	defer srv.Close()
	s := newScaler(b, md("url", srv.URL, "valueLocation", "components.0.tasks", "authModes", "bearer", "bearerToken", "t"), Options{})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Metrics(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
}
