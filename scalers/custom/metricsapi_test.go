package custom

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

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
	if got, active := value(t, s); got != 1 || !active {
		t.Errorf("got %v active %v, want 1 true", got, active)
	}
	users.body.Store("900")
	if got, active := value(t, s); got != 0 || active {
		t.Errorf("got %v active %v, want 0 false", got, active)
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
	if err == nil {
		t.Fatal("rate down: got no error, want one naming source rate")
	}
	if !errors.Is(err, scalers.ErrUnavailable) || !strings.Contains(err.Error(), "source rate: ") || strings.Contains(err.Error(), "source backlog") {
		t.Errorf("rate down: got %v, want an ErrUnavailable naming source rate only", err)
	}
	if got, _ := value(t, lenient); got != 40 {
		t.Errorf("rate down, has(): got %v, want 40", got)
	}

	// A source that answers without a usable value is a failed source too.
	rate.start(t)
	rate.body.Store(`{"perSecond": null}`)
	if _, err := strict.Metrics(t.Context()); err == nil || !strings.Contains(err.Error(), "source rate: ") {
		t.Errorf("rate null: got %v, want an error naming source rate", err)
	}
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
		want string
	}{
		{"env reference", map[string]string{"source.u.url": "http://api/x", "source.u.headers": "Authorization: Bearer ${TOKEN}"},
			"source.u.headers (secret, not shown): ${VAR} is not expanded"},
		{"two headers", map[string]string{"source.u.url": "http://api/x", "source.u.headers": "A: 1\nB: 2"},
			"source.u.headers (secret, not shown): expected exactly one header"},
		{"not a header", map[string]string{"source.u.url": "http://api/x", "source.u.headers": "secret-token-only"},
			`source.u.headers (secret, not shown): expected a header "Name: value"`},
		{"with authModes", map[string]string{"source.u.url": "http://api/x", "source.u.headers": "A: 1", "source.u.authModes": "basic"},
			"headers cannot be combined with authModes"},
		{"metrics-api errors are prefixed", map[string]string{"source.u.url": "ftp://api/x"},
			`source.u.url "ftp://api/x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := build(tt.md)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
			if !errors.Is(err, scalers.ErrInvalidConfig) {
				t.Errorf("errors.Is(err, ErrInvalidConfig) = false")
			}
			if strings.Contains(err.Error(), "secret-token-only") || strings.Contains(err.Error(), "${TOKEN}") {
				t.Errorf("the header value leaked: %v", err)
			}
		})
	}
}
