package externalscaler

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/testing/protocmp"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

func TestGetMetricsValues(t *testing.T) {
	env := &fakeEnv{}
	ts := startServer(t, Options{Registry: env.registry()}, ServeOptions{})
	src := env.source("q1")
	r := ref("app", fakeMD("q1", "activation", "2"))

	tests := []struct {
		name       string
		value      float64
		wantInt    int64
		wantFloat  float64
		wantActive bool
	}{
		{name: "integer", value: 7, wantInt: 7, wantFloat: 7, wantActive: true},
		{name: "fraction rounds half away from zero", value: 2.5, wantInt: 3, wantFloat: 2.5, wantActive: true},
		{name: "at the activation threshold is not active", value: 2, wantInt: 2, wantFloat: 2},
		{name: "small positive never reads as zero", value: 0.3, wantInt: 1, wantFloat: 0.3},
		{name: "zero", value: 0, wantInt: 0, wantFloat: 0},
		{name: "negative rounds (KEDA reads the int64 when the float is <= 0)", value: -2.6, wantInt: -3, wantFloat: -2.6},
		{name: "huge clamps", value: 1e30, wantInt: math.MaxInt64, wantFloat: 1e30, wantActive: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src.set(tc.value, nil)
			got := getValue(t, ts.client, r, "fake-q1")
			want := &pb.MetricValue{MetricName: "fake-q1", MetricValue: tc.wantInt, MetricValueFloat: tc.wantFloat}
			if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
				t.Errorf("GetMetrics (-want +got):\n%s", diff)
			}
			act, err := ts.client.IsActive(t.Context(), r)
			if err != nil {
				t.Fatalf("IsActive: %v", err)
			}
			if act.Result != tc.wantActive {
				t.Errorf("IsActive: got %v, want %v", act.Result, tc.wantActive)
			}
		})
	}
	if got := src.builds.Load(); got != 1 {
		t.Errorf("builds: got %d, want 1 (one instance per ScaledObject)", got)
	}
}

func TestGetMetricSpec(t *testing.T) {
	env := &fakeEnv{}
	ts := startServer(t, Options{Registry: env.registry()}, ServeOptions{})
	tests := []struct {
		name   string
		target string
		want   *pb.MetricSpec
	}{
		{name: "integer target", target: "10", want: &pb.MetricSpec{MetricName: "fake-orders", TargetSize: 10, TargetSizeFloat: 10}},
		{name: "fractional target", target: "2.4", want: &pb.MetricSpec{MetricName: "fake-orders", TargetSize: 2, TargetSizeFloat: 2.4}},
		{name: "target below one keeps int64 >= 1", target: "0.25", want: &pb.MetricSpec{MetricName: "fake-orders", TargetSize: 1, TargetSizeFloat: 0.25}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := ts.client.GetMetricSpec(t.Context(), ref("spec-"+tc.target, fakeMD("orders", "target", tc.target)))
			if err != nil {
				t.Fatalf("GetMetricSpec: %v", err)
			}
			want := &pb.GetMetricSpecResponse{MetricSpecs: []*pb.MetricSpec{tc.want}}
			if diff := cmp.Diff(want, resp, protocmp.Transform()); diff != "" {
				t.Errorf("GetMetricSpec (-want +got):\n%s", diff)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	env := &fakeEnv{}
	ts := startServer(t, Options{Registry: env.registry()}, ServeOptions{})
	env.source("down").set(0, scalers.Unavailable("fake source", errors.New("dial tcp 127.0.0.1:1: connection refused")))
	env.source("empty").set(0, fmt.Errorf("fake query: %w", scalers.ErrNoData))
	good := fakeMD("ok")

	tests := []struct {
		name string
		req  *pb.GetMetricsRequest
		code codes.Code
		msg  string
	}{
		{name: "nil ref", req: &pb.GetMetricsRequest{MetricName: "x"}, code: codes.InvalidArgument, msg: "scaledObjectRef is missing"},
		{name: "empty name", req: &pb.GetMetricsRequest{ScaledObjectRef: &pb.ScaledObjectRef{Namespace: "ns", ScalerMetadata: good}, MetricName: "fake-ok"},
			code: codes.InvalidArgument, msg: "scaledObjectRef.name is empty"},
		{name: "empty namespace", req: &pb.GetMetricsRequest{ScaledObjectRef: &pb.ScaledObjectRef{Name: "a", ScalerMetadata: good}, MetricName: "fake-ok"},
			code: codes.InvalidArgument, msg: "scaledObjectRef.namespace is empty"},
		{name: "empty metric name", req: &pb.GetMetricsRequest{ScaledObjectRef: ref("a", good)}, code: codes.InvalidArgument, msg: "metricName is empty"},
		{name: "no metadata", req: &pb.GetMetricsRequest{ScaledObjectRef: ref("nomd", nil), MetricName: "m"},
			code: codes.InvalidArgument, msg: "invalid metadata: scalerType: required key is missing (the scaler type, e.g. redis)"},
		{name: "unknown scaler type", req: &pb.GetMetricsRequest{ScaledObjectRef: ref("u", map[string]string{"scalerType": "kafkaa"}), MetricName: "m"},
			code: codes.InvalidArgument, msg: `invalid metadata: scalerType "kafkaa": unknown scaler type, expected one of: fake, fake-bad-specs, fake-push`},
		{name: "bad scaler metadata names the key and value", req: &pb.GetMetricsRequest{ScaledObjectRef: ref("b", fakeMD("ok", "target", "abc", "activation", "x")), MetricName: "fake-ok"},
			code: codes.InvalidArgument, msg: `invalid metadata: target "abc": not a number; activation "x": not a number`},
		{name: "missing scaler key", req: &pb.GetMetricsRequest{ScaledObjectRef: ref("m", map[string]string{"scalerType": "fake"}), MetricName: "fake-ok"},
			code: codes.InvalidArgument, msg: "invalid metadata: source: required key is missing"},
		{name: "bad pollInterval", req: &pb.GetMetricsRequest{ScaledObjectRef: ref("p", fakeMD("ok", "pollInterval", "soon")), MetricName: "fake-ok"},
			code: codes.InvalidArgument, msg: `invalid metadata: pollInterval "soon": not a duration (e.g. "10s", "500ms" or a number of seconds)`},
		{name: "pollInterval out of range", req: &pb.GetMetricsRequest{ScaledObjectRef: ref("p2", fakeMD("ok", "pollInterval", "5ms")), MetricName: "fake-ok"},
			code: codes.InvalidArgument, msg: `invalid metadata: pollInterval "5ms": must be between 100ms and 1h0m0s`},
		{name: "metric not offered", req: &pb.GetMetricsRequest{ScaledObjectRef: ref("a", good), MetricName: "fake-other"},
			code: codes.NotFound, msg: `metric "fake-other" is not offered by this trigger (scalerType fake offers: fake-ok)`},
		{name: "source unreachable", req: &pb.GetMetricsRequest{ScaledObjectRef: ref("d", fakeMD("down")), MetricName: "fake-down"},
			code: codes.Unavailable, msg: "fake source: dial tcp 127.0.0.1:1: connection refused"},
		{name: "no data", req: &pb.GetMetricsRequest{ScaledObjectRef: ref("e", fakeMD("empty")), MetricName: "fake-empty"},
			code: codes.NotFound, msg: "fake query: no data"},
		{name: "factory panic", req: &pb.GetMetricsRequest{ScaledObjectRef: ref("fp", fakeMD("ok", "panicOnBuild", "true")), MetricName: "fake-ok"},
			code: codes.Internal, msg: `internal error: scaler type "fake" failed while being built`},
		{name: "Metrics panic", req: &pb.GetMetricsRequest{ScaledObjectRef: ref("mp", fakeMD("ok", "panicOnMetrics", "true")), MetricName: "fake-ok"},
			code: codes.Internal, msg: "internal error"},
		{name: "scaler breaking the spec contract", req: &pb.GetMetricsRequest{ScaledObjectRef: ref("bs", map[string]string{"scalerType": "fake-bad-specs", "source": "ok"}), MetricName: "same"},
			code: codes.Internal, msg: `internal error: scaler type "fake-bad-specs" offers invalid metric specs: metric name "same" twice; metric "same" has target 0, want > 0`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ts.client.GetMetrics(t.Context(), tc.req)
			wantStatus(t, err, tc.code, tc.msg)
			if tc.req.ScaledObjectRef == nil || tc.req.MetricName == "" {
				return
			}
			if tc.code == codes.InvalidArgument || tc.code == codes.Unavailable {
				// IsActive reports the same for the same ref.
				_, err := ts.client.IsActive(t.Context(), tc.req.ScaledObjectRef)
				wantStatus(t, err, tc.code, tc.msg)
			}
		})
	}

	// The server survived every one of them.
	env.source("ok").set(4, nil)
	if got := getValue(t, ts.client, ref("a", good), "fake-ok").MetricValueFloat; got != 4 {
		t.Errorf("after errors: got %v, want 4", got)
	}
}

func TestNilRequests(t *testing.T) {
	// A nil message cannot go over the wire; call the handlers directly.
	env := &fakeEnv{}
	srv, err := New(Options{Registry: env.registry()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx := t.Context()
	_, err = srv.GetMetrics(ctx, nil)
	wantStatus(t, err, codes.InvalidArgument, "request is missing")
	_, err = srv.IsActive(ctx, nil)
	wantStatus(t, err, codes.InvalidArgument, "scaledObjectRef is missing")
	_, err = srv.GetMetricSpec(ctx, nil)
	wantStatus(t, err, codes.InvalidArgument, "scaledObjectRef is missing")
}

func TestMetadataChangeRebuilds(t *testing.T) {
	env := &fakeEnv{}
	ts := startServer(t, Options{Registry: env.registry()}, ServeOptions{})
	src := env.source("jobs")
	src.set(1, nil)
	specTarget := func(md map[string]string) float64 {
		t.Helper()
		resp, err := ts.client.GetMetricSpec(t.Context(), ref("worker", md))
		if err != nil {
			t.Fatalf("GetMetricSpec: %v", err)
		}
		return resp.MetricSpecs[0].TargetSizeFloat
	}
	a, b := fakeMD("jobs", "target", "5"), fakeMD("jobs", "target", "8")
	steps := []struct {
		md                   map[string]string
		wantTarget           float64
		wantBuilds, wantOpen int32
	}{
		{md: a, wantTarget: 5, wantBuilds: 1, wantOpen: 1},
		{md: a, wantTarget: 5, wantBuilds: 1, wantOpen: 1},
		{md: b, wantTarget: 8, wantBuilds: 2, wantOpen: 1},
		{md: b, wantTarget: 8, wantBuilds: 2, wantOpen: 1},
	}
	for i, st := range steps {
		if got := specTarget(st.md); got != st.wantTarget {
			t.Errorf("step %d: target got %v, want %v", i, got, st.wantTarget)
		}
		if got := src.builds.Load(); got != st.wantBuilds {
			t.Errorf("step %d: builds got %d, want %d", i, got, st.wantBuilds)
		}
		if got := src.builds.Load() - src.closes.Load(); got != st.wantOpen {
			t.Errorf("step %d: open instances got %d, want %d (the replaced one is closed)", i, got, st.wantOpen)
		}
	}
	if got := metricValue(t, ts.srv.m.instances.WithLabelValues("fake")); got != 1 {
		t.Errorf("hpa_scaler_instances{fake}: got %v, want 1", got)
	}
}

func TestSeveralTriggersOfOneScaledObject(t *testing.T) {
	// KEDA sends the same namespace/name for each external trigger of a
	// ScaledObject, each with its own metadata: after one mistaken
	// replacement both instances must live side by side, not be rebuilt on
	// every call.
	env := &fakeEnv{}
	ts := startServer(t, Options{Registry: env.registry()}, ServeOptions{})
	env.source("t0").set(3, nil)
	env.source("t1").set(9, nil)
	r0, r1 := ref("multi", fakeMD("t0")), ref("multi", fakeMD("t1"))
	for range 5 {
		if got := getValue(t, ts.client, r0, "fake-t0").MetricValueFloat; got != 3 {
			t.Fatalf("trigger 0: got %v, want 3", got)
		}
		if got := getValue(t, ts.client, r1, "fake-t1").MetricValueFloat; got != 9 {
			t.Fatalf("trigger 1: got %v, want 9", got)
		}
	}
	if got := env.source("t0").builds.Load(); got != 2 {
		t.Errorf("trigger 0 builds: got %d, want 2 (one replacement, then side by side)", got)
	}
	if got := env.source("t1").builds.Load(); got != 1 {
		t.Errorf("trigger 1 builds: got %d, want 1", got)
	}
	if got := ts.srv.cache.len(); got != 2 {
		t.Errorf("instances: got %d, want 2", got)
	}
}

func TestBrokenTriggerBesideAWorkingOne(t *testing.T) {
	// A trigger with bad metadata on the same ScaledObject as a good one:
	// the good one keeps its instance, the bad one reports its error.
	env := &fakeEnv{}
	ts := startServer(t, Options{Registry: env.registry()}, ServeOptions{})
	env.source("good").set(6, nil)
	good, bad := ref("mixed", fakeMD("good")), ref("mixed", fakeMD("bad", "target", "abc"))
	for range 5 {
		if got := getValue(t, ts.client, good, "fake-good").MetricValueFloat; got != 6 {
			t.Fatalf("good trigger: got %v, want 6", got)
		}
		_, err := ts.client.IsActive(t.Context(), bad)
		wantStatus(t, err, codes.InvalidArgument, `invalid metadata: target "abc": not a number`)
	}
	if got := env.source("good").builds.Load(); got != 1 {
		t.Errorf("good trigger builds: got %d, want 1", got)
	}
	if got := env.source("good").closes.Load(); got != 0 {
		t.Errorf("good trigger closes: got %d, want 0", got)
	}
}

func TestConcurrentCallers(t *testing.T) {
	env := &fakeEnv{}
	ts := startServer(t, Options{Registry: env.registry()}, ServeOptions{})
	const objects, callers, calls = 20, 64, 30
	for i := range objects {
		env.source(fmt.Sprint("c", i)).set(float64(i), nil)
	}
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for c := range callers {
		wg.Go(func() {
			for k := range calls {
				i := (c + k) % objects
				src := fmt.Sprint("c", i)
				resp, err := ts.client.GetMetrics(t.Context(), &pb.GetMetricsRequest{
					ScaledObjectRef: ref(fmt.Sprint("obj", i), fakeMD(src)), MetricName: "fake-" + src})
				if err != nil {
					errs <- err
					return
				}
				if got := resp.MetricValues[0].MetricValueFloat; got != float64(i) {
					errs <- fmt.Errorf("object %d: got %v, want %d", i, got, i)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i := range objects {
		if got := env.source(fmt.Sprint("c", i)).builds.Load(); got != 1 {
			t.Errorf("object %d: builds got %d, want 1", i, got)
		}
	}
}

func TestSlowBuildBlocksOnlyItsObject(t *testing.T) {
	env := &fakeEnv{}
	ts := startServer(t, Options{Registry: env.registry()}, ServeOptions{})
	slow := env.source("slow")
	slow.gate = make(chan struct{})
	slow.set(2, nil)
	env.source("fast").set(1, nil)

	const waiters = 10
	results := make(chan error, waiters)
	wctx := waitCtx(t)
	for range waiters {
		go func() {
			_, err := ts.client.GetMetrics(wctx, &pb.GetMetricsRequest{
				ScaledObjectRef: ref("slow", fakeMD("slow")), MetricName: "fake-slow"})
			results <- err
		}()
	}
	// Every waiter holds a reference of the one instance being built,
	// besides the cache's and the build's.
	refs := func() (int64, error) {
		c := ts.srv.cache
		c.mu.RLock()
		defer c.mu.RUnlock()
		sl := c.objs[objKey{namespace: "default", name: "slow"}]
		if sl == nil || len(sl.entries) != 1 {
			return 0, errors.New("no single instance of slow yet")
		}
		return sl.entries[0].refs.Load(), nil
	}
	scalertest.Eventually(t, waitLimit, "every waiter waiting for the one build", func() error {
		n, err := refs()
		if err == nil && n != 2+waiters {
			err = fmt.Errorf("%d references, want %d", n, 2+waiters)
		}
		return err
	})
	// A caller that gives up while the build runs gets its own deadline,
	// which must pass: the build cannot end before the gate opens.
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	_, err := ts.client.IsActive(ctx, ref("slow", fakeMD("slow")))
	cancel()
	// The message is gRPC's (the client's deadline or the stream reset
	// it sent), not ours.
	wantCode(t, err, codes.DeadlineExceeded)

	// Other objects are served while "slow" builds.
	if got := getValue(t, ts.client, ref("fast", fakeMD("fast")), "fake-fast").MetricValueFloat; got != 1 {
		t.Errorf("fast: got %v, want 1", got)
	}
	close(slow.gate)
	for range waiters {
		if err := <-results; err != nil {
			t.Errorf("waiter: %v", err)
		}
	}
	if got := slow.builds.Load(); got != 1 {
		t.Errorf("slow builds: got %d, want 1 (one build for every waiter)", got)
	}
}

func TestIdleInstancesAreClosed(t *testing.T) {
	env := &fakeEnv{}
	clk := clocktesting.NewFakeClock(time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC))
	const idle = time.Minute
	ts := startServer(t, Options{Registry: env.registry(), Clock: clk, IdleTimeout: idle}, ServeOptions{})
	src := env.source("idle")
	src.set(1, nil)
	r := ref("idle", fakeMD("idle"))
	getValue(t, ts.client, r, "fake-idle")

	c := ts.srv.cache
	now := clk.Now()
	steps := []struct {
		at         time.Duration
		use        bool
		wantCloses int32
	}{
		{at: 10 * time.Second, wantCloses: 0},            // used since the last sweep: stays
		{at: 50 * time.Second, use: true, wantCloses: 0}, // used again: idle counts from this sweep
		{at: 60 * time.Second, wantCloses: 0},
		{at: 50*time.Second + idle - time.Second, wantCloses: 0}, // 59s unused
		{at: 50*time.Second + idle, wantCloses: 1},               // 60s unused: closed
	}
	for _, st := range steps {
		if st.use {
			getValue(t, ts.client, r, "fake-idle")
		}
		c.reap(now.Add(st.at))
		if got := src.closes.Load(); got != st.wantCloses {
			t.Fatalf("at %v: closes got %d, want %d", st.at, got, st.wantCloses)
		}
	}
	if got := c.len(); got != 0 {
		t.Errorf("instances after reaping: got %d, want 0", got)
	}
	// Used again: rebuilt.
	getValue(t, ts.client, r, "fake-idle")
	if got := src.builds.Load(); got != 2 {
		t.Errorf("builds: got %d, want 2", got)
	}

	// The janitor does the same on its own ticker.
	scalertest.Eventually(t, waitLimit, "the janitor closing the idle instance", func() error {
		if n := src.closes.Load(); n != 2 {
			clk.Step(janitorInterval(idle))
			return fmt.Errorf("%d closes, want 2", n)
		}
		return nil
	})
}

func TestOpenStreamKeepsInstance(t *testing.T) {
	env := &fakeEnv{}
	clk := clocktesting.NewFakeClock(time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC))
	ts := startServer(t, Options{Registry: env.registry(), Clock: clk, IdleTimeout: time.Minute}, ServeOptions{})
	src := env.source("s")
	src.set(1, nil)
	a := fakeMD("s", "pollInterval", "1s")

	ctx, cancel := context.WithCancel(waitCtx(t))
	defer cancel()
	stream, err := ts.client.StreamIsActive(ctx, ref("so", a))
	if err != nil {
		t.Fatal(err)
	}
	msg, err := stream.Recv()
	if err != nil {
		t.Fatalf("first message: %v", err)
	}
	if !msg.Result {
		t.Fatalf("first message: got inactive, want active")
	}
	// Neither idleness nor a metadata change closes a scaler a stream uses.
	ts.srv.cache.reap(clk.Now().Add(time.Hour))
	ts.srv.cache.reap(clk.Now().Add(2 * time.Hour))
	getValue(t, ts.client, ref("so", fakeMD("s", "target", "3")), "fake-s")
	if got := src.closes.Load(); got != 0 {
		t.Fatalf("closes with the stream open: got %d, want 0", got)
	}
	// The stream still polls its (replaced) instance.
	src.set(0, nil)
	msg = recvStepping(t, clk, time.Second, "the message after the source dropped to 0", stream.Recv)
	if msg.Result {
		t.Errorf("after the source dropped to 0: got active, want inactive")
	}
	cancel()
	scalertest.Eventually(t, waitLimit, "the replaced instance closing when the stream ends", func() error {
		if n := src.closes.Load(); n != 1 {
			return fmt.Errorf("%d closes, want 1", n)
		}
		return nil
	})
}

// recvStepping receives the next stream message (what the test waits
// for), stepping the fake clock while it waits so the server's ticker
// fires.
func recvStepping[T any](tb testing.TB, clk *clocktesting.FakeClock, step time.Duration, what string, recv func() (T, error)) T {
	tb.Helper()
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := recv()
		ch <- result{v, err}
	}()
	var r result
	scalertest.Eventually(tb, waitLimit, what, func() error {
		select {
		case r = <-ch:
			return nil
		default:
			clk.Step(step)
			return errors.New("no message yet")
		}
	})
	if r.err != nil {
		tb.Fatalf("%s: Recv: %v", what, r.err)
	}
	return r.v
}

// stepUntil steps the fake clock until the server has done something that
// adds to n (a poll reading the source, a spec check), counted from now.
func stepUntil(tb testing.TB, clk *clocktesting.FakeClock, step time.Duration, what string, n *atomic.Int32) {
	tb.Helper()
	from := n.Load()
	scalertest.Eventually(tb, waitLimit, what, func() error {
		if n.Load() > from {
			return nil
		}
		clk.Step(step)
		return fmt.Errorf("not yet (count still %d)", from)
	})
}

func TestMetricsAreRecorded(t *testing.T) {
	env := &fakeEnv{}
	reg := prometheus.NewRegistry()
	ts := startServer(t, Options{Registry: env.registry(), Registerer: reg}, ServeOptions{})
	env.source("m").set(1, nil)
	env.source("down").set(0, scalers.Unavailable("fake", errors.New("refused")))
	for range 3 {
		getValue(t, ts.client, ref("m", fakeMD("m")), "fake-m")
	}
	_, err := ts.client.GetMetrics(t.Context(), &pb.GetMetricsRequest{ScaledObjectRef: ref("d", fakeMD("down")), MetricName: "fake-down"})
	wantStatus(t, err, codes.Unavailable, "fake: refused")
	_, err = ts.client.IsActive(t.Context(), ref("u", map[string]string{"scalerType": "nope"}))
	wantStatus(t, err, codes.InvalidArgument, `invalid metadata: scalerType "nope": unknown scaler type, expected one of: fake, fake-bad-specs, fake-push`)

	m := ts.srv.m
	checks := []struct {
		name string
		c    prometheus.Metric
		want float64
	}{
		{"requests GetMetrics OK", m.requests.WithLabelValues("GetMetrics", "OK"), 3},
		{"requests GetMetrics Unavailable", m.requests.WithLabelValues("GetMetrics", "Unavailable"), 1},
		{"requests IsActive InvalidArgument", m.requests.WithLabelValues("IsActive", "InvalidArgument"), 1},
		{"errors fake unavailable", m.errors.WithLabelValues("fake", "unavailable"), 1},
		{"errors unknown invalid_config (no client input in labels)", m.errors.WithLabelValues("unknown", "invalid_config"), 1},
		{"instances fake", m.instances.WithLabelValues("fake"), 2},
		{"builds fake", m.builds.WithLabelValues("fake"), 2},
	}
	for _, c := range checks {
		if got := metricValue(t, c.c); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := map[string]int{}
	for _, mf := range mfs {
		series[mf.GetName()] = len(mf.GetMetric())
	}
	if got := series["hpa_metric_collection_duration_seconds"]; got != 2 {
		t.Errorf("collection duration series: got %d, want 2 (scaler_type fake and unknown)", got)
	}
	if got := series["hpa_grpc_request_duration_seconds"]; got != 3 {
		t.Errorf("latency series: got %d, want 3 (the unary methods)", got)
	}
	for _, n := range []string{"hpa_grpc_requests_total", "hpa_grpc_request_duration_seconds", "hpa_metric_collection_duration_seconds",
		"hpa_scaler_errors_total", "hpa_scaler_instances", "hpa_scaler_builds_total"} {
		if series[n] == 0 {
			t.Errorf("metric %s not registered", n)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	reg := scalers.NewRegistry()
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{name: "no registry", o: Options{},
			want: "external scaler options: Registry: a scaler registry is required"},
		{name: "nil *scalers.Registry", o: Options{Registry: (*scalers.Registry)(nil)},
			want: "external scaler options: Registry: a scaler registry is required"},
		{name: "negative idle", o: Options{Registry: reg, IdleTimeout: -time.Second},
			want: "external scaler options: IdleTimeout -1s: must be > 0"},
		{name: "poll too fast", o: Options{Registry: reg, DefaultPollInterval: time.Millisecond},
			want: "external scaler options: DefaultPollInterval 1ms: must be between 100ms and 1h0m0s"},
		{name: "negative timeouts", o: Options{Registry: reg, Timeouts: scalers.Timeouts{Default: -time.Second, Max: -time.Second}},
			want: "external scaler options: Timeouts.Default -1s: must be >= 0 (0: the default)\nTimeouts.Max -1s: must be >= 0 (0: the default)"},
		{name: "default above max", o: Options{Registry: reg, Timeouts: scalers.Timeouts{Default: time.Minute, Max: time.Second}},
			want: "external scaler options: Timeouts.Default 1m0s: more than Timeouts.Max 1s"},
		{name: "every error at once", o: Options{BuildTimeout: -time.Minute, DefaultPollInterval: 2 * time.Hour},
			want: "external scaler options: Registry: a scaler registry is required\n" +
				"BuildTimeout -1m0s: must be > 0\n" +
				"DefaultPollInterval 2h0m0s: must be between 100ms and 1h0m0s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := New(tc.o)
			if err == nil {
				srv.Close()
				t.Fatalf("New: got a server, want error %q", tc.want)
			}
			if diff := cmp.Diff(tc.want, err.Error()); diff != "" {
				t.Errorf("New error (-want +got):\n%s", diff)
			}
		})
	}
}

// A registry of our own type serves as well as *scalers.Registry.
type oneTypeRegistry struct{ f scalers.Factory }

func (r oneTypeRegistry) Has(typ string) bool { return typ == "only" }

func (r oneTypeRegistry) New(ctx context.Context, cfg scalers.Config) (scalers.Scaler, error) {
	if cfg.Type != "only" {
		return nil, scalers.NewFieldError("scalerType", cfg.Type, "expected only")
	}
	return r.f(ctx, cfg)
}

func TestOtherRegistry(t *testing.T) {
	env := &fakeEnv{}
	fakes := env.registry()
	ts := startServer(t, Options{Registry: oneTypeRegistry{f: func(ctx context.Context, cfg scalers.Config) (scalers.Scaler, error) {
		cfg.Type = "fake"
		return fakes.New(ctx, cfg)
	}}}, ServeOptions{})
	env.source("o").set(3, nil)
	md := map[string]string{"scalerType": "only", "source": "o"}
	want := &pb.MetricValue{MetricName: "fake-o", MetricValue: 3, MetricValueFloat: 3}
	if diff := cmp.Diff(want, getValue(t, ts.client, ref("o", md), "fake-o"), protocmp.Transform()); diff != "" {
		t.Errorf("GetMetrics (-want +got):\n%s", diff)
	}
	_, err := ts.client.IsActive(t.Context(), ref("x", map[string]string{"scalerType": "fake", "source": "o"}))
	wantStatus(t, err, codes.InvalidArgument, `scalerType "fake": expected only`)
}

// metricValue reads a counter or gauge.
func metricValue(tb testing.TB, m prometheus.Metric) float64 {
	tb.Helper()
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		tb.Fatalf("write metric: %v", err)
	}
	switch {
	case d.Counter != nil:
		return d.Counter.GetValue()
	case d.Gauge != nil:
		return d.Gauge.GetValue()
	}
	tb.Fatalf("metric %v: neither counter nor gauge", m.Desc())
	return 0
}

// TestCheckSpecs: the Scaler contract KEDA relies on, checked on every
// build. A NaN target is no target: it fails the "> 0" check as it must.
func TestCheckSpecs(t *testing.T) {
	const prefix = `internal error: scaler type "t" offers invalid metric specs: `
	tests := []struct {
		name      string
		specs     []scalers.MetricSpec
		wantNames []string
		wantErr   string
	}{
		{name: "two metrics", specs: []scalers.MetricSpec{{Name: "a", Target: 1}, {Name: "b", Target: 0.5}}, wantNames: []string{"a", "b"}},
		{name: "none", wantErr: prefix + "no metric"},
		{name: "no name", specs: []scalers.MetricSpec{{Target: 1}}, wantErr: prefix + "a metric without a name"},
		{name: "same name twice", specs: []scalers.MetricSpec{{Name: "a", Target: 1}, {Name: "a", Target: 2}},
			wantErr: prefix + `metric name "a" twice`},
		{name: "zero target", specs: []scalers.MetricSpec{{Name: "a"}}, wantErr: prefix + `metric "a" has target 0, want > 0`},
		{name: "negative target", specs: []scalers.MetricSpec{{Name: "a", Target: -1}}, wantErr: prefix + `metric "a" has target -1, want > 0`},
		{name: "NaN target", specs: []scalers.MetricSpec{{Name: "a", Target: math.NaN()}}, wantErr: prefix + `metric "a" has target NaN, want > 0`},
		{name: "infinite target", specs: []scalers.MetricSpec{{Name: "a", Target: math.Inf(1)}}, wantErr: prefix + `metric "a" has target +Inf, want > 0`},
		{name: "every problem at once", specs: []scalers.MetricSpec{{Target: 1}, {Name: "b", Target: math.NaN()}, {Name: "b", Target: 1}},
			wantErr: prefix + `a metric without a name; metric "b" has target NaN, want > 0; metric name "b" twice`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			names, err := checkSpecs("t", tc.specs)
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if diff := cmp.Diff(tc.wantErr, gotErr); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantNames, names); diff != "" {
				t.Errorf("names (-want +got):\n%s", diff)
			}
		})
	}
}
