package scalers

import (
	"context"
	"errors"
	"fmt"
	"io"
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
	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
)

// resource is a server that accepts a request only with the token
// endpoint's current token, and records the Authorization header and body
// of every request.
type resource struct {
	tokens *scalertest.TokenServer
	srv    *httptest.Server

	mu        sync.Mutex
	auth      []string
	bodies    []string
	refuseAll bool
}

func newResource(tb testing.TB, tokens *scalertest.TokenServer) *resource {
	tb.Helper()
	r := &resource{tokens: tokens}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.auth = append(r.auth, req.Header.Get("Authorization"))
		r.bodies = append(r.bodies, string(body))
		refuse := r.refuseAll
		r.mu.Unlock()
		if refuse || !tokens.Valid(scalertest.BearerToken(req)) {
			http.Error(w, "bad token", http.StatusUnauthorized)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	tb.Cleanup(r.srv.Close)
	return r
}

// seen returns the Authorization headers received since the last call.
func (r *resource) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.auth
	r.auth = nil
	return out
}

// oauthSource parses md (authModes oauth and its keys) and builds an
// HTTPSource for target with the given clock (nil: the real one).
func oauthSource(tb testing.TB, target string, md map[string]string, clk clock.PassiveClock) *HTTPSource {
	tb.Helper()
	var h authHolder
	if err := ParseMetadata(md, &h, fileDirsOf(tb, md)); err != nil {
		tb.Fatalf("ParseMetadata: %v", err)
	}
	src, err := NewHTTPSource(HTTPSourceOptions{URL: target, Auth: &h.Auth, Clock: clk})
	if err != nil {
		tb.Fatalf("NewHTTPSource: %v", err)
	}
	tb.Cleanup(src.CloseIdleConnections)
	return src
}

// newTokens is a token endpoint for the client "scaler" with the secret
// client-secret-1, issuing tokens with expiresIn (0: none).
func newTokens(tb testing.TB, expiresIn int) *scalertest.TokenServer {
	tb.Helper()
	return scalertest.NewTokenServer(tb, scalertest.TokenServerOptions{ClientID: "scaler", ClientSecret: "client-secret-1", ExpiresIn: expiresIn})
}

// oauthFixture is a token endpoint issuing tokens of an hour (newTokens), a
// resource accepting them, and an HTTPSource for it on the real clock.
func oauthFixture(tb testing.TB) (*scalertest.TokenServer, *resource, *HTTPSource) {
	tb.Helper()
	tokens := newTokens(tb, 3600)
	res := newResource(tb, tokens)
	return tokens, res, oauthSource(tb, res.srv.URL, oauthMD(tokens), nil)
}

// oauthMD is the metadata of authModes oauth against tokens, with the keys
// of kv set (an empty value deletes the key).
func oauthMD(tokens *scalertest.TokenServer, kv ...string) map[string]string {
	md := map[string]string{"authModes": "oauth", "oauthTokenURI": tokens.URL, "clientID": "scaler", "clientSecret": "client-secret-1"}
	return scalertest.WithKeys(md, kv...)
}

// get sends a GET through src and returns the status, or the error.
func get(tb testing.TB, ctx context.Context, src *HTTPSource, target string) (int, error) {
	tb.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		tb.Fatal(err)
	}
	resp, err := src.Transport.RoundTrip(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

func wantStatus(tb testing.TB, got int, err error, want int) {
	tb.Helper()
	if err != nil || got != want {
		tb.Fatalf("got status %d, error %v; want status %d", got, err, want)
	}
}

func TestOAuthTokenRequest(t *testing.T) {
	tests := []struct {
		name   string
		secret string // what the endpoint expects
		kv     []string
		want   []scalertest.TokenRequest
	}{
		{name: "secret, scopes and endpoint parameters", secret: "client-secret-1",
			kv: []string{"scopes", "read,write", "endpointParams", "audience=prometheus&resource=a&resource=b"},
			want: []scalertest.TokenRequest{{InHeader: true, Form: url.Values{
				"grant_type": {"client_credentials"}, "scope": {"read write"}, "audience": {"prometheus"}, "resource": {"a", "b"},
				"client_id": {"scaler"}, "client_secret": {"client-secret-1"}}}}},
		{name: "no scopes", secret: "client-secret-1",
			want: []scalertest.TokenRequest{{InHeader: true, Form: url.Values{
				"grant_type": {"client_credentials"}, "client_id": {"scaler"}, "client_secret": {"client-secret-1"}}}}},
		{name: "a secret with characters Basic auth escapes", secret: "s:e&c r+t",
			kv: []string{"clientSecret", "s:e&c r+t"},
			want: []scalertest.TokenRequest{{InHeader: true, Form: url.Values{
				"grant_type": {"client_credentials"}, "client_id": {"scaler"}, "client_secret": {"s:e&c r+t"}}}}},
		{name: "no clientSecret: client_id in the form, no Authorization header", secret: "",
			kv:   []string{"clientSecret", ""},
			want: []scalertest.TokenRequest{{Form: url.Values{"grant_type": {"client_credentials"}, "client_id": {"scaler"}}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tokens := scalertest.NewTokenServer(t, scalertest.TokenServerOptions{ClientID: "scaler", ClientSecret: tc.secret, ExpiresIn: 3600})
			res := newResource(t, tokens)
			src := oauthSource(t, res.srv.URL, oauthMD(tokens, tc.kv...), nil)
			status, err := get(t, t.Context(), src, res.srv.URL+"/api")
			wantStatus(t, status, err, http.StatusOK)
			if diff := cmp.Diff(tc.want, tokens.Requests()); diff != "" {
				t.Errorf("token requests (-want +got):\n%s", diff)
			}
			// token_type "bearer" is sent as the canonical "Bearer".
			if diff := cmp.Diff([]string{"Bearer access-token-1"}, res.seen()); diff != "" {
				t.Errorf("Authorization sent (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOAuthTokenCachedUntilRenewal(t *testing.T) {
	tests := []struct {
		name      string
		expiresIn int
		// cached: the clock may advance this far and the token is still
		// used; renewed: this far and a new one is fetched.
		cached, renewed time.Duration
	}{
		{name: "an hour: renewed 10s before it expires", expiresIn: 3600, cached: 3589 * time.Second, renewed: 3591 * time.Second},
		{name: "a minute", expiresIn: 60, cached: 49 * time.Second, renewed: 51 * time.Second},
		{name: "8s: renewed after three quarters", expiresIn: 8, cached: 5 * time.Second, renewed: 7 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tokens := newTokens(t, tc.expiresIn)
			res := newResource(t, tokens)
			start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
			clk := clocktesting.NewFakePassiveClock(start)
			src := oauthSource(t, res.srv.URL, oauthMD(tokens), clk)
			for range 3 {
				status, err := get(t, t.Context(), src, res.srv.URL)
				wantStatus(t, status, err, http.StatusOK)
			}
			clk.SetTime(start.Add(tc.cached))
			status, err := get(t, t.Context(), src, res.srv.URL)
			wantStatus(t, status, err, http.StatusOK)
			if n := tokens.Issued(); n != 1 {
				t.Fatalf("%s after the token was issued: %d tokens issued, want 1", tc.cached, n)
			}
			clk.SetTime(start.Add(tc.renewed))
			status, err = get(t, t.Context(), src, res.srv.URL)
			wantStatus(t, status, err, http.StatusOK)
			if n := tokens.Issued(); n != 2 {
				t.Fatalf("%s after the token was issued: %d tokens issued, want 2", tc.renewed, n)
			}
			want := []string{"Bearer access-token-1", "Bearer access-token-1", "Bearer access-token-1", "Bearer access-token-1", "Bearer access-token-2"}
			if diff := cmp.Diff(want, res.seen()); diff != "" {
				t.Errorf("Authorization sent (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("without expires_in: kept until refused", func(t *testing.T) {
		tokens := newTokens(t, 0)
		res := newResource(t, tokens)
		start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		clk := clocktesting.NewFakePassiveClock(start)
		src := oauthSource(t, res.srv.URL, oauthMD(tokens), clk)
		status, err := get(t, t.Context(), src, res.srv.URL)
		wantStatus(t, status, err, http.StatusOK)
		clk.SetTime(start.Add(1000 * time.Hour))
		status, err = get(t, t.Context(), src, res.srv.URL)
		wantStatus(t, status, err, http.StatusOK)
		if n := tokens.Issued(); n != 1 {
			t.Errorf("%d tokens issued, want 1", n)
		}
	})
}

func TestOAuthRefusedToken(t *testing.T) {
	t.Run("revoked: one new token, the request sent once more", func(t *testing.T) {
		tokens, res, src := oauthFixture(t)
		status, err := get(t, t.Context(), src, res.srv.URL)
		wantStatus(t, status, err, http.StatusOK)
		tokens.Revoke()
		status, err = get(t, t.Context(), src, res.srv.URL)
		wantStatus(t, status, err, http.StatusOK)
		want := []string{"Bearer access-token-1", "Bearer access-token-1", "Bearer access-token-2"}
		if diff := cmp.Diff(want, res.seen()); diff != "" {
			t.Errorf("Authorization sent (-want +got):\n%s", diff)
		}
		if n := tokens.Issued(); n != 2 {
			t.Errorf("%d tokens issued, want 2", n)
		}
	})

	t.Run("a body is sent again", func(t *testing.T) {
		tokens, res, src := oauthFixture(t)
		post := func(body io.Reader) (int, error) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, res.srv.URL, body)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := src.Transport.RoundTrip(req)
			if err != nil {
				return 0, err
			}
			_ = resp.Body.Close()
			return resp.StatusCode, nil
		}
		status, err := post(strings.NewReader("query=up"))
		wantStatus(t, status, err, http.StatusOK)
		tokens.Revoke()
		status, err = post(strings.NewReader("query=up"))
		wantStatus(t, status, err, http.StatusOK)
		// A body that cannot be read again is not retried: the 401 stands.
		tokens.Revoke()
		status, err = post(io.MultiReader(strings.NewReader("query=up")))
		wantStatus(t, status, err, http.StatusUnauthorized)
		res.mu.Lock()
		bodies := res.bodies
		res.mu.Unlock()
		if diff := cmp.Diff([]string{"query=up", "query=up", "query=up", "query=up"}, bodies); diff != "" {
			t.Errorf("bodies received (-want +got):\n%s", diff)
		}
	})

	t.Run("every token refused: once per request, not a loop", func(t *testing.T) {
		_, res, src := oauthFixture(t)
		status, err := get(t, t.Context(), src, res.srv.URL)
		wantStatus(t, status, err, http.StatusOK)
		res.mu.Lock()
		res.refuseAll = true
		res.mu.Unlock()
		// The cached token is refused: a new one, one more try.
		status, err = get(t, t.Context(), src, res.srv.URL)
		wantStatus(t, status, err, http.StatusUnauthorized)
		// The refused token was dropped: a new one, refused, not retried.
		status, err = get(t, t.Context(), src, res.srv.URL)
		wantStatus(t, status, err, http.StatusUnauthorized)
		want := []string{"Bearer access-token-1", "Bearer access-token-1", "Bearer access-token-2", "Bearer access-token-3"}
		if diff := cmp.Diff(want, res.seen()); diff != "" {
			t.Errorf("Authorization sent (-want +got):\n%s", diff)
		}
	})
}

func TestOAuthConcurrentRequestsShareOneToken(t *testing.T) {
	tokens, res, src := oauthFixture(t)
	scalertest.Concurrently(t, 16, 1, func() error {
		if status, err := get(t, t.Context(), src, res.srv.URL); err != nil || status != http.StatusOK {
			return fmt.Errorf("got status %d, error %v; want 200", status, err)
		}
		return nil
	})
	if n := len(tokens.Requests()); n != 1 {
		t.Errorf("%d token requests, want 1", n)
	}
}

func TestOAuthWaitEndsWithTheWaitersContext(t *testing.T) {
	tokens, res, src := oauthFixture(t)
	tokens.Stall(true)
	first, cancelFirst := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := get(t, first, src, res.srv.URL)
		done <- err
	}()
	scalertest.Eventually(t, 30*time.Second, "the first request to reach the token endpoint", func() error {
		if n := len(tokens.Requests()); n != 1 {
			return fmt.Errorf("%d token requests", n)
		}
		return nil
	})
	// The second caller waits for the first one's token, for as long as its
	// own context allows, and does not ask the endpoint itself.
	second, cancelSecond := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancelSecond()
	_, err := get(t, second, src, res.srv.URL)
	var te *TokenError
	if !errors.As(err, &te) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second request: got %v, want a *TokenError wrapping context.DeadlineExceeded", err)
	}
	want := `oauthTokenURI "` + tokens.URL + `": no token before the request's deadline (timeout)`
	scalertest.CheckMessage(t, err, want)
	cancelFirst()
	err = <-done
	if !errors.Is(err, context.Canceled) {
		t.Errorf("first request: got %v, want context.Canceled", err)
	}
	scalertest.CheckMessage(t, err, `oauthTokenURI "`+tokens.URL+`": token request canceled`)
	if n := len(tokens.Requests()); n != 1 {
		t.Errorf("%d token requests, want 1", n)
	}
}

func TestOAuthErrors(t *testing.T) {
	tokens := newTokens(t, 3600)
	res := newResource(t, tokens)
	noToken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"token_type":"bearer"}`)
	}))
	t.Cleanup(noToken.Close)
	redirect := httptest.NewServer(http.RedirectHandler(tokens.URL, http.StatusTemporaryRedirect))
	t.Cleanup(redirect.Close)
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL + "/token"
	down.Close()
	secretFile := filepath.Join(t.TempDir(), "client-secret")
	if err := os.WriteFile(secretFile, []byte("client-secret-1"), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		md     map[string]string
		before func()
		want   string
	}{
		{name: "wrong secret: status and error code, the secret redacted from the description",
			md:   oauthMD(tokens, "clientSecret", "wrong-secret-77"),
			want: `oauthTokenURI "` + tokens.URL + `": the token endpoint answered 401 Unauthorized (invalid_client: client authentication failed (got [redacted]))`},
		{name: "no access_token", md: oauthMD(tokens, "oauthTokenURI", noToken.URL),
			want: `oauthTokenURI "` + noToken.URL + `": server response missing access_token`},
		{name: "a redirect is not followed", md: oauthMD(tokens, "oauthTokenURI", redirect.URL),
			want: `oauthTokenURI "` + redirect.URL + `": the token endpoint answered 307 Temporary Redirect`},
		{name: "endpoint down", md: oauthMD(tokens, "oauthTokenURI", downURL),
			want: `oauthTokenURI "` + downURL + `": dial tcp ` + strings.TrimPrefix(down.URL, "http://") + `: connect: connection refused`},
		{name: "secret file gone", md: oauthMD(tokens, "clientSecret", "", "clientSecretFile", secretFile),
			before: func() { _ = os.Remove(secretFile) },
			want:   `clientSecretFile "` + secretFile + `": cannot read: no such file or directory`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := oauthSource(t, res.srv.URL, tc.md, nil)
			if tc.before != nil {
				tc.before()
			}
			_, err := get(t, t.Context(), src, res.srv.URL)
			scalertest.CheckMessage(t, err, tc.want)
			if errors.Is(err, ErrInvalidConfig) {
				t.Errorf("error %q is an ErrInvalidConfig: it may work at the next poll", err)
			}
			if got := len(res.seen()); got != 0 {
				t.Errorf("the resource got %d requests, want none without a token", got)
			}
		})
	}
}

func TestOAuthTokensRedacted(t *testing.T) {
	tokens := newTokens(t, 3600)
	res := newResource(t, tokens)
	src := oauthSource(t, res.srv.URL, oauthMD(tokens, "oauthTokenURI", strings.Replace(tokens.URL, "http://", "http://u:uri-pw-5@", 1)), nil)
	status, err := get(t, t.Context(), src, res.srv.URL)
	wantStatus(t, status, err, http.StatusOK)
	tokens.Revoke()
	status, err = get(t, t.Context(), src, res.srv.URL)
	wantStatus(t, status, err, http.StatusOK)
	got := src.Redactor.String("access-token-1 access-token-2 client-secret-1 uri-pw-5")
	if diff := cmp.Diff("[redacted] [redacted] [redacted] [redacted]", got); diff != "" {
		t.Errorf("redacted (-want +got):\n%s", diff)
	}
}
