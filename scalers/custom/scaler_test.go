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

	"github.com/google/go-cmp/cmp"
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

// sourceErrs is what the source's own scaler type says of its metadata,
// each error named as custom names it (source.<name>.<key>): the words
// after the key are the source type's, so a test of custom checks its
// prefixing whole without restating another package's messages.
func sourceErrs(tb testing.TB, reg *scalers.Registry, src Source) []string {
	tb.Helper()
	typ, md, err := resolveSource(reg, src)
	if err != nil {
		tb.Fatalf("source %s: %v", src.Name, err)
	}
	_, err = reg.New(tb.Context(), scalers.Config{Type: typ, Metadata: md})
	var me *scalers.MetadataError
	if !errors.As(err, &me) {
		tb.Fatalf("source %s on its own: got %v, want a *scalers.MetadataError", src.Name, err)
	}
	var out []string
	for _, fe := range me.Errs {
		out = append(out, sourcePrefix+src.Name+"."+fe.Error())
	}
	for _, o := range me.Other {
		out = append(out, sourcePrefix+src.Name+": "+o.Error())
	}
	return out
}

// checkSourceFailed asserts that err is the failure of the named source
// only: an ErrUnavailable whose message starts by naming it (the rest is
// the source's own error) and names no other.
func checkSourceFailed(tb testing.TB, err error, name string, others ...string) {
	tb.Helper()
	if err == nil {
		tb.Fatalf("got no error, want one naming source %s (never a silent 0)", name)
	}
	if !errors.Is(err, scalers.ErrUnavailable) {
		tb.Errorf("errors.Is(err, ErrUnavailable) = false for %v", err)
	}
	if want := "evaluate expression: source " + name + ": "; !strings.HasPrefix(err.Error(), want) {
		tb.Errorf("error %q, want it to start %q", err, want)
	}
	for _, o := range others {
		if strings.Contains(err.Error(), "source "+o) {
			tb.Errorf("error %q names source %s too", err, o)
		}
	}
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

// reading is a scaler's one value and whether it is active.
type reading struct {
	Value  float64
	Active bool
}

func readingOf(tb testing.TB, s scalers.Scaler) reading {
	tb.Helper()
	v, active := value(tb, s)
	return reading{v, active}
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
			if diff := cmp.Diff(reading{st.want, st.wantActive}, readingOf(t, s)); diff != "" {
				t.Errorf("reading (-want +got):\n%s", diff)
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
	// custom-<hash of the expression and the sources' names and types>-q:
	// the server's address is not part of it.
	if diff := cmp.Diff([]scalers.MetricSpec{{Name: "custom-50099cbf-q", Target: 2.5}}, specs); diff != "" {
		t.Fatalf("metric specs (-want +got):\n%s", diff)
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
		checkSourceFailed(t, err, "flaky", "healthy")
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
	checkSourceFailed(t, err, "q")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %q does not wrap the caller's context.DeadlineExceeded", err)
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
	if diff := cmp.Diff(reading{0, false}, readingOf(t, s)); diff != "" {
		t.Errorf("empty list (-want +got):\n%s", diff)
	}
	if err := client.RPush(t.Context(), "jobs", 1, 2, 3, 4, 5, 6).Err(); err != nil {
		t.Fatalf("RPUSH: %v", err)
	}
	if diff := cmp.Diff(reading{1.5, true}, readingOf(t, s)); diff != "" {
		t.Errorf("six jobs, four workers (-want +got):\n%s", diff)
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
	checkSourceFailed(t, err, "q")
	if err != nil && strings.Contains(err.Error(), "s3cret-pass") {
		t.Errorf("error %q shows the password", err)
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
	// The prometheus sources' errors in the prometheus scaler's own words.
	prom := func(name string, md map[string]string) string {
		errs := sourceErrs(t, reg, Source{Name: name, Type: "prometheus", Metadata: md})
		if len(errs) != 1 {
			t.Fatalf("source %s on its own: %d errors %q, want 1", name, len(errs), errs)
		}
		return errs[0]
	}
	checkErrs(t, err, []string{
		`threshold "-1": must be > 0`,
		prom("q", map[string]string{"serverAddress": "not a url"}),
		prom("r", map[string]string{"serverAddress": "http://prom:9090", "query": "up", "ignoreNullValues": "maybe"}),
		`source.s.type "kafak": unknown scaler type, expected one of: metrics-api, prometheus, redis, external (= metrics-api)`,
		`source.t.url "http://a:9090": give serverAddress or url (an alias of it), not both`,
		prom("v", map[string]string{"serverAddress": "not a url", "query": "up"}),
		// One error for the expression, with each of its issues.
		"expression:1:3: found no matching overload for '_*_' applied to '(double, int)'\n" +
			" | q * 2 + missing\n" +
			" | ..^\n" +
			"expression:1:9: undeclared reference to 'missing'\n" +
			" | q * 2 + missing\n" +
			" | ........^\n" +
			"hint: sources are doubles and CEL does not mix number types in arithmetic and ==: write 2.0 instead of 2, or double(n)",
	})
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
	_, err = s.Metrics(t.Context())
	if diff := cmp.Diff("custom scaler: closed", errText(err)); diff != "" {
		t.Errorf("Metrics after Close: error (-want +got):\n%s", diff)
	}
	if !errors.Is(err, scalers.ErrClosed) {
		t.Errorf("Metrics after Close: %v does not wrap scalers.ErrClosed", err)
	}
	if len(s.sources) != 2 {
		t.Fatalf("%d sources, want a and b", len(s.sources))
	}
	for _, src := range s.sources {
		if _, err := src.scaler.Metrics(t.Context()); !errors.Is(err, scalers.ErrClosed) {
			t.Errorf("source %s after Close: got %v, want ErrClosed", src.name, err)
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
