package metricsapi

import (
	"context"
	"crypto/tls"
	"io"
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

// TestHostileSource: whatever the source does (a black hole, the wrong
// protocol, garbage), every call returns within the bound with an error
// wrapping ErrUnavailable that says what happened, and the call after the
// source is back succeeds.
func TestHostileSource(t *testing.T) {
	pki := testenv.NewPKI(t)
	want := scalers.Metrics{Values: []scalers.MetricValue{{Name: "metric-api-v", Value: 7}}, Active: true}
	scalertest.HostileHTTP{
		Handler:   http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, `{"v": 7}`) }),
		ServerTLS: &tls.Config{Certificates: []tls.Certificate{pki.ServerCert(t).Pair}},
		Bound:     testBound,
		Scaler: func(tb testing.TB, url string) func(context.Context) error {
			s, err := NewWithOptions(tb.Context(), scalers.Config{Type: Type, Metadata: md("url", url+"/stats", "valueLocation", "v", "ca", string(pki.CAPEM)),
				Timeouts: scalers.Timeouts{Default: testBound}}, Options{})
			if err != nil {
				tb.Fatal(err)
			}
			tb.Cleanup(func() { _ = s.Close() })
			return scalertest.Expecting(s.Metrics, want)
		},
		Unavailable: scalers.ErrUnavailable,
		Message:     func(url, what string) string { return "metrics-api: " + url + "/stats: " + what },
	}.Run(t)
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
	t.Run("the bound is the request's", func(t *testing.T) {
		src := scalertest.NewSwitchServer(t, http.NotFoundHandler(), nil, scalertest.BlackHoleMode)
		url := "http://" + src.Addr() + "/stats"
		s, err := NewWithOptions(t.Context(), scalers.Config{Type: Type, Metadata: md("url", url, "timeout", "1h"),
			Timeouts: scalers.Timeouts{Max: testBound}}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		err = scalertest.ReturnsWithin(t, testBound, "a request with timeout 1h, max 1s", func() error {
			_, err := s.Metrics(context.Background())
			return err
		})
		scalertest.CheckMessage(t, err, "metrics-api: "+url+": no answer within 1s (timeout after sending the request)")
	})
}
