package externalscaler

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// loadGrace is added to every bound a test checks as a condition: a call
// that the server cuts at its bound answers long before it even on a
// loaded machine, and one the server does not cut runs into the test's
// own deadline instead (the bounds tested here are far below a minute, the
// fake scalers block until the test ends).
const loadGrace = 10 * time.Second

// boundCtx is a context for one call that must return within bound: its
// deadline is bound plus loadGrace, so a call the server did not cut ends
// with DeadlineExceeded (the client's) rather than the server's status.
func boundCtx(tb testing.TB, bound time.Duration) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(tb.Context(), bound+loadGrace)
	tb.Cleanup(cancel)
	return ctx
}

func TestSourceCallsAreBounded(t *testing.T) {
	env := &fakeEnv{}
	ts := startServer(t, Options{Registry: env.registry(), Timeouts: scalers.Timeouts{Default: 50 * time.Millisecond, Max: time.Second}}, ServeOptions{})
	src := env.source("frozen")
	thaw := src.hangUntilCleanup(t)
	const bound = 20 * time.Millisecond
	md := fakeMD("frozen", "hangOnMetrics", "true", "bound", bound.String())
	overrun := fmt.Sprintf("fake source did not answer within the trigger's bound of %v (the server gave up after %v)", bound, bound+SourceGrace)

	// GetMetrics, IsActive and a stream's first poll each answer at the
	// bound, with the server's status; together they leave maxOverrunning
	// calls running on the frozen source.
	calls := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"GetMetrics", func(ctx context.Context) error {
			_, err := ts.client.GetMetrics(ctx, &pb.GetMetricsRequest{ScaledObjectRef: ref("frozen", md), MetricName: "fake-frozen"})
			return err
		}},
		{"IsActive", func(ctx context.Context) error {
			_, err := ts.client.IsActive(ctx, ref("frozen", md))
			return err
		}},
		{"IsActive again", func(ctx context.Context) error {
			_, err := ts.client.IsActive(ctx, ref("frozen", md))
			return err
		}},
		{"StreamIsActive", func(ctx context.Context) error {
			st, err := ts.client.StreamIsActive(ctx, ref("frozen", md))
			if err != nil {
				return err
			}
			_, err = st.Recv()
			return err
		}},
	}
	if len(calls) != maxOverrunning {
		t.Fatalf("%d calls, want maxOverrunning (%d)", len(calls), maxOverrunning)
	}
	var wg sync.WaitGroup
	for _, c := range calls {
		wg.Go(func() {
			wantStatus(t, c.call(boundCtx(t, bound+SourceGrace)), codes.Unavailable, overrun)
		})
	}
	wg.Wait()
	// With that many still running, the next call is refused at once
	// rather than starting another.
	_, err := ts.client.IsActive(boundCtx(t, 0), ref("frozen", md))
	wantStatus(t, err, codes.Unavailable, fmt.Sprintf("fake source did not answer within the trigger's bound of %v: %d earlier calls are still running past it, so this one was not started", bound, maxOverrunning))

	m := ts.srv.m
	for _, c := range []struct {
		name string
		c    prometheus.Metric
		want float64
	}{
		{"overruns", m.overruns.WithLabelValues("fake"), maxOverrunning},
		{"timeout errors", m.errors.WithLabelValues("fake", reasonTimeout), maxOverrunning + 1},
	} {
		if got := metricValue(t, c.c); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}

	// The source comes back: the calls left running return, and the next
	// call succeeds.
	frozen := findEntry(t, ts.srv.cache, "frozen", md)
	thaw()
	src.set(7, nil)
	scalertest.Eventually(t, waitLimit, "a GetMetrics after the source came back", func() error {
		resp, err := ts.client.GetMetrics(t.Context(), &pb.GetMetricsRequest{ScaledObjectRef: ref("frozen", fakeMD("frozen", "bound", bound.String())), MetricName: "fake-frozen"})
		if err != nil {
			return err
		}
		if got := resp.MetricValues[0].MetricValueFloat; got != 7 {
			return fmt.Errorf("value %v, want 7", got)
		}
		return nil
	})
	scalertest.Eventually(t, waitLimit, "the frozen calls to return", func() error {
		if n := frozen.overrunning.Load(); n != 0 {
			return fmt.Errorf("%d calls still running", n)
		}
		return nil
	})
}

// findEntry returns the built instance of name with md.
func findEntry(tb testing.TB, c *cache, name string, md map[string]string) *entry {
	tb.Helper()
	c.mu.RLock()
	defer c.mu.RUnlock()
	if sl := c.objs[objKey{namespace: "default", name: name}]; sl != nil {
		for _, e := range sl.entries {
			if e.done() && e.err == nil && maps.Equal(e.md, md) {
				return e
			}
		}
	}
	tb.Fatalf("no built instance of %s with %v", name, md)
	return nil
}

func TestBoundWithoutBoundUsesTheMaximum(t *testing.T) {
	// A scaler that states no bound gets Timeouts.Max, the most any
	// trigger may ask for.
	env := &fakeEnv{}
	const max = 30 * time.Millisecond
	ts := startServer(t, Options{Registry: env.registry(), Timeouts: scalers.Timeouts{Default: 10 * time.Millisecond, Max: max}}, ServeOptions{})
	env.source("nob").hangUntilCleanup(t)
	_, err := ts.client.GetMetrics(boundCtx(t, max+SourceGrace), &pb.GetMetricsRequest{
		ScaledObjectRef: ref("nob", fakeMD("nob", "hangOnMetrics", "true")), MetricName: "fake-nob"})
	wantStatus(t, err, codes.Unavailable, fmt.Sprintf("fake source did not answer within the trigger's bound of %v (the server gave up after %v)", max, max+SourceGrace))
}

func TestCallerDeadlineIsNotAnOverrun(t *testing.T) {
	env := &fakeEnv{}
	reg := prometheus.NewRegistry()
	ts := startServer(t, Options{Registry: env.registry(), Registerer: reg}, ServeOptions{})
	env.source("slow").hangUntilCleanup(t)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := ts.client.GetMetrics(ctx, &pb.GetMetricsRequest{ScaledObjectRef: ref("slow", fakeMD("slow", "hangOnMetrics", "true")), MetricName: "fake-slow"})
	// The message is gRPC's (the client's deadline).
	wantCode(t, err, codes.DeadlineExceeded)
	if got := metricValue(t, ts.srv.m.overruns.WithLabelValues("fake")); got != 0 {
		t.Errorf("overruns: got %v, want 0 (the caller gave up first)", got)
	}
}

func TestBareContextErrorOfTheScalerIsUnavailable(t *testing.T) {
	// A scaler that returns its own bound's context error as it is: the
	// source did not answer (Unavailable), not the caller's deadline.
	env := &fakeEnv{}
	ts := startServer(t, Options{Registry: env.registry()}, ServeOptions{})
	env.source("bare").set(0, fmt.Errorf("fake read: %w", context.DeadlineExceeded))
	_, err := ts.client.GetMetrics(t.Context(), &pb.GetMetricsRequest{ScaledObjectRef: ref("bare", fakeMD("bare")), MetricName: "fake-bare"})
	wantStatus(t, err, codes.Unavailable, "fake source: fake read: context deadline exceeded")
}

func TestBuildsAreBounded(t *testing.T) {
	env := &fakeEnv{}
	clk := clocktesting.NewFakeClock(time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC))
	const build = 20 * time.Millisecond
	ts := startServer(t, Options{Registry: env.registry(), Clock: clk, BuildTimeout: build}, ServeOptions{})
	src := env.source("stuck")
	unstick := src.hangUntilCleanup(t)
	r := ref("stuck", fakeMD("stuck", "hangOnBuild", "true"))
	want := fmt.Sprintf("building the fake scaler: not finished after %v (the build bound %v)", build+SourceGrace, build)
	_, err := ts.client.GetMetricSpec(boundCtx(t, build+SourceGrace), r)
	wantStatus(t, err, codes.Unavailable, want)
	// Until its retry time the failure is answered as it is, without
	// another build.
	_, err = ts.client.GetMetricSpec(boundCtx(t, 0), r)
	wantStatus(t, err, codes.Unavailable, want)
	if got := src.attempts.Load(); got != 1 {
		t.Errorf("factory calls: got %d, want 1", got)
	}
	// The factory returns at last: its late scaler is closed.
	unstick()
	scalertest.Eventually(t, waitLimit, "the late scaler closing", func() error {
		if n := src.closes.Load(); n != 1 {
			return fmt.Errorf("%d closes, want 1", n)
		}
		return nil
	})
	// After the backoff, the next call builds again, and succeeds.
	clk.Step(firstRetry)
	if _, err := ts.client.GetMetricSpec(boundCtx(t, 0), r); err != nil {
		t.Fatalf("GetMetricSpec after the retry time: %v", err)
	}
	if got := src.attempts.Load(); got != 2 {
		t.Errorf("factory calls: got %d, want 2", got)
	}
}

func TestFailedBuildsAreCached(t *testing.T) {
	env := &fakeEnv{}
	clk := clocktesting.NewFakeClock(time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC))
	reg := prometheus.NewRegistry()
	ts := startServer(t, Options{Registry: env.registry(), Clock: clk, Registerer: reg}, ServeOptions{})

	t.Run("configuration error", func(t *testing.T) {
		src := env.source("bad")
		r := ref("bad", fakeMD("bad", "target", "abc"))
		const msg = `invalid metadata: target "abc": not a number`
		steps := []struct {
			step         time.Duration
			wantAttempts int32
		}{
			{0, 1}, {0, 1}, {time.Second, 1}, {configRetry - time.Second - time.Nanosecond, 1},
			{time.Nanosecond, 2}, {0, 2},
		}
		for i, st := range steps {
			clk.Step(st.step)
			_, err := ts.client.GetMetricSpec(t.Context(), r)
			wantStatus(t, err, codes.InvalidArgument, msg)
			if got := src.attempts.Load(); got != st.wantAttempts {
				t.Errorf("step %d: factory calls got %d, want %d", i, got, st.wantAttempts)
			}
		}
		if got := metricValue(t, ts.srv.m.errors.WithLabelValues("fake", reasonInvalidConfig)); got != 2 {
			t.Errorf("invalid_config errors: got %v, want 2 (one per build, not per call)", got)
		}
	})

	t.Run("unavailable, with backoff", func(t *testing.T) {
		src := env.source("flaky")
		src.setBuildErr(scalers.Unavailable("fake build", errors.New("secret file not readable yet")))
		r := ref("flaky", fakeMD("flaky"))
		const msg = "fake build: secret file not readable yet"
		// Backoff 1s, 2s, 4s: the builds happen at 0, 1s, 3s, 7s.
		steps := []struct {
			step         time.Duration
			wantAttempts int32
		}{
			{0, 1}, {500 * time.Millisecond, 1}, {500 * time.Millisecond, 2},
			{time.Second, 2}, {time.Second, 3}, {3 * time.Second, 3}, {time.Second, 4},
		}
		for i, st := range steps {
			clk.Step(st.step)
			_, err := ts.client.GetMetricSpec(t.Context(), r)
			wantStatus(t, err, codes.Unavailable, msg)
			if got := src.attempts.Load(); got != st.wantAttempts {
				t.Errorf("step %d: factory calls got %d, want %d", i, got, st.wantAttempts)
			}
		}
		// Fixed: the next build after the backoff succeeds.
		src.setBuildErr(nil)
		clk.Step(8 * time.Second)
		if _, err := ts.client.GetMetricSpec(t.Context(), r); err != nil {
			t.Fatalf("after the source was fixed: %v", err)
		}
		if got := src.attempts.Load(); got != 5 {
			t.Errorf("factory calls: got %d, want 5", got)
		}
	})
}

func TestRetryDelay(t *testing.T) {
	unavailable := scalers.Unavailable("x", errors.New("down"))
	tests := []struct {
		name    string
		err     error
		attempt int
		want    time.Duration
	}{
		{"config", scalers.NewFieldError("k", "v", "bad"), 0, configRetry},
		{"config after many", scalers.NewFieldError("k", "v", "bad"), 9, configRetry},
		{"first", unavailable, 0, time.Second},
		{"third", unavailable, 2, 4 * time.Second},
		{"capped", unavailable, 6, maxRetry},
		{"far beyond (no overflow)", unavailable, 200, maxRetry},
		{"internal", errors.New("internal error"), 1, 2 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := retryDelay(tc.err, tc.attempt); got != tc.want {
				t.Errorf("retryDelay: got %v, want %v", got, tc.want)
			}
		})
	}
}
