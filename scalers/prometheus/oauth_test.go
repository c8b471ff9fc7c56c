package prometheus

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// bearerGuard passes a request to next only when it carries the token
// endpoint's current token, and answers 401 otherwise, as a Prometheus
// behind an authenticating proxy does. It records the Authorization header
// of every request and counts the refusals.
type bearerGuard struct {
	tokens *scalertest.TokenServer
	next   http.Handler

	mu      sync.Mutex
	auth    []string
	refused int
}

func (g *bearerGuard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ok := g.tokens.Valid(scalertest.BearerToken(r))
	g.mu.Lock()
	g.auth = append(g.auth, r.Header.Get("Authorization"))
	if !ok {
		g.refused++
	}
	g.mu.Unlock()
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		http.Error(w, "invalid token", http.StatusUnauthorized)
		return
	}
	g.next.ServeHTTP(w, r)
}

// seen returns the Authorization headers and the refusals since the last
// call.
func (g *bearerGuard) seen() ([]string, int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	auth, refused := g.auth, g.refused
	g.auth, g.refused = nil, 0
	return auth, refused
}

// oauthMD is valid metadata for the prometheus scaler at server with
// authModes oauth against tokens; kv overrides as in md.
func oauthMD(server string, tokens *scalertest.TokenServer, kv ...string) map[string]string {
	base := []string{"serverAddress", server, "authModes", "oauth", "oauthTokenURI", tokens.URL,
		"clientID", "keda-prometheus", "clientSecret", "client-secret-0042"}
	return md(append(base, kv...)...)
}

func TestOAuth(t *testing.T) {
	tokens := scalertest.NewTokenServer(t, scalertest.TokenServerOptions{ClientID: "keda-prometheus", ClientSecret: "client-secret-0042", ExpiresIn: 60})
	f := &fakeAPI{body: vectorBody("12")}
	guard := &bearerGuard{tokens: tokens, next: f}
	srv := newServer(t, guard)
	start := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	clk := clocktesting.NewFakePassiveClock(start)
	s := newScaler(t, oauthMD(srv.URL, tokens, "scopes", "metrics.read", "endpointParams", "audience=prometheus"), Options{Clock: clk})
	value := func(t *testing.T, what string) {
		t.Helper()
		if v, err := s.Value(t.Context()); err != nil || v != 12 {
			t.Fatalf("%s: got %v, %v; want 12", what, v, err)
		}
	}

	value(t, "first query")
	value(t, "second query, same token")
	wantReq := []scalertest.TokenRequest{{InHeader: true, Form: url.Values{"grant_type": {"client_credentials"},
		"client_id": {"keda-prometheus"}, "client_secret": {"client-secret-0042"}, "scope": {"metrics.read"}, "audience": {"prometheus"}}}}
	if diff := cmp.Diff(wantReq, tokens.Requests()); diff != "" {
		t.Errorf("token requests (-want +got):\n%s", diff)
	}
	auth, refused := guard.seen()
	if diff := cmp.Diff([]string{"Bearer access-token-1", "Bearer access-token-1"}, auth); diff != "" || refused != 0 {
		t.Errorf("Authorization at the server (-want +got):\n%s\nrefused %d, want 0", diff, refused)
	}

	// expires_in 60: renewed 10s before the token expires.
	clk.SetTime(start.Add(49 * time.Second))
	value(t, "49s later, same token")
	clk.SetTime(start.Add(51 * time.Second))
	value(t, "51s later, a new token")
	auth, _ = guard.seen()
	if diff := cmp.Diff([]string{"Bearer access-token-1", "Bearer access-token-2"}, auth); diff != "" {
		t.Errorf("Authorization at the server around the renewal (-want +got):\n%s", diff)
	}

	// Revoked before its expiry: the 401 makes the scaler get a new token
	// and ask again, once.
	tokens.Revoke()
	value(t, "after the revocation")
	auth, refused = guard.seen()
	if diff := cmp.Diff([]string{"Bearer access-token-2", "Bearer access-token-3"}, auth); diff != "" || refused != 1 {
		t.Errorf("Authorization at the server after the revocation (-want +got):\n%s\nrefused %d, want 1", diff, refused)
	}
	if n := tokens.Issued(); n != 3 {
		t.Errorf("%d tokens issued, want 3", n)
	}
}

func TestOAuthErrors(t *testing.T) {
	tokens := scalertest.NewTokenServer(t, scalertest.TokenServerOptions{ClientID: "keda-prometheus", ClientSecret: "client-secret-0042", ExpiresIn: 3600})
	f := &fakeAPI{body: vectorBody("12")}
	guard := &bearerGuard{tokens: tokens, next: f}
	srv := newServer(t, guard)
	// A server that refuses every token.
	refusing := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusUnauthorized)
	}))

	t.Run("wrong client secret", func(t *testing.T) {
		s := newScaler(t, oauthMD(srv.URL, tokens, "clientSecret", "wrong-secret-77"), Options{})
		_, err := s.Metrics(t.Context())
		scalertest.CheckErr(t, err, scalers.ErrUnavailable)
		// The endpoint's description echoes the secret it got; it is
		// redacted.
		scalertest.CheckMessage(t, err, "prometheus query: "+srv.URL+`: oauthTokenURI "`+tokens.URL+
			`": the token endpoint answered 401 Unauthorized (invalid_client: client authentication failed (got [redacted]))`)
	})

	t.Run("token endpoint slower than the query timeout", func(t *testing.T) {
		tokens.Stall(true)
		defer tokens.Stall(false)
		s := newScaler(t, oauthMD(srv.URL, tokens, "timeout", "100"), Options{})
		_, err := s.Metrics(t.Context())
		scalertest.CheckErr(t, err, scalers.ErrUnavailable)
		scalertest.CheckMessage(t, err, "prometheus query: "+srv.URL+`: oauthTokenURI "`+tokens.URL+`": no token before the request's deadline (timeout)`)
	})

	t.Run("every token refused", func(t *testing.T) {
		s := newScaler(t, oauthMD(refusing.URL, tokens), Options{})
		for range 2 {
			_, err := s.Metrics(t.Context())
			scalertest.CheckErr(t, err, scalers.ErrUnavailable)
			scalertest.CheckMessage(t, err, "prometheus query: "+refusing.URL+": client error: 401")
		}
	})

	t.Run("secret file removed", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "client-secret")
		if err := os.WriteFile(file, []byte("client-secret-0042\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		s := newScaler(t, oauthMD(srv.URL, tokens, "clientSecret", "", "clientSecretFile", file), Options{})
		if err := os.Remove(file); err != nil {
			t.Fatal(err)
		}
		_, err := s.Metrics(t.Context())
		scalertest.CheckErr(t, err, scalers.ErrUnavailable)
		scalertest.CheckMessage(t, err, "prometheus query: "+srv.URL+`: clientSecretFile "`+file+`": cannot read: no such file or directory`)
	})

	t.Run("the token is redacted", func(t *testing.T) {
		// An API error that repeats the Authorization header.
		echo := newServer(t, &bearerGuard{tokens: tokens, next: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(422)
			_, _ = w.Write([]byte(`{"status":"error","errorType":"execution","error":"denied ` + r.Header.Get("Authorization") + `"}`))
		})})
		s := newScaler(t, oauthMD(echo.URL, tokens), Options{})
		_, err := s.Metrics(t.Context())
		scalertest.CheckErr(t, err, scalers.ErrUnavailable)
		scalertest.CheckMessage(t, err, "prometheus query: "+echo.URL+": query failed on the server (execution): denied Bearer [redacted]")
	})
}

func TestParseMetadataOAuth(t *testing.T) {
	_, cert, key := pemPair(t)
	missing := filepath.Join(t.TempDir(), "client-secret")
	oauth := func(kv ...string) map[string]string {
		return md(append([]string{"authModes", "oauth", "oauthTokenURI", "https://idp.example/oauth2/token", "clientID", "keda"}, kv...)...)
	}
	tests := []struct {
		name string
		md   map[string]string
		want string // the whole message; "" for none
	}{
		{name: "every key", md: oauth("clientSecret", "s3cret-value", "scopes", "a,b", "endpointParams", "audience=x")},
		{name: "no clientSecret, as KEDA allows", md: oauth()},
		{name: "oauth with tls", md: oauth("authModes", "oauth,tls", "cert", cert, "key", key)},
		{name: "no keys", md: md("authModes", "oauth"),
			want: "invalid metadata: oauthTokenURI: required when authModes includes oauth; clientID: required when authModes includes oauth"},
		{name: "oauthTokenURI not a URL", md: oauth("oauthTokenURI", "idp.example/token"),
			want: `invalid metadata: oauthTokenURI "idp.example/token": expected an http:// or https:// URL`},
		{name: "oauthTokenURI without host", md: oauth("oauthTokenURI", "https:///token"),
			want: `invalid metadata: oauthTokenURI "https:///token": URL has no host`},
		{name: "endpointParams malformed", md: oauth("endpointParams", "audience=%x"),
			want: `invalid metadata: endpointParams (secret, not shown): parameter 1 ("audience"): invalid %-escape in its value`},
		{name: "endpointParams repeating scopes", md: oauth("scope", "a", "endpointParams", "scope=b"),
			want: `invalid metadata: endpointParams (secret, not shown): sets scope, which the scopes key sets already; give every scope there`},
		{name: "oauth and bearer", md: oauth("authModes", "oauth,bearer", "bearerToken", "t"),
			want: `invalid metadata: authModes "oauth,bearer": only one of bearer, basic and oauth may be given`},
		{name: "clientSecretFile missing", md: oauth("clientSecretFile", missing),
			want: `invalid metadata: clientSecretFile "` + missing + `": cannot read: no such file or directory`},
		{name: "the secret is never shown", md: oauth("clientSecret", "s3cret-value", "oauthTokenURI", "ftp://u:pw-in-uri@idp"),
			want: `invalid metadata: oauthTokenURI "ftp://u:xxxxx@idp": expected an http:// or https:// URL`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseMetadata(tc.md, secretFiles(t, tc.md))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("ParseMetadata: %v", err)
				}
				return
			}
			scalertest.CheckErr(t, err, scalers.ErrInvalidConfig)
			scalertest.CheckMessage(t, err, tc.want)
		})
	}
}

// BenchmarkMetricsOAuth is BenchmarkMetrics with authModes oauth: the
// token is fetched once and then read from the cache on every poll.
func BenchmarkMetricsOAuth(b *testing.B) {
	tokens := scalertest.NewTokenServer(b, scalertest.TokenServerOptions{ClientID: "keda-prometheus", ClientSecret: "client-secret-0042", ExpiresIn: 3600})
	srv := newServer(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !tokens.Valid(scalertest.BearerToken(r)) {
			http.Error(w, "invalid token", http.StatusUnauthorized)
			return
		}
		_ = r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(vectorBody("3")))
	}))
	s := newScaler(b, oauthMD(srv.URL, tokens), Options{})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Metrics(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
	if n := tokens.Issued(); n != 1 {
		b.Errorf("%d tokens issued, want 1", n)
	}
}
