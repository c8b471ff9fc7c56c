package scalers

import (
	"context"
	"errors"
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

// OAuth holds the keys of authModes oauth: the OAuth2 client credentials
// grant (RFC 6749 section 4.4), with KEDA's names. HTTPAuth embeds it; the
// keys are checked only when authModes includes oauth, and ignored
// otherwise (as KEDA ignores them).
type OAuth struct {
	// TokenURI is the token endpoint, an http:// or https:// URL.
	TokenURI string `meta:"oauthTokenURI,optional"`
	// ClientID identifies the client to the token endpoint.
	ClientID string `meta:"clientID,optional"`
	// ClientSecret authenticates it. KEDA accepts oauth without one (the
	// client may authenticate with its TLS certificate, RFC 8705, or a
	// proxy may add it), and so does this package; NewHTTPSource logs a
	// warning when there is neither a clientSecret nor authModes tls.
	ClientSecret Secret `meta:"clientSecret,secret,optional"`
	// Scopes are sent space-separated as the scope parameter; the key is a
	// comma-separated list ("scopes" or "scope").
	Scopes []string `meta:"scopes|scope,optional"`
	// EndpointParams are extra parameters of the token request, in URL
	// query syntax: "audience=api&resource=https%3A%2F%2Fx".
	EndpointParams string `meta:"endpointParams,optional"`

	params url.Values // EndpointParams, parsed by validate
}

// validate checks the keys for authModes oauth, as KEDA does (oauthTokenURI
// and clientID are required) and beyond (the URL and endpointParams must
// parse, endpointParams must not set the scope that scopes sets).
func (o *OAuth) validate() []error {
	var errs []error
	const why = "required when authModes includes oauth"
	if o.TokenURI == "" {
		errs = append(errs, &FieldError{Key: "oauthTokenURI", Missing: true, Msg: why})
	} else if err := ValidateHTTPURL("oauthTokenURI", o.TokenURI); err != nil {
		errs = append(errs, err)
	}
	if o.ClientID == "" {
		errs = append(errs, &FieldError{Key: "clientID", Missing: true, Msg: why})
	}
	o.params = nil
	if o.EndpointParams != "" {
		params, err := url.ParseQuery(o.EndpointParams)
		switch {
		case err != nil:
			errs = append(errs, NewFieldError("endpointParams", o.EndpointParams,
				"not URL query syntax (e.g. audience=api&resource=x): "+err.Error()))
		case len(o.Scopes) > 0 && params.Has("scope"):
			// The oauth2 library refuses the request; say so now.
			errs = append(errs, NewFieldError("endpointParams", o.EndpointParams,
				"scope is already set by the scopes key; give every scope there"))
		default:
			o.params = params
		}
	}
	return errs
}

// TokenError is a failure to get an OAuth2 access token from oauthTokenURI.
// Its message names the key, the URL (without a password) and the reason:
// the endpoint's status and RFC 6749 error code, never its answer body, the
// client secret or a token. It wraps context.Canceled or
// context.DeadlineExceeded when the request's context ended first.
type TokenError struct {
	URI    string
	Reason string
	ctxErr error
}

func (e *TokenError) Error() string {
	return "oauthTokenURI " + strconv.Quote(e.URI) + ": " + e.Reason
}

// Unwrap returns the context error, if that is what stopped the request.
func (e *TokenError) Unwrap() error { return e.ctxErr }

// tokenRenewal is how long before its expiry a token is renewed (the oauth2
// package's margin), so a request never carries a token that expires on
// the way; a token living less than 4*tokenRenewal is renewed after three
// quarters of its lifetime instead, so it is used at all.
const tokenRenewal = 10 * time.Second

// tokenCache gets access tokens with the client credentials grant and
// keeps the current one until it is due for renewal or a server refuses it.
// It is safe for concurrent use: one caller fetches while the others wait
// (each for as long as its own context allows) and then share the token.
type tokenCache struct {
	o      *OAuth
	client *http.Client // to the token endpoint, without the source's credentials
	clock  clock.PassiveClock
	uri    string    // TokenURI without a password, for messages
	red    *Redactor // for the endpoint's error description

	// fetching is a one-slot lock held while a token is fetched; unlike a
	// mutex, waiting for it ends with the waiter's context.
	fetching chan struct{}
	cfg      clientcredentials.Config // used by the holder of fetching only

	mu      sync.Mutex
	current *oauth2.Token
	renewAt time.Time // zero: until a server refuses it
	refused string    // the token before current, still hidden by the Redactor
}

func newTokenCache(o *OAuth, base http.RoundTripper, clk clock.PassiveClock, red *Redactor) *tokenCache {
	return &tokenCache{
		o:   o,
		red: red,
		client: &http.Client{
			Transport: base,
			// A redirect would carry the client secret (a form parameter,
			// or a header net/http keeps for the same host) somewhere else;
			// a token endpoint has no reason to redirect.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		clock:    clk,
		uri:      RedactURL(o.TokenURI),
		fetching: make(chan struct{}, 1),
		cfg: clientcredentials.Config{
			ClientID:       o.ClientID,
			TokenURL:       o.TokenURI,
			Scopes:         o.Scopes,
			EndpointParams: o.params,
		},
	}
}

// token returns the current token, fetching a new one (bounded by ctx)
// when there is none or it is due for renewal. fetched reports whether
// this call fetched it.
func (c *tokenCache) token(ctx context.Context) (tok *oauth2.Token, fetched bool, err error) {
	if t := c.valid(); t != nil {
		return t, false, nil
	}
	select {
	case c.fetching <- struct{}{}:
	case <-ctx.Done():
		return nil, false, c.fail(ctx.Err())
	}
	defer func() { <-c.fetching }()
	// Another caller may have fetched one while this one waited.
	if t := c.valid(); t != nil {
		return t, false, nil
	}
	t, err := c.fetch(ctx)
	if err != nil {
		return nil, false, err
	}
	return t, true, nil
}

func (c *tokenCache) valid() *oauth2.Token {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.current == nil || (!c.renewAt.IsZero() && !c.clock.Now().Before(c.renewAt)) {
		return nil
	}
	return c.current
}

func (c *tokenCache) fetch(ctx context.Context) (*oauth2.Token, error) {
	secret, err := readSecret(c.o.ClientSecret, "clientSecret")
	if err != nil {
		return nil, err
	}
	c.cfg.ClientSecret = strings.TrimSpace(secret)
	c.cfg.AuthStyle = oauth2.AuthStyleAutoDetect
	if c.cfg.ClientSecret == "" {
		// As KEDA: only client_id, in the form, with no empty password
		// in an Authorization header (RFC 8705 mTLS clients).
		c.cfg.AuthStyle = oauth2.AuthStyleInParams
	}
	start := c.clock.Now()
	tok, err := c.cfg.Token(context.WithValue(ctx, oauth2.HTTPClient, c.client))
	if err != nil {
		return nil, c.fail(err)
	}
	var renewAt time.Time
	if !tok.Expiry.IsZero() {
		// oauth2 sets Expiry from the wall clock and expires_in; the
		// lifetime is counted on c.clock from the request's start.
		life := time.Until(tok.Expiry)
		renewAt = start.Add(life - min(tokenRenewal, life/4))
	}
	c.mu.Lock()
	if c.current != nil {
		c.refused = c.current.AccessToken
	}
	c.current, c.renewAt = tok, renewAt
	c.mu.Unlock()
	return tok, nil
}

// refuse drops access, which a server answered with 401, unless another
// caller has replaced it already.
func (c *tokenCache) refuse(access string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.current != nil && c.current.AccessToken == access {
		c.current, c.refused = nil, access
	}
}

// secrets returns the tokens a Redactor hides: the current one and the one
// before it.
func (c *tokenCache) secrets() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := []string{c.refused}
	if c.current != nil {
		out = append(out, c.current.AccessToken)
	}
	return out
}

// fail words a failed token request as a *TokenError.
func (c *tokenCache) fail(err error) error {
	e := &TokenError{URI: c.uri}
	var re *oauth2.RetrieveError
	var ue *url.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		e.Reason, e.ctxErr = "no token before the request's deadline (timeout)", context.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		e.Reason, e.ctxErr = "token request canceled", context.Canceled
	case errors.As(err, &re):
		// The body stays out (an endpoint may echo the request); the
		// description is redacted in case it does the same.
		e.Reason = "the token endpoint answered " + re.Response.Status
		if re.ErrorCode != "" {
			e.Reason += " (" + re.ErrorCode
			if re.ErrorDescription != "" {
				e.Reason += ": " + c.red.String(re.ErrorDescription)
			}
			e.Reason += ")"
		}
	case errors.As(err, &ue):
		// The url.Error would repeat the URL.
		e.Reason = ue.Err.Error()
	default:
		e.Reason = strings.TrimPrefix(err.Error(), "oauth2: ")
	}
	return e
}
