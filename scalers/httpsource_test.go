package scalers

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

func TestValidateHTTPURL(t *testing.T) {
	tests := []struct {
		name, raw, wantErr string
	}{
		{name: "http", raw: "http://prom:9090"},
		{name: "https with path", raw: "https://api.example.com/v1/stats?window=5m"},
		{name: "not a URL", raw: "http://a b:x", wantErr: `url "http://a b:x": not a URL`},
		{name: "no scheme", raw: "prom:9090/x", wantErr: `url "prom:9090/x": expected an http:// or https:// URL`},
		{name: "other scheme", raw: "ftp://prom", wantErr: "expected an http:// or https:// URL"},
		{name: "no host", raw: "http:///x", wantErr: `url "http:///x": URL has no host`},
		{name: "password hidden", raw: "ftp://u:hunter2-pw@prom", wantErr: `url "ftp://u:xxxxx@prom"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateHTTPURL("url", tc.raw)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

// seenRequests records the requests that reach the base transport.
type seenRequests []*http.Request

func (s *seenRequests) RoundTrip(r *http.Request) (*http.Response, error) {
	*s = append(*s, r)
	return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Request: r}, nil
}

func TestHTTPSource(t *testing.T) {
	var seen seenRequests
	auth := &HTTPAuth{Modes: []string{AuthModeBearer}, BearerToken: NewSecret("tok-123")}
	src, err := NewHTTPSource(HTTPSourceOptions{
		URL:       "http://u:url-pw@prom:9090/base",
		Auth:      auth,
		Transport: &seen,
		Edit:      func(r *http.Request) { r.Header.Set("X-Tenant", "a") },
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"http://prom:9090/api", "http://elsewhere/api"} {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := src.Transport.RoundTrip(req); err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		if len(req.Header) != 0 {
			t.Errorf("%s: the caller's request got headers %v, want none", u, req.Header)
		}
	}
	if len(seen) != 2 {
		t.Fatalf("got %d requests, want 2", len(seen))
	}
	if got, want := seen[0].Header.Get("Authorization"), "Bearer tok-123"; got != want {
		t.Errorf("source host: Authorization got %q, want %q", got, want)
	}
	if got := seen[0].Header.Get("X-Tenant"); got != "a" {
		t.Errorf("source host: X-Tenant got %q, want %q", got, "a")
	}
	if len(seen[1].Header) != 0 {
		t.Errorf("other host: got headers %v, want none", seen[1].Header)
	}
	if got := src.Redactor.String("tok-123 url-pw"); strings.Contains(got, "tok-123") || strings.Contains(got, "url-pw") {
		t.Errorf("Redactor left a secret in %q", got)
	}
}

func TestHTTPSourceBadTLS(t *testing.T) {
	auth := &HTTPAuth{TLS: TLSConfig{CA: NewSecret("not a certificate")}}
	_, err := NewHTTPSource(HTTPSourceOptions{URL: "https://prom", Auth: auth})
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "ca") {
		t.Fatalf("got %v, want ErrInvalidConfig naming ca", err)
	}
}
