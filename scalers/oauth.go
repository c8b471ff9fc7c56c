package scalers

import (
	"net/url"
	"strconv"
	"strings"
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
// and clientID are required) and beyond: the URL must be one net/http can
// send to, endpointParams must parse and must not set the scope that
// scopes sets, and neither list may be longer than the limits. Errors about
// endpointParams name its parameters, never their values (an assertion or
// a resource may be secret).
func (o *OAuth) validate(lim Limits) []error {
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
	if fe := lim.CheckList("scopes", len(o.Scopes)); fe != nil {
		errs = append(errs, fe)
	}
	o.params = nil
	if o.EndpointParams != "" {
		params, err := url.ParseQuery(o.EndpointParams)
		n := 0
		for _, vs := range params {
			n += len(vs)
		}
		hidden := func(msg string) error {
			return &FieldError{Key: "endpointParams", Secret: true, Msg: msg}
		}
		switch {
		case err != nil:
			// url.ParseQuery's message quotes the bad escape, which may
			// be part of a value.
			errs = append(errs, hidden(badQuery(o.EndpointParams)))
		case lim.CheckList("endpointParams", n) != nil:
			errs = append(errs, lim.CheckList("endpointParams", n))
		case len(o.Scopes) > 0 && params.Has("scope"):
			// The oauth2 library refuses the request; say so now.
			errs = append(errs, hidden("sets scope, which the scopes key sets already; give every scope there"))
		default:
			o.params = params
		}
	}
	return errs
}

// badQuery says which parameter of raw, which url.ParseQuery refused, is
// wrong, naming it by position and name but never showing a value.
func badQuery(raw string) string {
	for i, pair := range strings.Split(raw, "&") {
		at := "parameter " + strconv.Itoa(i+1)
		name, val, _ := strings.Cut(pair, "=")
		n, err := url.QueryUnescape(name)
		switch {
		case strings.Contains(name, ";"):
			return at + `: ";" is not a separator (separate parameters with &)`
		case err != nil:
			return at + ": invalid %-escape in its name"
		}
		at += " (" + Quote(n) + ")"
		if strings.Contains(val, ";") {
			return at + `: ";" is not a separator (separate parameters with &, write a ";" in a value as %3B)`
		}
		if _, err := url.QueryUnescape(val); err != nil {
			return at + ": invalid %-escape in its value"
		}
	}
	return "not URL query syntax (expected name=value pairs separated by &, e.g. audience=api&resource=x)"
}
