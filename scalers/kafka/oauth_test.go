package kafka

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

const (
	oauthClientID     = "hpa-autoscaler"
	oauthClientSecret = "cl13nt-s3cr3t-value"
)

// startTokenEndpoint is an OAuth 2.0 token endpoint for the client
// credentials grant that accepts oauthClientID and oauthClientSecret and
// issues access-token-1, access-token-2, ... with expiresIn.
func startTokenEndpoint(t testing.TB, expiresIn int) *scalertest.TokenServer {
	t.Helper()
	return scalertest.NewTokenServer(t, scalertest.TokenServerOptions{
		ClientID: oauthClientID, ClientSecret: oauthClientSecret, ExpiresIn: expiresIn,
	})
}

// issuedTokens returns the tokens e issued so far.
func issuedTokens(e *scalertest.TokenServer) []string {
	out := make([]string, e.Issued())
	for i := range out {
		out[i] = "access-token-" + strconv.Itoa(i+1)
	}
	return out
}

// checkIssued is a saslBroker CheckToken: the token must be one e issued
// (connections logged in before a renewal keep the token they presented).
func checkIssued(e *scalertest.TokenServer) func(token string) error {
	return func(token string) error {
		if slices.Contains(issuedTokens(e), token) {
			return nil
		}
		return errors.New("the token was not issued by the identity provider")
	}
}

// tokenRequest is the form of a token request with the client
// credentials in the Authorization header and the scope parameter given
// (none for "").
func tokenRequest(scope string) scalertest.TokenRequest {
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {oauthClientID}, "client_secret": {oauthClientSecret}}
	if scope != "" {
		form.Set("scope", scope)
	}
	return scalertest.TokenRequest{Form: form, InHeader: true}
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
func oauthCluster(t testing.TB, e *scalertest.TokenServer) *saslBroker {
	t.Helper()
	return startSASLBroker(t, saslBrokerConfig{
		Topic: "orders", Latest: []int64{30, 20, 5},
		Group: "g", Committed: map[int32]int64{0: 10, 1: 20},
		CheckToken: checkIssued(e),
	})
}

// oauthTrigger is the metadata of an oauthbearer trigger against b and e,
// with the keys of kv set (an empty value deletes the key).
func oauthTrigger(b *saslBroker, e *scalertest.TokenServer, kv ...string) map[string]string {
	md := map[string]string{
		"bootstrapServers": b.addr(), "consumerGroup": "g", "topic": "orders",
		"sasl": "oauthbearer", "username": oauthClientID, "password": oauthClientSecret,
		"oauthTokenEndpointUri": e.URL,
	}
	return scalertest.WithKeys(md, kv...)
}

// newOAuthScaler builds a scaler with a debug log into logs and the given
// clock (nil: the real one).
func newOAuthScaler(t testing.TB, md map[string]string, logs *lockedBuffer, o options) *Scaler {
	t.Helper()
	if o.metadataAge == 0 {
		o.metadataAge = DefaultMetadataAge
	}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := newScaler(t.Context(), scalers.Config{Type: Type, Metadata: md, Logger: log, SecretFiles: secretFiles(t, md)}, o)
	if err != nil {
		t.Fatalf("new scaler: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// checkNoSecrets fails if the client secret or an issued token is in text.
func checkNoSecrets(t testing.TB, what, text string, e *scalertest.TokenServer) {
	t.Helper()
	for _, secret := range append([]string{oauthClientSecret}, issuedTokens(e)...) {
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
	if n := len(e.Requests()); n != 0 {
		t.Errorf("got %d token requests when the scaler was created, want none before the first round", n)
	}

	for round := range 3 {
		if diff := cmp.Diff(result{21, true}, resultOf(t, s)); diff != "" {
			t.Errorf("round %d (-want +got):\n%s", round, diff)
		}
	}
	if diff := cmp.Diff([]scalertest.TokenRequest{tokenRequest("kafka lag:read")}, e.Requests()); diff != "" {
		t.Errorf("token requests (-want +got):\n%s", diff)
	}
	got := b.loginList()
	if len(got) == 0 {
		t.Fatal("the broker saw no login")
	}
	want := logins(len(got), "access-token-1", map[string]string{"logicalCluster": "lkc-1", "identityPoolId": "pool-2"})
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
		if diff := cmp.Diff(wantIssued, issuedTokens(e)); diff != "" {
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
	one, two := []string{"access-token-1"}, []string{"access-token-1", "access-token-2"}
	step("first round", 0, false, one, "access-token-1")
	step("new connections at 49s reuse the token", 49*time.Second, true, one, "access-token-1")
	step("at 51s the round renews it", 2*time.Second, false, two, "")
	step("new connections present the new token", 0, true, two, "access-token-2")
	step("and keep it until it is due", 40*time.Second, true, two, "access-token-2")
	if n := len(e.Requests()); n != 2 {
		t.Errorf("got %d token requests, want 2", n)
	}
}

// TestOAuthBearerFailures covers a token endpoint that refuses the client,
// one that does not answer, and a broker that refuses the token: each
// round fails at once with the reason, which shows neither the client
// secret nor a token.
func TestOAuthBearerFailures(t *testing.T) {
	t.Run("token endpoint refuses the client", func(t *testing.T) {
		// The endpoint knows another secret; its answer echoes the one it
		// got, which the error must not repeat.
		e := scalertest.NewTokenServer(t, scalertest.TokenServerOptions{ClientID: oauthClientID, ClientSecret: "another-secret"})
		b := oauthCluster(t, e)
		logs := &lockedBuffer{}
		s := newOAuthScaler(t, oauthTrigger(b, e), logs, options{})
		_, err := s.Metrics(t.Context())
		want := `kafka: sasl oauthbearer: oauthTokenEndpointUri "` + e.URL + `": the token endpoint answered 401 Unauthorized (invalid_client: client authentication failed (got [redacted]))`
		checkWholeError(t, err, scalers.ErrUnavailable, want)
		checkNoSecrets(t, "the log", logs.String(), e)
		if got := b.loginList(); len(got) != 0 {
			t.Errorf("got logins %+v, want none without a token", got)
		}
	})
	t.Run("token endpoint does not answer within the caller's deadline", func(t *testing.T) {
		e := startTokenEndpoint(t, 3600)
		e.Stall(true)
		b := oauthCluster(t, e)
		s := newOAuthScaler(t, oauthTrigger(b, e), &lockedBuffer{}, options{})
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		_, err := s.Metrics(ctx)
		want := `kafka: sasl oauthbearer: oauthTokenEndpointUri "` + e.URL + `": no token before the request's deadline (timeout)`
		checkWholeError(t, err, context.DeadlineExceeded, want)
		if !errors.Is(err, scalers.ErrUnavailable) {
			t.Errorf("error %v does not wrap ErrUnavailable", err)
		}
	})
	t.Run("token endpoint does not answer within the token timeout", func(t *testing.T) {
		e := startTokenEndpoint(t, 3600)
		e.Stall(true)
		b := oauthCluster(t, e)
		s := newOAuthScaler(t, oauthTrigger(b, e), &lockedBuffer{}, options{tokenTimeout: 300 * time.Millisecond})
		// No deadline of the caller's: the token timeout ends the wait.
		_, err := s.Metrics(context.WithoutCancel(t.Context()))
		want := `kafka: sasl oauthbearer: oauthTokenEndpointUri "` + e.URL + `": no token before the request's deadline (timeout)`
		checkWholeError(t, err, context.DeadlineExceeded, want)
	})
	t.Run("password file gone", func(t *testing.T) {
		e := startTokenEndpoint(t, 3600)
		b := oauthCluster(t, e)
		path := filepath.Join(t.TempDir(), "client-secret")
		if err := os.WriteFile(path, []byte(oauthClientSecret+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		md := oauthTrigger(b, e, "passwordFile", path, "password", "")
		s := newOAuthScaler(t, md, &lockedBuffer{}, options{})
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		_, err := s.Metrics(t.Context())
		want := `kafka: sasl oauthbearer: passwordFile "` + path + `": cannot read: no such file or directory`
		checkWholeError(t, err, scalers.ErrUnavailable, want)
		if errors.Is(err, scalers.ErrInvalidConfig) {
			t.Errorf("error %q is an ErrInvalidConfig: the file may be back at the next round", err)
		}
		if n := len(e.Requests()); n != 0 {
			t.Errorf("got %d token requests, want none without a secret", n)
		}
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
		want := `kafka: SASL login as "` + oauthClientID + `" failed: SASL_AUTHENTICATION_FAILED: ` +
			"Authentication failed during authentication due to invalid credentials with SASL mechanism OAUTHBEARER: token revoked"
		checkWholeError(t, err, scalers.ErrUnavailable, want)
		checkNoSecrets(t, "the log", logs.String(), e)
		got := b.loginList()
		if len(got) == 0 {
			t.Fatal("the broker saw no login")
		}
		wantLogins := logins(len(got), "access-token-1", map[string]string{})
		for i := range wantLogins {
			wantLogins[i].OK = false
		}
		if diff := cmp.Diff(wantLogins, got); diff != "" {
			t.Errorf("logins (-want +got):\n%s", diff)
		}
	})
}

// TestPlainAuthenticationFailed logs in with SASL/PLAIN to a broker that
// answers a wrong password as Kafka does: the round fails at once (not at
// its bound) saying that the login failed, as whom, and the broker's
// reason, without the password.
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

	wrong := newBoundedScaler(t, scalertest.WithKeys(md, "password", "wrong-password"))
	for i := range 2 { // a refused login is asked again at the next call: no backoff
		took, err := callBounded(t, wrong)
		t.Logf("call %d: %s (bound %s): %v", i+1, took.Round(time.Millisecond), wrong.bound, err)
		checkWholeError(t, err, scalers.ErrUnavailable,
			`kafka: SASL login as "alice" failed: SASL_AUTHENTICATION_FAILED: Authentication failed: Invalid username or password`)
		if errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("call %d: error %q: the call ran until its bound, want it to end with the refusal", i+1, err)
		}
	}
	var refused int
	for _, l := range b.loginList() {
		if l.User == "alice" && !l.OK {
			refused++
		}
	}
	if refused < 2 {
		t.Errorf("the broker refused %d logins, want one per call at least (2)", refused)
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
