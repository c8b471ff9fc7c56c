package scalers

import (
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
)

type authHolder struct {
	Auth HTTPAuth
}

// authView is what a test compares of a parsed HTTPAuth (whose secrets and
// unexported fields cmp cannot look into).
type authView struct {
	Modes          []string
	Method         string
	TokenURI       string
	ClientID       string
	ClientSecret   string
	Scopes         []string
	EndpointParams url.Values
}

func viewOf(a *HTTPAuth) authView {
	return authView{Modes: a.Modes, Method: a.APIKeyMethod, TokenURI: a.OAuth.TokenURI, ClientID: a.OAuth.ClientID,
		ClientSecret: a.OAuth.ClientSecret.MustValue(), Scopes: a.OAuth.Scopes, EndpointParams: a.OAuth.params}
}

// pemPair is a certificate and its key, PEM, for metadata that must
// parse.
type pemPair struct{ cert, key string }

func newPEMPair(tb testing.TB) pemPair {
	tb.Helper()
	pki := testenv.NewPKI(tb)
	c := pki.ClientCert(tb, "test")
	return pemPair{cert: string(c.CertPEM), key: string(c.KeyPEM)}
}

func TestHTTPAuthParse(t *testing.T) {
	pair := newPEMPair(t)
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "client-secret")
	if err := os.WriteFile(secretFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "nonexistent")
	oauth := func(kv ...string) map[string]string {
		md := map[string]string{"authModes": "oauth", "oauthTokenURI": "https://idp.example/token", "clientID": "scaler"}
		return scalertest.WithKeys(md, kv...)
	}
	oauthView := func(f func(*authView)) authView {
		v := authView{Modes: []string{"oauth"}, Method: "header", TokenURI: "https://idp.example/token", ClientID: "scaler"}
		if f != nil {
			f(&v)
		}
		return v
	}
	tests := []struct {
		name    string
		md      map[string]string
		allow   []string // Allow("demo", allow...) when not nil
		want    authView
		wantErr string
	}{
		{name: "none", md: map[string]string{}, want: authView{Method: "header"}},
		{name: "modes trimmed", md: map[string]string{"authModes": " basic , tls ", "username": "u", "cert": pair.cert, "key": pair.key},
			want: authView{Modes: []string{"basic", "tls"}, Method: "header"}},
		{name: "authMode alias", md: map[string]string{"authMode": "apiKey", "apiKey": "k", "method": "query"},
			want: authView{Modes: []string{"apiKey"}, Method: "query"}},
		{name: "method ignored without apiKey", md: map[string]string{"method": "POST"}, want: authView{Method: "POST"}},
		{name: "unknown", md: map[string]string{"authModes": "basic,magic", "username": "u"},
			wantErr: `invalid metadata: authModes "basic,magic": unknown mode "magic", expected a comma-separated list of apiKey, basic, tls, bearer, custom, oauth`},
		{name: "exclusive", md: map[string]string{"authModes": "bearer,oauth", "bearerToken": "t", "oauthTokenURI": "http://idp", "clientID": "c"},
			wantErr: `invalid metadata: authModes "bearer,oauth": only one of bearer, basic and oauth may be given`},
		{name: "missing credentials", md: map[string]string{"authModes": "bearer,custom,apiKey"},
			wantErr: "invalid metadata: bearerToken: required when authModes includes bearer (set bearerToken, bearerTokenFromEnv or bearerTokenFile); " +
				"customAuthHeader: required when authModes includes custom (set customAuthHeader, customAuthHeaderFromEnv or customAuthHeaderFile); " +
				"customAuthValue: required when authModes includes custom (set customAuthValue, customAuthValueFromEnv or customAuthValueFile); " +
				"apiKey: required when authModes includes apiKey (set apiKey, apiKeyFromEnv or apiKeyFile)"},
		{name: "bad method", md: map[string]string{"authModes": "apiKey", "apiKey": "k3y", "method": "post"},
			wantErr: `invalid metadata: method "post": expected one of header, query`},
		{name: "allowed", md: map[string]string{"authModes": "tls", "cert": pair.cert, "key": pair.key}, allow: []string{"basic", "tls"},
			want: authView{Modes: []string{"tls"}, Method: "header"}},
		{name: "not allowed: the mode is named, its keys are not asked for", md: map[string]string{"authModes": "tls,oauth", "cert": pair.cert, "key": pair.key},
			allow:   []string{"basic", "tls"},
			wantErr: `invalid metadata: authModes "tls,oauth": mode "oauth" is not supported by the demo scaler, expected some of basic, tls`},

		{name: "oauth", md: oauth("clientSecret", "s3cret", "scopes", " read, write ,", "endpointParams", "audience=api&resource=https%3A%2F%2Fx"),
			want: oauthView(func(v *authView) {
				v.ClientSecret, v.Scopes = "s3cret", []string{"read", "write"}
				v.EndpointParams = url.Values{"audience": {"api"}, "resource": {"https://x"}}
			})},
		{name: "oauth, scope alias", md: oauth("scope", "read"), want: oauthView(func(v *authView) { v.Scopes = []string{"read"} })},
		{name: "oauth, secret from env", md: oauth("clientSecretFromEnv", "env-secret"), want: oauthView(func(v *authView) { v.ClientSecret = "env-secret" })},
		{name: "oauth, secret from a file", md: oauth("clientSecretFile", secretFile), want: oauthView(func(v *authView) { v.ClientSecret = "from-file" })},
		{name: "oauth without clientSecret, as KEDA allows", md: oauth(), want: oauthView(nil)},
		{name: "oauth, repeated endpoint parameter", md: oauth("endpointParams", "resource=a&resource=b"),
			want: oauthView(func(v *authView) { v.EndpointParams = url.Values{"resource": {"a", "b"}} })},
		{name: "oauth keys without authModes oauth are ignored, as in KEDA", md: map[string]string{"oauthTokenURI": "not a url", "endpointParams": "%zz"},
			want: authView{Method: "header", TokenURI: "not a url"}},
		{name: "oauth without its keys", md: map[string]string{"authModes": "oauth", "clientSecret": "s"},
			wantErr: "invalid metadata: oauthTokenURI: required when authModes includes oauth; clientID: required when authModes includes oauth"},
		{name: "oauthTokenURI without scheme", md: oauth("oauthTokenURI", "idp.example/token"),
			wantErr: `invalid metadata: oauthTokenURI "idp.example/token": expected an http:// or https:// URL`},
		{name: "oauthTokenURI password hidden", md: oauth("oauthTokenURI", "ftp://u:hunter2-pw@idp"),
			wantErr: `invalid metadata: oauthTokenURI "ftp://u:xxxxx@idp": expected an http:// or https:// URL`},
		{name: "endpointParams bad escape", md: oauth("endpointParams", "audience=%zz"),
			wantErr: `invalid metadata: endpointParams (secret, not shown): parameter 1 ("audience"): invalid %-escape in its value`},
		{name: "endpointParams bad escape in a name", md: oauth("endpointParams", "a=1&%zz=x"),
			wantErr: `invalid metadata: endpointParams (secret, not shown): parameter 2: invalid %-escape in its name`},
		{name: "endpointParams with a semicolon", md: oauth("endpointParams", "a=1;b=2"),
			wantErr: `invalid metadata: endpointParams (secret, not shown): parameter 1 ("a"): ";" is not a separator (separate parameters with &, write a ";" in a value as %3B)`},
		{name: "endpointParams setting scope beside scopes", md: oauth("scopes", "read", "endpointParams", "scope=write"),
			wantErr: `invalid metadata: endpointParams (secret, not shown): sets scope, which the scopes key sets already; give every scope there`},
		{name: "endpointParams may set scope alone", md: oauth("endpointParams", "scope=write"),
			want: oauthView(func(v *authView) { v.EndpointParams = url.Values{"scope": {"write"}} })},
		{name: "clientSecretFile missing", md: oauth("clientSecretFile", missing),
			wantErr: `invalid metadata: clientSecretFile "` + missing + `": cannot read: no such file or directory`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h authHolder
			if tc.allow != nil {
				h.Auth.Allow("demo", tc.allow...)
			}
			err := ParseMetadata(tc.md, &h, allowDirs(t, dir))
			if tc.wantErr != "" {
				if !errors.Is(err, ErrInvalidConfig) {
					t.Fatalf("got %v, want an ErrInvalidConfig", err)
				}
				scalertest.CheckMessage(t, err, tc.wantErr)
				return
			}
			if err != nil {
				t.Fatalf("ParseMetadata: %v", err)
			}
			if diff := cmp.Diff(tc.want, viewOf(&h.Auth)); diff != "" {
				t.Errorf("parsed (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHTTPAuthSecrets(t *testing.T) {
	var h authHolder
	md := map[string]string{"authModes": "oauth", "oauthTokenURI": "http://idp", "clientID": "c", "clientSecret": "client-secret-9"}
	if err := ParseMetadata(md, &h); err != nil {
		t.Fatal(err)
	}
	if got := NewRedactor(h.Auth.Secrets()...).String("x client-secret-9 y"); got != "x [redacted] y" {
		t.Errorf("redacted: got %q, want %q", got, "x [redacted] y")
	}
}

func TestHTTPAuthApply(t *testing.T) {
	dir := t.TempDir()
	gone := Secret{src: &secretSource{path: filepath.Join(dir, "x"), files: allowDirs(t, dir)}}
	tests := []struct {
		name       string
		auth       HTTPAuth
		wantHeader http.Header
		wantQuery  string
		wantErr    string
	}{
		{name: "none", wantHeader: http.Header{}, wantQuery: "a=1"},
		{name: "basic", auth: HTTPAuth{Modes: []string{"basic"}, Username: NewSecret("u"), Password: NewSecret("p")},
			wantHeader: http.Header{"Authorization": {"Basic dTpw"}}, wantQuery: "a=1"},
		{name: "bearer", auth: HTTPAuth{Modes: []string{"bearer"}, BearerToken: NewSecret(" t\n")},
			wantHeader: http.Header{"Authorization": {"Bearer t"}}, wantQuery: "a=1"},
		{name: "custom", auth: HTTPAuth{Modes: []string{"custom"}, CustomAuthHeader: NewSecret("x-org\n"), CustomAuthValue: NewSecret("o")},
			wantHeader: http.Header{"X-Org": {"o"}}, wantQuery: "a=1"},
		{name: "custom, bad name", auth: HTTPAuth{Modes: []string{"custom"}, CustomAuthHeader: NewSecret("a b"), CustomAuthValue: NewSecret("o")},
			wantErr: "customAuthHeader (secret, not shown): not a valid HTTP header name (letters, digits and !#$%&'*+-.^_`|~ only)"},
		{name: "custom, bad value", auth: HTTPAuth{Modes: []string{"custom"}, CustomAuthHeader: NewSecret("X"), CustomAuthValue: NewSecret("a\x00b")},
			wantErr: "customAuthValue (secret, not shown): not a valid HTTP header value (control characters such as CR and LF cannot be sent)"},
		{name: "apiKey header", auth: HTTPAuth{Modes: []string{"apiKey"}, APIKey: NewSecret("k"), APIKeyMethod: "header"},
			wantHeader: http.Header{"X-Api-Key": {"k"}}, wantQuery: "a=1"},
		{name: "apiKey header, bad value", auth: HTTPAuth{Modes: []string{"apiKey"}, APIKey: NewSecret("k\x7f"), APIKeyMethod: "header"},
			wantErr: "apiKey (secret, not shown): not a valid HTTP header value (control characters such as CR and LF cannot be sent)"},
		{name: "bearer, bad value", auth: HTTPAuth{Modes: []string{"bearer"}, BearerToken: NewSecret("t\r\nX-Injected: 1")},
			wantErr: "bearerToken (secret, not shown): not a valid HTTP header value (control characters such as CR and LF cannot be sent)"},
		{name: "basic, colon in the user name", auth: HTTPAuth{Modes: []string{"basic"}, Username: NewSecret("a:b")},
			wantErr: `username (secret, not shown): contains ":", which basic authentication cannot carry in a user name (RFC 7617)`},
		{name: "apiKey query", auth: HTTPAuth{Modes: []string{"apiKey"}, APIKey: NewSecret("k&=?"), APIKeyMethod: "query", KeyParamName: "token"},
			wantHeader: http.Header{}, wantQuery: "a=1&token=k%26%3D%3F"},
		{name: "oauth is not Apply's", auth: HTTPAuth{Modes: []string{"oauth"}}, wantHeader: http.Header{}, wantQuery: "a=1"},
		{name: "file secret gone", auth: HTTPAuth{Modes: []string{"bearer"}, BearerToken: gone},
			wantErr: `bearerTokenFile "` + gone.Path() + `": cannot read: no such file or directory`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, "http://h/p?a=1", nil)
			if err != nil {
				t.Fatal(err)
			}
			err = tc.auth.Apply(req)
			if tc.wantErr != "" {
				scalertest.CheckMessage(t, err, tc.wantErr)
				// A secret's content may be fixed by a rotated file.
				if errors.Is(err, ErrInvalidConfig) {
					t.Errorf("error %q is an ErrInvalidConfig", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if diff := cmp.Diff(tc.wantHeader, req.Header); diff != "" {
				t.Errorf("headers (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantQuery, req.URL.RawQuery); diff != "" {
				t.Errorf("query (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewHTTPTransport(t *testing.T) {
	tr, err := NewHTTPTransport(&TLSConfig{UnsafeSsl: true})
	if err != nil {
		t.Fatal(err)
	}
	type pool struct {
		InsecureSkipVerify                     bool
		MaxIdleConns, MaxIdleConnsPerHost      int
		IdleConnTimeout, TLSHandshakeTimeout   string
		ForceAttemptHTTP2, ProxyFromEnvironent bool
	}
	want := pool{InsecureSkipVerify: true, MaxIdleConns: 16, MaxIdleConnsPerHost: 4, IdleConnTimeout: "1m30s",
		TLSHandshakeTimeout: "10s", ForceAttemptHTTP2: true, ProxyFromEnvironent: true}
	got := pool{InsecureSkipVerify: tr.TLSClientConfig.InsecureSkipVerify, MaxIdleConns: tr.MaxIdleConns,
		MaxIdleConnsPerHost: tr.MaxIdleConnsPerHost, IdleConnTimeout: tr.IdleConnTimeout.String(),
		TLSHandshakeTimeout: tr.TLSHandshakeTimeout.String(), ForceAttemptHTTP2: tr.ForceAttemptHTTP2, ProxyFromEnvironent: tr.Proxy != nil}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("transport (-want +got):\n%s", diff)
	}
	_, err = NewHTTPTransport(&TLSConfig{CA: NewSecret("not pem")})
	if !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("bad CA: got %v, want ErrInvalidConfig", err)
	}
	scalertest.CheckMessage(t, err, "ca (secret, not shown): no PEM certificate found")
}
