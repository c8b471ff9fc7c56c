package scalertest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// HostileHTTP checks an HTTP scaler against the sources of HostileHTTPCases
// (a black hole, the wrong protocol either way, garbage): every call
// returns within Bound with an error wrapping Unavailable whose whole
// message is Message(url, what happened), and the call after the source
// is back succeeds.
type HostileHTTP struct {
	// Handler answers as the good source does.
	Handler http.Handler
	// ServerTLS holds the server certificate for the https cases; the
	// scaler must trust it.
	ServerTLS *tls.Config
	// Bound is the scaler's bound (scalers.Config.Timeouts), 1s in the
	// wording of HostileHTTPCases.
	Bound time.Duration
	// Scaler builds the scaler for the source's base URL (scheme://host:port)
	// and returns one call of it (Metrics); a good call returns nil.
	Scaler func(tb testing.TB, url string) func(ctx context.Context) error
	// Unavailable is the sentinel every error must wrap.
	Unavailable error
	// Message is the whole message of a call to url when what happened.
	Message func(url, what string) string
}

// HostileHTTPCase is one way an HTTP source misbehaves.
type HostileHTTPCase struct {
	Name string
	// Scheme is the scheme the scaler is given.
	Scheme string
	// Hostile is the source's mode at first, Good the mode it comes back
	// in.
	Hostile, Good SwitchMode
	// What is what the error says happened, as net/http and scalers'
	// HTTP sources word it with a bound of 1s.
	What string
}

// HostileHTTPCases are the misbehaving sources every HTTP scaler survives.
func HostileHTTPCases() []HostileHTTPCase {
	return []HostileHTTPCase{
		{Name: "black hole", Scheme: "http", Hostile: BlackHoleMode, Good: ServeHTTP,
			What: "no answer within 1s (timeout after sending the request)"},
		{Name: "black hole behind TLS", Scheme: "https", Hostile: BlackHoleMode, Good: ServeHTTPS,
			What: "no answer within 1s (timeout in the TLS handshake)"},
		{Name: "TLS expected, plain HTTP answered", Scheme: "https", Hostile: ServeHTTP, Good: ServeHTTPS,
			What: "http: server gave HTTP response to HTTPS client"},
		{Name: "plain HTTP expected, TLS answered", Scheme: "http", Hostile: ServeHTTPS, Good: ServeHTTP,
			What: "the server speaks HTTPS (it answered 400 Bad Request to plain HTTP): use https://"},
		{Name: "garbage", Scheme: "http", Hostile: GarbageMode, Good: ServeHTTP,
			What: `net/http: HTTP/1.x transport connection broken: malformed HTTP status code "garbage"`},
		{Name: "garbage instead of TLS", Scheme: "https", Hostile: GarbageMode, Good: ServeHTTPS,
			What: "tls: first record does not look like a TLS handshake"},
	}
}

// Run runs every case as a subtest: two calls while the source is
// hostile (the second shows nothing was left in a bad state), then calls
// until one succeeds after the source is back.
func (h HostileHTTP) Run(t *testing.T) {
	t.Helper()
	for _, tc := range HostileHTTPCases() {
		t.Run(tc.Name, func(t *testing.T) {
			src := NewSwitchServer(t, h.Handler, h.ServerTLS, tc.Hostile)
			url := tc.Scheme + "://" + src.Addr()
			call := h.Scaler(t, url)
			for i := range 2 {
				// No deadline of the caller's: the bound is the scaler's.
				err := ReturnsWithin(t, h.Bound, fmt.Sprintf("call %d", i+1), func() error { return call(context.Background()) })
				if !errors.Is(err, h.Unavailable) {
					t.Errorf("call %d: error %v does not wrap %v", i+1, err, h.Unavailable)
				}
				CheckMessage(t, err, h.Message(url, tc.What))
			}
			src.Set(tc.Good)
			Eventually(t, 30*time.Second, "a value once the source is back", func() error { return call(t.Context()) })
		})
	}
}

// Expecting returns a call of get that fails unless get gives want
// (compared with cmp.Diff) or an error, which it returns: the call of a
// scaler for HostileHTTP.Scaler, where a wrong value must not pass as a
// good one.
func Expecting[T any](get func(context.Context) (T, error), want T) func(context.Context) error {
	return func(ctx context.Context) error {
		got, err := get(ctx)
		if err != nil {
			return err
		}
		if diff := cmp.Diff(want, got); diff != "" {
			return fmt.Errorf("got (-want +got):\n%s", diff)
		}
		return nil
	}
}
