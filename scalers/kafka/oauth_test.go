package kafka

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

const (
	oauthClientID     = "hpa-autoscaler"
	oauthClientSecret = "cl13nt-s3cr3t-value"
)

// tokenEndpoint is an OAuth 2.0 token endpoint (httptest) for the client
// credentials grant. It checks the grant, the client id and secret (as
// HTTP basic auth or form parameters, both of RFC 6749 section 2.3.1) and
// issues "issued-token-1", "issued-token-2", ... with expiresIn.
type tokenEndpoint struct {
	srv *httptest.Server

	mu        sync.Mutex
	expiresIn int  // seconds; 0 leaves expires_in out
	refuse    bool // answer 401 invalid_client to everything
	hang      chan struct{}
	requests  int
	issued    []string
	scopes    []string // the scope parameter of each request
}

func startTokenEndpoint(t testing.TB, expiresIn int) *tokenEndpoint {
	t.Helper()
	e := &tokenEndpoint{expiresIn: expiresIn}
	e.srv = httptest.NewServer(http.HandlerFunc(e.serve))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *tokenEndpoint) url() string { return e.srv.URL + "/oauth2/token" }

func (e *tokenEndpoint) serve(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	e.requests++
	hang := e.hang
	e.mu.Unlock()
	if hang != nil {
		select { // until the client gives up, or the test ends
		case <-r.Context().Done():
		case <-hang:
		}
		return
	}
	if err := r.ParseForm(); err != nil || r.Method != http.MethodPost || r.URL.Path != "/oauth2/token" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	id, secret, basic := r.BasicAuth()
	if !basic {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.scopes = append(e.scopes, r.PostForm.Get("scope"))
	w.Header().Set("Content-Type", "application/json")
	if e.refuse || id != oauthClientID || secret != oauthClientSecret || r.PostForm.Get("grant_type") != "client_credentials" {
		w.WriteHeader(http.StatusUnauthorized)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_client", "error_description": "Client authentication failed"})
		return
	}
	tok := fmt.Sprintf("issued-token-%d", len(e.issued)+1)
	e.issued = append(e.issued, tok)
	body := map[string]any{"access_token": tok, "token_type": "Bearer"}
	if e.expiresIn > 0 {
		body["expires_in"] = e.expiresIn
	}
	_ = json.NewEncoder(w).Encode(body)
}

// set changes the endpoint's behaviour.
func (e *tokenEndpoint) set(f func(*tokenEndpoint)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	f(e)
}

// issuedTokens returns the tokens issued so far.
func (e *tokenEndpoint) issuedTokens() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.issued...)
}

func (e *tokenEndpoint) requestCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.requests
}

// checkIssued is a saslBroker CheckToken: the token must be one e issued.
func (e *tokenEndpoint) checkIssued(token string) error {
	for _, t := range e.issuedTokens() {
		if t == token {
			return nil
		}
	}
	return errors.New("the token was not issued by the identity provider")
}

// lockedBuffer is a log destination that the client's goroutines may write
// while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// oauthCluster is a saslBroker with topic orders (end offsets 30, 20, 5)
// and group g (commits 10 and 20 on partitions 0 and 1) that accepts the
// tokens e issued: the lag is 20 + 0 + 1 = 21.
func oauthCluster(t testing.TB, e *tokenEndpoint) *saslBroker {
	t.Helper()
	return startSASLBroker(t, saslBrokerConfig{
		Topic: "orders", Latest: []int64{30, 20, 5},
		Group: "g", Committed: map[int32]int64{0: 10, 1: 20},
		CheckToken: e.checkIssued,
	})
}

// oauthTrigger is the metadata of an oauthbearer trigger against b and e.
func oauthTrigger(b *saslBroker, e *tokenEndpoint, kv ...string) map[string]string {
	md := map[string]string{
		"bootstrapServers": b.addr(), "consumerGroup": "g", "topic": "orders",
		"sasl": "oauthbearer", "username": oauthClientID, "password": oauthClientSecret,
		"oauthTokenEndpointUri": e.url(),
	}
	for i := 0; i+1 < len(kv); i += 2 {
		md[kv[i]] = kv[i+1]
	}
	return md
}

// newOAuthScaler builds a scaler with a debug log into logs and the given
// clock (nil: the real one).
func newOAuthScaler(t testing.TB, md map[string]string, logs *lockedBuffer, o options) *Scaler {
	t.Helper()
	if o.metadataAge == 0 {
		o.metadataAge = DefaultMetadataAge
	}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := newScaler(t.Context(), scalers.Config{Type: Type, Metadata: md, Logger: log}, o)
	if err != nil {
		t.Fatalf("new scaler: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// checkNoSecrets fails if the client secret or an issued token is in text.
func checkNoSecrets(t testing.TB, what, text string, e *tokenEndpoint) {
	t.Helper()
	for _, secret := range append([]string{oauthClientSecret}, e.issuedTokens()...) {
		if strings.Contains(text, secret) {
			t.Errorf("%s shows the secret %q:\n%s", what, secret, text)
		}
	}
}

// logins returns n logins that each presented token with extensions ext.
func logins(n int, token string, ext map[string]string) []login {
	out := make([]login, n)
	for i := range out {
		out[i] = login{Mechanism: "OAUTHBEARER", Token: token, Extensions: ext, OK: true}
	}
	return out
}

// TestOAuthBearer measures a topic through a broker that requires
// SASL/OAUTHBEARER: the client gets a token from the endpoint with its
// client credentials and scopes, and presents it, with the extensions, on
// every connection.
func TestOAuthBearer(t *testing.T) {
	e := startTokenEndpoint(t, 3600)
	b := oauthCluster(t, e)
	logs := &lockedBuffer{}
	s := newOAuthScaler(t, oauthTrigger(b, e,
		"scopes", "kafka, lag:read",
		"oauthExtensions", "logicalCluster=lkc-1, identityPoolId=pool-2",
	), logs, options{})
	if n := e.requestCount(); n != 0 {
		t.Errorf("got %d token requests when the scaler was created, want none before the first round", n)
	}

	for round := range 3 {
		if diff := cmp.Diff(result{21, true}, resultOf(t, s)); diff != "" {
			t.Errorf("round %d (-want +got):\n%s", round, diff)
		}
	}
	if diff := cmp.Diff([]string{"issued-token-1"}, e.issuedTokens()); diff != "" {
		t.Errorf("issued tokens (-want +got):\n%s", diff)
	}
	e.mu.Lock()
	scopes := append([]string(nil), e.scopes...)
	e.mu.Unlock()
	if diff := cmp.Diff([]string{"kafka lag:read"}, scopes); diff != "" {
		t.Errorf("scope parameter of the token requests (-want +got):\n%s", diff)
	}
	got := b.loginList()
	if len(got) == 0 {
		t.Fatal("the broker saw no login")
	}
	want := logins(len(got), "issued-token-1", map[string]string{"logicalCluster": "lkc-1", "identityPoolId": "pool-2"})
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("logins (-want +got):\n%s", diff)
	}
	checkNoSecrets(t, "the log", logs.String(), e)
}

// TestOAuthBearerTokenRefresh follows one token through its life on a fake
// clock: connections opened while it is fresh reuse it, and the first round
// after it is due for renewal (10 s before its 60 s expiry, 50 s after it
// was asked for) fetches the next one, which the next connections present.
func TestOAuthBearerTokenRefresh(t *testing.T) {
	e := startTokenEndpoint(t, 60)
	b := oauthCluster(t, e)
	clk := clocktesting.NewFakePassiveClock(time.Now())
	s := newOAuthScaler(t, oauthTrigger(b, e), &lockedBuffer{}, options{clock: clk})

	// step runs one round, optionally after the broker dropped every
	// connection (so that the client logs in again), and checks the
	// tokens issued so far and the tokens of the logins of this round.
	step := func(name string, advance time.Duration, drop bool, wantIssued []string, wantToken string) {
		t.Helper()
		clk.SetTime(clk.Now().Add(advance))
		if drop {
			b.dropConnections()
		}
		before := len(b.loginList())
		if got, _ := lagOf(t, s); got != 21 {
			t.Errorf("%s: got lag %v, want 21", name, got)
		}
		if diff := cmp.Diff(wantIssued, e.issuedTokens()); diff != "" {
			t.Errorf("%s: issued tokens (-want +got):\n%s", name, diff)
		}
		if wantToken == "" {
			return
		}
		got := b.loginList()[before:]
		if len(got) == 0 {
			t.Errorf("%s: no login, want the client to log in again", name)
			return
		}
		if diff := cmp.Diff(logins(len(got), wantToken, map[string]string{}), got); diff != "" {
			t.Errorf("%s: logins (-want +got):\n%s", name, diff)
		}
	}
	one, two := []string{"issued-token-1"}, []string{"issued-token-1", "issued-token-2"}
	step("first round", 0, false, one, "issued-token-1")
	step("new connections at 49s reuse the token", 49*time.Second, true, one, "issued-token-1")
	step("at 51s the round renews it", 2*time.Second, false, two, "")
	step("new connections present the new token", 0, true, two, "issued-token-2")
	step("and keep it until it is due", 40*time.Second, true, two, "issued-token-2")
	if n := e.requestCount(); n != 2 {
		t.Errorf("got %d token requests, want 2", n)
	}
}

// TestOAuthBearerFailures covers a token endpoint that refuses the client,
// one that does not answer, and a broker that refuses the token: each
// round fails at once with the reason, which shows neither the client
// secret nor a token.
func TestOAuthBearerFailures(t *testing.T) {
	t.Run("token endpoint refuses the client", func(t *testing.T) {
		e := startTokenEndpoint(t, 3600)
		e.set(func(e *tokenEndpoint) { e.refuse = true })
		b := oauthCluster(t, e)
		logs := &lockedBuffer{}
		s := newOAuthScaler(t, oauthTrigger(b, e), logs, options{})
		_, err := s.Metrics(t.Context())
		want := `kafka: sasl oauthbearer: oauthTokenEndpointUri "` + e.url() + `": token request failed: 401 Unauthorized (invalid_client: Client authentication failed)`
		checkWholeError(t, err, scalers.ErrUnavailable, want)
		checkNoSecrets(t, "the log", logs.String(), e)
		if got := b.loginList(); len(got) != 0 {
			t.Errorf("got logins %+v, want none without a token", got)
		}
	})
	t.Run("token endpoint does not answer within the caller's deadline", func(t *testing.T) {
		e := startTokenEndpoint(t, 3600)
		hang := make(chan struct{})
		e.set(func(e *tokenEndpoint) { e.hang = hang })
		t.Cleanup(func() { close(hang) }) // before the server closes
		b := oauthCluster(t, e)
		s := newOAuthScaler(t, oauthTrigger(b, e), &lockedBuffer{}, options{})
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		_, err := s.Metrics(ctx)
		want := `kafka: sasl oauthbearer: oauthTokenEndpointUri "` + e.url() + `": token request failed: context deadline exceeded`
		checkWholeError(t, err, context.DeadlineExceeded, want)
		if !errors.Is(err, scalers.ErrUnavailable) {
			t.Errorf("error %v does not wrap ErrUnavailable", err)
		}
	})
	t.Run("token endpoint does not answer within the token timeout", func(t *testing.T) {
		e := startTokenEndpoint(t, 3600)
		hang := make(chan struct{})
		e.set(func(e *tokenEndpoint) { e.hang = hang })
		t.Cleanup(func() { close(hang) })
		b := oauthCluster(t, e)
		s := newOAuthScaler(t, oauthTrigger(b, e), &lockedBuffer{}, options{tokenTimeout: 300 * time.Millisecond})
		// No deadline of the caller's: the token timeout ends the wait.
		_, err := s.Metrics(context.WithoutCancel(t.Context()))
		want := `kafka: sasl oauthbearer: oauthTokenEndpointUri "` + e.url() + `": token request failed: context deadline exceeded`
		checkWholeError(t, err, context.DeadlineExceeded, want)
	})
	t.Run("broker refuses the token", func(t *testing.T) {
		e := startTokenEndpoint(t, 3600)
		b := startSASLBroker(t, saslBrokerConfig{
			Topic: "orders", Latest: []int64{30}, Group: "g",
			CheckToken: func(string) error { return errors.New("token revoked") },
		})
		logs := &lockedBuffer{}
		s := newOAuthScaler(t, oauthTrigger(b, e), logs, options{})
		_, err := s.Metrics(t.Context())
		want := "kafka: read topic metadata: SASL_AUTHENTICATION_FAILED: SASL Authentication failed.: " +
			"Authentication failed during authentication due to invalid credentials with SASL mechanism OAUTHBEARER: token revoked"
		checkWholeError(t, err, scalers.ErrUnavailable, want)
		checkNoSecrets(t, "the log", logs.String(), e)
		got := b.loginList()
		if len(got) == 0 {
			t.Fatal("the broker saw no login")
		}
		wantLogins := logins(len(got), "issued-token-1", map[string]string{})
		for i := range wantLogins {
			wantLogins[i].OK = false
		}
		if diff := cmp.Diff(wantLogins, got); diff != "" {
			t.Errorf("logins (-want +got):\n%s", diff)
		}
	})
}

// TestPlainAuthenticationFailed logs in with SASL/PLAIN to a broker that
// answers a wrong password as Kafka does: the round fails at once (no
// retries until the deadline) saying the authentication failed.
func TestPlainAuthenticationFailed(t *testing.T) {
	b := startSASLBroker(t, saslBrokerConfig{
		Topic: "orders", Latest: []int64{30, 20, 5}, Group: "g", Committed: map[int32]int64{0: 10, 1: 20},
		CheckToken: func(string) error { return errors.New("no tokens here") },
		Plain:      map[string]string{"alice": "right-password"},
	})
	md := map[string]string{"bootstrapServers": b.addr(), "consumerGroup": "g", "topic": "orders",
		"sasl": "plaintext", "username": "alice"}

	ok := newTestScaler(t, scalertest.WithKeys(md, "password", "right-password"))
	if diff := cmp.Diff(result{21, true}, resultOf(t, ok)); diff != "" {
		t.Errorf("right password round (-want +got):\n%s", diff)
	}

	wrong := newTestScaler(t, scalertest.WithKeys(md, "password", "wrong-password"))
	_, err := wrong.Metrics(t.Context())
	checkWholeError(t, err, scalers.ErrUnavailable, "kafka: read topic metadata: SASL_AUTHENTICATION_FAILED: SASL Authentication failed.: "+
		"Authentication failed: Invalid username or password")
}

// TestTokenCacheConcurrent asks for a token from many goroutines at once:
// one request reaches the endpoint, and all share its token.
func TestTokenCacheConcurrent(t *testing.T) {
	e := startTokenEndpoint(t, 3600)
	md, err := ParseMetadata(map[string]string{"bootstrapServers": "k:9092", "consumerGroup": "g",
		"sasl": "oauthbearer", "username": oauthClientID, "password": oauthClientSecret, "oauthTokenEndpointUri": e.url()})
	if err != nil {
		t.Fatal(err)
	}
	c, err := newTokenCache(md, clocktesting.NewFakePassiveClock(time.Now()), 0, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	const n = 16
	got := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			tok, err := c.Token(t.Context())
			if err != nil {
				t.Errorf("token: %v", err)
			}
			got[i] = tok
		})
	}
	wg.Wait()
	want := make([]string, n)
	for i := range want {
		want[i] = "issued-token-1"
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tokens (-want +got):\n%s", diff)
	}
	if r := e.requestCount(); r != 1 {
		t.Errorf("got %d token requests, want 1", r)
	}
}

// checkWholeError fails unless err wraps sentinel and its message is want.
func checkWholeError(t testing.TB, err, sentinel error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %q", want)
	}
	if !errors.Is(err, sentinel) {
		t.Errorf("error %q does not wrap %v", err, sentinel)
	}
	if diff := cmp.Diff(want, err.Error()); diff != "" {
		t.Errorf("error message (-want +got):\n%s", diff)
	}
}

func TestTokenLifetime(t *testing.T) {
	tests := []struct {
		name  string
		token *oauth2.Token
		want  time.Duration
	}{
		{name: "JSON expires_in", token: (&oauth2.Token{}).WithExtra(map[string]any{"expires_in": 3600.0}), want: time.Hour},
		{name: "string expires_in", token: (&oauth2.Token{}).WithExtra(map[string]any{"expires_in": "90"}), want: 90 * time.Second},
		{name: "form-encoded expires_in", token: (&oauth2.Token{}).WithExtra(url.Values{"expires_in": {"60"}}), want: time.Minute},
		{name: "none", token: (&oauth2.Token{}).WithExtra(map[string]any{}), want: 0},
		{name: "zero", token: (&oauth2.Token{}).WithExtra(map[string]any{"expires_in": 0.0}), want: 0},
		{name: "huge is capped", token: (&oauth2.Token{}).WithExtra(map[string]any{"expires_in": 1e300}), want: maxTokenLifetime},
		{name: "only an expiry", token: &oauth2.Token{Expiry: time.Now().Add(time.Hour)}, want: time.Hour},
		{name: "an expiry in the past", token: &oauth2.Token{Expiry: time.Now().Add(-time.Hour)}, want: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tokenLifetime(tc.token); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
