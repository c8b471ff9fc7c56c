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
// field, so ParseMetadata fills it from the same metadata map, and then call
// Supported with the modes they implement.
//
// KEDA resolves a TriggerAuthentication's secretTargetRef parameters only for
// its built-in scalers; an external scaler receives the trigger metadata
// alone. So every credential here is a Secret read from the metadata: inline
// (rarely wise), <key>FromEnv (KEDA resolves the env var of the scale
// target's container before calling us) or <key>File (a file mounted into
// this server, re-read when it changes).
//
// Modes combine (for example "apiKey,tls"); bearer, basic and oauth exclude
// each other because each sets the Authorization header.
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
}

// Enabled reports whether authModes includes mode.
func (a *HTTPAuth) Enabled(mode string) bool { return slices.Contains(a.Modes, mode) }

// Secrets returns every credential, for a Redactor.
func (a *HTTPAuth) Secrets() []Secret {
	return []Secret{a.Username, a.Password, a.BearerToken, a.CustomAuthHeader, a.CustomAuthValue,
		a.APIKey, a.TLS.Key, a.TLS.KeyPassword}
}

// Validate checks the modes against KEDA's vocabulary and that every enabled
// mode has its credentials. ParseMetadata calls it.
func (a *HTTPAuth) Validate() error {
	raw := strings.Join(a.Modes, ",")
	var errs []error
	exclusive := 0
	for _, m := range a.Modes {
		if !slices.Contains(knownAuthModes, m) {
			errs = append(errs, NewFieldError("authModes", raw,
				"unknown mode "+strconv.Quote(m)+", expected a comma-separated list of "+strings.Join(knownAuthModes, ", ")))
		}
		if slices.Contains(exclusiveAuthModes, m) {
			exclusive++
		}
	}
	if exclusive > 1 {
		errs = append(errs, NewFieldError("authModes", raw, "only one of bearer, basic and oauth may be given"))
	}
	need := func(mode string, s Secret, key string) {
		if a.Enabled(mode) && !s.IsSet() {
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
	if a.Enabled(AuthModeAPIKey) && a.APIKeyMethod != "header" && a.APIKeyMethod != "query" {
		errs = append(errs, NewFieldError("method", a.APIKeyMethod, "expected one of header, query"))
	}
	return Invalid(errs...)
}

// Supported reports an error naming authModes when a mode outside supported
// was given. KEDA accepts every mode for every scaler and silently ignores
// the ones a scaler does not implement; a credential that is never sent is a
// configuration mistake, so it is reported here.
func (a *HTTPAuth) Supported(scalerType string, supported ...string) error {
	for _, m := range a.Modes {
		if !slices.Contains(supported, m) {
			return NewFieldError("authModes", strings.Join(a.Modes, ","),
				"mode "+strconv.Quote(m)+" is not supported by the "+scalerType+" scaler, expected some of "+strings.Join(supported, ", "))
		}
	}
	return nil
}

// Apply adds the credentials of the enabled modes to req. Secrets are read
// now, so rotated files take effect. Errors never contain a credential.
func (a *HTTPAuth) Apply(req *http.Request) error {
	if a.Enabled(AuthModeBasic) {
		user, err := a.Username.Value()
		if err != nil {
			return err
		}
		pass, err := a.Password.Value()
		if err != nil {
			return err
		}
		req.SetBasicAuth(user, pass)
	}
	if a.Enabled(AuthModeBearer) {
		tok, err := a.BearerToken.Value()
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(tok))
	}
	if a.Enabled(AuthModeCustom) {
		name, err := a.CustomAuthHeader.Value()
		if err != nil {
			return err
		}
		val, err := a.CustomAuthValue.Value()
		if err != nil {
			return err
		}
		name, val = strings.TrimSpace(name), strings.TrimSpace(val)
		if !httpguts.ValidHeaderFieldName(name) {
			return errors.New("customAuthHeader: not a valid HTTP header name")
		}
		if !httpguts.ValidHeaderFieldValue(val) {
			return errors.New("customAuthValue: not a valid HTTP header value")
		}
		req.Header.Set(name, val)
	}
	if a.Enabled(AuthModeAPIKey) {
		key, err := a.APIKey.Value()
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
				return errors.New("apiKey: not a valid HTTP header value")
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
