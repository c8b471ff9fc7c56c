package externalscaler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/testing/protocmp"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

func newFakeClock() *clocktesting.FakeClock {
	return clocktesting.NewFakeClock(time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC))
}

func TestStreamIsActivePolls(t *testing.T) {
	env := &fakeEnv{}
	clk := newFakeClock()
	ts := startServer(t, Options{Registry: env.registry(), Clock: clk}, ServeOptions{})
	src := env.source("p")
	src.set(0, nil)

	ctx, cancel := context.WithCancel(waitCtx(t))
	defer cancel()
	stream, err := ts.client.StreamIsActive(ctx, ref("poll", fakeMD("p", "pollInterval", "10s", "activation", "1")))
	if err != nil {
		t.Fatal(err)
	}
	// The current state at once, without the clock moving.
	msg, err := stream.Recv()
	if err != nil {
		t.Fatalf("first Recv: %v", err)
	}
	if msg.Result {
		t.Fatalf("first message: got active, want inactive")
	}
	// Each step changes the source; a message comes only when activity
	// changes, so the next message received must be the next change.
	steps := []struct {
		values []float64 // each read by a poll before the next is set
		want   bool
	}{
		{values: []float64{5}, want: true},
		{values: []float64{7, 3, 0.5}, want: false}, // 7 and 3 stay active: no message
		{values: []float64{1, 2}, want: true},       // 1 is not above activation 1
	}
	for i, st := range steps {
		for _, v := range st.values[:len(st.values)-1] {
			src.set(v, nil)
			stepUntil(t, clk, 10*time.Second, fmt.Sprintf("step %d: a poll reading %v", i, v), &src.reads)
		}
		last := st.values[len(st.values)-1]
		src.set(last, nil)
		msg := recvStepping(t, clk, 10*time.Second, fmt.Sprintf("step %d: the message after %v", i, last), stream.Recv)
		if msg.Result != st.want {
			t.Errorf("step %d: got active=%v, want %v", i, msg.Result, st.want)
		}
	}

	// A source outage after the first message does not end the stream.
	src.set(0, scalers.Unavailable("fake", errors.New("refused")))
	stepUntil(t, clk, 10*time.Second, "a poll failing with the outage", &src.reads)
	stepUntil(t, clk, 10*time.Second, "a second poll failing with the outage", &src.reads)
	src.set(0, nil)
	msg = recvStepping(t, clk, 10*time.Second, "the message after the outage", stream.Recv)
	if msg.Result {
		t.Errorf("after the outage: got active, want inactive")
	}

	cancel()
	_, err = stream.Recv()
	wantCode(t, err, codes.Canceled)
	scalertest.Eventually(t, waitLimit, "the open streams gauge back to 0", func() error {
		if n := metricValue(t, ts.srv.m.streams.WithLabelValues("StreamIsActive")); n != 0 {
			return fmt.Errorf("%v open streams", n)
		}
		return nil
	})
}

func TestStreamIsActivePush(t *testing.T) {
	env := &fakeEnv{}
	ts := startServer(t, Options{Registry: env.registry()}, ServeOptions{})
	src := env.source("push")
	src.set(0, nil)
	ctx, cancel := context.WithCancel(waitCtx(t))
	defer cancel()
	stream, err := ts.client.StreamIsActive(ctx, ref("push", map[string]string{"scalerType": "fake-push", "source": "push"}))
	if err != nil {
		t.Fatal(err)
	}
	want := []bool{false, true, false, true}
	for i, w := range want {
		if i > 0 {
			src.set(float64(i%2)*4, nil)
		}
		msg, err := stream.Recv()
		if err != nil {
			t.Fatalf("Recv %d (waiting for active=%v): %v", i, w, err)
		}
		if msg.Result != w {
			t.Errorf("message %d: got %v, want %v", i, msg.Result, w)
		}
	}
	// Leave Run blocked on a send: the server must still end it (goleak
	// checks at the end of the package).
	src.set(0, nil)
	src.set(4, nil)
	cancel()
}

func TestStreamErrorsBeforeFirstMessage(t *testing.T) {
	env := &fakeEnv{}
	ts := startServer(t, Options{Registry: env.registry()}, ServeOptions{})
	env.source("down").set(0, scalers.Unavailable("fake source", errors.New("connection refused")))
	tests := []struct {
		name string
		md   map[string]string
		code codes.Code
		msg  string
	}{
		{name: "source unreachable", md: fakeMD("down"), code: codes.Unavailable, msg: "fake source: connection refused"},
		{name: "bad metadata", md: fakeMD("x", "target", "-1"), code: codes.InvalidArgument, msg: `invalid metadata: target "-1": must be > 0`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stream, err := ts.client.StreamIsActive(t.Context(), ref("s", tc.md))
			if err != nil {
				t.Fatal(err)
			}
			_, err = stream.Recv()
			wantStatus(t, err, tc.code, tc.msg)
		})
	}
	t.Run("StreamMetricSpec bad metadata", func(t *testing.T) {
		stream, err := ts.client.StreamMetricSpec(t.Context(), ref("s", fakeMD("x", "target", "-1")))
		if err != nil {
			t.Fatal(err)
		}
		_, err = stream.Recv()
		wantStatus(t, err, codes.InvalidArgument, `invalid metadata: target "-1": must be > 0`)
	})
	t.Run("empty ref", func(t *testing.T) {
		stream, err := ts.client.StreamIsActive(t.Context(), &pb.ScaledObjectRef{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = stream.Recv()
		wantStatus(t, err, codes.InvalidArgument, "scaledObjectRef.name is empty")
	})
}

func TestStreamMetricSpec(t *testing.T) {
	env := &fakeEnv{}
	clk := newFakeClock()
	ts := startServer(t, Options{Registry: env.registry(), Clock: clk}, ServeOptions{})
	r := ref("specs", fakeMD("orders", "target", "2.5"))
	src := env.source("orders")
	ctx, cancel := context.WithCancel(waitCtx(t))
	defer cancel()
	stream, err := ts.client.StreamMetricSpec(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	got, err := stream.Recv()
	if err != nil {
		t.Fatalf("Recv: %v", err)
	}
	want := &pb.GetMetricSpecResponse{MetricSpecs: []*pb.MetricSpec{{MetricName: "fake-orders", TargetSize: 3, TargetSizeFloat: 2.5}}}
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("streamed specs (-want +got):\n%s", diff)
	}
	// GetMetricSpec agrees with the stream, as the contract requires.
	unary, err := ts.client.GetMetricSpec(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(got, unary, protocmp.Transform()); diff != "" {
		t.Errorf("GetMetricSpec vs stream (-stream +unary):\n%s", diff)
	}
	// Unchanged specs are not sent again: after five checks of the
	// stream, the next thing received is the end of the stream.
	for i := range 5 {
		stepUntil(t, clk, DefaultPollInterval, fmt.Sprintf("spec check %d of the stream", i+1), &src.specs)
	}
	cancel()
	msg, err := stream.Recv()
	if err == nil {
		t.Fatalf("Recv after cancel: got %v, want an error (no repeated specs)", msg)
	}
	wantCode(t, err, codes.Canceled)
}

func TestShutdownEndsStreams(t *testing.T) {
	env := &fakeEnv{}
	ts := startServer(t, Options{Registry: env.registry()}, ServeOptions{ShutdownTimeout: time.Minute})
	env.source("sd").set(1, nil)
	ctx := waitCtx(t)
	active, err := ts.client.StreamIsActive(ctx, ref("sd", fakeMD("sd")))
	if err != nil {
		t.Fatal(err)
	}
	specs, err := ts.client.StreamMetricSpec(ctx, ref("sd", fakeMD("sd")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := active.Recv(); err != nil {
		t.Fatal(err)
	}
	if _, err := specs.Recv(); err != nil {
		t.Fatal(err)
	}
	// Stop serving while the client keeps both streams open: they end
	// cleanly (io.EOF), so GracefulStop need not wait for the timeout.
	ts.cancel()
	if _, err := active.Recv(); !errors.Is(err, io.EOF) {
		t.Errorf("StreamIsActive after shutdown: got %v, want io.EOF", err)
	}
	if _, err := specs.Recv(); !errors.Is(err, io.EOF) {
		t.Errorf("StreamMetricSpec after shutdown: got %v, want io.EOF", err)
	}
	if err := <-ts.done; err != nil {
		t.Errorf("Serve: %v", err)
	}
	ts.done = nil
	ts.srv.Close()
	if got := env.source("sd").closes.Load(); got != 1 {
		t.Errorf("closes after Close: got %d, want 1", got)
	}
	// Calls after Close fail cleanly.
	_, err = ts.srv.IsActive(t.Context(), ref("sd", fakeMD("sd", "target", "9")))
	wantStatus(t, err, codes.Unavailable, "external scaler is shutting down")
}
