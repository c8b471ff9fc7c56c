package prometheus

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

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
	serverTLS := &tls.Config{Certificates: []tls.Certificate{pki.ServerCert(t).Pair}}
	prom := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprint(w, vectorBody("7"))
	})
	tests := []struct {
		name    string
		scheme  string
		hostile scalertest.SwitchMode
		good    scalertest.SwitchMode
		want    string // the message after "prometheus query: <serverAddress>: "
	}{
		{name: "black hole", scheme: "http", hostile: scalertest.BlackHoleMode, good: scalertest.ServeHTTP,
			want: "no answer within 1s (timeout after sending the request)"},
		{name: "black hole behind TLS", scheme: "https", hostile: scalertest.BlackHoleMode, good: scalertest.ServeHTTPS,
			want: "no answer within 1s (timeout in the TLS handshake)"},
		{name: "TLS expected, plain HTTP answered", scheme: "https", hostile: scalertest.ServeHTTP, good: scalertest.ServeHTTPS,
			want: "http: server gave HTTP response to HTTPS client"},
		{name: "plain HTTP expected, TLS answered", scheme: "http", hostile: scalertest.ServeHTTPS, good: scalertest.ServeHTTP,
			want: "the server speaks HTTPS (it answered 400 Bad Request to plain HTTP): use https://"},
		{name: "garbage", scheme: "http", hostile: scalertest.GarbageMode, good: scalertest.ServeHTTP,
			want: `net/http: HTTP/1.x transport connection broken: malformed HTTP status code "garbage"`},
		{name: "garbage instead of TLS", scheme: "https", hostile: scalertest.GarbageMode, good: scalertest.ServeHTTPS,
			want: "tls: first record does not look like a TLS handshake"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := scalertest.NewSwitchServer(t, prom, serverTLS, tc.hostile)
			url := tc.scheme + "://" + src.Addr()
			s := boundedScaler(t, md("serverAddress", url, "ca", string(pki.CAPEM)))
			for i := range 2 {
				err := scalertest.ReturnsWithin(t, testBound, fmt.Sprintf("call %d", i+1), func() error {
					_, err := s.Metrics(context.Background())
					return err
				})
				scalertest.CheckErr(t, err, scalers.ErrUnavailable)
				scalertest.CheckMessage(t, err, "prometheus query: "+url+": "+tc.want)
			}
			src.Set(tc.good)
			want := scalers.Metrics{Values: []scalers.MetricValue{{Name: "prometheus", Value: 7}}, Active: true}
			scalertest.Eventually(t, 30*time.Second, "a value once the source is back", func() error {
				m, err := s.Metrics(t.Context())
				if err != nil {
					return err
				}
				if diff := cmp.Diff(want, m); diff != "" {
					return fmt.Errorf("Metrics (-want +got):\n%s", diff)
				}
				return nil
			})
		})
	}
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
	tests := []struct {
		name     string
		timeout  string
		timeouts scalers.Timeouts
		want     time.Duration
		wantLog  []string
	}{
		{name: "KEDA's default", want: 3 * time.Second},
		{name: "0 is the default", timeout: "0", want: 3 * time.Second},
		{name: "the server's default", timeouts: scalers.Timeouts{Default: 5 * time.Second}, want: 5 * time.Second},
		{name: "milliseconds", timeout: "1500", want: 1500 * time.Millisecond},
		{name: "above the maximum", timeout: "1h", want: 30 * time.Second,
			wantLog: []string{"INFO timeout above the server's maximum, lowered to it key=timeout asked=1h0m0s max=30s"}},
		{name: "above a lower maximum", timeout: "20s", timeouts: scalers.Timeouts{Max: 10 * time.Second}, want: 10 * time.Second,
			wantLog: []string{"INFO timeout above the server's maximum, lowered to it key=timeout asked=20s max=10s"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			logs := &lineLog{}
			s, err := NewWithOptions(t.Context(), scalers.Config{Type: Type, Metadata: md("timeout", tc.timeout),
				Timeouts: tc.timeouts, Logger: slog.New(logs)}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if got := s.Bound(); got != tc.want {
				t.Errorf("Bound: got %v, want %v", got, tc.want)
			}
			if diff := cmp.Diff(tc.wantLog, logs.lines()); diff != "" {
				t.Errorf("log (-want +got):\n%s", diff)
			}
		})
	}
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

// lineLog is a slog.Handler that keeps "LEVEL message key=value ..." lines
// (without the scaler's own attributes), for comparing whole.
type lineLog struct {
	mu  sync.Mutex
	out []string
}

func (l *lineLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *lineLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *lineLog) WithGroup(string) slog.Handler            { return l }
func (l *lineLog) Handle(_ context.Context, r slog.Record) error {
	parts := []string{r.Level.String(), r.Message}
	r.Attrs(func(a slog.Attr) bool {
		parts = append(parts, a.Key+"="+a.Value.String())
		return true
	})
	l.mu.Lock()
	l.out = append(l.out, strings.Join(parts, " "))
	l.mu.Unlock()
	return nil
}

func (l *lineLog) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.out
}
