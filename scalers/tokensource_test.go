package scalers

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
)

// kafkaKeys are key names other than authModes oauth's, to show that the
// errors use the names they are given.
var kafkaKeys = TokenKeys{URL: "oauthTokenEndpointUri", ClientID: "username", ClientSecret: "password"}

// fileSecret writes content to a new file and returns it as a Secret.
func fileSecret(tb testing.TB, content string) (Secret, string) {
	tb.Helper()
	dir := tb.TempDir()
	path := filepath.Join(dir, "secret")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
	s, err := NewFileSecret(path, allowDirs(tb, dir))
	if err != nil {
		tb.Fatal(err)
	}
	return s, path
}

func TestTokenSourceErrorsNameTheirKeys(t *testing.T) {
	tokens := newTokens(t, 3600)
	idGone, idPath := fileSecret(t, "scaler")
	secretGone, secretPath := fileSecret(t, "client-secret-1")
	for _, p := range []string{idPath, secretPath} {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name       string
		id, secret Secret
		want       string
	}{
		{name: "refused: the secret the endpoint echoes is redacted", id: NewSecret("scaler"), secret: NewSecret("wrong-secret-77"),
			want: `oauthTokenEndpointUri "` + tokens.URL + `": the token endpoint answered 401 Unauthorized (invalid_client: client authentication failed (got [redacted]))`},
		{name: "client id file gone", id: idGone, secret: NewSecret("client-secret-1"),
			want: `usernameFile "` + idPath + `": cannot read: no such file or directory`},
		{name: "client secret file gone", id: NewSecret("scaler"), secret: secretGone,
			want: `passwordFile "` + secretPath + `": cannot read: no such file or directory`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := NewTokenSource(TokenSourceOptions{TokenURL: tokens.URL, ClientID: tc.id, ClientSecret: tc.secret, Keys: kafkaKeys})
			t.Cleanup(ts.CloseIdleConnections)
			_, _, err := ts.Token(t.Context())
			scalertest.CheckMessage(t, err, tc.want)
			if errors.Is(err, ErrInvalidConfig) {
				t.Errorf("error %q is an ErrInvalidConfig: it may work at the next call", err)
			}
		})
	}
}

// TestTokenSourceRereadsCredentials: the client id and secret are read at
// every token request, so rotated files take effect at the next one.
func TestTokenSourceRereadsCredentials(t *testing.T) {
	tokens := newTokens(t, 0)
	id, idPath := fileSecret(t, "scaler\n")
	secret, secretPath := fileSecret(t, "client-secret-1\n")
	ts := NewTokenSource(TokenSourceOptions{TokenURL: tokens.URL, ClientID: id, ClientSecret: secret, Keys: kafkaKeys})
	t.Cleanup(ts.CloseIdleConnections)
	tok, fetched, err := ts.Token(t.Context())
	if err != nil || !fetched || tok.AccessToken != "access-token-1" {
		t.Fatalf("first token: got %v, fetched %v, error %v; want access-token-1, fetched", tok, fetched, err)
	}
	if err := os.WriteFile(idPath, []byte("scaler-2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(secretPath, []byte("client-secret-22\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ts.Refuse("access-token-1")
	// The endpoint knows the old credentials only: it refuses the new ones.
	_, _, err = ts.Token(t.Context())
	scalertest.CheckMessage(t, err, `oauthTokenEndpointUri "`+tokens.URL+`": the token endpoint answered 401 Unauthorized (invalid_client: client authentication failed (got [redacted]))`)
	want := []scalertest.TokenRequest{
		{InHeader: true, Form: url.Values{"grant_type": {"client_credentials"}, "client_id": {"scaler"}, "client_secret": {"client-secret-1"}}},
		{InHeader: true, Form: url.Values{"grant_type": {"client_credentials"}, "client_id": {"scaler-2"}, "client_secret": {"client-secret-22"}}},
		// Refused in the header, oauth2 tries the form (RFC 6749 2.3.1).
		{Form: url.Values{"grant_type": {"client_credentials"}, "client_id": {"scaler-2"}, "client_secret": {"client-secret-22"}}},
	}
	if diff := cmp.Diff(want, tokens.Requests()); diff != "" {
		t.Errorf("token requests (-want +got):\n%s", diff)
	}
}

// TestTokenSourceTimeout: with a Timeout, a token request ends in time even
// when the caller's context has no deadline, and so does a wait for the
// request in flight.
func TestTokenSourceTimeout(t *testing.T) {
	tokens := newTokens(t, 3600)
	tokens.Stall(true)
	ts := NewTokenSource(TokenSourceOptions{TokenURL: tokens.URL, ClientID: NewSecret("scaler"), ClientSecret: NewSecret("client-secret-1"),
		Keys: kafkaKeys, Timeout: 200 * time.Millisecond})
	t.Cleanup(ts.CloseIdleConnections)
	want := `oauthTokenEndpointUri "` + tokens.URL + `": no token before the request's deadline (timeout)`
	scalertest.Concurrently(t, 2, 1, func() error {
		_, _, err := ts.Token(context.WithoutCancel(t.Context()))
		var te *TokenError
		if !errors.As(err, &te) || !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("got %v, want a *TokenError wrapping context.DeadlineExceeded", err)
		}
		if diff := cmp.Diff(want, err.Error()); diff != "" {
			return fmt.Errorf("error message (-want +got):\n%s", diff)
		}
		return nil
	})
	if n := len(tokens.Requests()); n > 2 {
		t.Errorf("%d token requests, want at most one per caller", n)
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
