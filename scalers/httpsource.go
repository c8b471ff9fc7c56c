package scalers

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"golang.org/x/net/http/httpguts"
	"k8s.io/utils/clock"
)

const (
	// DefaultHTTPTimeout is KEDA's default HTTP timeout
	// (KEDA_HTTP_DEFAULT_TIMEOUT, 3000 ms), which DefaultSourceTimeout
	// equals: what bounds one request of an HTTP source whose timeout key
	// is absent or 0, unless the server sets another default (Timeouts).
	DefaultHTTPTimeout = 3 * time.Second
	// MaxHTTPAnswerBytes caps one answer of an HTTP source: more is an
	// error rather than a memory spike.
	MaxHTTPAnswerBytes = 10 << 20
)

// ValidateHTTPURL checks raw, the value of key, as the address of an HTTP
// source: an http:// or https:// URL with a host that net/http can send a
// request to (a valid host name, a port from 1 to 65535), so that nothing
// about the address fails later, at the first request. The error shows the
// URL with its user info hidden (RedactURL), whether it parses or not.
func ValidateHTTPURL(key, raw string) error {
	shown := RedactURL(raw)
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return NewFieldError(key, shown, "not a URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return NewFieldError(key, shown, "expected an http:// or https:// URL")
	case u.Hostname() == "":
		return NewFieldError(key, shown, "URL has no host")
	}
	if p := u.Port(); p != "" {
		// url.Parse takes any digits; the dialer refuses what is not a
		// port, at every request.
		if n, err := strconv.ParseUint(p, 10, 16); err != nil || n == 0 {
			return NewFieldError(key, shown, "port "+Quote(p)+": expected 1..65535")
		}
	}
	// What net/http checks before it sends a request.
	if h, err := httpguts.PunycodeHostPort(u.Host); err != nil || !httpguts.ValidHostHeader(h) {
		return NewFieldError(key, shown, "host "+Quote(u.Hostname())+": not a valid host name")
	}
	return nil
}

// HTTPSourceOptions configures NewHTTPSource.
type HTTPSourceOptions struct {
	// URL is the source's address, checked with ValidateHTTPURL; only
	// requests to its host get the credentials.
	URL string
	// Auth holds the credentials and the TLS settings. It is read on every
	// request, so rotated secret files take effect.
	Auth *HTTPAuth
	// Transport replaces the HTTP transport (tests and fuzzing use an
	// in-memory one); nil means a new transport with the TLS settings of
	// Auth (NewHTTPTransport). OAuth2 token requests use it too.
	Transport http.RoundTripper
	// Edit, if not nil, changes each request to the source's host (a copy
	// of it) before the credentials are added: query parameters or headers
	// a scaler sends.
	Edit func(*http.Request)
	// Clock decides when a cached OAuth2 token is due for renewal; nil
	// means the real clock.
	Clock clock.PassiveClock
	// Logger gets the warning about authModes oauth without a client
	// secret and the TokenSource's debug lines; nil discards them.
	Logger *slog.Logger
}

// HTTPSource is what the scalers reading an HTTP source (prometheus,
// metrics-api, rabbitmq's management API) share: a transport of their own, kept for the scaler's
// lifetime so connections are reused between polls, that adds the
// credentials of HTTPAuth to requests for the source's host only (so a
// redirect elsewhere never carries them: net/http would forward a custom
// header such as X-API-KEY), and a Redactor for those credentials and the
// password of the URL.
//
// With authModes oauth it gets an access token from oauthTokenURI with a
// TokenSource (through the same base transport, so ca, cert and unsafeSsl
// apply) and sends it as the Authorization header. The token request is
// part of the request that needs it, bounded by that request's context.
// The token is cached until it is due for renewal (see TokenSource). When
// the source answers 401 Unauthorized to a cached token, the token is
// dropped and the request is sent once more with a new one; a request
// whose token was fetched for it is not retried. The Redactor also hides
// the current token and the one before it.
type HTTPSource struct {
	// Transport sends requests to the source, with the credentials.
	Transport http.RoundTripper
	// Redactor hides every credential of Auth and the URL's password.
	Redactor *Redactor

	base http.RoundTripper
}

// NewHTTPSource builds the transport and the Redactor of o; it does no
// I/O. An error (bad TLS material) wraps ErrInvalidConfig and holds no
// secret.
func NewHTTPSource(o HTTPSourceOptions) (*HTTPSource, error) {
	red := NewRedactor(o.Auth.Secrets()...)
	red.AddURL(o.URL)
	base := o.Transport
	if base == nil {
		t, err := NewHTTPTransport(&o.Auth.TLS)
		if err != nil {
			return nil, red.Error(Invalid(err))
		}
		base = t
	}
	u, _ := url.Parse(o.URL) // checked by ValidateHTTPURL
	st := &sourceTransport{next: base, host: u.Host, auth: o.Auth, edit: o.Edit}
	if o.Auth.Enabled(AuthModeOAuth) {
		oa := &o.Auth.OAuth
		st.tokens = NewTokenSource(TokenSourceOptions{
			TokenURL:       oa.TokenURI,
			ClientID:       NewSecret(oa.ClientID),
			ClientSecret:   oa.ClientSecret,
			Scopes:         oa.Scopes,
			EndpointParams: oa.params,
			Keys:           TokenKeys{URL: "oauthTokenURI", ClientID: "clientID", ClientSecret: "clientSecret"},
			Transport:      base,
			Clock:          o.Clock,
			Redactor:       red,
			Logger:         o.Logger,
		})
		red.AddURL(oa.TokenURI)
		red.AddFunc(st.tokens.Secrets)
		for _, vs := range oa.params {
			red.AddLongValues(vs...)
		}
		if !o.Auth.OAuth.ClientSecret.IsSet() && !o.Auth.Enabled(AuthModeTLS) && o.Logger != nil {
			// KEDA accepts this and warns likewise: the client is then
			// known by its clientID alone, unless a proxy authenticates it.
			o.Logger.Warn("authModes oauth without clientSecret and without authModes tls: the token request authenticates the client by clientID alone")
		}
	}
	return &HTTPSource{Transport: &protocolCheck{next: st}, Redactor: red, base: base}, nil
}

// CloseIdleConnections closes the idle connections of the transport.
func (s *HTTPSource) CloseIdleConnections() {
	if ci, ok := s.base.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// Close closes the idle connections; it is the Release of a scaler built
// with NewSingle, and never fails. Requests may still be sent after it.
func (s *HTTPSource) Close() error {
	s.CloseIdleConnections()
	return nil
}

// sourceTransport edits requests to host and adds the credentials.
type sourceTransport struct {
	next   http.RoundTripper
	host   string
	auth   *HTTPAuth
	edit   func(*http.Request)
	tokens *TokenSource // nil without authModes oauth
}

func (t *sourceTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host != t.host || (t.edit == nil && len(t.auth.Modes) == 0) {
		return t.next.RoundTrip(req)
	}
	r, token, fetched, err := t.prepare(req, req.Body)
	if err != nil {
		closeBody(req.Body)
		return nil, err
	}
	resp, err := t.next.RoundTrip(r)
	if err != nil || resp.StatusCode != http.StatusUnauthorized || token == "" {
		return resp, err
	}
	// The source refused a token before its expiry: revoked, or its
	// signing keys changed. The next request must not carry it.
	t.tokens.Refuse(token)
	if fetched {
		// A token fetched just now is refused: another one would be too.
		return resp, nil
	}
	body, ok := rewind(req)
	if !ok {
		return resp, nil
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if r, token, _, err = t.prepare(req, body); err != nil {
		closeBody(body)
		return nil, err
	}
	resp, err = t.next.RoundTrip(r)
	if err == nil && resp.StatusCode == http.StatusUnauthorized {
		t.tokens.Refuse(token)
	}
	return resp, err
}

// prepare returns a copy of req with body (a RoundTripper must not modify
// the caller's request), edited and with the credentials, and the OAuth2
// access token it carries ("" without oauth).
func (t *sourceTransport) prepare(req *http.Request, body io.ReadCloser) (r *http.Request, token string, fetched bool, err error) {
	r = req.Clone(req.Context())
	r.Body = body
	if t.edit != nil {
		t.edit(r)
	}
	if err := t.auth.Apply(r); err != nil {
		return nil, "", false, err
	}
	if t.tokens == nil {
		return r, "", false, nil
	}
	tok, fetched, err := t.tokens.Token(req.Context())
	if err != nil {
		return nil, "", false, err
	}
	tok.SetAuthHeader(r)
	return r, tok.AccessToken, fetched, nil
}

// protocolCheck recognises the answer of an HTTPS server to a plain HTTP
// request, a 400 that the scaler would otherwise report as "client error:
// 400" or a malformed answer, and says what is wrong.
type protocolCheck struct {
	next http.RoundTripper
}

// httpsAnswers are what servers say to plain HTTP on their TLS port (Go,
// nginx, Apache).
var httpsAnswers = [][]byte{
	[]byte("Client sent an HTTP request to an HTTPS server"),
	[]byte("The plain HTTP request was sent to HTTPS port"),
	[]byte("speaking plain HTTP to an SSL-enabled server port"),
}

func (t *protocolCheck) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil || req.URL.Scheme != "http" || resp.StatusCode != http.StatusBadRequest {
		return resp, err
	}
	head := make([]byte, 512)
	n, _ := io.ReadFull(resp.Body, head)
	head = head[:n]
	for _, a := range httpsAnswers {
		if bytes.Contains(head, a) {
			_ = resp.Body.Close()
			return nil, errors.New("the server speaks HTTPS (it answered 400 Bad Request to plain HTTP): use https://")
		}
	}
	resp.Body = readCloser{Reader: io.MultiReader(bytes.NewReader(head), resp.Body), Closer: resp.Body}
	return resp, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

// rewind returns a new copy of req's body for sending it again.
func rewind(req *http.Request) (io.ReadCloser, bool) {
	if req.Body == nil || req.Body == http.NoBody {
		return req.Body, true
	}
	if req.GetBody == nil {
		return nil, false
	}
	body, err := req.GetBody()
	return body, err == nil
}

func closeBody(b io.ReadCloser) {
	if b != nil {
		_ = b.Close()
	}
}
