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
	limits     Limits
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

// SetLimits sets the limits Validate holds the lists (authModes, scopes,
// endpointParams) to: the scaler's Config.Limits. Call it before
// ParseMetadata fills a; without it the defaults apply.
func (a *HTTPAuth) SetLimits(l Limits) { a.limits = l }

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
// to Allow, that every enabled mode has its credentials, and that those
// credentials can be sent: a header name or value net/http refuses (a CR
// or LF in bearerToken, say) is reported here, naming the key, rather than
// at every request. An inline or <key>FromEnv value is checked now; a
// <key>File is checked each time it is read (Apply), since it may be
// rotated. ParseMetadata calls it.
func (a *HTTPAuth) Validate() error {
	raw := strings.Join(a.Modes, ",")
	var errs []error
	if fe := a.limits.CheckList("authModes", len(a.Modes)); fe != nil {
		// A list that long is a mistake as a whole: its modes are not
		// checked one by one.
		return fe
	}
	exclusive := 0
	for _, m := range a.Modes {
		switch {
		case !slices.Contains(knownAuthModes, m):
			errs = append(errs, NewFieldError("authModes", raw,
				"unknown mode "+Quote(m)+", expected a comma-separated list of "+strings.Join(knownAuthModes, ", ")))
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
	need := func(mode string, s Secret, key string) bool {
		if enabled(mode) && !s.IsSet() {
			errs = append(errs, &FieldError{Key: key, Missing: true,
				Msg: "required when authModes includes " + mode + " (set " + key + ", " + key + "FromEnv or " + key + "File)"})
			return false
		}
		return enabled(mode)
	}
	// check runs an inline secret's check; a file's content is checked
	// when it is read.
	check := func(s Secret, key string, bad func(string) string) {
		if s.Path() != "" {
			return
		}
		if msg := bad(s.MustValue()); msg != "" {
			errs = append(errs, s.FieldError(key, msg))
		}
	}
	if need(AuthModeBearer, a.BearerToken, "bearerToken") {
		check(a.BearerToken, "bearerToken", badHeaderValue)
	}
	if need(AuthModeBasic, a.Username, "username") {
		check(a.Username, "username", badUsername)
	}
	need(AuthModeTLS, a.TLS.Cert, "cert")
	need(AuthModeTLS, a.TLS.Key, "key")
	// ca, cert and key are used whenever given (NewHTTPTransport).
	errs = append(errs, a.TLS.checkInline())
	hasHeader := need(AuthModeCustom, a.CustomAuthHeader, "customAuthHeader")
	if need(AuthModeCustom, a.CustomAuthValue, "customAuthValue") && hasHeader {
		check(a.CustomAuthHeader, "customAuthHeader", badHeaderName)
		check(a.CustomAuthValue, "customAuthValue", badHeaderValue)
	}
	if need(AuthModeAPIKey, a.APIKey, "apiKey") {
		switch a.APIKeyMethod {
		case "header":
			check(a.APIKey, "apiKey", badHeaderValue)
			if a.KeyParamName != "" && !httpguts.ValidHeaderFieldName(a.KeyParamName) {
				errs = append(errs, NewFieldError("keyParamName", a.KeyParamName, "not a valid HTTP header name"))
			}
		case "query":
		default:
			errs = append(errs, NewFieldError("method", a.APIKeyMethod, "expected one of header, query"))
		}
	}
	if enabled(AuthModeOAuth) {
		errs = append(errs, a.OAuth.validate(a.limits)...)
	}
	return Invalid(errs...)
}

// badHeaderValue says why v (trimmed, as Apply sends it) cannot be an HTTP
// header value; "" when it can.
func badHeaderValue(v string) string {
	if httpguts.ValidHeaderFieldValue(strings.TrimSpace(v)) {
		return ""
	}
	return "not a valid HTTP header value (control characters such as CR and LF cannot be sent)"
}

// badHeaderName says why v (trimmed) cannot be an HTTP header name.
func badHeaderName(v string) string {
	if httpguts.ValidHeaderFieldName(strings.TrimSpace(v)) {
		return ""
	}
	return "not a valid HTTP header name (letters, digits and !#$%&'*+-.^_`|~ only)"
}

// badUsername says why v cannot be the user name of basic authentication.
func badUsername(v string) string {
	if strings.Contains(v, ":") {
		return `contains ":", which basic authentication cannot carry in a user name (RFC 7617)`
	}
	return ""
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
		if msg := badUsername(user); msg != "" {
			return errors.New(a.Username.FieldError("username", msg).Error())
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
		if msg := badHeaderValue(tok); msg != "" {
			return errors.New(a.BearerToken.FieldError("bearerToken", msg).Error())
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
		if msg := badHeaderName(name); msg != "" {
			return errors.New(a.CustomAuthHeader.FieldError("customAuthHeader", msg).Error())
		}
		if msg := badHeaderValue(val); msg != "" {
			return errors.New(a.CustomAuthValue.FieldError("customAuthValue", msg).Error())
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
			if msg := badHeaderValue(key); msg != "" {
				return errors.New(a.APIKey.FieldError("apiKey", msg).Error())
			}
			req.Header.Set(name, key)
		}
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
