package custom

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// jsonAPI is an HTTP metrics API (httptest) serving a JSON body; a
// metrics-api (or external) source is the real metrics-api scaler reading
// it.
type jsonAPI struct {
	srv  *httptest.Server
	body atomic.Value // string
	// header, when set, is "Name: value" that requests must carry.
	header string
}

func startJSONAPI(tb testing.TB, body string) *jsonAPI {
	tb.Helper()
	a := &jsonAPI{}
	a.body.Store(body)
	a.srv = httptest.NewServer(http.HandlerFunc(a.serve))
	tb.Cleanup(a.srv.Close)
	return a
}

func (a *jsonAPI) serve(w http.ResponseWriter, r *http.Request) {
	if a.header != "" {
		name, value, _ := strings.Cut(a.header, ": ")
		if r.Header.Get(name) != value {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(a.body.Load().(string)))
}

// stop closes the server; start serves again on the same address.
func (a *jsonAPI) stop() { a.srv.Close() }

func (a *jsonAPI) start(tb testing.TB) {
	tb.Helper()
	addr := a.srv.Listener.Addr().String()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		tb.Fatalf("listen again on %s: %v", addr, err)
	}
	a.srv = httptest.NewUnstartedServer(http.HandlerFunc(a.serve))
	a.srv.Listener.Close()
	a.srv.Listener = l
	a.srv.Start()
	tb.Cleanup(a.srv.Close)
}

func TestDesignExternalSource(t *testing.T) {
	// The design's external source: a URL answering a bare number, with an
	// Authorization header; no valueLocation, no targetValue.
	users := startJSONAPI(t, "1500")
	users.header = "Authorization: Bearer analytics-token"
	queue := startJSONAPI(t, `{"queues":[{"name":"orders","ready":120}]}`)
	s := newCustom(t, newRegistry(t), map[string]string{
		"expression":                        "active_users > 1000.0 && queue_length > 100.0",
		"threshold":                         "1",
		"source.active_users.type":          "external",
		"source.active_users.url":           users.srv.URL + "/metrics/active-users",
		"source.active_users.headers":       "Authorization: Bearer analytics-token",
		"source.queue_length.type":          "metrics-api",
		"source.queue_length.url":           queue.srv.URL,
		"source.queue_length.valueLocation": "queues.#(name==\"orders\").ready",
	})
	if diff := cmp.Diff(reading{1, true}, readingOf(t, s)); diff != "" {
		t.Errorf("1500 users (-want +got):\n%s", diff)
	}
	users.body.Store("900")
	if diff := cmp.Diff(reading{0, false}, readingOf(t, s)); diff != "" {
		t.Errorf("900 users (-want +got):\n%s", diff)
	}
}

func TestMetricsAPISourceGoesDownAndComesBack(t *testing.T) {
	backlog := startJSONAPI(t, `{"backlog": 40}`)
	rate := startJSONAPI(t, `{"perSecond": 4}`)
	reg := newRegistry(t)
	md := func(expr string) map[string]string {
		return map[string]string{
			"expression": expr, "threshold": "5",
			"source.backlog.type": "metrics-api", "source.backlog.url": backlog.srv.URL, "source.backlog.valueLocation": "backlog",
			"source.rate.type": "metrics-api", "source.rate.url": rate.srv.URL, "source.rate.valueLocation": "perSecond",
			"source.rate.timeout": "2000",
		}
	}
	strict := newCustom(t, reg, md("backlog / rate"))
	lenient := newCustom(t, reg, md("has(sources.rate) ? backlog / rate : backlog / 1.0"))

	if got, _ := value(t, strict); got != 10 {
		t.Fatalf("all up: got %v, want 10", got)
	}
	rate.stop()
	_, err := strict.Metrics(t.Context())
	checkSourceFailed(t, err, "rate", "backlog")
	if got, _ := value(t, lenient); got != 40 {
		t.Errorf("rate down, has(): got %v, want 40", got)
	}

	// A source that answers without a usable value is a failed source too.
	rate.start(t)
	rate.body.Store(`{"perSecond": null}`)
	_, err = strict.Metrics(t.Context())
	checkSourceFailed(t, err, "rate", "backlog")
	if got, _ := value(t, lenient); got != 40 {
		t.Errorf("rate null, has(): got %v, want 40", got)
	}

	rate.body.Store(`{"perSecond": 8}`)
	if got, _ := value(t, strict); got != 5 {
		t.Errorf("back up: got %v, want 5", got)
	}
}

func TestExternalSourceErrors(t *testing.T) {
	reg := newRegistry(t)
	build := func(md map[string]string) error {
		md["expression"], md["threshold"], md["source.u.type"] = "u", "1", "external"
		_, err := reg.New(t.Context(), scalers.Config{Type: Type, Metadata: md})
		return err
	}
	tests := []struct {
		name string
		md   map[string]string
		want []string // the whole message of each error
	}{
		{"env reference", map[string]string{"source.u.url": "http://api/x", "source.u.headers": "Authorization: Bearer ${TOKEN}"},
			[]string{"source.u.headers (secret, not shown): ${VAR} is not expanded; give the value with customAuthHeader and customAuthValue, customAuthValueFromEnv or customAuthValueFile (or authModes=bearer and bearerTokenFile)"}},
		{"two headers", map[string]string{"source.u.url": "http://api/x", "source.u.headers": "A: 1\nB: 2"},
			[]string{`source.u.headers (secret, not shown): expected exactly one header "Name: value" (for more, use the metrics-api keys authModes, ...)`}},
		{"not a header", map[string]string{"source.u.url": "http://api/x", "source.u.headers": "secret-token-only"},
			[]string{`source.u.headers (secret, not shown): expected a header "Name: value"`}},
		{"with authModes", map[string]string{"source.u.url": "http://api/x", "source.u.headers": "A: 1", "source.u.authModes": "basic"},
			[]string{"source.u.headers (secret, not shown): headers cannot be combined with authModes"}},
		// In the metrics-api scaler's own words, under source.u.
		{"metrics-api errors are prefixed", map[string]string{"source.u.url": "ftp://api/x"},
			sourceErrs(t, reg, Source{Name: "u", Type: "external", Metadata: map[string]string{"url": "ftp://api/x"}})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := build(tt.md)
			checkErrs(t, err, tt.want)
			if strings.Contains(err.Error(), "secret-token-only") || strings.Contains(err.Error(), "${TOKEN}") {
				t.Errorf("the header value leaked: %v", err)
			}
		})
	}
}
