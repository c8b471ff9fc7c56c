package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"k8s.io/utils/clock"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// DefaultTokenTimeout bounds one token request when the caller gives no
// earlier deadline (and always when the Kafka client asks for a token while
// it opens a connection: franz-go passes no caller's context there).
const DefaultTokenTimeout = 10 * time.Second

// maxTokenLifetime caps expires_in, so a huge value cannot overflow a
// time.Duration into the past.
const maxTokenLifetime = 365 * 24 * time.Hour

// tokenCache fetches OAuth 2.0 access tokens with the client credentials
// grant (RFC 6749 section 4.4; the client id and secret are the username and
// password keys) and keeps each until shortly before it expires, so a new
// connection, a reauthentication or a round reuses the token instead of
// asking the endpoint again.
//
// It is safe for concurrent use. At most one token request is in flight:
// connections to several brokers that open at once wait for it (each within
// its own deadline) and then share its token.
type tokenCache struct {
	endpoint     string // for errors, password removed
	id, secret   scalers.Secret
	http         *http.Client
	transport    *http.Transport
	clock        clock.PassiveClock
	timeout      time.Duration
	log          *slog.Logger
	fetchSlot    chan struct{}            // holds one value while a token request runs
	conf         clientcredentials.Config // used by the holder of fetchSlot only
	mu           sync.Mutex               // guards the three below
	token        string
	renewAt      time.Time // zero with a token: it does not expire
	fetchedToken bool
}

func newTokenCache(md *Metadata, clk clock.PassiveClock, timeout time.Duration, log *slog.Logger) (*tokenCache, error) {
	// The token endpoint is verified against the system roots: the ca key
	// is the brokers' CA, which an identity provider rarely shares.
	tr, err := scalers.NewHTTPTransport(&scalers.TLSConfig{})
	if err != nil {
		return nil, err
	}
	if timeout <= 0 {
		timeout = DefaultTokenTimeout
	}
	return &tokenCache{
		endpoint: scalers.RedactURL(md.OAuthTokenEndpointURI),
		id:       md.Username,
		secret:   md.Password,
		http: &http.Client{
			Transport: tr,
			// A redirect would carry the client secret elsewhere; a token
			// endpoint has no reason to redirect.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		transport: tr,
		clock:     clk,
		timeout:   timeout,
		log:       log,
		fetchSlot: make(chan struct{}, 1),
		conf: clientcredentials.Config{
			TokenURL: md.OAuthTokenEndpointURI,
			Scopes:   md.Scopes,
		},
	}, nil
}

// cached returns the cached token while it is fresh.
func (c *tokenCache) cached() (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.fetchedToken || (!c.renewAt.IsZero() && !c.clock.Now().Before(c.renewAt)) {
		return "", false
	}
	return c.token, true
}

// Token returns a fresh access token, from the cache or from the endpoint.
// The request is bounded by ctx and by the cache's timeout. Errors never
// hold the client secret or a token.
func (c *tokenCache) Token(ctx context.Context) (string, error) {
	if tok, ok := c.cached(); ok {
		return tok, nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	select {
	case c.fetchSlot <- struct{}{}:
	case <-ctx.Done():
		return "", fmt.Errorf("oauthTokenEndpointUri %q: token request failed: waiting for the request in flight: %w", c.endpoint, ctx.Err())
	}
	defer func() { <-c.fetchSlot }()
	// Whoever held the slot may have just stored a fresh token.
	if tok, ok := c.cached(); ok {
		return tok, nil
	}

	id, err := c.id.Value()
	if err != nil {
		return "", c.id.ReadError("username", err)
	}
	secret, err := c.secret.Value()
	if err != nil {
		return "", c.secret.ReadError("password", err)
	}
	// The lifetime counts from before the request: the token cannot live
	// longer than that. conf is used only by the holder of fetchSlot, so a
	// rotated usernameFile/passwordFile is simply set for the next request.
	start := c.clock.Now()
	c.conf.ClientID, c.conf.ClientSecret = id, secret
	t, err := c.conf.Token(context.WithValue(ctx, oauth2.HTTPClient, c.http))
	if err != nil {
		return "", c.requestError(err)
	}

	var renewAt time.Time
	if life := tokenLifetime(t); life > 0 {
		// Renew a little early, so that a connection opened at the last
		// moment does not present a token that expires on the way: 10 s
		// early (oauth2's margin), or after three quarters of a short
		// lifetime (as the authModes oauth cache in package scalers does).
		renewAt = start.Add(life - min(10*time.Second, life/4))
		c.log.Debug("kafka oauthbearer token fetched", "endpoint", c.endpoint, "expiresIn", life)
	} else {
		// Without expires_in the token is kept, as oauth2 and KEDA do.
		c.log.Debug("kafka oauthbearer token fetched", "endpoint", c.endpoint, "expiresIn", "not given")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.token, c.renewAt, c.fetchedToken = t.AccessToken, renewAt, true
	return t.AccessToken, nil
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

// requestError describes a failed token request by the endpoint's answer:
// its status and RFC 6749 error code and description, never the body (which
// could echo what was sent).
func (c *tokenCache) requestError(err error) error {
	prefix := fmt.Sprintf("oauthTokenEndpointUri %q: token request failed", c.endpoint)
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		msg := prefix + ": " + re.Response.Status
		if re.ErrorCode != "" {
			msg += " (" + re.ErrorCode
			if re.ErrorDescription != "" {
				msg += ": " + strings.TrimSpace(re.ErrorDescription)
			}
			msg += ")"
		}
		return errors.New(msg)
	}
	// net/http names the URL again ("Post \"...\": ..."); keep the cause.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("%s: %w", prefix, err)
}

// close closes the idle connections to the token endpoint.
func (c *tokenCache) close() { c.transport.CloseIdleConnections() }

// oauthMechanism is SASL/OAUTHBEARER with tokens from c and the extensions
// of oauthExtensions. franz-go asks for a token at every connection and
// reauthentication; the cache answers most of them.
func oauthMechanism(c *tokenCache, extensions map[string]string, redact *scalers.Redactor) sasl.Mechanism {
	return oauth.Oauth(func(ctx context.Context) (oauth.Auth, error) {
		tok, err := c.Token(ctx)
		if err != nil {
			// franz-go logs this error and returns it from the request.
			return oauth.Auth{}, redact.Error(fmt.Errorf("sasl oauthbearer: %w", err))
		}
		return oauth.Auth{Token: tok, Extensions: extensions}, nil
	})
}
