package scalertest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TokenServerOptions configure a TokenServer.
type TokenServerOptions struct {
	// ClientID and ClientSecret are the credentials it accepts, in an
	// Authorization: Basic header or as form parameters (RFC 6749 2.3.1).
	ClientID, ClientSecret string
	// ExpiresIn is the expires_in of every token, in seconds; 0 leaves it
	// out (a token without expiry).
	ExpiresIn int
}

// TokenRequest is what a TokenServer received in one request.
type TokenRequest struct {
	// Form holds the form parameters, with client_id and client_secret of
	// an Authorization header folded in.
	Form url.Values
	// InHeader reports whether the credentials came in the Authorization
	// header.
	InHeader bool
}

// TokenServer is an OAuth2 token endpoint of the client credentials grant
// on a loopback httptest server. It issues access-token-1, access-token-2,
// ... and records every request. A resource server in the test (a proxy
// in front of Prometheus, say) asks Valid whether a token is the current
// one and not revoked. It is safe for concurrent use.
type TokenServer struct {
	// URL is the token endpoint.
	URL string

	opts TokenServerOptions
	mu   sync.Mutex
	reqs []TokenRequest
	n    int
	// current is the last token issued; revoked says Revoke was called
	// since.
	current string
	revoked bool
	stall   bool
}

// NewTokenServer starts a token endpoint and closes it in tb.Cleanup.
func NewTokenServer(tb testing.TB, opts TokenServerOptions) *TokenServer {
	tb.Helper()
	s := &TokenServer{opts: opts}
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	tb.Cleanup(srv.Close)
	s.URL = srv.URL + "/oauth2/token"
	return s
}

func (s *TokenServer) serve(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		tokenError(w, http.StatusBadRequest, "invalid_request", "the form does not parse")
		return
	}
	req := TokenRequest{Form: r.PostForm}
	if user, pass, ok := r.BasicAuth(); ok {
		// RFC 6749 2.3.1: form-encoded, then Basic.
		id, _ := url.QueryUnescape(user)
		secret, _ := url.QueryUnescape(pass)
		req.Form.Set("client_id", id)
		req.Form.Set("client_secret", secret)
		req.InHeader = true
	}
	s.mu.Lock()
	s.reqs = append(s.reqs, req)
	stall := s.stall
	s.mu.Unlock()
	if stall {
		<-r.Context().Done()
		return
	}
	switch {
	case r.Method != http.MethodPost || req.Form.Get("grant_type") != "client_credentials":
		tokenError(w, http.StatusBadRequest, "unsupported_grant_type", "only client_credentials")
		return
	case req.Form.Get("client_id") != s.opts.ClientID || req.Form.Get("client_secret") != s.opts.ClientSecret:
		// The answer echoes the secret it got, as a careless endpoint
		// might: a client must not repeat answer bodies.
		tokenError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed (got "+req.Form.Get("client_secret")+")")
		return
	}
	s.mu.Lock()
	s.n++
	s.current, s.revoked = "access-token-"+strconv.Itoa(s.n), false
	answer := map[string]any{"access_token": s.current, "token_type": "bearer"}
	s.mu.Unlock()
	if s.opts.ExpiresIn != 0 {
		answer["expires_in"] = s.opts.ExpiresIn
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(answer)
}

func tokenError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

// Requests returns the requests received so far.
func (s *TokenServer) Requests() []TokenRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]TokenRequest(nil), s.reqs...)
}

// Issued returns how many tokens were issued.
func (s *TokenServer) Issued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// Valid reports whether token is the last one issued and not revoked.
func (s *TokenServer) Valid(token string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return token != "" && token == s.current && !s.revoked
}

// Revoke makes the current token invalid (Valid reports false for it)
// until a new one is issued.
func (s *TokenServer) Revoke() {
	s.mu.Lock()
	s.revoked = true
	s.mu.Unlock()
}

// Stall makes the endpoint answer nothing until the client gives up (its
// context ends), or answer again.
func (s *TokenServer) Stall(on bool) {
	s.mu.Lock()
	s.stall = on
	s.mu.Unlock()
}

// BearerToken returns the token of an "Authorization: Bearer <token>"
// header of r, or "".
func BearerToken(r *http.Request) string {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return tok
}

// CheckMessage fails unless err is an error whose whole message is want,
// showing the difference: for messages that are part of a contract
// (metadata errors that name key, value and expectation; token errors).
func CheckMessage(tb testing.TB, err error, want string) {
	tb.Helper()
	if err == nil {
		tb.Fatalf("got no error, want %q", want)
	}
	if diff := cmp.Diff(want, err.Error()); diff != "" {
		tb.Errorf("error message (-want +got):\n%s", diff)
	}
}
