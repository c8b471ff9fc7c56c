package prometheus

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
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// seen is what a fake Prometheus API received.
type seen struct {
	method, path string
	form         url.Values // body and URL query merged
	urlQuery     url.Values
	header       http.Header
}

// fakeAPI is an httptest Prometheus API answering every request with
// status and body, and recording the requests.
type fakeAPI struct {
	mu     sync.Mutex
	status int
	body   string
	reqs   []seen
}

func (f *fakeAPI) set(status int, body string) {
	f.mu.Lock()
	f.status, f.body = status, body
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
	_ = r.ParseForm()
	f.mu.Lock()
	f.reqs = append(f.reqs, seen{method: r.Method, path: r.URL.Path, form: r.Form, urlQuery: r.URL.Query(), header: r.Header.Clone()})
	status, body := f.status, f.body
	f.mu.Unlock()
	if status == 0 {
		status = http.StatusOK
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// vectorBody is a success answer with one series per value.
func vectorBody(values ...string) string {
	parts := make([]string, len(values))
	for i, v := range values {
		parts[i] = fmt.Sprintf(`{"metric":{"i":"%d"},"value":[1764244800.123,%q]}`, i, v)
	}
	return `{"status":"success","data":{"resultType":"vector","result":[` + strings.Join(parts, ",") + `]}}`
}

func newFake(tb testing.TB) (*fakeAPI, *httptest.Server) {
	tb.Helper()
	f := &fakeAPI{body: vectorBody("1")}
	return f, newServer(tb, f)
}

// newServer starts an httptest server closed in tb.Cleanup.
func newServer(tb testing.TB, h http.Handler) *httptest.Server {
	tb.Helper()
	srv := httptest.NewServer(h)
	tb.Cleanup(srv.Close)
	return srv
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

func TestRequest(t *testing.T) {
	f, srv := newFake(t)
	now := time.Date(2026, 11, 27, 12, 30, 15, 500_000_000, time.UTC)
	s := newScaler(t, md("serverAddress", srv.URL+"/prom/", "query", `sum(rate(http_requests_total{job="api"}[2m]))`,
		"namespace", "team-a", "queryParameters", "dedup=true,partial_response=false",
		"customHeaders", "X-Scope-OrgID=tenant-1,X-Extra=2"), Options{Clock: clocktesting.NewFakePassiveClock(now)})
	if _, err := s.Metrics(t.Context()); err != nil {
		t.Fatalf("Metrics: %v", err)
	}
	got := f.last(t)
	type request struct {
		Path, Query, Time string
		URLQuery          url.Values
		Headers           http.Header
	}
	want := request{
		Path:  "/prom/api/v1/query",
		Query: `sum(rate(http_requests_total{job="api"}[2m]))`,
		// The clock's now, in seconds with milliseconds.
		Time:     "1795782615.5",
		URLQuery: url.Values{"namespace": {"team-a"}, "dedup": {"true"}, "partial_response": {"false"}},
		// No Authorization without authModes.
		Headers: http.Header{"X-Scope-Orgid": {"tenant-1"}, "X-Extra": {"2"}, "Authorization": nil},
	}
	if diff := cmp.Diff(want, request{Path: got.path, Query: got.form.Get("query"), Time: got.form.Get("time"),
		URLQuery: got.urlQuery, Headers: scalertest.Headers(got.header, "X-Scope-Orgid", "X-Extra", "Authorization")}); diff != "" {
		t.Errorf("request (-want +got):\n%s", diff)
	}
}

func TestMetricSpecsAndActivity(t *testing.T) {
	f, srv := newFake(t)
	s := newScaler(t, md("serverAddress", srv.URL, "threshold", "12.5", "activationThreshold", "5"), Options{})
	if diff := cmp.Diff([]scalers.MetricSpec{{Name: "prometheus", Target: 12.5}}, s.MetricSpecs()); diff != "" {
		t.Errorf("MetricSpecs (-want +got):\n%s", diff)
	}
	for _, tc := range []struct {
		value      string
		want       float64
		wantActive bool
	}{{"4", 4, false}, {"5", 5, false}, {"5.01", 5.01, true}, {"-1", -1, false}, {"1e3", 1000, true}} {
		t.Run(tc.value, func(t *testing.T) {
			f.set(200, vectorBody(tc.value))
			m, err := s.Metrics(t.Context())
			if err != nil {
				t.Fatalf("Metrics: %v", err)
			}
			want := scalers.Metrics{Values: []scalers.MetricValue{{Name: "prometheus", Value: tc.want}}, Active: tc.wantActive}
			if diff := cmp.Diff(want, m); diff != "" {
				t.Errorf("Metrics (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAnswers(t *testing.T) {
	f, srv := newFake(t)
	failed := "prometheus query: " + srv.URL + ": "
	tests := []struct {
		name       string
		status     int
		body       string
		ignoreNull string
		want       float64
		wantErr    error
		wantMsg    string // the whole message
	}{
		{name: "one sample", body: vectorBody("17.25"), want: 17.25},
		{name: "scalar", body: `{"status":"success","data":{"resultType":"scalar","result":[1764244800,"3"]}}`, want: 3},
		{name: "empty, ignored by default", body: vectorBody(), want: 0},
		{name: "empty", body: vectorBody(), ignoreNull: "false", wantErr: scalers.ErrNoData,
			wantMsg: `prometheus query "up": returned no samples (set ignoreNullValues to "true" to read this as 0)`},
		{name: "NaN, ignored by default", body: vectorBody("NaN"), want: 0},
		{name: "NaN", body: vectorBody("NaN"), ignoreNull: "false", wantErr: scalers.ErrNoData,
			wantMsg: `prometheus query "up": returned NaN (set ignoreNullValues to "true" to read this as 0)`},
		{name: "+Inf", body: vectorBody("+Inf"), ignoreNull: "false", wantErr: scalers.ErrNoData,
			wantMsg: `prometheus query "up": returned +Inf (set ignoreNullValues to "true" to read this as 0)`},
		{name: "several samples", body: vectorBody("1", "2", "3"), wantErr: scalers.ErrNoData,
			wantMsg: `prometheus query "up": returned 3 samples, expected exactly 1 (aggregate them, e.g. with sum(), or narrow the label matchers): {i="0"}, {i="1"}, {i="2"}`},
		{name: "range vector", body: `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"1"]]}]}}`, wantErr: scalers.ErrNoData,
			wantMsg: `prometheus query "up": returned a range vector of 1 series, expected an instant vector or a scalar (drop the [range] selector or wrap it in a function such as rate())`},
		{name: "string", body: `{"status":"success","data":{"resultType":"string","result":[1,"x"]}}`, wantErr: scalers.ErrUnavailable,
			wantMsg: failed + `malformed answer: unexpected value type "string"`},
		{name: "not JSON", body: `<html>hello</html>`, wantErr: scalers.ErrUnavailable,
			wantMsg: failed + `malformed answer: invalid character '<' looking for beginning of value`},
		{name: "truncated JSON", body: vectorBody("1")[:40], wantErr: scalers.ErrUnavailable,
			wantMsg: failed + "malformed answer: unexpected end of JSON input"},
		{name: "empty object", body: `{}`, wantErr: scalers.ErrUnavailable, wantMsg: `prometheus query "up": prometheus answer: malformed answer: no result`},
		{name: "unknown result type", body: `{"status":"success","data":{"resultType":"bogus","result":[]}}`, wantErr: scalers.ErrUnavailable,
			wantMsg: failed + `malformed answer: unknown value type "bogus"`},
		{name: "error in a 200", body: `{"status":"error","errorType":"execution","error":"boom"}`, wantErr: scalers.ErrUnavailable,
			wantMsg: failed + "query failed on the server (execution): boom"},
		{name: "bad query", status: 400, body: `{"status":"error","errorType":"bad_data","error":"1:5: parse error: unclosed left parenthesis"}`,
			wantErr: scalers.ErrInvalidConfig, wantMsg: `invalid metadata: query "up": rejected by ` + srv.URL + ": 1:5: parse error: unclosed left parenthesis"},
		{name: "execution error", status: 422, body: `{"status":"error","errorType":"execution","error":"query processing would load too many samples"}`,
			wantErr: scalers.ErrUnavailable, wantMsg: failed + "query failed on the server (execution): query processing would load too many samples"},
		{name: "server timeout", status: 200, body: `{"status":"error","errorType":"timeout","error":"query timed out in expression evaluation"}`,
			wantErr: scalers.ErrUnavailable, wantMsg: failed + "query failed on the server (timeout): query timed out in expression evaluation"},
		{name: "unavailable", status: 503, body: `Service Unavailable`, wantErr: scalers.ErrUnavailable, wantMsg: failed + "server error: 503"},
		{name: "HTML 500", status: 500, body: "<html><body>Internal\nServer Error</body></html>", wantErr: scalers.ErrUnavailable,
			wantMsg: failed + "server error: 500"},
		{name: "unauthorized", status: 401, body: "Unauthorized", wantErr: scalers.ErrUnavailable, wantMsg: failed + "client error: 401"},
		{name: "not found", status: 404, body: "404 page not found", wantErr: scalers.ErrUnavailable, wantMsg: failed + "client error: 404"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f.set(tc.status, tc.body)
			s := newScaler(t, md("serverAddress", srv.URL, "ignoreNullValues", tc.ignoreNull), Options{})
			m, err := s.Metrics(t.Context())
			if tc.wantErr != nil {
				scalertest.CheckErr(t, err, tc.wantErr)
				scalertest.CheckMessage(t, err, tc.wantMsg)
				return
			}
			if err != nil {
				t.Fatalf("Metrics: %v", err)
			}
			// The whole answer: a missing value must not pass as 0.
			want := scalers.Metrics{Values: []scalers.MetricValue{{Name: "prometheus", Value: tc.want}}, Active: tc.want > 0}
			if diff := cmp.Diff(want, m); diff != "" {
				t.Errorf("Metrics (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAuthModes(t *testing.T) {
	f, srv := newFake(t)
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("file-token-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	basic := func(u, p string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p)) }
	tests := []struct {
		name       string
		md         map[string]string
		wantHeader map[string]string
	}{
		{name: "basic", md: md("authModes", "basic", "username", "user", "password", "p@ss"),
			wantHeader: map[string]string{"Authorization": basic("user", "p@ss")}},
		{name: "basic from env", md: md("authModes", "basic", "usernameFromEnv", "envuser", "passwordFromEnv", "envpass"),
			wantHeader: map[string]string{"Authorization": basic("envuser", "envpass")}},
		{name: "bearer", md: md("authModes", "bearer", "bearerToken", "tok-123"),
			wantHeader: map[string]string{"Authorization": "Bearer tok-123"}},
		{name: "bearer from file", md: md("authModes", "bearer", "bearerTokenFile", tokenFile),
			wantHeader: map[string]string{"Authorization": "Bearer file-token-1"}},
		{name: "custom", md: md("authModes", "custom", "customAuthHeader", "X-Api-Token", "customAuthValue", "v-42"),
			wantHeader: map[string]string{"X-Api-Token": "v-42"}},
		{name: "custom and basic together", md: md("authModes", "custom,basic", "customAuthHeader", "X-Org", "customAuthValue", "o1", "username", "u"),
			wantHeader: map[string]string{"X-Org": "o1", "Authorization": basic("u", "")}},
		{name: "auth wins over a custom header", md: md("authModes", "bearer", "bearerToken", "t1", "customHeaders", "Authorization=nope"),
			wantHeader: map[string]string{"Authorization": "Bearer t1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.md["serverAddress"] = srv.URL
			s := newScaler(t, tc.md, Options{})
			if _, err := s.Metrics(t.Context()); err != nil {
				t.Fatalf("Metrics: %v", err)
			}
			want, names := http.Header{}, []string{}
			for h, v := range tc.wantHeader {
				want[http.CanonicalHeaderKey(h)] = []string{v}
				names = append(names, h)
			}
			if diff := cmp.Diff(want, scalertest.Headers(f.last(t).header, names...)); diff != "" {
				t.Errorf("headers (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("rotated token file", func(t *testing.T) {
		s := newScaler(t, md("serverAddress", srv.URL, "authModes", "bearer", "bearerTokenFile", tokenFile), Options{})
		if _, err := s.Metrics(t.Context()); err != nil {
			t.Fatal(err)
		}
		// A different size makes the change visible even within the file
		// system's timestamp granularity.
		if err := os.WriteFile(tokenFile, []byte("file-token-rotated\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Metrics(t.Context()); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"Bearer file-token-rotated"}, f.last(t).header.Values("Authorization")); diff != "" {
			t.Errorf("Authorization (-want +got):\n%s", diff)
		}
	})
}

func TestTLS(t *testing.T) {
	pki := testenv.NewPKI(t)
	client := pki.ClientCert(t, "test")
	ca, cert, key := string(pki.CAPEM), string(client.CertPEM), string(client.KeyPEM)
	f := &fakeAPI{body: vectorBody("9")}
	mtls := pki.StartMTLSServer(t, f)
	plainTLS := httptest.NewUnstartedServer(f)
	plainTLS.Config.ErrorLog = log.New(io.Discard, "", 0)
	plainTLS.StartTLS()
	t.Cleanup(plainTLS.Close)

	tests := []struct {
		name    string
		md      map[string]string
		wantErr string   // the whole message
		wantSub []string // parts of the message
	}{
		{name: "client certificate", md: md("serverAddress", mtls.URL, "authModes", "tls", "ca", ca, "cert", cert, "key", key)},
		{name: "client certificate, server not verified", md: md("serverAddress", mtls.URL, "authModes", "tls", "cert", cert, "key", key, "unsafeSsl", "true")},
		// TLS 1.3 reports a missing client certificate as an alert after
		// the handshake, which net/http words in more than one way
		// ("readLoopPeekFailLocked: " or not): wantSub, not wantErr.
		{name: "no client certificate", md: md("serverAddress", mtls.URL, "ca", ca),
			wantSub: []string{"prometheus query: " + mtls.URL + ": ", "remote error: tls: certificate required"}},
		{name: "unknown server authority", md: md("serverAddress", plainTLS.URL),
			wantErr: "prometheus query: " + plainTLS.URL + ": tls: failed to verify certificate: x509: certificate signed by unknown authority"},
		{name: "unsafeSsl", md: md("serverAddress", plainTLS.URL, "unsafeSsl", "true")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newScaler(t, tc.md, Options{})
			m, err := s.Metrics(t.Context())
			if tc.wantSub != nil {
				scalertest.CheckErr(t, err, scalers.ErrUnavailable, tc.wantSub...)
				return
			}
			if tc.wantErr != "" {
				scalertest.CheckErr(t, err, scalers.ErrUnavailable)
				scalertest.CheckMessage(t, err, tc.wantErr)
				return
			}
			if err != nil {
				t.Fatalf("Metrics: %v", err)
			}
			if v, _ := m.Value("prometheus"); v != 9 {
				t.Errorf("got %v, want 9", v)
			}
		})
	}

	t.Run("bad PEM is a configuration error", func(t *testing.T) {
		_, err := New(t.Context(), scalers.Config{Metadata: md("authModes", "tls", "cert", "not pem", "key", "not pem")})
		scalertest.CheckErr(t, err, scalers.ErrInvalidConfig)
		scalertest.CheckMessage(t, err, "invalid metadata: cert (secret, not shown): invalid certificate/key pair: tls: failed to find any PEM data in certificate input")
	})
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	s := newScaler(t, md("serverAddress", srv.URL, "timeout", "100"), Options{})
	_, err := s.Metrics(t.Context())
	scalertest.CheckErr(t, err, scalers.ErrUnavailable)
	scalertest.CheckMessage(t, err, "prometheus query: "+srv.URL+": no answer within 100ms (timeout after sending the request)")
}

func TestCallerCancels(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Reading the body lets the server notice the client going away.
		_ = r.ParseForm()
		<-r.Context().Done()
	}))
	defer srv.Close()
	s := newScaler(t, md("serverAddress", srv.URL, "timeout", "10s"), Options{})
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := s.Metrics(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want the caller's context.DeadlineExceeded", err)
	}
	if errors.Is(err, scalers.ErrUnavailable) {
		t.Errorf("got %v, want no ErrUnavailable: the caller gave up, not the source", err)
	}
	scalertest.CheckMessage(t, err, "prometheus query: context deadline exceeded")
}

func TestAnswerTooLarge(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A valid start, then padding past the cap.
		_, _ = io.WriteString(w, `{"status":"success","warnings":["`)
		pad := strings.Repeat("x", 1<<20)
		for range 11 {
			if _, err := io.WriteString(w, pad); err != nil {
				return
			}
		}
		_, _ = io.WriteString(w, `"],"data":{"resultType":"scalar","result":[1,"1"]}}`)
	}))
	defer srv.Close()
	// 11 MiB through a loaded machine (and -race) may take longer than
	// the default bound: the test is of the cap.
	s := newScaler(t, md("serverAddress", srv.URL, "timeout", "30s"), Options{})
	_, err := s.Metrics(t.Context())
	scalertest.CheckErr(t, err, scalers.ErrUnavailable)
	scalertest.CheckMessage(t, err, "prometheus query: "+srv.URL+": answer larger than 10 MiB")
}

func TestServerDown(t *testing.T) {
	// A port nobody listens on: take one and release it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	s := newScaler(t, md("serverAddress", "http://admin:pw-in-url-42@"+addr), Options{})
	_, err = s.Metrics(t.Context())
	scalertest.CheckErr(t, err, scalers.ErrUnavailable)
	// The password of serverAddress is not shown.
	scalertest.CheckMessage(t, err, "prometheus query: http://admin:xxxxx@"+addr+": dial tcp "+addr+": connect: connection refused")
}

func TestSecretsNeverInErrors(t *testing.T) {
	const token = "very-secret-token-0042"
	// A server that echoes what it got, credentials included, in an error.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = fmt.Fprintf(w, "denied %s %s", r.Header.Get("Authorization"), r.Header.Get("X-Key"))
	}))
	defer srv.Close()
	// An API error whose message repeats the token.
	apiSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(422)
		_, _ = fmt.Fprintf(w, `{"status":"error","errorType":"execution","error":"bad token %s"}`, token)
	}))
	defer apiSrv.Close()
	tests := []struct {
		name string
		md   map[string]string
		want string
	}{
		{"repeated in an API error", md("serverAddress", apiSrv.URL, "authModes", "bearer", "bearerToken", token),
			"prometheus query: " + apiSrv.URL + ": query failed on the server (execution): bad token [redacted]"},
		// The body of a non-API error stays out.
		{"bearer echoed", md("serverAddress", srv.URL, "authModes", "bearer", "bearerToken", token), "prometheus query: " + srv.URL + ": server error: 500"},
		{"custom echoed", md("serverAddress", srv.URL, "authModes", "custom", "customAuthHeader", "X-Key", "customAuthValue", token),
			"prometheus query: " + srv.URL + ": server error: 500"},
		{"basic echoed", md("serverAddress", srv.URL, "authModes", "basic", "username", "u", "password", token), "prometheus query: " + srv.URL + ": server error: 500"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newScaler(t, tc.md, Options{})
			_, err := s.Metrics(t.Context())
			scalertest.CheckErr(t, err, scalers.ErrUnavailable)
			scalertest.CheckMessage(t, err, tc.want)
		})
	}
}

func TestRedirectKeepsCredentialsHome(t *testing.T) {
	other := &fakeAPI{body: vectorBody("5")}
	otherSrv := httptest.NewServer(other)
	defer otherSrv.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, otherSrv.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	s := newScaler(t, md("serverAddress", srv.URL, "authModes", "bearer", "bearerToken", "home-only",
		"customHeaders", "X-Tenant=t1", "namespace", "ns1"), Options{})
	if _, err := s.Metrics(t.Context()); err != nil {
		t.Fatalf("Metrics: %v", err)
	}
	want := http.Header{"Authorization": nil, "X-Tenant": nil}
	if diff := cmp.Diff(want, scalertest.Headers(other.last(t).header, "Authorization", "X-Tenant")); diff != "" {
		t.Errorf("headers at the redirect target (-want +got):\n%s", diff)
	}
}

func TestConnectionReuseAndConcurrency(t *testing.T) {
	srv, conns := scalertest.NewCountingServer(t, &fakeAPI{body: vectorBody("3")})
	s := newScaler(t, md("serverAddress", srv.URL), Options{})
	for range 20 {
		if _, err := s.Metrics(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if n := conns(); n != 1 {
		t.Errorf("20 sequential polls opened %d connections, want 1", n)
	}
	want := scalers.Metrics{Values: []scalers.MetricValue{{Name: "prometheus", Value: 3}}, Active: true}
	scalertest.Concurrently(t, 8, 5, func() error {
		m, err := s.Metrics(t.Context())
		if diff := cmp.Diff(want, m); err != nil || diff != "" {
			return fmt.Errorf("got error %v, Metrics (-want +got):\n%s", err, diff)
		}
		return nil
	})
}

func TestClosed(t *testing.T) {
	_, srv := newFake(t)
	s := newScaler(t, md("serverAddress", srv.URL), Options{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := s.Metrics(t.Context())
	scalertest.CheckErr(t, err, scalers.ErrClosed)
	scalertest.CheckMessage(t, err, "prometheus scaler: closed")
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
	f := &fakeAPI{body: vectorBody("3")}
	srv := httptest.NewServer(f)
	defer srv.Close()
	s := newScaler(b, md("serverAddress", srv.URL, "authModes", "bearer", "bearerToken", "t"), Options{})
	// Keep the recorded requests from growing without bound.
	f.mu.Lock()
	f.reqs = make([]seen, 0, b.N+1)
	f.mu.Unlock()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Metrics(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
}
