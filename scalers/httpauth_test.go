package scalers

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

type authHolder struct {
	Auth HTTPAuth
}

func TestHTTPAuthParse(t *testing.T) {
	tests := []struct {
		name    string
		md      map[string]string
		modes   []string
		method  string
		wantErr []string
	}{
		{name: "none", md: map[string]string{}, method: "header"},
		{name: "modes trimmed", md: map[string]string{"authModes": " basic , tls ", "username": "u", "cert": "c", "key": "k"}, modes: []string{"basic", "tls"}, method: "header"},
		{name: "authMode alias", md: map[string]string{"authMode": "apiKey", "apiKey": "k", "method": "query"}, modes: []string{"apiKey"}, method: "query"},
		{name: "unknown", md: map[string]string{"authModes": "basic,magic", "username": "u"}, wantErr: []string{`authModes "basic,magic": unknown mode "magic"`}},
		{name: "exclusive", md: map[string]string{"authModes": "bearer,oauth", "bearerToken": "t"}, wantErr: []string{"only one of bearer, basic and oauth"}},
		{name: "missing credentials", md: map[string]string{"authModes": "bearer,custom,apiKey"},
			wantErr: []string{"bearerToken: required when authModes includes bearer (set bearerToken, bearerTokenFromEnv or bearerTokenFile)",
				"customAuthHeader: required", "customAuthValue: required", "apiKey: required"}},
		{name: "bad method", md: map[string]string{"authModes": "apiKey", "apiKey": "k3y", "method": "post"}, wantErr: []string{`method "post": expected one of header, query`}},
		{name: "method ignored without apiKey", md: map[string]string{"method": "POST"}, method: "POST"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h authHolder
			err := ParseMetadata(tc.md, &h)
			if len(tc.wantErr) > 0 {
				if !errors.Is(err, ErrInvalidConfig) {
					t.Fatalf("got %v, want an ErrInvalidConfig", err)
				}
				for _, s := range tc.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not contain %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseMetadata: %v", err)
			}
			if strings.Join(h.Auth.Modes, ",") != strings.Join(tc.modes, ",") || h.Auth.APIKeyMethod != tc.method {
				t.Errorf("got modes %q method %q, want %q %q", h.Auth.Modes, h.Auth.APIKeyMethod, tc.modes, tc.method)
			}
		})
	}
}

func TestHTTPAuthSupported(t *testing.T) {
	a := HTTPAuth{Modes: []string{"basic", "oauth"}}
	if err := a.Supported("x", "basic", "oauth"); err != nil {
		t.Fatalf("got %v, want nil", err)
	}
	err := a.Supported("demo", "basic", "tls")
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), `mode "oauth" is not supported by the demo scaler, expected some of basic, tls`) {
		t.Fatalf("got %v", err)
	}
}

func TestHTTPAuthApply(t *testing.T) {
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
			wantErr: "customAuthHeader: not a valid HTTP header name"},
		{name: "custom, bad value", auth: HTTPAuth{Modes: []string{"custom"}, CustomAuthHeader: NewSecret("X"), CustomAuthValue: NewSecret("a\x00b")},
			wantErr: "customAuthValue: not a valid HTTP header value"},
		{name: "apiKey header", auth: HTTPAuth{Modes: []string{"apiKey"}, APIKey: NewSecret("k"), APIKeyMethod: "header"},
			wantHeader: http.Header{"X-Api-Key": {"k"}}, wantQuery: "a=1"},
		{name: "apiKey query", auth: HTTPAuth{Modes: []string{"apiKey"}, APIKey: NewSecret("k&=?"), APIKeyMethod: "query", KeyParamName: "token"},
			wantHeader: http.Header{}, wantQuery: "a=1&token=k%26%3D%3F"},
		{name: "file secret gone", auth: HTTPAuth{Modes: []string{"bearer"}, BearerToken: Secret{src: &secretSource{path: "/nonexistent/x"}}},
			wantErr: "read secret file /nonexistent/x"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, "http://h/p?a=1", nil)
			err := tc.auth.Apply(req)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if got, want := req.Header, tc.wantHeader; len(got) != len(want) || got.Get("Authorization") != want.Get("Authorization") ||
				got.Get("X-Org") != want.Get("X-Org") || got.Get("X-Api-Key") != want.Get("X-Api-Key") {
				t.Errorf("headers: got %v, want %v", got, want)
			}
			if q, _ := url.QueryUnescape(req.URL.RawQuery); req.URL.RawQuery != tc.wantQuery {
				t.Errorf("query: got %q (%s), want %q", req.URL.RawQuery, q, tc.wantQuery)
			}
		})
	}
}

func TestNewHTTPTransport(t *testing.T) {
	tr, err := NewHTTPTransport(&TLSConfig{UnsafeSsl: true})
	if err != nil {
		t.Fatal(err)
	}
	if !tr.TLSClientConfig.InsecureSkipVerify || tr.MaxIdleConnsPerHost < 2 || tr.IdleConnTimeout == 0 {
		t.Errorf("got %+v, want unsafe TLS and a reusable pool", tr)
	}
	if _, err := NewHTTPTransport(&TLSConfig{CA: NewSecret("not pem")}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("bad CA: got %v, want ErrInvalidConfig", err)
	}
}
