package scalers

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
)

func TestValidateHTTPURL(t *testing.T) {
	tests := []struct {
		name, raw, wantErr string
	}{
		{name: "http", raw: "http://prom:9090"},
		{name: "https with path", raw: "https://api.example.com/v1/stats?window=5m"},
		{name: "not a URL", raw: "http://a b:x", wantErr: `url "http://a b:x": not a URL`},
		{name: "no scheme", raw: "prom:9090/x", wantErr: `url "prom:9090/x": expected an http:// or https:// URL`},
		{name: "other scheme", raw: "ftp://prom", wantErr: `url "ftp://prom": expected an http:// or https:// URL`},
		{name: "no host", raw: "http:///x", wantErr: `url "http:///x": URL has no host`},
		{name: "password hidden", raw: "ftp://u:hunter2-pw@prom", wantErr: `url "ftp://u:xxxxx@prom": expected an http:// or https:// URL`},
		{name: "password hidden in a URL that does not parse", raw: "http://user:S3CR3T@[::1", wantErr: `url "http://xxxxx@[::1": not a URL`},
		{name: "password hidden without a scheme", raw: "user:S3CR3T@prom:9090", wantErr: `url "xxxxx@prom:9090": expected an http:// or https:// URL`},
		{name: "port above 65535", raw: "http://prom:99999", wantErr: `url "http://prom:99999": port "99999": expected 1..65535`},
		{name: "port beyond 32 bits", raw: "https://prom:4294967297/x", wantErr: `url "https://prom:4294967297/x": port "4294967297": expected 1..65535`},
		{name: "port 0", raw: "http://prom:0", wantErr: `url "http://prom:0": port "0": expected 1..65535`},
		{name: "port without a host", raw: "http://:9090", wantErr: `url "http://:9090": URL has no host`},
		{name: "empty port is the default", raw: "http://prom:/x"},
		{name: "IPv6", raw: "http://[::1]:9090"},
		{name: "international host name", raw: "http://bücher.example/x"},
		{name: "host net/http refuses", raw: `http://a"b/`, wantErr: `url "http://a\"b/": host "a\"b": not a valid host name`},
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
			scalertest.CheckMessage(t, err, tc.wantErr)
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
	var got []http.Header
	for _, r := range seen {
		got = append(got, r.Header)
	}
	want := []http.Header{
		{"Authorization": {"Bearer tok-123"}, "X-Tenant": {"a"}}, // the source's host
		{}, // another host
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("headers sent (-want +got):\n%s", diff)
	}
	if got := src.Redactor.String("tok-123 url-pw"); got != "[redacted] [redacted]" {
		t.Errorf("Redactor: got %q, want %q", got, "[redacted] [redacted]")
	}
}

func TestHTTPSourceBadTLS(t *testing.T) {
	auth := &HTTPAuth{TLS: TLSConfig{CA: NewSecret("not a certificate")}}
	_, err := NewHTTPSource(HTTPSourceOptions{URL: "https://prom", Auth: auth})
	if !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("got %v, want ErrInvalidConfig", err)
	}
	scalertest.CheckMessage(t, err, "invalid metadata: ca (secret, not shown): no PEM certificate found")
}

// TestHTTPSourceHTTPSAnswer: the 400 an HTTPS server gives plain HTTP is
// said to be that; any other 400 comes through whole.
func TestHTTPSourceHTTPSAnswer(t *testing.T) {
	tests := []struct {
		name, body, wantErr, wantBody string
	}{
		{name: "Go", body: "Client sent an HTTP request to an HTTPS server.\n",
			wantErr: "the server speaks HTTPS (it answered 400 Bad Request to plain HTTP): use https://"},
		{name: "nginx", body: "<html><center>The plain HTTP request was sent to HTTPS port</center></html>",
			wantErr: "the server speaks HTTPS (it answered 400 Bad Request to plain HTTP): use https://"},
		{name: "another 400", body: strings.Repeat("bad request ", 100), wantBody: strings.Repeat("bad request ", 100)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src, err := NewHTTPSource(HTTPSourceOptions{URL: "http://prom:9090", Auth: &HTTPAuth{},
				Transport: scalertest.Answer(http.StatusBadRequest, nil, tc.body)})
			if err != nil {
				t.Fatal(err)
			}
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://prom:9090/api", nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := src.Transport.RoundTrip(req)
			if tc.wantErr != "" {
				scalertest.CheckMessage(t, err, tc.wantErr)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.wantBody, string(b)); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
		})
	}
}
