package scalers

import (
	"net/url"
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
