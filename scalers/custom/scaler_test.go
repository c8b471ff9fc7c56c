package custom

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/metricsapi"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/prometheus"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/redis"
)

// newRegistry registers real scaler types as sources, and custom last (the
// order must not matter: the factory reads the registry when it builds).
func newRegistry(tb testing.TB) *scalers.Registry {
	tb.Helper()
	r := scalers.NewRegistry()
	r.MustRegister(Type, NewFactory(r))
	r.MustRegister("prometheus", prometheus.New, scalers.WithDefaultTarget(prometheus.DefaultTarget))
	r.MustRegister("redis", redis.NewList)
	r.MustRegister(metricsapi.Type, metricsapi.New, scalers.WithDefaultTarget(metricsapi.DefaultTarget))
	return r
}

// promAPI is a Prometheus HTTP API (httptest) answering every instant
// query with one sample of its current value. A prometheus source is the
// real prometheus scaler talking to it.
type promAPI struct {
	srv   *httptest.Server
	value atomic.Value // string
	// hold, when set, is called before answering (to line requests up).
	hold func()
	// auth, when set, is the Authorization header the server requires.
	auth  string
	calls atomic.Int64
}

func startPromAPI(tb testing.TB, value string) *promAPI {
	tb.Helper()
	p := &promAPI{}
	p.value.Store(value)
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	tb.Cleanup(p.srv.Close)
	return p
}

func (p *promAPI) set(v string) { p.value.Store(v) }

func (p *promAPI) serve(w http.ResponseWriter, r *http.Request) {
	p.calls.Add(1)
	if p.hold != nil {
		p.hold()
	}
	if p.auth != "" && r.Header.Get("Authorization") != p.auth {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if r.URL.Path != "/api/v1/query" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1764244800,%q]}]}}`,
		p.value.Load().(string))
}

// restart closes the server and, when up is true, serves again on the same
// address (a source that goes down and comes back).
func (p *promAPI) restart(tb testing.TB, up bool) {
	tb.Helper()
	addr := p.srv.Listener.Addr().String()
	p.srv.Close()
	if !up {
		return
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		tb.Fatalf("listen again on %s: %v", addr, err)
	}
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(p.serve))
	p.srv.Listener.Close()
	p.srv.Listener = l
	p.srv.Start()
	tb.Cleanup(p.srv.Close)
}

func newCustom(tb testing.TB, reg *scalers.Registry, md map[string]string) scalers.Scaler {
	tb.Helper()
	s, err := reg.New(tb.Context(), scalers.Config{Type: Type, Metadata: md, Namespace: "shop", Name: "orders"})
	if err != nil {
		tb.Fatalf("build the custom scaler: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

func value(tb testing.TB, s scalers.Scaler) (float64, bool) {
	tb.Helper()
	m, err := s.Metrics(tb.Context())
	if err != nil {
		tb.Fatalf("Metrics: %v", err)
	}
	name := s.MetricSpecs()[0].Name
	v, ok := m.Value(name)
	if !ok {
		tb.Fatalf("Metrics has no value named %s: %+v", name, m)
	}
	return v, m.Active
}

func TestDesignExampleOverPrometheusSources(t *testing.T) {
	queue := startPromAPI(t, "100")
	duration := startPromAPI(t, "2")
	users := startPromAPI(t, "500")
	cpu := startPromAPI(t, "0.9")
	reg := newRegistry(t)
	// The design's spelling: prometheus sources with url, no threshold.
	s := newCustom(t, reg, map[string]string{
		"scalerAddress":                  "hpa-autoscaler.hpa-system:9443",
		"expression":                     "(queue_length * processing_time > 300) ||\n(active_users > 1000 && cpu_usage > 0.6)",
		"threshold":                      "1",
		"activationThreshold":            "0.5",
		"source.queue_length.type":       "prometheus",
		"source.queue_length.url":        queue.srv.URL,
		"source.queue_length.query":      "sum(rabbitmq_queue_messages_ready)",
		"source.processing_time.type":    "prometheus",
		"source.processing_time.url":     duration.srv.URL,
		"source.processing_time.query":   "avg(order_processing_duration_seconds)",
		"source.active_users.type":       "prometheus",
		"source.active_users.url":        users.srv.URL,
		"source.active_users.query":      "sum(active_users)",
		"source.cpu_usage.type":          "prometheus",
		"source.cpu_usage.serverAddress": cpu.srv.URL,
		"source.cpu_usage.query":         "avg(cpu)",
	})
	steps := []struct {
		name                   string
		queue, duration, users string
		want                   float64
		wantActive             bool
	}{
		{"neither condition", "100", "2", "500", 0, false},
		{"queue work above 300", "200", "2", "500", 1, true},
		{"many users on busy CPUs", "100", "2", "1500", 1, true},
		{"back to quiet", "10", "1", "10", 0, false},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			queue.set(st.queue)
			duration.set(st.duration)
			users.set(st.users)
			got, active := value(t, s)
			if got != st.want || active != st.wantActive {
				t.Errorf("got value %v active %v, want %v %v", got, active, st.want, st.wantActive)
			}
		})
	}
}

func TestMetricSpecs(t *testing.T) {
	api := startPromAPI(t, "1")
	reg := newRegistry(t)
	md := func(expr string) map[string]string {
		return map[string]string{
			"expression": expr, "threshold": "2.5",
			"source.q.type": "prometheus", "source.q.serverAddress": api.srv.URL, "source.q.query": "up",
		}
	}
	a := newCustom(t, reg, md("q * 2.0"))
	again := newCustom(t, reg, md("q * 2.0"))
	other := newCustom(t, reg, md("q * 3.0"))
	specs := a.MetricSpecs()
	if len(specs) != 1 || specs[0].Target != 2.5 || !strings.HasPrefix(specs[0].Name, "custom-") || !strings.HasSuffix(specs[0].Name, "-q") {
		t.Fatalf("got %+v, want one metric custom-<hash>-q with target 2.5", specs)
	}
	if got := again.MetricSpecs()[0].Name; got != specs[0].Name {
		t.Errorf("same configuration: got name %q, want %q", got, specs[0].Name)
	}
	if got := other.MetricSpecs()[0].Name; got == specs[0].Name {
		t.Errorf("another expression got the same metric name %q", got)
	}
}

func TestFailingSource(t *testing.T) {
	healthy := startPromAPI(t, "10")
	flaky := startPromAPI(t, "5")
	reg := newRegistry(t)
	md := func(expr string) map[string]string {
		return map[string]string{
			"expression": expr, "threshold": "1",
			"source.healthy.type": "prometheus", "source.healthy.serverAddress": healthy.srv.URL, "source.healthy.query": "a",
			"source.flaky.type": "prometheus", "source.flaky.serverAddress": flaky.srv.URL, "source.flaky.query": "b",
			"source.flaky.timeout": "2000",
		}
	}
	needs := newCustom(t, reg, md("healthy + flaky"))
	tests := newCustom(t, reg, md("has(sources.flaky) ? healthy + flaky : healthy * 2.0"))
	optional := newCustom(t, reg, md("healthy + sources.?flaky.orValue(100.0)"))

	check := func(t *testing.T, s scalers.Scaler, want float64) {
		t.Helper()
		if got, _ := value(t, s); got != want {
			t.Errorf("got %v, want %v", got, want)
		}
	}
	t.Run("all up", func(t *testing.T) {
		check(t, needs, 15)
		check(t, tests, 15)
		check(t, optional, 15)
	})

	flaky.restart(t, false)
	t.Run("down: an expression that needs the source fails naming it", func(t *testing.T) {
		_, err := needs.Metrics(t.Context())
		if err == nil {
			t.Fatal("got no error, want one naming the flaky source (never a silent 0)")
		}
		if !errors.Is(err, scalers.ErrUnavailable) {
			t.Errorf("errors.Is(err, ErrUnavailable) = false for %v", err)
		}
		if !strings.Contains(err.Error(), "source flaky: ") || strings.Contains(err.Error(), "source healthy") {
			t.Errorf("got %q, want it to name source flaky only", err)
		}
	})
	t.Run("down: has() and optionals do without it", func(t *testing.T) {
		check(t, tests, 20)
		check(t, optional, 110)
	})

	flaky.restart(t, true)
	t.Run("back up", func(t *testing.T) {
		check(t, needs, 15)
		check(t, tests, 15)
	})
}

func TestSourcesAreFetchedConcurrently(t *testing.T) {
	// Each server answers only once both requests have arrived: fetched
	// one after the other, the first would wait for a second that never
	// comes (and fail after 10 s instead of hanging the test).
	var arrived sync.WaitGroup
	arrived.Add(2)
	both := make(chan struct{})
	go func() { arrived.Wait(); close(both) }()
	var once [2]sync.Once
	hold := func(i int) func() {
		return func() {
			once[i].Do(arrived.Done)
			select {
			case <-both:
			case <-time.After(10 * time.Second):
			}
		}
	}
	a := startPromAPI(t, "1")
	a.hold = hold(0)
	b := startPromAPI(t, "2")
	b.hold = hold(1)
	s := newCustom(t, newRegistry(t), map[string]string{
		"expression": "a + b", "threshold": "1",
		"source.a.type": "prometheus", "source.a.serverAddress": a.srv.URL, "source.a.query": "a",
		"source.b.type": "prometheus", "source.b.serverAddress": b.srv.URL, "source.b.query": "b",
	})
	select {
	case <-both:
		t.Fatal("requests arrived before Metrics was called")
	default:
	}
	if got, _ := value(t, s); got != 3 {
		t.Fatalf("got %v, want 3", got)
	}
	select {
	case <-both:
	default:
		t.Fatal("the two sources were not fetched at the same time")
	}
}

func TestTheCallersContextReachesTheSources(t *testing.T) {
	release := make(chan struct{})
	api := startPromAPI(t, "1")
	api.hold = func() { <-release }
	// Registered after the server's Close, so it runs before it.
	t.Cleanup(func() { close(release) })
	s := newCustom(t, newRegistry(t), map[string]string{
		"expression": "q", "threshold": "1",
		"source.q.type": "prometheus", "source.q.serverAddress": api.srv.URL, "source.q.query": "q",
	})
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err := s.Metrics(ctx)
	if err == nil || !strings.Contains(err.Error(), "source q") {
		t.Fatalf("got %v, want an error naming source q after the deadline", err)
	}
}

func TestRedisSource(t *testing.T) {
	srv := testenv.StartRedis(t)
	client := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = client.Close() })
	api := startPromAPI(t, "4")
	s := newCustom(t, newRegistry(t), map[string]string{
		"expression": "jobs / workers", "threshold": "10", "activationThreshold": "1",
		"source.jobs.type": "redis", "source.jobs.address": srv.Addr(), "source.jobs.listName": "jobs",
		"source.workers.type": "prometheus", "source.workers.serverAddress": api.srv.URL, "source.workers.query": "count(up)",
	})
	if got, active := value(t, s); got != 0 || active {
		t.Errorf("empty list: got %v active %v, want 0 false", got, active)
	}
	if err := client.RPush(t.Context(), "jobs", 1, 2, 3, 4, 5, 6).Err(); err != nil {
		t.Fatalf("RPUSH: %v", err)
	}
	if got, active := value(t, s); got != 1.5 || !active {
		t.Errorf("six jobs, four workers: got %v active %v, want 1.5 true", got, active)
	}
}

func TestSecretsPassThroughToTheSource(t *testing.T) {
	api := startPromAPI(t, "7")
	api.auth = "Basic " + base64.StdEncoding.EncodeToString([]byte("scaler:s3cret-pass"))
	s := newCustom(t, newRegistry(t), map[string]string{
		"expression": "q", "threshold": "1",
		"source.q.type": "prometheus", "source.q.serverAddress": api.srv.URL, "source.q.query": "q",
		"source.q.authModes": "basic", "source.q.username": "scaler",
		// KEDA has resolved the env var already: the value arrives here.
		"source.q.passwordFromEnv": "s3cret-pass",
	})
	if got, _ := value(t, s); got != 7 {
		t.Errorf("got %v, want 7", got)
	}

	// A wrong password: the error names the source and hides the secret.
	api.auth = "Basic " + base64.StdEncoding.EncodeToString([]byte("scaler:other"))
	_, err := s.Metrics(t.Context())
	if err == nil || !strings.Contains(err.Error(), "source q") || strings.Contains(err.Error(), "s3cret-pass") {
		t.Errorf("got %v, want an error naming source q without the password", err)
	}
}

func TestBuildErrorsAreCollected(t *testing.T) {
	reg := newRegistry(t)
	_, err := reg.New(t.Context(), scalers.Config{Type: Type, Metadata: map[string]string{
		"expression":                "q * 2 + missing",
		"threshold":                 "-1",
		"source.q.type":             "prometheus",
		"source.q.serverAddress":    "not a url",
		"source.r.type":             "prometheus",
		"source.r.serverAddress":    "http://prom:9090",
		"source.r.query":            "up",
		"source.r.ignoreNullValues": "maybe",
		"source.s.type":             "kafak",
		"source.t.type":             "prometheus",
		"source.t.url":              "http://a:9090",
		"source.t.serverAddress":    "http://b:9090",
		"source.t.query":            "up",
		"source.v.type":             "prometheus",
		"source.v.serverAddress":    "not a url",
		"source.v.query":            "up",
	}})
	checkErrs(t, err, []string{
		`threshold "-1": must be > 0`,
		// One error for the expression, with each of its issues.
		"expression:1:3: found no matching overload for '_*_' applied to '(double, int)'",
		"source.q.query: required key is missing",
		`source.v.serverAddress "not a url"`,
		`source.r.ignoreNullValues "maybe": not a boolean`,
		`source.s.type "kafak": unknown scaler type, expected one of: metrics-api, prometheus, redis, external (= metrics-api)`,
		`source.t.url "http://a:9090": give serverAddress or url (an alias of it), not both`,
	})
	if want := "expression:1:9: undeclared reference to 'missing'"; !strings.Contains(err.Error(), want) {
		t.Errorf("error does not mention %q:\n%v", want, err)
	}
}

func TestCloseClosesEverySource(t *testing.T) {
	api := startPromAPI(t, "1")
	reg := newRegistry(t)
	sc, err := reg.New(t.Context(), scalers.Config{Type: Type, Metadata: map[string]string{
		"expression": "a + b", "threshold": "1",
		"source.a.type": "prometheus", "source.a.serverAddress": api.srv.URL, "source.a.query": "a",
		"source.b.type": "prometheus", "source.b.serverAddress": api.srv.URL, "source.b.query": "b",
	}})
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	s := sc.(*Scaler)
	if _, err := s.Metrics(t.Context()); err != nil {
		t.Fatalf("Metrics: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := s.Metrics(t.Context()); err == nil {
		t.Errorf("Metrics after Close: got no error, want one")
	}
	for _, src := range s.sources {
		if _, err := src.scaler.Metrics(t.Context()); err == nil {
			t.Errorf("source %s still answers after Close", src.name)
		}
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: got %v, want nil", err)
	}
}

func TestConcurrentCalls(t *testing.T) {
	a := startPromAPI(t, "3")
	b := startPromAPI(t, "4")
	s := newCustom(t, newRegistry(t), map[string]string{
		"expression": "math.greatest(a, b)", "threshold": "1",
		"source.a.type": "prometheus", "source.a.serverAddress": a.srv.URL, "source.a.query": "a",
		"source.b.type": "prometheus", "source.b.serverAddress": b.srv.URL, "source.b.query": "b",
	})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				m, err := s.Metrics(t.Context())
				if err != nil || m.Values[0].Value != 4 {
					t.Errorf("got %+v, %v, want 4", m, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if got := a.calls.Load(); got != 160 {
		t.Errorf("source a was fetched %d times, want once per call (160)", got)
	}
}
