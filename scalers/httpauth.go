package scalers

import (
	"errors"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"
)

// The values of KEDA's authModes key (pkg/scalers/authentication there).
const (
	AuthModeBasic  = "basic"
	AuthModeBearer = "bearer"
	AuthModeTLS    = "tls"
	AuthModeCustom = "custom"
	AuthModeAPIKey = "apiKey"
	AuthModeOAuth  = "oauth"
)

var (
	knownAuthModes = []string{AuthModeAPIKey, AuthModeBasic, AuthModeTLS, AuthModeBearer, AuthModeCustom, AuthModeOAuth}
	// At most one of these may be given, as in KEDA: each sets Authorization.
	exclusiveAuthModes = []string{AuthModeBearer, AuthModeBasic, AuthModeOAuth}
)

// HTTPAuth holds the authentication keys that KEDA's HTTP based scalers
// (prometheus, metrics-api, ...) share. Scalers embed it as an untagged
// field, so ParseMetadata fills it from the same metadata map, and call
// Allow with the modes they implement before ParseMetadata.
//
// KEDA resolves a TriggerAuthentication's secretTargetRef parameters only for
// its built-in scalers; an external scaler receives the trigger metadata
// alone. So every credential here is a Secret read from the metadata: inline
// (rarely wise), <key>FromEnv (KEDA resolves the env var of the scale
// target's container before calling us) or <key>File (a file mounted into
// this server, re-read when it changes).
//
// Modes combine (for example "apiKey,tls"); bearer, basic and oauth exclude
// each other because each sets the Authorization header. Apply adds the
// credentials of every mode but oauth, whose tokens HTTPSource fetches and
// caches.
type HTTPAuth struct {
	Modes            []string `meta:"authModes|authMode,optional"`
	Username         Secret   `meta:"username,secret,optional"`
	Password         Secret   `meta:"password,secret,optional"`
	BearerToken      Secret   `meta:"bearerToken|token,secret,optional"`
	CustomAuthHeader Secret   `meta:"customAuthHeader,secret,optional"`
	CustomAuthValue  Secret   `meta:"customAuthValue,secret,optional"`
	APIKey           Secret   `meta:"apiKey,secret,optional"`
	// APIKeyMethod says where the API key goes: a header (default) or a
	// query parameter. It is checked only when authModes includes apiKey:
	// other scalers (and KEDA's own) leave an unrelated "method" key alone.
	APIKeyMethod string `meta:"method,default=header"`
	// KeyParamName names that header (default X-API-KEY) or query parameter
	// (default api_key).
	KeyParamName string `meta:"keyParamName,optional"`
	// TLS holds ca, cert, key, keyPassword and unsafeSsl. The ca and
	// unsafeSsl apply whenever given; cert and key are required by the tls
	// mode.
	TLS TLSConfig
	// OAuth holds oauthTokenURI, clientID, clientSecret, scopes and
	// endpointParams, used by the oauth mode.
	OAuth OAuth

	scalerType string
	allowed    []string // nil: every known mode
}

// Allow limits the modes Validate accepts to those the scaler implements;
// call it before ParseMetadata fills a. A mode outside them is reported
// naming authModes (and its credentials are not asked for): KEDA 2.21
// rejects the modes some scalers do not implement (metrics-api) and
// ignores them in others (apiKey in prometheus); a credential that is never
// sent is a configuration mistake, so it is always reported here.
func (a *HTTPAuth) Allow(scalerType string, modes ...string) {
	a.scalerType, a.allowed = scalerType, modes
}

// Enabled reports whether authModes includes mode.
func (a *HTTPAuth) Enabled(mode string) bool { return slices.Contains(a.Modes, mode) }

func (a *HTTPAuth) allows(mode string) bool {
	return a.allowed == nil || slices.Contains(a.allowed, mode)
}

// Secrets returns every credential, for a Redactor.
func (a *HTTPAuth) Secrets() []Secret {
	return []Secret{a.Username, a.Password, a.BearerToken, a.CustomAuthHeader, a.CustomAuthValue,
		a.APIKey, a.TLS.Key, a.TLS.KeyPassword, a.OAuth.ClientSecret}
}

// Validate checks the modes against KEDA's vocabulary and the modes given
// to Allow, and that every enabled mode has its credentials. ParseMetadata
// calls it.
func (a *HTTPAuth) Validate() error {
	raw := strings.Join(a.Modes, ",")
	var errs []error
	exclusive := 0
	for _, m := range a.Modes {
		switch {
		case !slices.Contains(knownAuthModes, m):
			errs = append(errs, NewFieldError("authModes", raw,
				"unknown mode "+strconv.Quote(m)+", expected a comma-separated list of "+strings.Join(knownAuthModes, ", ")))
		case !a.allows(m):
			errs = append(errs, NewFieldError("authModes", raw,
				"mode "+strconv.Quote(m)+" is not supported by the "+a.scalerType+" scaler, expected some of "+strings.Join(a.allowed, ", ")))
		}
		if slices.Contains(exclusiveAuthModes, m) {
			exclusive++
		}
	}
	if exclusive > 1 {
		errs = append(errs, NewFieldError("authModes", raw, "only one of bearer, basic and oauth may be given"))
	}
	// The credentials of a mode that is not allowed are not asked for:
	// the mode is the mistake.
	enabled := func(mode string) bool { return a.Enabled(mode) && a.allows(mode) }
	need := func(mode string, s Secret, key string) {
		if enabled(mode) && !s.IsSet() {
			errs = append(errs, &FieldError{Key: key, Missing: true,
				Msg: "required when authModes includes " + mode + " (set " + key + ", " + key + "FromEnv or " + key + "File)"})
		}
	}
	need(AuthModeBearer, a.BearerToken, "bearerToken")
	need(AuthModeBasic, a.Username, "username")
	need(AuthModeTLS, a.TLS.Cert, "cert")
	need(AuthModeTLS, a.TLS.Key, "key")
	need(AuthModeCustom, a.CustomAuthHeader, "customAuthHeader")
	need(AuthModeCustom, a.CustomAuthValue, "customAuthValue")
	need(AuthModeAPIKey, a.APIKey, "apiKey")
	if enabled(AuthModeAPIKey) && a.APIKeyMethod != "header" && a.APIKeyMethod != "query" {
		errs = append(errs, NewFieldError("method", a.APIKeyMethod, "expected one of header, query"))
	}
	if enabled(AuthModeOAuth) {
		errs = append(errs, a.OAuth.validate()...)
	}
	return Invalid(errs...)
}

// Apply adds the credentials of the enabled modes to req (all but oauth,
// see HTTPSource). Secrets are read now, so rotated files take effect.
// Errors name the key (and the path of a <key>File), never a credential;
// none is an ErrInvalidConfig, since a rotated file may fix it.
func (a *HTTPAuth) Apply(req *http.Request) error {
	if a.Enabled(AuthModeBasic) {
		user, err := ReadSecret("username", a.Username)
		if err != nil {
			return err
		}
		pass, err := ReadSecret("password", a.Password)
		if err != nil {
			return err
		}
		req.SetBasicAuth(user, pass)
	}
	if a.Enabled(AuthModeBearer) {
		tok, err := ReadSecret("bearerToken", a.BearerToken)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(tok))
	}
	if a.Enabled(AuthModeCustom) {
		name, err := ReadSecret("customAuthHeader", a.CustomAuthHeader)
		if err != nil {
			return err
		}
		val, err := ReadSecret("customAuthValue", a.CustomAuthValue)
		if err != nil {
			return err
		}
		name, val = strings.TrimSpace(name), strings.TrimSpace(val)
		if !httpguts.ValidHeaderFieldName(name) {
			return errors.New(a.CustomAuthHeader.FieldError("customAuthHeader", "not a valid HTTP header name").Error())
		}
		if !httpguts.ValidHeaderFieldValue(val) {
			return errors.New(a.CustomAuthValue.FieldError("customAuthValue", "not a valid HTTP header value").Error())
		}
		req.Header.Set(name, val)
	}
	if a.Enabled(AuthModeAPIKey) {
		key, err := ReadSecret("apiKey", a.APIKey)
		if err != nil {
			return err
		}
		key = strings.TrimSpace(key)
		if a.APIKeyMethod == "query" {
			name := a.KeyParamName
			if name == "" {
				name = "api_key"
			}
			q := req.URL.Query()
			q.Set(name, key)
			req.URL.RawQuery = q.Encode()
		} else {
			name := a.KeyParamName
			if name == "" {
				name = "X-API-KEY"
			}
			if !httpguts.ValidHeaderFieldValue(key) {
				return errors.New(a.APIKey.FieldError("apiKey", "not a valid HTTP header value").Error())
			}
			req.Header.Set(name, key)
		}
	}
	return nil
}

// ValidateKeyParamName checks keyParamName as a header name when the API key
// goes in a header; scalers supporting apiKey call it from Validate.
func (a *HTTPAuth) ValidateKeyParamName() error {
	if a.Enabled(AuthModeAPIKey) && a.APIKeyMethod != "query" && a.KeyParamName != "" &&
		!httpguts.ValidHeaderFieldName(a.KeyParamName) {
		return NewFieldError("keyParamName", a.KeyParamName, "not a valid HTTP header name")
	}
	return nil
}

// NewHTTPTransport returns a transport with its own connection pool and the
// TLS settings of t (the system roots when t has none). A scaler keeps one
// for its lifetime so connections to its source are reused between polls,
// and calls CloseIdleConnections when it is closed.
func NewHTTPTransport(t *TLSConfig) (*http.Transport, error) {
	tlsCfg, err := t.Build()
	if err != nil {
		return nil, err
	}
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   10 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		TLSClientConfig:       tlsCfg,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          16,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}, nil
}
