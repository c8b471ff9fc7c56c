package scalers

import (
	"net/http"
	"net/url"
)

// ValidateHTTPURL checks raw, the value of key, as the address of an HTTP
// source: an http:// or https:// URL with a host. The error shows the URL
// without its password.
func ValidateHTTPURL(key, raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return NewFieldError(key, RedactURL(raw), "not a URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return NewFieldError(key, RedactURL(raw), "expected an http:// or https:// URL")
	case u.Host == "":
		return NewFieldError(key, RedactURL(raw), "URL has no host")
	}
	return nil
}

// HTTPSourceOptions configures NewHTTPSource.
type HTTPSourceOptions struct {
	// URL is the source's address, checked with ValidateHTTPURL; only
	// requests to its host get the credentials.
	URL string
	// Auth holds the credentials and the TLS settings. It is read on every
	// request, so rotated secret files take effect.
	Auth *HTTPAuth
	// Transport replaces the HTTP transport (tests and fuzzing use an
	// in-memory one); nil means a new transport with the TLS settings of
	// Auth (NewHTTPTransport).
	Transport http.RoundTripper
	// Edit, if not nil, changes each request to the source's host (a copy
	// of it) before the credentials are added: query parameters or headers
	// a scaler sends.
	Edit func(*http.Request)
}

// HTTPSource is what the scalers reading an HTTP source (prometheus,
// metrics-api) share: a transport of their own, kept for the scaler's
// lifetime so connections are reused between polls, that adds the
// credentials of HTTPAuth to requests for the source's host only (so a
// redirect elsewhere never carries them: net/http would forward a custom
// header such as X-API-KEY), and a Redactor for those credentials and the
// password of the URL.
type HTTPSource struct {
	// Transport sends requests to the source, with the credentials.
	Transport http.RoundTripper
	// Redactor hides every credential of Auth and the URL's password.
	Redactor *Redactor

	base http.RoundTripper
}

// NewHTTPSource builds the transport and the Redactor of o; it does no
// I/O. An error (bad TLS material) wraps ErrInvalidConfig and holds no
// secret.
func NewHTTPSource(o HTTPSourceOptions) (*HTTPSource, error) {
	red := NewRedactor(o.Auth.Secrets()...)
	red.AddURL(o.URL)
	base := o.Transport
	if base == nil {
		t, err := NewHTTPTransport(&o.Auth.TLS)
		if err != nil {
			return nil, red.Error(Invalid(err))
		}
		base = t
	}
	u, _ := url.Parse(o.URL) // checked by ValidateHTTPURL
	return &HTTPSource{
		Transport: &sourceTransport{next: base, host: u.Host, auth: o.Auth, edit: o.Edit},
		Redactor:  red,
		base:      base,
	}, nil
}

// CloseIdleConnections closes the idle connections of the transport; the
// scaler calls it when it is closed.
func (s *HTTPSource) CloseIdleConnections() {
	if ci, ok := s.base.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// sourceTransport edits requests to host and adds the credentials.
type sourceTransport struct {
	next http.RoundTripper
	host string
	auth *HTTPAuth
	edit func(*http.Request)
}

func (t *sourceTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host == t.host && (t.edit != nil || len(t.auth.Modes) > 0) {
		// A RoundTripper must not modify the caller's request.
		r := req.Clone(req.Context())
		if t.edit != nil {
			t.edit(r)
		}
		if err := t.auth.Apply(r); err != nil {
			if req.Body != nil {
				_ = req.Body.Close()
			}
			return nil, err
		}
		req = r
	}
	return t.next.RoundTrip(req)
}
