package rabbitmq

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

const fullQueueAnswer = `{"consumer_details":[],"arguments":{},"auto_delete":false,"backing_queue_status":{"len":3,"mode":"default"},
"consumers":0,"durable":false,"message_bytes":3,"message_stats":{"publish":3,"publish_details":{"rate":1.5},"deliver_get":1,"deliver_get_details":{"rate":0.5}},
"messages":4,"messages_details":{"rate":0.0},"messages_ready":3,"messages_unacknowledged":1,"name":"q1","node":"rabbit@localhost","state":"running","type":"classic","vhost":"/"}`

func TestParseQueue(t *testing.T) {
	const prefix = "rabbitmq management API: "
	tests := []struct {
		name    string
		body    string
		want    QueueStats
		wantErr string
	}{
		{name: "full object", body: fullQueueAnswer, want: QueueStats{Messages: 4, Ready: 3, PublishRate: 1.5, DeliverGetRate: 0.5}},
		{name: "columns answer", body: `{"message_stats":{"publish_details":{"rate":0.0}},"messages":3,"messages_ready":3,"name":"q1"}`,
			want: QueueStats{Messages: 3, Ready: 3}},
		{name: "no message_stats yet", body: `{"messages":0,"messages_ready":0,"name":"q"}`, want: QueueStats{}},
		{name: "statistics not collected yet", body: `{"arguments":{},"name":"q1","type":"classic","vhost":"/"}`,
			wantErr: prefix + `queue "q1" has no message counts yet (statistics not collected): no data`},
		{name: "not JSON", body: `<html>gateway</html>`, wantErr: prefix + "malformed queue answer: invalid JSON at byte 1: no data"},
		{name: "wrong type", body: `{"messages":"many","messages_ready":1}`, wantErr: prefix + `malformed queue answer: field "messages": got JSON string, want int64: no data`},
		{name: "fraction", body: `{"messages":1.5,"messages_ready":1}`, wantErr: prefix + `malformed queue answer: field "messages": got JSON number 1.5, want int64: no data`},
		{name: "object where a number goes", body: `{"messages":1,"messages_ready":1,"message_stats":7}`,
			wantErr: prefix + `malformed queue answer: field "message_stats": got JSON number, want an object: no data`},
		{name: "empty", body: ``, wantErr: prefix + "malformed queue answer: invalid JSON at byte 0: no data"},
		{name: "null", body: `null`, wantErr: prefix + `queue "" has no message counts yet (statistics not collected): no data`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseQueue([]byte(tt.body))
			checkParsed(t, got, err, tt.want, tt.wantErr)
		})
	}
}

func TestParseQueuePage(t *testing.T) {
	const prefix = "rabbitmq management API: "
	tests := []struct {
		name    string
		body    string
		want    []QueueStats
		wantErr string
	}{
		{name: "two queues", body: `{"items":[{"messages":4,"messages_ready":3,"message_stats":{"publish_details":{"rate":2},"deliver_get_details":{"rate":1}},"name":"a"},
			{"messages":1,"messages_ready":1,"name":"b"}],"page":1,"page_count":1}`,
			want: []QueueStats{{Messages: 4, Ready: 3, PublishRate: 2, DeliverGetRate: 1}, {Messages: 1, Ready: 1}}},
		{name: "no match", body: `{"items":[],"page":1,"page_count":0}`, want: []QueueStats{}},
		{name: "queue without statistics counts as empty", body: `{"items":[{"name":"new"}],"page_count":1}`, want: []QueueStats{{}}},
		{name: "more than one page", body: `{"items":[], "filtered_count": 250, "page": 1, "page_count": 3}`,
			wantErr: prefix + "the expression matches more queues than one page holds (3 pages): raise pageSize: no data"},
		{name: "one page", body: `{"items":[], "filtered_count": 250, "page": 1, "page_count": 1}`, want: []QueueStats{}},
		{name: "an object, not a page", body: fullQueueAnswer, want: []QueueStats{}},
		{name: "a list", body: `[{"messages":1}]`, wantErr: prefix + "malformed queue list answer: got JSON array, want an object: no data"},
		{name: "truncated", body: `{"items":[{"messages":1`, wantErr: prefix + "malformed queue list answer: invalid JSON at byte 23: no data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseQueuePage([]byte(tt.body))
			checkParsed(t, got, err, tt.want, tt.wantErr)
		})
	}
}

// checkParsed checks what a parser of management API answers returned:
// an ErrNoData error with the whole message wantErr, or else got = want.
func checkParsed[T any](tb testing.TB, got T, err error, want T, wantErr string) {
	tb.Helper()
	if wantErr != "" {
		checkErr(tb, err, scalers.ErrNoData)
		if diff := cmp.Diff(wantErr, err.Error()); diff != "" {
			tb.Errorf("error (-want +got):\n%s", diff)
		}
		return
	}
	if err != nil {
		tb.Fatalf("got error %q, want none", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		tb.Errorf("(-want +got):\n%s", diff)
	}
}

// FuzzParseQueue: any answer gives statistics or an ErrNoData error that
// does not echo the answer; never a panic.
func FuzzParseQueue(f *testing.F) {
	f.Add([]byte(fullQueueAnswer))
	f.Add([]byte(`{"messages":1,"messages_ready":1}`))
	f.Add([]byte(`{"messages":-1,"messages_ready":9223372036854775807,"message_stats":{"publish_details":{"rate":1e308}}}`))
	f.Add([]byte(`{"name":"q"}`))
	f.Add([]byte(`secret-token-xyz`))
	f.Fuzz(func(t *testing.T, body []byte) {
		st, err := ParseQueue(body)
		if err != nil {
			if !errors.Is(err, scalers.ErrNoData) {
				t.Fatalf("got error %q, want ErrNoData", err)
			}
			if len(body) >= 16 && !json.Valid(body) && strings.Contains(err.Error(), string(body)) {
				t.Fatalf("error %q echoes the answer", err)
			}
			return
		}
		_ = st
	})
}

// FuzzParseQueuePage: as FuzzParseQueue for regular expression pages.
func FuzzParseQueuePage(f *testing.F) {
	f.Add([]byte(`{"items":[{"messages":4,"messages_ready":3,"name":"a"}],"page_count":1}`))
	f.Add([]byte(`{"items":[],"page_count":7}`))
	f.Add([]byte(`{"items":null}`))
	f.Add([]byte(`{"items":[{"message_stats":{"deliver_get_details":{"rate":-2}}}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		qs, err := ParseQueuePage(body)
		if err != nil {
			if !errors.Is(err, scalers.ErrNoData) {
				t.Fatalf("got error %q, want ErrNoData", err)
			}
			return
		}
		for _, op := range []string{OperationSum, OperationMax, OperationAvg} {
			_ = Combine(op, qs)
		}
	})
}

func BenchmarkParseQueuePage(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"items":[`)
	for i := range 1000 {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"message_stats":{"publish_details":{"rate":%d.5},"deliver_get_details":{"rate":1.0}},"messages":%d,"messages_ready":%d,"name":"queue-%d"}`, i, i*3, i*2, i)
	}
	sb.WriteString(`],"page":1,"page_count":1,"page_size":1000}`)
	body := []byte(sb.String())
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		qs, err := ParseQueuePage(body)
		if err != nil || len(qs) != 1000 {
			b.Fatal(err)
		}
		_ = Combine(OperationSum, qs)
	}
}

// stubAPI is a management API stand-in that records requests and answers
// with a fixed status and body.
type stubAPI struct {
	*httptest.Server
	mu     sync.Mutex
	reqs   []*http.Request
	status int
	body   string
}

func newStubAPI(tb testing.TB, status int, body string) *stubAPI {
	tb.Helper()
	s := &stubAPI{status: status, body: body}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.reqs = append(s.reqs, r)
		s.mu.Unlock()
		w.WriteHeader(s.status)
		_, _ = w.Write([]byte(s.body))
	}))
	tb.Cleanup(s.Close)
	return s
}

func (s *stubAPI) last(tb testing.TB) *http.Request {
	tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.reqs) == 0 {
		tb.Fatal("got no request")
	}
	return s.reqs[len(s.reqs)-1]
}

// withUser puts credentials into an http://host URL.
func withUser(raw, user, pass string) string {
	u, _ := url.Parse(raw)
	u.User = url.UserPassword(user, pass)
	return u.String()
}

// TestHTTPRequest checks the request the scaler sends: path (API prefix,
// vhost, queue), query (regular expression paging as in KEDA) and
// credentials.
func TestHTTPRequest(t *testing.T) {
	api := newStubAPI(t, http.StatusOK, `{"messages":5,"messages_ready":5,"name":"q","items":[],"page_count":1}`)
	cols := "&columns=" + queueColumns
	tests := []struct {
		name       string
		md         map[string]string
		wantURI    string
		wantUser   string
		wantPass   string
		wantNoAuth bool
	}{
		{name: "root vhost", md: map[string]string{"host": withUser(api.URL, "u", "p"), "queueName": "q"},
			wantURI: "/api/queues/%2F/q?columns=" + queueColumns, wantUser: "u", wantPass: "p"},
		{name: "vhost in URL", md: map[string]string{"host": withUser(api.URL, "u", "p") + "/team%2Fa", "queueName": "q"},
			wantURI: "/api/queues/team%2Fa/q?columns=" + queueColumns, wantUser: "u", wantPass: "p"},
		{name: "API under a path prefix", md: map[string]string{"host": api.URL + "/rabbit/mgmt/vh", "queueName": "q", "username": "a", "password": "b"},
			wantURI: "/rabbit/mgmt/api/queues/vh/q?columns=" + queueColumns, wantUser: "a", wantPass: "b"},
		{name: "vhostName overrides and username/password override the URL", md: map[string]string{"host": withUser(api.URL, "u", "p") + "/ignored", "vhostName": "/", "queueName": "q", "username": "a", "password": "b"},
			wantURI: "/api/queues/%2F/q?columns=" + queueColumns, wantUser: "a", wantPass: "b"},
		{name: "queue name with slash and space", md: map[string]string{"host": api.URL, "queueName": "ns/my queue"},
			wantURI: "/api/queues/%2F/ns%2Fmy%20queue?columns=" + queueColumns, wantNoAuth: true},
		{name: "regular expression", md: map[string]string{"host": api.URL + "/%2F", "queueName": "^evaluate_trials$", "useRegex": "true"},
			wantURI: "/api/queues/%2F?page=1&use_regex=true&pagination=false&name=%5Eevaluate_trials%24&page_size=100" + cols, wantNoAuth: true},
		{name: "regular expression with page size", md: map[string]string{"host": api.URL + "/sub1/sub2/", "queueName": "^q", "useRegex": "true", "pageSize": "500", "vhostName": "v"},
			wantURI: "/sub1/sub2/api/queues/v?page=1&use_regex=true&pagination=false&name=%5Eq&page_size=500" + cols, wantNoAuth: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScaler(t, tt.md)
			if _, _, err := metric(t, s); err != nil {
				t.Fatalf("Metrics: %v", err)
			}
			r := api.last(t)
			if r.RequestURI != tt.wantURI {
				t.Errorf("got request URI %q, want %q", r.RequestURI, tt.wantURI)
			}
			user, pass, ok := r.BasicAuth()
			if tt.wantNoAuth {
				if ok {
					t.Errorf("got basic auth %q, want none", user)
				}
				return
			}
			if user != tt.wantUser || pass != tt.wantPass {
				t.Errorf("got basic auth %q:%q, want %q:%q", user, pass, tt.wantUser, tt.wantPass)
			}
		})
	}
}

// TestHTTPAnswers covers answers a broker (or something in front of it)
// may give besides a good one.
func TestHTTPAnswers(t *testing.T) {
	const pw = "very-secret-pw"
	tests := []struct {
		name    string
		status  int
		body    string
		md      map[string]string
		want    error
		wantMsg string
	}{
		{name: "missing queue", status: http.StatusNotFound, body: `{"error":"Object Not Found","reason":"Not Found"}`,
			want: scalers.ErrNoData, wantMsg: `queue "q" not found in vhost "/": no data`},
		{name: "missing vhost with regex", status: http.StatusNotFound, body: `{"error":"Object Not Found"}`, md: map[string]string{"useRegex": "true"},
			want: scalers.ErrNoData, wantMsg: `vhost "/" not found: no data`},
		{name: "bad credentials", status: http.StatusUnauthorized, body: `{"error":"not_authorised","reason":"Login failed"}`,
			want: scalers.ErrUnavailable, wantMsg: "rabbitmq management API: login refused (401 Unauthorized): check the credentials in host, username/password or OAuth2"},
		{name: "no management tag", status: http.StatusForbidden, body: `{"error":"not_authorised"}`,
			want: scalers.ErrUnavailable, wantMsg: `rabbitmq management API: access refused (403 Forbidden): the user needs the management (or monitoring) tag and access to vhost "/"`},
		{name: "server error echoing the password", status: http.StatusInternalServerError, body: "boom " + pw,
			want: scalers.ErrUnavailable, wantMsg: `rabbitmq management API: unexpected answer 500 Internal Server Error: "boom [redacted]"`},
		{name: "not JSON", status: http.StatusOK, body: "<html>proxy login</html>",
			want: scalers.ErrNoData, wantMsg: "rabbitmq management API: malformed queue answer: invalid JSON at byte 1: no data"},
		{name: "too large", status: http.StatusOK, body: `{"messages":1,"x":"` + strings.Repeat("a", maxBodyBytes) + `"}`,
			want: scalers.ErrUnavailable, wantMsg: "rabbitmq management API: answer larger than 16 MiB (lower pageSize or narrow the queueName expression)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newStubAPI(t, tt.status, tt.body)
			md := map[string]string{"host": withUser(api.URL, "user", pw), "queueName": "q"}
			for k, v := range tt.md {
				md[k] = v
			}
			s := newScaler(t, md)
			_, _, err := metric(t, s)
			checkErr(t, err, tt.want, pw)
			if diff := cmp.Diff(tt.wantMsg, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHTTPTimeoutAndUnreachable(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) })

	t.Run("slow answer", func(t *testing.T) {
		s := newScaler(t, map[string]string{"host": withUser(slow.URL, "u", "pw-abc"), "queueName": "q", "timeout": "200"})
		_, _, err := metric(t, s)
		checkErr(t, err, scalers.ErrUnavailable, "pw-abc")
	})
	t.Run("nothing listening", func(t *testing.T) {
		dead := httptest.NewServer(http.NotFoundHandler())
		addr := dead.URL
		dead.Close()
		s := newScaler(t, map[string]string{"host": withUser(addr, "u", "pw-abc"), "queueName": "q"})
		_, _, err := metric(t, s)
		checkErr(t, err, scalers.ErrUnavailable, "pw-abc")
	})
}

// TestHTTPTLS talks to an HTTPS management API stand-in that requires a
// client certificate, with the keys tls, ca, cert, key and unsafeSsl.
func TestHTTPTLS(t *testing.T) {
	c := newCerts(t)
	srv := c.StartMTLSServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"messages":7,"messages_ready":7}`))
	}))
	base := map[string]string{"host": srv.URL, "queueName": "q"}
	tests := []struct {
		name   string
		md     map[string]string
		wantOK bool
	}{
		{"ca, cert and key", with(base, "tls", "enable", "ca", c.caPEM, "cert", c.certPEM, "key", c.keyPEM), true},
		{"unsafeSsl with cert and key", with(base, "tls", "enable", "unsafeSsl", "true", "cert", c.certPEM, "key", c.keyPEM), true},
		{"no client certificate", with(base, "tls", "enable", "ca", c.caPEM), false},
		{"unknown authority", with(base, "tls", "enable", "cert", c.certPEM, "key", c.keyPEM), false},
		{"tls material ignored without tls enable", with(base, "ca", c.caPEM, "cert", c.certPEM, "key", c.keyPEM), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScaler(t, tt.md)
			v, _, err := metric(t, s)
			if !tt.wantOK {
				checkErr(t, err, scalers.ErrUnavailable)
				return
			}
			if err != nil || v != 7 {
				t.Fatalf("got %v, %v; want 7, no error", v, err)
			}
		})
	}
}

// clientCredentials reads a client credentials token request: the client
// ID and secret from the Authorization header or the form (either is
// allowed, RFC 6749 section 2.3.1). It answers a request that is not one
// with 400 and returns false.
func clientCredentials(w http.ResponseWriter, r *http.Request) (id, secret string, ok bool) {
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "client_credentials" {
		http.Error(w, "not a client credentials request", http.StatusBadRequest)
		return "", "", false
	}
	id, secret, ok = r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	return id, secret, true
}

// oauthTokens is a client credentials token endpoint for the client
// "scaler" with secret, and the token request the OAuth2 tests send it:
// the scopes rabbitmq.read and rabbitmq.tag:monitoring, the endpoint
// parameter audience=rabbitmq.
func oauthTokens(tb testing.TB, secret string) (*scalertest.TokenServer, scalertest.TokenRequest) {
	tb.Helper()
	tokens := scalertest.NewTokenServer(tb, scalertest.TokenServerOptions{ClientID: "scaler", ClientSecret: secret, ExpiresIn: 3600})
	return tokens, scalertest.TokenRequest{InHeader: true, Form: url.Values{
		"grant_type": {"client_credentials"}, "client_id": {"scaler"}, "client_secret": {secret},
		"scope": {"rabbitmq.read rabbitmq.tag:monitoring"}, "audience": {"rabbitmq"},
	}}
}

// TestHTTPOAuth2 fetches a token with client credentials and sends it as a
// bearer token; the token is reused across calls. With the real broker, see
// TestOAuth2AgainstBroker.
func TestHTTPOAuth2(t *testing.T) {
	tokens, wantRequest := oauthTokens(t, "my-client-secret")
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !tokens.Valid(scalertest.BearerToken(r)) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte(`{"messages":3,"messages_ready":3}`))
	}))
	t.Cleanup(api.Close)
	md := map[string]string{
		"host": api.URL, "queueName": "q", "oauthTokenURI": tokens.URL, "clientID": "scaler",
		"clientSecret": "my-client-secret", "scopes": "rabbitmq.read, rabbitmq.tag:monitoring", "endpointParams": "audience=rabbitmq",
	}
	s := newScaler(t, md)
	for range 3 {
		v, active, err := metric(t, s)
		if err != nil || v != 3 || !active {
			t.Fatalf("got %v %v %v, want 3 true no error", v, active, err)
		}
	}
	// One request: the token is cached.
	if diff := cmp.Diff([]scalertest.TokenRequest{wantRequest}, tokens.Requests()); diff != "" {
		t.Errorf("token requests (-want +got):\n%s", diff)
	}

	bad := newScaler(t, with(md, "clientSecret", "wrong-client-secret"))
	_, _, err := metric(t, bad)
	checkErr(t, err, scalers.ErrUnavailable, "wrong-client-secret")
}

// rotatingTokens is a client credentials token endpoint whose accepted
// client secret a test rotates, and a management API stand-in that accepts
// only the token issued last (a rotation revokes the tokens before it).
// Tokens come without expires_in: the scaler keeps one until the API
// refuses it, so when a token request happens is up to the test.
type rotatingTokens struct {
	tokens, api *httptest.Server

	mu     sync.Mutex
	secret string   // the client secret the endpoint accepts
	seen   []string // the client secret of every token request
	issued int      // tokens issued; the last one is "tok-<issued>"
}

func newRotatingTokens(tb testing.TB, secret string) *rotatingTokens {
	tb.Helper()
	rt := &rotatingTokens{secret: secret}
	rt.tokens = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, secret, ok := clientCredentials(w, r)
		if !ok {
			return
		}
		rt.mu.Lock()
		defer rt.mu.Unlock()
		rt.seen = append(rt.seen, secret)
		w.Header().Set("Content-Type", "application/json")
		if id != "scaler" || secret != rt.secret {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"invalid_client"}`))
			return
		}
		rt.issued++
		_, _ = fmt.Fprintf(w, `{"access_token":"tok-%d","token_type":"Bearer"}`, rt.issued)
	}))
	tb.Cleanup(rt.tokens.Close)
	rt.api = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rt.mu.Lock()
		latest := fmt.Sprintf("Bearer tok-%d", rt.issued)
		rt.mu.Unlock()
		if r.Header.Get("Authorization") != latest {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte(`{"messages":3,"messages_ready":3}`))
	}))
	tb.Cleanup(rt.api.Close)
	return rt
}

// rotate makes the endpoint accept only secret and revokes every token
// issued so far.
func (rt *rotatingTokens) rotate(secret string) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.secret = secret
	rt.issued++ // "tok-<issued>" was never handed out
}

func (rt *rotatingTokens) secrets() []string {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return slices.Clone(rt.seen)
}

// writeSecretFile replaces the file at path as Kubernetes updates a
// mounted Secret: a new file renamed over the old one.
func writeSecretFile(tb testing.TB, path, content string) {
	tb.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		tb.Fatal(err)
	}
}

// TestHTTPOAuth2SecretRotation: clientSecretFile is read at every token
// request, so a rotated Secret takes effect at the next one; here the API
// refuses the old token, and the call that sees the refusal gets a new
// token with the new secret. A secret file gone at that moment is an
// unavailable source that names the file.
func TestHTTPOAuth2SecretRotation(t *testing.T) {
	rt := newRotatingTokens(t, "first-secret-111")
	path := filepath.Join(t.TempDir(), "client-secret")
	writeSecretFile(t, path, "first-secret-111\n")
	s := newScaler(t, map[string]string{"host": rt.api.URL, "queueName": "q", "oauthTokenURI": rt.tokens.URL, "clientID": "scaler", "clientSecretFile": path})

	for range 2 {
		if v, _, err := metric(t, s); err != nil || v != 3 {
			t.Fatalf("before the rotation: got %v, %v; want 3, no error", v, err)
		}
	}
	if diff := cmp.Diff([]string{"first-secret-111"}, rt.secrets()); diff != "" {
		t.Fatalf("token requests before the rotation, client secrets (-want +got):\n%s", diff)
	}

	writeSecretFile(t, path, "second-secret-2222\n")
	rt.rotate("second-secret-2222")
	if v, _, err := metric(t, s); err != nil || v != 3 {
		t.Fatalf("after the rotation: got %v, %v; want 3, no error", v, err)
	}
	if diff := cmp.Diff([]string{"first-secret-111", "second-secret-2222"}, rt.secrets()); diff != "" {
		t.Errorf("token requests after the rotation, client secrets (-want +got):\n%s", diff)
	}

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	rt.rotate("third-secret-33333")
	_, _, err := metric(t, s)
	checkErr(t, err, scalers.ErrUnavailable, "first-secret-111", "second-secret-2222", "third-secret-33333")
	// The host URL is a secret (it may hold a password): redacted.
	want := fmt.Sprintf(`rabbitmq management API: Get "[redacted]/api/queues/%%2F/q?columns=%s": clientSecretFile %q: cannot read: no such file or directory`,
		queueColumns, path)
	if diff := cmp.Diff(want, err.Error()); diff != "" {
		t.Errorf("error (-want +got):\n%s", diff)
	}
}

func TestMetricSpecs(t *testing.T) {
	tests := []struct {
		name string
		md   map[string]string
		want scalers.MetricSpec
	}{
		{"default target", map[string]string{"host": "http://h", "queueName": "sample"}, scalers.MetricSpec{Name: "rabbitmq-sample", Target: 20}},
		{"queueLength", map[string]string{"host": "http://h", "queueName": "namespace/name", "queueLength": "5"}, scalers.MetricSpec{Name: "rabbitmq-namespace-name", Target: 5}},
		{"rate", map[string]string{"host": "http://h", "queueName": "^jobs-.*$", "useRegex": "true", "mode": "MessageRate", "value": "2.5"}, scalers.MetricSpec{Name: "rabbitmq-jobs", Target: 2.5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScaler(t, tt.md)
			if diff := cmp.Diff([]scalers.MetricSpec{tt.want}, s.MetricSpecs()); diff != "" {
				t.Errorf("MetricSpecs (-want +got):\n%s", diff)
			}
		})
	}
}

// TestMetrics: the one value is reported under the metric's name, and the
// trigger is active only above activationValue (strictly, as KEDA
// compares); Value is the same number.
func TestMetrics(t *testing.T) {
	api := newStubAPI(t, http.StatusOK, `{"name":"orders","messages":4,"messages_ready":3}`)
	tests := []struct {
		name string
		kv   []string
		want scalers.Metrics
	}{
		{name: "no activationValue: active with messages", want: scalers.Metrics{Values: []scalers.MetricValue{{Name: "rabbitmq-orders", Value: 4}}, Active: true}},
		{name: "at activationValue: not active", kv: []string{"activationValue", "4"},
			want: scalers.Metrics{Values: []scalers.MetricValue{{Name: "rabbitmq-orders", Value: 4}}, Active: false}},
		{name: "above activationValue", kv: []string{"activationValue", "3.5"},
			want: scalers.Metrics{Values: []scalers.MetricValue{{Name: "rabbitmq-orders", Value: 4}}, Active: true}},
		{name: "excludeUnacknowledged: ready messages only", kv: []string{"excludeUnacknowledged", "true", "activationValue", "3"},
			want: scalers.Metrics{Values: []scalers.MetricValue{{Name: "rabbitmq-orders", Value: 3}}, Active: false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScaler(t, scalertest.WithKeys(map[string]string{"host": api.URL, "queueName": "orders"}, tt.kv...))
			got, err := s.Metrics(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Metrics (-want +got):\n%s", diff)
			}
			if v, err := s.Value(t.Context()); err != nil || v != tt.want.Values[0].Value {
				t.Errorf("Value: got %v, %v; want %v", v, err, tt.want.Values[0].Value)
			}
		})
	}
}

// TestClosed: Metrics and Value after Close fail with "rabbitmq scaler:
// closed", wrapping scalers.ErrClosed; Close twice is fine. An AMQP call
// that finds the source closed under way says the same.
func TestClosed(t *testing.T) {
	api := newStubAPI(t, http.StatusOK, `{"messages":1,"messages_ready":1}`)
	s, err := New(t.Context(), scalers.Config{Type: Type, Metadata: map[string]string{"host": api.URL, "queueName": "q"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	_, mErr := s.Metrics(t.Context())
	_, vErr := s.(*Scaler).Value(t.Context())

	md, err := ParseMetadata(map[string]string{"host": "amqp://u:amqp-pw@127.0.0.1:1/vh", "queueName": "q"}, scalers.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	src := newAMQPSource(md, "test", slog.New(slog.DiscardHandler), time.Second, defaultOptions())
	if err := src.close(); err != nil {
		t.Fatalf("close the AMQP source: %v", err)
	}
	amqpScaler := &Scaler{md: md, src: src}
	_, amqpErr := amqpScaler.read(t.Context())

	for name, err := range map[string]error{"Metrics": mErr, "Value": vErr, "an AMQP call under way": amqpErr} {
		checkErr(t, err, scalers.ErrClosed)
		if diff := cmp.Diff("rabbitmq scaler: closed", err.Error()); diff != "" {
			t.Errorf("%s: error (-want +got):\n%s", name, diff)
		}
	}
}

// TestHostFileRemoved: a host file that disappears at run time is an
// unavailable source (a Secret being rotated), naming the file.
func TestHostFileRemoved(t *testing.T) {
	api := newStubAPI(t, http.StatusOK, `{"messages":2,"messages_ready":2}`)
	path := filepath.Join(t.TempDir(), "host")
	if err := os.WriteFile(path, []byte(withUser(api.URL, "u", "pw-in-file")), 0o600); err != nil {
		t.Fatal(err)
	}
	s := newScaler(t, map[string]string{"hostFile": path, "queueName": "q"})
	if v, _, err := metric(t, s); err != nil || v != 2 {
		t.Fatalf("got %v, %v; want 2, no error", v, err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	_, _, err := metric(t, s)
	checkErr(t, err, scalers.ErrUnavailable, "pw-in-file")
	want := fmt.Sprintf(`rabbitmq: read credentials: hostFile %q: cannot read: no such file or directory`, path)
	if diff := cmp.Diff(want, err.Error()); diff != "" {
		t.Errorf("error (-want +got):\n%s", diff)
	}
}

// TestLogs: warnings for settings that will not do what they seem to, and
// no secret in any log line.
func TestLogs(t *testing.T) {
	api := newStubAPI(t, http.StatusOK, `{"items":[],"page_count":1}`)
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := newCerts(t)
	md := map[string]string{"host": withUser(api.URL, "u", "log-secret-pw"), "queueName": "^(?!tmp-)", "useRegex": "true", "ca": c.caPEM}
	s, err := New(t.Context(), scalers.Config{Type: Type, Metadata: md, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Metrics(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"not a valid regular expression", `ignored unless tls is \"enable\"`} {
		if !strings.Contains(out, want) {
			t.Errorf("got log %q, want it to contain %q", out, want)
		}
	}
	if strings.Contains(out, "log-secret-pw") {
		t.Errorf("log %q contains the password", out)
	}
}
