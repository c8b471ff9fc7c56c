package prometheus

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// waitLimit bounds every wait for a scrape to show; an idle machine needs
// about one scrape interval (1s).
const waitLimit = 60 * time.Second

// answers builds the condition for scalertest.Eventually: nil once the
// scaler's answer passes check.
func answers(tb testing.TB, s *Scaler, check func(float64, error) error) func() error {
	return func() error { return check(s.Value(tb.Context())) }
}

// is accepts the value want.
func is(want float64) func(float64, error) error {
	return func(v float64, err error) error {
		switch {
		case err != nil:
			return err
		case v != want:
			return fmt.Errorf("got %v, want %v", v, want)
		}
		return nil
	}
}

// fails accepts an error wrapping sentinel with the message want.
func fails(sentinel error, want string) func(float64, error) error {
	return func(v float64, err error) error {
		switch {
		case err == nil:
			return fmt.Errorf("got %v and no error", v)
		case !errors.Is(err, sentinel) || err.Error() != want:
			return fmt.Errorf("got error %q, want %q wrapping %v", err, want, sentinel)
		}
		return nil
	}
}

// TestRealPrometheus runs the scaler against the installed Prometheus
// server, scraping a target whose series the test changes.
func TestRealPrometheus(t *testing.T) {
	target := testenv.NewMetricsTarget(t)
	target.Set(`hpa_queue{queue="a"}`, 42)
	target.Set(`hpa_queue{queue="b"}`, 8)
	p := testenv.StartPrometheus(t, testenv.PrometheusOptions{Targets: []string{target.Addr()}})

	scaler := func(tb testing.TB, kv ...string) *Scaler {
		tb.Helper()
		return newScaler(tb, md(append([]string{"serverAddress", p.URL, "threshold", "10", "activationThreshold", "5"}, kv...)...), Options{})
	}

	t.Run("a gauge the target changes", func(t *testing.T) {
		s := scaler(t, "query", `hpa_queue{queue="a"}`)
		scalertest.Eventually(t, waitLimit, "42 from the first scrape", answers(t, s, is(42)))
		m, err := s.Metrics(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(scalers.Metrics{Values: []scalers.MetricValue{{Name: "prometheus", Value: 42}}, Active: true}, m); diff != "" {
			t.Errorf("Metrics (-want +got):\n%s", diff)
		}
		target.Set(`hpa_queue{queue="a"}`, 3)
		scalertest.Eventually(t, waitLimit, "3 after the next scrape", answers(t, s, is(3)))
		m, err = s.Metrics(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(scalers.Metrics{Values: []scalers.MetricValue{{Name: "prometheus", Value: 3}}, Active: false}, m); diff != "" {
			t.Errorf("Metrics (-want +got):\n%s", diff)
		}
	})

	t.Run("aggregation and scalar results", func(t *testing.T) {
		scalertest.Eventually(t, waitLimit, "sum 11", answers(t, scaler(t, "query", `sum(hpa_queue)`), is(11)))
		scalertest.Eventually(t, waitLimit, "scalar 8", answers(t, scaler(t, "query", `scalar(max(hpa_queue))`), is(8)))
		v, err := scaler(t, "query", `vector(2.5)`).Value(t.Context())
		if err := is(2.5)(v, err); err != nil {
			t.Error(err)
		}
	})

	t.Run("several series", func(t *testing.T) {
		series := func(q string) string {
			return `hpa_queue{instance="` + target.Addr() + `", job="test", queue="` + q + `"}`
		}
		scalertest.Eventually(t, waitLimit, "both series from a scrape", answers(t, scaler(t, "query", `hpa_queue`),
			fails(scalers.ErrNoData, `prometheus query "hpa_queue": returned 2 samples, expected exactly 1 (aggregate them, e.g. with sum(), `+
				`or narrow the label matchers): `+series("a")+", "+series("b"))))
	})

	t.Run("a series that goes away", func(t *testing.T) {
		target.Set(`hpa_gone`, 4)
		ignore := scaler(t, "query", `hpa_gone`)
		strict := scaler(t, "query", `hpa_gone`, "ignoreNullValues", "false")
		scalertest.Eventually(t, waitLimit, "4 from a scrape", answers(t, strict, is(4)))
		target.Delete(`hpa_gone`)
		// The next scrape marks the series stale: the query is empty.
		scalertest.Eventually(t, waitLimit, "no samples after the series went stale", answers(t, strict,
			fails(scalers.ErrNoData, `prometheus query "hpa_gone": returned no samples (set ignoreNullValues to "true" to read this as 0)`)))
		v, err := ignore.Value(t.Context())
		if err := is(0)(v, err); err != nil {
			t.Errorf("ignoreNullValues: %v", err)
		}
	})

	t.Run("NaN", func(t *testing.T) {
		target.Set(`hpa_nan`, math.NaN())
		strict := scaler(t, "query", `hpa_nan`, "ignoreNullValues", "false")
		scalertest.Eventually(t, waitLimit, "NaN from a scrape", answers(t, strict,
			fails(scalers.ErrNoData, `prometheus query "hpa_nan": returned NaN (set ignoreNullValues to "true" to read this as 0)`)))
		v, err := scaler(t, "query", `hpa_nan`).Value(t.Context())
		if err := is(0)(v, err); err != nil {
			t.Errorf("ignoreNullValues: %v", err)
		}
	})

	t.Run("invalid PromQL", func(t *testing.T) {
		_, err := scaler(t, "query", `sum(hpa_queue`).Value(t.Context())
		scalertest.CheckErr(t, err, scalers.ErrInvalidConfig)
		scalertest.CheckMessage(t, err, `invalid metadata: query "sum(hpa_queue": rejected by `+p.URL+
			`: invalid parameter "query": 1:14: parse error: unclosed left parenthesis`)
	})

	t.Run("range vector", func(t *testing.T) {
		scalertest.Eventually(t, waitLimit, "a range vector of one series", answers(t, scaler(t, "query", `hpa_queue{queue="b"}[1m]`),
			fails(scalers.ErrNoData, `prometheus query "hpa_queue{queue=\"b\"}[1m]": returned a range vector of 1 series, `+
				`expected an instant vector or a scalar (drop the [range] selector or wrap it in a function such as rate())`)))
	})

	t.Run("query parameters and namespace", func(t *testing.T) {
		// Prometheus ignores parameters it does not know; a bad value of one
		// it knows is a configuration error.
		scalertest.Eventually(t, waitLimit, "sum 11 with extra parameters",
			answers(t, scaler(t, "query", `sum(hpa_queue)`, "namespace", "ns", "queryParameters", "dedup=true"), is(11)))
		_, err := scaler(t, "query", `sum(hpa_queue)`, "queryParameters", "timeout=banana").Value(t.Context())
		scalertest.CheckErr(t, err, scalers.ErrInvalidConfig, `invalid metadata: query "sum(hpa_queue)": rejected by `+p.URL+": ")
	})
}

// TestRealPrometheusDownAndBack takes the server away and brings it back:
// errors wrap ErrUnavailable meanwhile and the same scaler recovers.
func TestRealPrometheusDownAndBack(t *testing.T) {
	p := testenv.StartPrometheus(t, testenv.PrometheusOptions{RemoteWriteReceiver: true})
	if err := p.RemoteWrite(t.Context(), testenv.RemoteSample{Labels: map[string]string{"__name__": "hpa_pushed", "q": "x"}, Value: 6}); err != nil {
		t.Fatalf("remote write: %v", err)
	}
	s := newScaler(t, md("serverAddress", p.URL, "query", `hpa_pushed{q="x"}`), Options{})
	v, err := s.Value(t.Context())
	if err := is(6)(v, err); err != nil {
		t.Fatalf("before: %v", err)
	}
	p.Stop()
	_, err = s.Value(t.Context())
	scalertest.CheckErr(t, err, scalers.ErrUnavailable)
	scalertest.CheckMessage(t, err, "prometheus query: "+p.URL+": dial tcp 127.0.0.1:"+strconv.Itoa(p.Port)+": connect: connection refused")
	if err := p.Restart(); err != nil {
		t.Fatalf("restart: %v", err)
	}
	// Restart returns once the server is ready, the sample replayed.
	v, err = s.Value(t.Context())
	if err := is(6)(v, err); err != nil {
		t.Fatalf("after restart: %v", err)
	}
}

// TestRealPrometheusOAuth puts the real server behind a proxy that passes
// only requests with the token endpoint's current token: the scaler gets a
// token, keeps it, and gets a new one when the proxy refuses a revoked one.
func TestRealPrometheusOAuth(t *testing.T) {
	p := testenv.StartPrometheus(t, testenv.PrometheusOptions{RemoteWriteReceiver: true})
	if err := p.RemoteWrite(t.Context(), testenv.RemoteSample{Labels: map[string]string{"__name__": "hpa_oauth_queue"}, Value: 17}); err != nil {
		t.Fatalf("remote write: %v", err)
	}
	tokens := scalertest.NewTokenServer(t, scalertest.TokenServerOptions{ClientID: "keda-prometheus", ClientSecret: "client-secret-0042", ExpiresIn: 3600})
	upstream, err := url.Parse(p.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(upstream)
	// Its own transport, so its connections end with the test.
	proxyTransport := &http.Transport{}
	t.Cleanup(proxyTransport.CloseIdleConnections)
	proxy.Transport = proxyTransport
	guard := &bearerGuard{tokens: tokens, next: proxy}
	front := newServer(t, guard)

	s := newScaler(t, oauthMD(front.URL, tokens, "query", "hpa_oauth_queue", "threshold", "10", "activationThreshold", "5"), Options{})
	for range 2 {
		m, err := s.Metrics(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(scalers.Metrics{Values: []scalers.MetricValue{{Name: "prometheus", Value: 17}}, Active: true}, m); diff != "" {
			t.Errorf("Metrics (-want +got):\n%s", diff)
		}
	}
	auth, refused := guard.seen()
	if diff := cmp.Diff([]string{"Bearer access-token-1", "Bearer access-token-1"}, auth); diff != "" || refused != 0 {
		t.Errorf("Authorization at the proxy (-want +got):\n%s\nrefused %d, want 0", diff, refused)
	}

	tokens.Revoke()
	v, err := s.Value(t.Context())
	if err := is(17)(v, err); err != nil {
		t.Fatalf("after the revocation: %v", err)
	}
	auth, refused = guard.seen()
	if diff := cmp.Diff([]string{"Bearer access-token-1", "Bearer access-token-2"}, auth); diff != "" || refused != 1 {
		t.Errorf("Authorization at the proxy after the revocation (-want +got):\n%s\nrefused %d, want 1", diff, refused)
	}
	if n := len(tokens.Requests()); n != 2 {
		t.Errorf("%d token requests, want 2", n)
	}

	t.Run("a bearer token the proxy does not know", func(t *testing.T) {
		s := newScaler(t, md("serverAddress", front.URL, "query", "hpa_oauth_queue", "authModes", "bearer", "bearerToken", "stale-token"), Options{})
		_, err := s.Value(t.Context())
		scalertest.CheckErr(t, err, scalers.ErrUnavailable)
		scalertest.CheckMessage(t, err, "prometheus query: "+front.URL+": client error: 401")
	})
}
