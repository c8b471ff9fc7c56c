package controller_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
	"github.com/hpa-autoscaler/hpa-autoscaler/controller"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// BenchmarkThousandScalers is issue 10's performance bar: 1,000 Scalers
// (a Redis list trigger each, on a list of its own, all on one
// redis-server), each on a Deployment of its own, reconciled by one agent
// (NewAgent, as the tests build it, with the binary's default 4 workers
// and 15 s sync period) against the shared envtest API server.
//
//	KUBEBUILDER_ASSETS=bin/envtest go test -run '^$' -bench BenchmarkThousandScalers -benchtime 1x -benchmem ./controller/
//
// Run it with -benchtime 1x: each run creates its Scalers anew.
// HPA_BENCH_SCALERS changes the count, HPA_BENCH_WORKERS the workers,
// HPA_BENCH_QPS the agent's client-side QPS and burst (default: envtest's
// 1000/2000; 0: client-go's 5/10, what the binary gets from a kubeconfig
// or the in-cluster config that sets none).
//
// The agent starts once every object exists, so its first pass has all
// Scalers queued at once (a cold start: scalers built, first status
// written). The second pass is the steady state: each Scaler requeued by
// the sync period, the fake clock of the decisions stepped by one period,
// nothing changed. Reconcile times come from controller-runtime's own
// start and end of each reconcile (its V(5) log lines, caught by the
// agent's logger); the fetch of the trigger (the scaler's Metrics call,
// timed by a wrapper around the registry's scalers) is subtracted from
// each. API requests are counted by a wrapper of the agent's transport.
func BenchmarkThousandScalers(b *testing.B) {
	n := envInt(b, "HPA_BENCH_SCALERS", 1000)
	workers := envInt(b, "HPA_BENCH_WORKERS", 4)
	const period = controller.DefaultSyncPeriod

	k := kube.Get(b)
	ns := k.NewNamespace(b)
	rds := testenv.StartRedis(b)
	e := &env{kube: k, ns: ns, clock: clocktesting.NewFakeClock(time.Now().Truncate(time.Second)), c: k.Client}

	names := make([]string, n)
	index := make(map[string]int, n)
	for i := range n {
		names[i] = fmt.Sprintf("s%04d", i)
		index[names[i]] = i
	}

	// 3 items on each list: desired ceil(3/5) = 1 = the Deployments'
	// replicas, so that nothing scales; the trigger is active.
	setupStart := time.Now()
	parallel(b, n, 16, func(i int) error {
		if _, err := rds.Do("RPUSH", names[i], "a", "b", "c"); err != nil {
			return err
		}
		if err := e.createDeployment(b.Context(), names[i], 1); err != nil {
			return err
		}
		return e.c.Create(b.Context(), e.redisScaler(names[i], names[i], rds.Addr(), names[i], nil))
	})
	b.Logf("created %d Deployments and Scalers in %v", n, time.Since(setupStart).Round(time.Millisecond))

	cfg := rest.CopyConfig(k.Config)
	if v := os.Getenv("HPA_BENCH_QPS"); v != "" {
		q, err := strconv.ParseFloat(v, 32)
		if err != nil {
			b.Fatalf("HPA_BENCH_QPS: %v", err)
		}
		cfg.QPS, cfg.Burst = float32(q), int(2*q)
	}
	counter := &requestCounter{counts: map[string]int{}}
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { return &countingTransport{rt: rt, c: counter} }

	tl := newTimeline(index)
	scalerRegistry, _ := registry()
	reg := prometheus.NewRegistry()
	o := controller.AgentOptions{
		Options: controller.Options{
			Registry:   &timedRegistry{Registry: scalerRegistry, tl: tl},
			Clock:      e.clock,
			Registerer: reg,
			SyncPeriod: period,
			Logger:     slog.New(&reconcileLog{tl: tl}),
		},
		Namespace: ns,
		Workers:   workers,
	}

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	rssBefore := vmRSS(b)

	a, err := controller.NewAgent(cfg, o)
	if err != nil {
		b.Fatalf("agent: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	cpu0 := cpuTime()
	b.ResetTimer()
	go func() { done <- a.Run(ctx) }()
	b.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				b.Errorf("agent stopped with: %v", err)
			}
		case <-time.After(wait):
			b.Errorf("the agent did not stop within %v", wait)
		}
	})

	// Pass 1: cold, every Scaler queued at once.
	tl.waitPass(b, 1, 5*time.Minute)
	cpu1 := cpuTime()
	req1 := counter.snapshot()
	// The next pass is one sync period on: the decisions' clock moves as
	// much.
	e.clock.Step(period)
	tl.waitPass(b, 2, 5*time.Minute)
	cpu2 := cpuTime()
	req2 := counter.snapshot()
	b.StopTimer()

	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	rssAfter := vmRSS(b)

	p1, p2 := tl.pass(1), tl.pass(2)
	report := func(v float64, unit string) {
		b.ReportMetric(v, unit)
	}
	report(p1.span.Seconds(), "pass1-s")
	report(p2.span.Seconds(), "pass2-s")
	report(p2.busy.Seconds()/float64(workers), "pass2-busy/worker-s")
	report(ms(p2.lag(0.99)), "pass2-lag-p99-ms")
	report(ms(pct(p1.net, 0.50)), "pass1-p50-ms")
	report(ms(pct(p1.net, 0.99)), "pass1-p99-ms")
	report(ms(pct(p2.net, 0.50)), "p50-ms")
	report(ms(pct(p2.net, 0.99)), "p99-ms")
	report(ms(pct(p2.fetch, 0.50)), "fetch-p50-ms")
	report(ms(pct(p2.fetch, 0.99)), "fetch-p99-ms")
	report((cpu1 - cpu0).Seconds(), "pass1-cpu-s")
	report((cpu2 - cpu1).Seconds(), "pass2-cpu-s")
	heap := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)
	report(heap/1024, "heap-KiB/scaler")
	report(float64(rssAfter)/1024, "rss-MiB")
	report(float64(rssAfter-rssBefore)/float64(n), "rss-KiB/scaler")

	steady := req2.minus(req1)
	reconciles := float64(p2.count)
	report(float64(steady.reads())/reconciles, "reads/reconcile")
	report(float64(steady.writes())/reconciles, "writes/reconcile")
	report(float64(steady.counts["PATCH scalers/status"]+steady.counts["PUT scalers/status"])/reconciles, "status-writes/reconcile")
	report(float64(req1.writes())/float64(p1.count), "pass1-writes/reconcile")

	b.Logf("load: %s", loadAvg())
	b.Logf("pass 1 (cold, %d reconciles, %d errors): %v wall, net reconcile p50 %v p99 %v max %v; fetch p50 %v p99 %v; CPU %v",
		p1.count, p1.errors, p1.span.Round(time.Millisecond), pct(p1.net, 0.5), pct(p1.net, 0.99), pct(p1.net, 1), pct(p1.fetch, 0.5), pct(p1.fetch, 0.99), (cpu1 - cpu0).Round(time.Millisecond))
	b.Logf("pass 2 (steady, %d reconciles, %d errors): %v wall, busy %v (%d workers), lag behind the sync period p50 %v p99 %v; net reconcile p50 %v p99 %v max %v; total p50 %v p99 %v; fetch p50 %v p99 %v; CPU %v",
		p2.count, p2.errors, p2.span.Round(time.Millisecond), p2.busy.Round(time.Millisecond), workers, p2.lag(0.5), p2.lag(0.99), pct(p2.net, 0.5), pct(p2.net, 0.99), pct(p2.net, 1), pct(p2.total, 0.5), pct(p2.total, 0.99), pct(p2.fetch, 0.5), pct(p2.fetch, 0.99), (cpu2 - cpu1).Round(time.Millisecond))
	b.Logf("heap %d -> %d B (%.1f KiB/Scaler), RSS %d -> %d KiB", before.HeapAlloc, after.HeapAlloc, heap/1024, rssBefore, rssAfter)
	b.Logf("requests, pass 1 (with the cache's lists and watches): %s", req1)
	b.Logf("requests, pass 2: %s", steady)

	// Every Scaler reconciled and Ready.
	var list v1.ScalerList
	if err := e.c.List(b.Context(), &list, client.InNamespace(ns)); err != nil {
		b.Fatalf("list Scalers: %v", err)
	}
	ready := 0
	for _, s := range list.Items {
		if c := meta.FindStatusCondition(s.Status.Conditions, v1.ConditionReady); c != nil && c.Status == metav1.ConditionTrue && c.Reason == controller.ReasonReconciled {
			ready++
		}
	}
	if ready != n {
		b.Errorf("%d of %d Scalers Ready (Reconciled)", ready, n)
	}
}

func envInt(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q: a positive integer", name, v)
	}
	return n
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// parallel runs f(0..n-1) on workers goroutines and fails on the first
// error.
func parallel(b *testing.B, n, workers int, f func(i int) error) {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					errs <- fmt.Errorf("object %d: %w", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// createDeployment creates a Deployment as env.deployment does, for a
// benchmark's workers.
func (e *env) createDeployment(ctx context.Context, name string, replicas int32) error {
	labels := map[string]string{"app": name}
	return e.c.Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}},
			},
		},
	})
}

// timeline is the reconciles of every Scaler: controller-runtime's start
// and end of each, and the fetch time of its trigger.
type timeline struct {
	index map[string]int
	mu    sync.Mutex
	per   [][]reconcileRecord
	// open reconciles by reconcileID.
	open map[string]*reconcileRecord
	// fetch is the fetch time of the reconcile in progress, by Scaler.
	fetch []atomic.Int64
}

type reconcileRecord struct {
	scaler     int
	start, end time.Time
	fetch      time.Duration
	err        bool
}

func newTimeline(index map[string]int) *timeline {
	return &timeline{index: index, per: make([][]reconcileRecord, len(index)), open: map[string]*reconcileRecord{}, fetch: make([]atomic.Int64, len(index))}
}

func (t *timeline) begin(id, name string, at time.Time) {
	i, ok := t.index[name]
	if !ok {
		return
	}
	t.fetch[i].Store(0)
	t.mu.Lock()
	t.open[id] = &reconcileRecord{scaler: i, start: at}
	t.mu.Unlock()
}

func (t *timeline) end(id string, at time.Time, failed bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.open[id]
	if r == nil {
		return
	}
	delete(t.open, id)
	r.end, r.err = at, failed
	r.fetch = time.Duration(t.fetch[r.scaler].Load())
	t.per[r.scaler] = append(t.per[r.scaler], *r)
}

func (t *timeline) fetched(name string, d time.Duration) {
	if i, ok := t.index[name]; ok {
		t.fetch[i].Add(int64(d))
	}
}

// succeeded returns the successful reconciles of Scaler i.
func succeeded(rs []reconcileRecord) []reconcileRecord {
	var out []reconcileRecord
	for _, r := range rs {
		if !r.err {
			out = append(out, r)
		}
	}
	return out
}

// waitPass waits until every Scaler has k successful reconciles.
func (t *timeline) waitPass(b *testing.B, k int, limit time.Duration) {
	b.Helper()
	deadline := time.Now().Add(limit)
	for {
		t.mu.Lock()
		missing := 0
		for _, rs := range t.per {
			if len(succeeded(rs)) < k {
				missing++
			}
		}
		t.mu.Unlock()
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("pass %d: %d Scalers not reconciled within %v", k, missing, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// passStats are the k-th successful reconciles of every Scaler (and the
// failed ones between the (k-1)-th and it).
type passStats struct {
	count, errors int
	span, busy    time.Duration
	// net: reconcile minus fetch; total: reconcile; lags: how late the
	// reconcile began after the previous one's end plus the sync period.
	net, total, fetch, lags []time.Duration
}

func (p passStats) lag(q float64) time.Duration { return pct(p.lags, q) }

func (t *timeline) pass(k int) passStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	var p passStats
	var first, last time.Time
	for _, rs := range t.per {
		ok := 0
		var prevEnd time.Time
		for _, r := range rs {
			if r.err {
				if ok == k-1 {
					p.errors++
				}
				continue
			}
			ok++
			if ok == k-1 {
				prevEnd = r.end
			}
			if ok != k {
				continue
			}
			p.count++
			d := r.end.Sub(r.start)
			p.total = append(p.total, d)
			p.net = append(p.net, d-r.fetch)
			p.fetch = append(p.fetch, r.fetch)
			p.busy += d
			if !prevEnd.IsZero() {
				p.lags = append(p.lags, max(0, r.start.Sub(prevEnd.Add(controller.DefaultSyncPeriod))))
			}
			if first.IsZero() || r.start.Before(first) {
				first = r.start
			}
			if r.end.After(last) {
				last = r.end
			}
		}
	}
	p.span = last.Sub(first)
	return p
}

// pct is the q-quantile of ds (nearest rank).
func pct(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// reconcileLog is the agent's logger: it catches controller-runtime's
// "Reconciling" and "Reconcile done" lines (V(5)) and "Reconciler error",
// and drops everything.
type reconcileLog struct {
	tl        *timeline
	name, rid string
}

func (h *reconcileLog) Enabled(context.Context, slog.Level) bool { return true }

func (h *reconcileLog) Handle(_ context.Context, r slog.Record) error {
	if h.rid == "" {
		return nil
	}
	switch {
	case r.Message == "Reconciling":
		h.tl.begin(h.rid, h.name, time.Now())
	case strings.HasPrefix(r.Message, "Reconcile done") || r.Message == "Reconcile successful":
		h.tl.end(h.rid, time.Now(), false)
	case r.Message == "Reconciler error":
		h.tl.end(h.rid, time.Now(), true)
	}
	return nil
}

func (h *reconcileLog) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	for _, a := range attrs {
		switch a.Key {
		case "name":
			c.name = a.Value.String()
		case "reconcileID":
			c.rid = fmt.Sprint(a.Value.Any())
		}
	}
	return &c
}

func (h *reconcileLog) WithGroup(string) slog.Handler { return h }

// timedRegistry times the Metrics call of every scaler it builds.
type timedRegistry struct {
	*scalers.Registry
	tl *timeline
}

func (r *timedRegistry) New(ctx context.Context, cfg scalers.Config) (scalers.Scaler, error) {
	s, err := r.Registry.New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &timedScaler{Scaler: s, name: cfg.Name, tl: r.tl}, nil
}

type timedScaler struct {
	scalers.Scaler
	name string
	tl   *timeline
}

func (s *timedScaler) Metrics(ctx context.Context) (scalers.Metrics, error) {
	start := time.Now()
	m, err := s.Scaler.Metrics(ctx)
	s.tl.fetched(s.name, time.Since(start))
	return m, err
}

// requestCounter counts API requests by "VERB kind".
type requestCounter struct {
	mu     sync.Mutex
	counts map[string]int
}

type requestCounts struct{ counts map[string]int }

func (c *requestCounter) add(key string) {
	c.mu.Lock()
	c.counts[key]++
	c.mu.Unlock()
}

func (c *requestCounter) snapshot() requestCounts {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.counts))
	for k, v := range c.counts {
		out[k] = v
	}
	return requestCounts{out}
}

func (r requestCounts) minus(o requestCounts) requestCounts {
	out := map[string]int{}
	for k, v := range r.counts {
		if d := v - o.counts[k]; d != 0 {
			out[k] = d
		}
	}
	return requestCounts{out}
}

func (r requestCounts) reads() int {
	n := 0
	for k, v := range r.counts {
		if strings.HasPrefix(k, "GET ") && !strings.HasPrefix(k, "GET watch ") {
			n += v
		}
	}
	return n
}

func (r requestCounts) writes() int {
	n := 0
	for k, v := range r.counts {
		if !strings.HasPrefix(k, "GET ") {
			n += v
		}
	}
	return n
}

func (r requestCounts) String() string {
	keys := make([]string, 0, len(r.counts))
	for k := range r.counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %d", k, r.counts[k])
	}
	if b.Len() == 0 {
		return "none"
	}
	return b.String()
}

type countingTransport struct {
	rt http.RoundTripper
	c  *requestCounter
}

func (t *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.c.add(req.Method + " " + pathKind(req))
	return t.rt.RoundTrip(req)
}

// pathKind names what a request is for: the resource (and subresource),
// "watch <resource>" for a watch, "list <resource>" for a collection GET,
// "discovery" for the /api and /apis documents.
func pathKind(req *http.Request) string {
	parts := strings.Split(strings.Trim(req.URL.Path, "/"), "/")
	// /api/v1/namespaces/ns/res/name/sub, /apis/g/v/namespaces/ns/res/name/sub
	switch {
	case len(parts) > 0 && parts[0] == "api":
		parts = parts[min(2, len(parts)):]
	case len(parts) > 0 && parts[0] == "apis":
		parts = parts[min(3, len(parts)):]
	default:
		return "other " + req.URL.Path
	}
	if len(parts) >= 2 && parts[0] == "namespaces" && len(parts) > 2 {
		parts = parts[2:]
	}
	switch len(parts) {
	case 0:
		return "discovery"
	case 1:
		if req.URL.Query().Get("watch") == "true" {
			return "watch " + parts[0]
		}
		return "list " + parts[0]
	case 2:
		return parts[0]
	default:
		return parts[0] + "/" + parts[2]
	}
}

// vmRSS is the process's resident set in KiB.
func vmRSS(b *testing.B) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		b.Logf("RSS: %v", err)
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// cpuTime is the process's user plus system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return err.Error()
	}
	return strings.TrimSpace(string(b)) + fmt.Sprintf(" (%d CPUs)", runtime.NumCPU())
}
