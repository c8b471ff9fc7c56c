package scalers

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"k8s.io/utils/clock"
)

// TokenKeys are the metadata keys a TokenSource's settings came from, for
// its errors: each scaler type has KEDA's names for them (oauthTokenURI,
// clientID and clientSecret with authModes oauth; oauthTokenEndpointUri,
// username and password for kafka's sasl oauthbearer).
type TokenKeys struct {
	URL, ClientID, ClientSecret string
}

// TokenSourceOptions configures NewTokenSource.
type TokenSourceOptions struct {
	// TokenURL is the token endpoint, checked by the caller (see
	// ValidateHTTPURL).
	TokenURL string
	// ClientID and ClientSecret are the client's credentials. Both are read
	// at every token request, so a rotated <key>File takes effect at the
	// next one. Without a secret (unset or empty) the client id goes in the
	// form alone (RFC 8705 clients authenticate with their certificate).
	ClientID, ClientSecret Secret
	// Scopes are sent space-separated as the scope parameter; none sends
	// no scope parameter.
	Scopes []string
	// EndpointParams are extra parameters of the token request; they must
	// not set scope when Scopes does.
	EndpointParams url.Values
	// Keys name the settings in errors.
	Keys TokenKeys
	// Transport carries the token requests; nil means a transport of the
	// source's own with the system roots (NewHTTPTransport). Redirects are
	// never followed.
	Transport http.RoundTripper
	// Timeout, if positive, bounds each token request (and the wait for one
	// in flight) beside the caller's context: for callers whose context
	// has no deadline. 0 leaves the bound to the caller's context.
	Timeout time.Duration
	// Clock decides when a token is due for renewal; nil means the real
	// clock.
	Clock clock.PassiveClock
	// Redactor, if not nil, hides the caller's other secrets in the token
	// endpoint's error description (the client secret and the tokens are
	// hidden anyway).
	Redactor *Redactor
	// Logger gets a debug line for every token fetched (endpoint and
	// lifetime, never the token); nil discards it.
	Logger *slog.Logger
}

// tokenRenewal is how long before its expiry a token is renewed (the oauth2
// package's margin), so a request never carries a token that expires on
// the way; a token living less than 4*tokenRenewal is renewed after three
// quarters of its lifetime instead, so it is used at all.
const tokenRenewal = 10 * time.Second

// maxTokenLifetime caps expires_in, so a huge value cannot overflow a
// time.Duration into the past.
const maxTokenLifetime = 365 * 24 * time.Hour

// TokenSource gets OAuth2 access tokens with the client credentials grant
// (RFC 6749 section 4.4, golang.org/x/oauth2/clientcredentials) and keeps
// the current one until it is due for renewal (10 s before its expires_in,
// or after three quarters of a lifetime shorter than 40 s; a token without
// expires_in is kept) or a server refuses it (Refuse). Errors are
// *TokenError values naming the endpoint, its status and RFC 6749 error
// code, never the answer body, the client secret or a token; a secret
// file that cannot be read is named by key and path.
//
// It is safe for concurrent use: at most one token request is in flight;
// the other callers wait for it (each for as long as its own context
// allows) and then share its token. HTTPSource (authModes oauth) and
// kafka's sasl oauthbearer use it.
type TokenSource struct {
	keys      TokenKeys
	id        Secret
	secret    Secret
	client    *http.Client // to the token endpoint, without a source's credentials
	transport http.RoundTripper
	timeout   time.Duration
	clock     clock.PassiveClock
	uri       string    // TokenURL without a password, for messages
	red       *Redactor // the client secret, the tokens and the caller's
	callerRed *Redactor
	log       *slog.Logger

	// fetching is a one-slot lock held while a token is fetched; unlike a
	// mutex, waiting for it ends with the waiter's context.
	fetching chan struct{}
	cfg      clientcredentials.Config // used by the holder of fetching only

	mu      sync.Mutex
	current *oauth2.Token
	renewAt time.Time // zero: until a server refuses it
	refused string    // the token before current, still hidden by Secrets
}

// NewTokenSource returns a TokenSource; it does no I/O.
func NewTokenSource(o TokenSourceOptions) *TokenSource {
	tr := o.Transport
	if tr == nil {
		// Without TLS material NewHTTPTransport cannot fail. The token
		// endpoint is verified against the system roots: a source's CA is
		// rarely the identity provider's.
		tr, _ = NewHTTPTransport(&TLSConfig{})
	}
	clk := o.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := &TokenSource{
		keys:   o.Keys,
		id:     o.ClientID,
		secret: o.ClientSecret,
		client: &http.Client{
			Transport: tr,
			// A redirect would carry the client secret (a form parameter,
			// or a header net/http keeps for the same host) somewhere else;
			// a token endpoint has no reason to redirect.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		transport: tr,
		timeout:   o.Timeout,
		clock:     clk,
		uri:       RedactURL(o.TokenURL),
		red:       NewRedactor(o.ClientSecret),
		callerRed: o.Redactor,
		log:       log,
		fetching:  make(chan struct{}, 1),
		cfg: clientcredentials.Config{
			TokenURL:       o.TokenURL,
			Scopes:         o.Scopes,
			EndpointParams: o.EndpointParams,
		},
	}
	t.red.AddURL(o.TokenURL)
	t.red.AddFunc(t.Secrets)
	return t
}

// Token returns the current token, fetching a new one when there is none
// or it is due for renewal; the request is bounded by ctx (and the
// Timeout). fetched reports whether this call fetched it: a server that
// refuses a token fetched just now would refuse another one too.
func (t *TokenSource) Token(ctx context.Context) (tok *oauth2.Token, fetched bool, err error) {
	if tok := t.valid(); tok != nil {
		return tok, false, nil
	}
	if t.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t.timeout)
		defer cancel()
	}
	select {
	case t.fetching <- struct{}{}:
	case <-ctx.Done():
		return nil, false, t.fail(ctx.Err())
	}
	defer func() { <-t.fetching }()
	// Another caller may have fetched one while this one waited.
	if tok := t.valid(); tok != nil {
		return tok, false, nil
	}
	tok, err = t.fetch(ctx)
	if err != nil {
		return nil, false, err
	}
	return tok, true, nil
}

func (t *TokenSource) valid() *oauth2.Token {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.current == nil || (!t.renewAt.IsZero() && !t.clock.Now().Before(t.renewAt)) {
		return nil
	}
	return t.current
}

func (t *TokenSource) fetch(ctx context.Context) (*oauth2.Token, error) {
	id, err := ReadSecret(t.keys.ClientID, t.id)
	if err != nil {
		return nil, err
	}
	secret, err := ReadSecret(t.keys.ClientSecret, t.secret)
	if err != nil {
		return nil, err
	}
	t.cfg.ClientID, t.cfg.ClientSecret = id, strings.TrimSpace(secret)
	t.cfg.AuthStyle = oauth2.AuthStyleAutoDetect
	if t.cfg.ClientSecret == "" {
		// As KEDA: only client_id, in the form, with no empty password
		// in an Authorization header (RFC 8705 mTLS clients).
		t.cfg.AuthStyle = oauth2.AuthStyleInParams
	}
	// The lifetime counts from before the request: the token cannot live
	// longer than that.
	start := t.clock.Now()
	tok, err := t.cfg.Token(context.WithValue(ctx, oauth2.HTTPClient, t.client))
	if err != nil {
		return nil, t.fail(err)
	}
	var renewAt time.Time
	if life := tokenLifetime(tok); life > 0 {
		renewAt = start.Add(life - min(tokenRenewal, life/4))
		t.log.Debug("oauth2 token fetched", "endpoint", t.uri, "expiresIn", life)
	} else {
		// Without expires_in the token is kept, as oauth2 and KEDA keep it.
		t.log.Debug("oauth2 token fetched", "endpoint", t.uri, "expiresIn", "not given")
	}
	t.mu.Lock()
	if t.current != nil {
		t.refused = t.current.AccessToken
	}
	t.current, t.renewAt = tok, renewAt
	t.mu.Unlock()
	return tok, nil
}

// tokenLifetime is the expires_in of the token response, at most
// maxTokenLifetime; 0 when the endpoint gave none. It is read from the
// response itself: the Expiry oauth2 derives from it is on the real clock.
func tokenLifetime(t *oauth2.Token) time.Duration {
	var secs float64
	switch v := t.Extra("expires_in").(type) {
	case float64: // a JSON number, or a form value with a "."
		secs = v
	case int64: // a form value
		secs = float64(v)
	case string: // a JSON string (PayPal does that)
		secs, _ = strconv.ParseFloat(v, 64)
	}
	if secs <= 0 || math.IsNaN(secs) {
		if t.Expiry.IsZero() {
			return 0
		}
		// Some other shape oauth2 understood: its expiry, from now.
		secs = time.Until(t.Expiry).Round(time.Second).Seconds()
		if secs <= 0 {
			return 0
		}
	}
	if secs >= maxTokenLifetime.Seconds() {
		return maxTokenLifetime
	}
	return time.Duration(secs * float64(time.Second))
}

// Refuse drops access, which a server refused (401), unless another caller
// has replaced it already; the next Token fetches a new one.
func (t *TokenSource) Refuse(access string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.current != nil && t.current.AccessToken == access {
		t.current, t.refused = nil, access
	}
}

// Secrets returns the tokens a Redactor must hide (see Redactor.AddFunc):
// the current one and the one before it.
func (t *TokenSource) Secrets() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := []string{t.refused}
	if t.current != nil {
		out = append(out, t.current.AccessToken)
	}
	return out
}

// CloseIdleConnections closes the idle connections to the token endpoint.
func (t *TokenSource) CloseIdleConnections() {
	if ci, ok := t.transport.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// TokenError is a failure to get an OAuth2 access token. Its message names
// the key of the token endpoint, its URL (without a password) and the
// reason: the endpoint's status and RFC 6749 error code, never its answer
// body, the client secret or a token. It wraps context.Canceled or
// context.DeadlineExceeded when the request's context ended first.
type TokenError struct {
	Key    string // oauthTokenURI, oauthTokenEndpointUri, ...
	URI    string
	Reason string
	ctxErr error
}

func (e *TokenError) Error() string {
	return e.Key + " " + strconv.Quote(e.URI) + ": " + e.Reason
}

// Unwrap returns the context error, if that is what stopped the request.
func (e *TokenError) Unwrap() error { return e.ctxErr }

// fail words a failed token request as a *TokenError.
func (t *TokenSource) fail(err error) error {
	e := &TokenError{Key: t.keys.URL, URI: t.uri}
	var re *oauth2.RetrieveError
	var ue *url.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		e.Reason, e.ctxErr = "no token before the request's deadline (timeout)", context.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		e.Reason, e.ctxErr = "token request canceled", context.Canceled
	case errors.As(err, &re) && re.Response != nil:
		// The body stays out (an endpoint may echo the request); the
		// description is redacted in case it does the same.
		// The status line and the error code are the endpoint's words
		// too: redacted and cut like the description.
		say := func(s string) string { return Excerpt(t.red.String(t.callerRed.String(s))) }
		e.Reason = "the token endpoint answered " + say(re.Response.Status)
		if re.ErrorCode != "" {
			e.Reason += " (" + say(re.ErrorCode)
			if desc := strings.TrimSpace(re.ErrorDescription); desc != "" {
				e.Reason += ": " + say(desc)
			}
			e.Reason += ")"
		}
	case errors.As(err, &ue):
		// The url.Error would repeat the URL.
		e.Reason = t.red.String(ue.Err.Error())
	default:
		e.Reason = t.red.String(strings.TrimPrefix(err.Error(), "oauth2: "))
	}
	return e
}
