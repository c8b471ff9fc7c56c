package prometheus

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// testBound is the server's bound in these tests (scalers.Config.Timeouts).
const testBound = time.Second

// boundedScaler builds a scaler whose server bound is testBound.
func boundedScaler(tb testing.TB, meta map[string]string) *Scaler {
	tb.Helper()
	s, err := NewWithOptions(tb.Context(), scalers.Config{Type: Type, Metadata: meta,
		Timeouts: scalers.Timeouts{Default: testBound, Max: 10 * testBound}}, Options{})
	if err != nil {
		tb.Fatalf("NewWithOptions: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// TestHostileSource: whatever the source does (a black hole, the wrong
// protocol, garbage), every call returns within the bound with an error
// wrapping ErrUnavailable that says what happened, and the call after the
// source is back succeeds.
func TestHostileSource(t *testing.T) {
	pki := testenv.NewPKI(t)
	want := scalers.Metrics{Values: []scalers.MetricValue{{Name: "prometheus", Value: 7}}, Active: true}
	scalertest.HostileHTTP{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_ = r.ParseForm()
			w.Header().Set("Content-Type", "application/json")
			_, _ = fmt.Fprint(w, vectorBody("7"))
		}),
		ServerTLS: &tls.Config{Certificates: []tls.Certificate{pki.ServerCert(t).Pair}},
		Bound:     testBound,
		Scaler: func(tb testing.TB, url string) func(context.Context) error {
			s := boundedScaler(tb, md("serverAddress", url, "ca", string(pki.CAPEM)))
			return scalertest.Expecting(s.Metrics, want)
		},
		Unavailable: scalers.ErrUnavailable,
		Message:     func(url, what string) string { return "prometheus query: " + url + ": " + what },
	}.Run(t)
}

// TestHostileTokenEndpoint: the OAuth2 token request is inside the query's
// bound, and says so naming oauthTokenURI.
func TestHostileTokenEndpoint(t *testing.T) {
	_, srv := newFake(t)
	tests := []struct {
		name string
		mode scalertest.SwitchMode
		want string
	}{
		{"black hole", scalertest.BlackHoleMode, "no token before the request's deadline (timeout)"},
		{"garbage", scalertest.GarbageMode, `net/http: HTTP/1.x transport connection broken: malformed HTTP status code "garbage"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			idp := scalertest.NewSwitchServer(t, http.NotFoundHandler(), nil, tc.mode)
			tokenURI := "http://" + idp.Addr() + "/token"
			s := boundedScaler(t, md("serverAddress", srv.URL, "authModes", "oauth", "oauthTokenURI", tokenURI,
				"clientID", "c", "clientSecret", "client-secret-1"))
			err := scalertest.ReturnsWithin(t, testBound, "a query waiting for its token", func() error {
				_, err := s.Metrics(context.Background())
				return err
			})
			scalertest.CheckErr(t, err, scalers.ErrUnavailable)
			scalertest.CheckMessage(t, err, "prometheus query: "+srv.URL+": oauthTokenURI \""+tokenURI+"\": "+tc.want)
		})
	}
}

// TestTimeoutBound: the timeout key goes through the server's Timeouts:
// absent is the server's default (KEDA's 3000 ms unless the server says
// otherwise), a larger one is lowered to the server's maximum, and that
// is logged once, at info, with the key and both values.
func TestTimeoutBound(t *testing.T) {
	scalertest.CheckTimeouts(t, scalertest.MillisecondTimeoutCases(), func(tb testing.TB, c scalertest.TimeoutCase, log *slog.Logger) time.Duration {
		s, err := NewWithOptions(tb.Context(), scalers.Config{Type: Type, Metadata: md("timeout", c.Timeout),
			Timeouts: scalers.Timeouts{Default: c.Default, Max: c.Max}, Logger: log}, Options{})
		if err != nil {
			tb.Fatal(err)
		}
		defer s.Close()
		return s.Bound()
	})
	t.Run("the bound is the query's", func(t *testing.T) {
		src := scalertest.NewSwitchServer(t, http.NotFoundHandler(), nil, scalertest.BlackHoleMode)
		s, err := NewWithOptions(t.Context(), scalers.Config{Type: Type, Metadata: md("serverAddress", "http://"+src.Addr(), "timeout", "1h"),
			Timeouts: scalers.Timeouts{Max: testBound}}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		err = scalertest.ReturnsWithin(t, testBound, "a query with timeout 1h, max 1s", func() error {
			_, err := s.Metrics(context.Background())
			return err
		})
		scalertest.CheckMessage(t, err, "prometheus query: http://"+src.Addr()+": no answer within 1s (timeout after sending the request)")
	})
}
