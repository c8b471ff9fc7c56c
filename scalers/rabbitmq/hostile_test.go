package rabbitmq

// Tests of sources that hang or speak the wrong protocol: every call (and
// the build) returns within its bound, with an error wrapping
// ErrUnavailable that says what failed.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// hole is a black hole whose connections the test counts exactly: it
// never accepts by itself (the kernel completes each TCP handshake and
// nothing answers), and Conns accepts, in order, up to a probe of its own.
type hole struct {
	l     *net.TCPListener
	conns []net.Conn
}

func newHole(tb testing.TB) *hole {
	tb.Helper()
	l, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatal(err)
	}
	h := &hole{l: l}
	tb.Cleanup(func() {
		_ = l.Close()
		for _, c := range h.conns {
			_ = c.Close()
		}
	})
	return h
}

func (h *hole) Addr() string { return h.l.Addr().String() }

// Conns returns how many connections were made to the hole before the
// call: it connects itself and accepts until it meets its own connection
// (the kernel hands them over in the order they came).
func (h *hole) Conns(tb testing.TB) int {
	tb.Helper()
	probe, err := net.DialTimeout("tcp", h.Addr(), 10*time.Second)
	if err != nil {
		tb.Fatalf("probe %s: %v", h.Addr(), err)
	}
	defer probe.Close()
	_ = h.l.SetDeadline(time.Now().Add(time.Minute))
	n := 0
	for {
		c, err := h.l.Accept()
		if err != nil {
			tb.Fatalf("accept the probe connection: %v", err)
		}
		if c.RemoteAddr().String() == probe.LocalAddr().String() {
			_ = c.Close()
			return n
		}
		h.conns = append(h.conns, c)
		n++
	}
}

// metricsWithin calls Metrics with no deadline of the caller's and fails
// the test unless it returns within bound (plus scalertest.BoundGrace).
func metricsWithin(tb testing.TB, s *Scaler, bound time.Duration, what string) error {
	tb.Helper()
	return scalertest.ReturnsWithin(tb, bound, what, func() error {
		_, err := s.Metrics(context.Background())
		return err
	})
}

// oneOf fails unless err's message is one of want.
func oneOf(tb testing.TB, err error, want ...string) {
	tb.Helper()
	if err == nil {
		tb.Fatalf("got no error, want one of %q", want)
	}
	for _, w := range want {
		if err.Error() == w {
			return
		}
	}
	tb.Errorf("got error %q, want one of:\n%s", err, strings.Join(want, "\n"))
}

// TestBuildDoesNoIO: with a black-holed host, the build returns at once
// and no connection reaches the host until the first call, over either
// protocol; MetricSpecs needs no source.
func TestBuildDoesNoIO(t *testing.T) {
	for _, scheme := range []string{"amqp", "amqps", "http", "https"} {
		t.Run(scheme, func(t *testing.T) {
			bh := newHole(t)
			md := map[string]string{"host": scheme + "://u:build-pw-1@" + bh.Addr() + "/v", "queueName": "q"}
			var s *Scaler
			err := scalertest.ReturnsWithin(t, 0, "the build with a black-holed host", func() error {
				var err error
				s, err = build(scalers.Config{Type: Type, Metadata: md, Timeouts: scalers.Timeouts{Default: testBound}}, defaultOptions())
				return err
			})
			if err != nil {
				t.Fatalf("build: %v", err)
			}
			t.Cleanup(func() { _ = s.Close() })
			if diff := cmp.Diff([]scalers.MetricSpec{{Name: "rabbitmq-q", Target: 20}}, s.MetricSpecs()); diff != "" {
				t.Errorf("MetricSpecs (-want +got):\n%s", diff)
			}
			if n := bh.Conns(t); n != 0 {
				t.Fatalf("the build made %d connections to the host, want none", n)
			}
			err = metricsWithin(t, s, testBound, "the first call")
			checkErr(t, err, scalers.ErrUnavailable, "build-pw-1")
			if n := bh.Conns(t); n != 1 {
				t.Errorf("the first call made %d connections to the host, want 1", n)
			}
		})
	}
}

// TestHostileAMQP: a black hole, servers of other protocols (the broker's
// own management API among them), TLS on one side only. Every call returns
// within the bound with an error that says what the server did, and the
// call during the backoff that follows answers at once with the same
// error, without dialling again.
func TestHostileAMQP(t *testing.T) {
	srv := broker(t)
	c := newCerts(t)
	httpsAPI := c.StartMTLSServer(t, http.NotFoundHandler())
	tlsAddr := strings.TrimPrefix(httpsAPI.URL, "https://")
	bh := scalertest.NewBlackHole(t)
	banner := scalertest.NewBanner(t, "SSH-2.0-OpenSSH_9.6\r\n")
	dropper := scalertest.NewDropper(t)
	mgmt := "127.0.0.1:" + strconv.Itoa(srv.HTTPPort)
	amqpPort := "127.0.0.1:" + strconv.Itoa(srv.AMQPPort)

	tests := []struct {
		name, host string
		// want is the whole message; a timeout of the first call may
		// also come without the backoff (the call's bound ended a moment
		// before the attempt's).
		want    string
		timeout bool
	}{
		{name: "black hole", host: "amqp://u:pw-1@" + bh.Addr() + "/v", timeout: true,
			want: "rabbitmq: connect: no answer within 1s (AMQP handshake with " + bh.Addr() + ": waiting for connection.start)"},
		{name: "black hole behind TLS", host: "amqps://u:pw-1@" + bh.Addr() + "/v", timeout: true,
			want: "rabbitmq: connect: no answer within 1s (TLS handshake with " + bh.Addr() + ")"},
		// The API waits for the end of a request line, which the AMQP
		// protocol header does not have.
		{name: "the management API (HTTP) on the port", host: "amqp://u:pw-1@" + mgmt + "/v", timeout: true,
			want: "rabbitmq: connect: no answer within 1s (AMQP handshake with " + mgmt + ": waiting for connection.start)"},
		// Go's TLS server closes the connection without an alert when the
		// first record is no TLS (TestAMQPS has RabbitMQ's TLS listener).
		{name: "TLS on the port, amqp:// given", host: "amqp://u:pw-1@" + tlsAddr + "/v",
			want: "rabbitmq: connect: " + tlsAddr + ": the server closed the connection before connection.start: is host the broker's AMQP port?"},
		{name: "plain AMQP on the port, amqps:// given", host: "amqps://u:pw-1@" + amqpPort + "/v",
			want: "rabbitmq: connect: TLS handshake with " + amqpPort + ": tls: first record does not look like a TLS handshake (the server does not speak TLS: use an amqp:// host for its port)"},
		{name: "a banner of another protocol", host: "amqp://u:pw-1@" + banner.Addr() + "/v",
			want: "rabbitmq: connect: " + banner.Addr() + `: the server answered "SSH-2.0-OpenSSH_", not AMQP 0-9-1: is host the broker's AMQP port?`},
		{name: "a server that drops the connection", host: "amqp://u:pw-1@" + dropper.Addr() + "/v",
			want: "rabbitmq: connect: " + dropper.Addr() + ": the server closed the connection before connection.start: is host the broker's AMQP port?"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newBoundScaler(t, map[string]string{"host": tt.host, "queueName": "q"}, testBound, frozenClock())
			const backoff = " (next attempt in 1s)"
			err := metricsWithin(t, s, testBound, "the first call")
			checkErr(t, err, scalers.ErrUnavailable, "pw-1")
			if tt.timeout {
				oneOf(t, err, tt.want, tt.want+backoff)
			} else {
				wantErr(t, err, scalers.ErrUnavailable, tt.want+backoff)
			}
			// The attempt is over (the call's bound and the attempt's
			// end together); until it is, calls wait for it.
			scalertest.Eventually(t, time.Minute, "the attempt's failure to be recorded", func() error {
				_, err := s.Metrics(t.Context())
				if err == nil || !strings.HasSuffix(err.Error(), backoff) {
					return fmt.Errorf("got %v", err)
				}
				return nil
			})
			err = scalertest.ReturnsWithin(t, 0, "a call during the backoff", func() error {
				_, err := s.Metrics(context.Background())
				return err
			})
			wantErr(t, err, scalers.ErrUnavailable, tt.want+backoff)
		})
	}
}

// TestCloseDuringConnect: Close while a connection attempt hangs (a
// black-holed host, a bound of a minute) returns at once, and the
// attempt's goroutine ends; a call waiting for the attempt returns the
// scaler's closed error.
func TestCloseDuringConnect(t *testing.T) {
	// Registered first, so it runs after the other cleanups (the black
	// hole's).
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) })
	bh := scalertest.NewBlackHole(t)
	s, err := build(scalers.Config{Type: Type, Metadata: map[string]string{"host": "amqp://u:pw@" + bh.Addr() + "/v", "queueName": "q"},
		Timeouts: scalers.Timeouts{Default: time.Minute, Max: time.Minute}}, defaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	// A caller's earlier deadline ends the call; the attempt goes on.
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	_, err = s.Metrics(ctx)
	cancel()
	wantErr(t, err, scalers.ErrUnavailable,
		"rabbitmq: connect: no answer before the caller's deadline (AMQP handshake with "+bh.Addr()+": waiting for connection.start)")

	waiting := make(chan error, 1)
	go func() {
		_, err := s.Metrics(context.Background())
		waiting <- err
	}()
	err = scalertest.ReturnsWithin(t, 0, "Close with the attempt under way", s.Close)
	if err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-waiting:
		if !errors.Is(err, scalers.ErrClosed) {
			t.Errorf("the call waiting for the attempt: got %v, want the closed error", err)
		}
	case <-time.After(scalertest.BoundGrace):
		t.Fatalf("the call waiting for the attempt did not return within %v of Close", scalertest.BoundGrace)
	}
}

// TestHostileHTTP: the management API host is a black hole, speaks the
// wrong protocol (TLS on one side only, garbage, the broker's AMQP port),
// and comes back: every call returns within the bound with an error that
// says what happened, and once the source is back the next call succeeds.
func TestHostileHTTP(t *testing.T) {
	pki := testenv.NewPKI(t)
	good := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"name":"q","messages":3,"messages_ready":3}`))
	})
	serverTLS := &tls.Config{Certificates: []tls.Certificate{pki.ServerCert(t).Pair}}
	path := "/api/queues/%2F/q?columns=" + queueColumns
	tests := []struct {
		name, scheme  string
		hostile, back scalertest.SwitchMode
		// want is the whole message for the source's address and URL.
		want func(addr, url string) string
	}{
		{"black hole", "http", scalertest.BlackHoleMode, scalertest.ServeHTTP, func(addr, _ string) string {
			return "rabbitmq management API: no answer within 1s (" + addr + ": timeout after sending the request)"
		}},
		{"black hole behind TLS", "https", scalertest.BlackHoleMode, scalertest.ServeHTTPS, func(addr, _ string) string {
			return "rabbitmq management API: no answer within 1s (" + addr + ": timeout in the TLS handshake)"
		}},
		{"TLS expected, plain HTTP answered", "https", scalertest.ServeHTTP, scalertest.ServeHTTPS, func(_, url string) string {
			return `rabbitmq management API: Get "` + url + `": http: server gave HTTP response to HTTPS client`
		}},
		{"plain HTTP expected, TLS answered", "http", scalertest.ServeHTTPS, scalertest.ServeHTTP, func(string, string) string {
			return `rabbitmq management API: unexpected answer 400 Bad Request: "Client sent an HTTP request to an HTTPS server."`
		}},
		{"garbage", "http", scalertest.GarbageMode, scalertest.ServeHTTP, func(_, url string) string {
			return `rabbitmq management API: Get "` + url + `": net/http: HTTP/1.x transport connection broken: malformed HTTP status code "garbage"`
		}},
		{"garbage instead of TLS", "https", scalertest.GarbageMode, scalertest.ServeHTTPS, func(_, url string) string {
			return `rabbitmq management API: Get "` + url + `": tls: first record does not look like a TLS handshake`
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := scalertest.NewSwitchServer(t, good, serverTLS, tt.hostile)
			md := map[string]string{"host": tt.scheme + "://u:pw-http-1@" + src.Addr(), "queueName": "q", "ca": string(pki.CAPEM), "tls": "enable"}
			if tt.scheme == "http" {
				delete(md, "ca")
				delete(md, "tls")
			}
			s := newBoundScaler(t, md, testBound, frozenClock())
			want := tt.want(src.Addr(), tt.scheme+"://"+src.Addr()+path)
			for i := range 2 {
				err := metricsWithin(t, s, testBound, fmt.Sprintf("call %d", i+1))
				wantErr(t, err, scalers.ErrUnavailable, want, "pw-http-1")
			}
			src.Set(tt.back)
			wantMetric(t, s, 3, true)
		})
	}
	t.Run("the broker's AMQP port", func(t *testing.T) {
		srv := broker(t)
		addr := fmt.Sprintf("127.0.0.1:%d", srv.AMQPPort)
		s := newBoundScaler(t, map[string]string{"host": "http://u:pw-http-1@" + addr, "queueName": "q"}, testBound, frozenClock())
		err := metricsWithin(t, s, testBound, "a management API call to the AMQP port")
		wantErr(t, err, scalers.ErrUnavailable, `rabbitmq management API: Get "http://`+addr+path+
			`": net/http: HTTP/1.x transport connection broken: malformed HTTP response "AMQP\x00\x00\t\x01" (an AMQP broker answered: use an amqp:// host for this port, or the management API's port)`)
	})
}

// TestTimeoutBound: the timeout key (milliseconds, as in KEDA) bounds the
// calls over either protocol; absent, the server's default does; above the
// server's maximum it is lowered to it, which is logged once at info with
// the key and both values; the lowered bound is the one calls keep to.
func TestTimeoutBound(t *testing.T) {
	tests := []struct {
		name     string
		md       map[string]string
		timeouts scalers.Timeouts
		want     time.Duration
		wantLog  string
	}{
		{name: "the server's default", md: map[string]string{"host": "http://h", "queueName": "q"}, want: 3 * time.Second},
		{name: "a default of the server's", md: map[string]string{"host": "http://h", "queueName": "q"}, timeouts: scalers.Timeouts{Default: 5 * time.Second}, want: 5 * time.Second},
		{name: "milliseconds", md: map[string]string{"host": "http://h", "queueName": "q", "timeout": "1500"}, want: 1500 * time.Millisecond},
		{name: "amqp, queueLength form", md: map[string]string{"host": "amqp://h", "queueName": "q", "queueLength": "5", "timeout": "2000"}, want: 2 * time.Second},
		{name: "above the maximum", md: map[string]string{"host": "http://h", "queueName": "q", "timeout": "3600000"}, want: 30 * time.Second,
			wantLog: `level=INFO msg="timeout above the server's maximum, lowered to it" scaler=rabbitmq namespace="" name="" queue=q key=timeout asked=1h0m0s max=30s`},
		{name: "above a lower maximum", md: map[string]string{"host": "amqp://h", "queueName": "q", "timeout": "20s"}, timeouts: scalers.Timeouts{Max: 10 * time.Second},
			want:    10 * time.Second,
			wantLog: `level=INFO msg="timeout above the server's maximum, lowered to it" scaler=rabbitmq namespace="" name="" queue=q key=timeout asked=20s max=10s`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf strings.Builder
			logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
				if a.Key == slog.TimeKey {
					return slog.Attr{}
				}
				return a
			}}))
			s, err := build(scalers.Config{Type: Type, Metadata: tt.md, Timeouts: tt.timeouts, Logger: logger}, defaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if got := s.Bound(); got != tt.want {
				t.Errorf("Bound: got %v, want %v", got, tt.want)
			}
			if diff := cmp.Diff(tt.wantLog, strings.TrimSuffix(buf.String(), "\n")); diff != "" {
				t.Errorf("log (-want +got):\n%s", diff)
			}
		})
	}
	for _, scheme := range []string{"amqp", "http"} {
		t.Run("the lowered bound is the calls' with "+scheme, func(t *testing.T) {
			bh := scalertest.NewBlackHole(t)
			s, err := build(scalers.Config{Type: Type, Metadata: map[string]string{"host": scheme + "://" + bh.Addr(), "queueName": "q", "queueLength": "5", "timeout": "3600000"},
				Timeouts: scalers.Timeouts{Max: testBound}}, defaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			err = metricsWithin(t, s, testBound, "a call with timeout 1h, max 1s")
			checkErr(t, err, scalers.ErrUnavailable)
			if !strings.Contains(err.Error(), "no answer within 1s") {
				t.Errorf("got %q, want a call ended by the bound of 1s", err)
			}
		})
	}
}
