package externalscaler

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

func TestMetadataLimits(t *testing.T) {
	env := &fakeEnv{}
	reg := prometheus.NewRegistry()
	lim := Limits{MaxMetadataBytes: 1000, MaxMetadataValueBytes: 300}
	ts := startServer(t, Options{Registry: env.registry(), Registerer: reg, Limits: lim}, ServeOptions{})
	big := func(n int) string { return strings.Repeat("v", n) }
	md := func(kv ...string) map[string]string { return fakeMD("lim", kv...) }
	base := 0
	for k, v := range md() {
		base += len(k) + len(v)
	}
	tests := []struct {
		name string
		ref  *pb.ScaledObjectRef
		code codes.Code
		msg  string // "" for a message that is gRPC's own
	}{
		{name: "a value over the limit",
			ref:  ref("lim", md("listName", big(301))),
			code: codes.InvalidArgument, msg: "invalid metadata: listName: value of 301 bytes, more than the limit of 300 (max-metadata-value-bytes)"},
		{name: "a value at the limit is fine (until the total)",
			ref:  ref("lim", md("a", big(300), "b", big(300), "c", big(300), "d", big(300))),
			code: codes.InvalidArgument, msg: fmt.Sprintf("invalid metadata: metadata: %d bytes of keys and values, more than the limit of 1000 (max-metadata-bytes)", base+1204)},
		{name: "a long key is named cut",
			ref:  ref("lim", md(big(200)+"k", big(301))),
			code: codes.InvalidArgument, msg: "invalid metadata: " + big(64) + "... (truncated, 201 bytes in all): value of 301 bytes, more than the limit of 300 (max-metadata-value-bytes)"},
		{name: "a message over the receive limit is refused by gRPC",
			ref:  ref("lim", md("x", big(lim.withDefaults().maxRecvMsgBytes()))),
			code: codes.ResourceExhausted},
		{name: "a name longer than a Kubernetes name",
			ref:  &pb.ScaledObjectRef{Namespace: "default", Name: big(254), ScalerMetadata: md()},
			code: codes.InvalidArgument, msg: "scaledObjectRef.name: 254 bytes, more than the 253 of a Kubernetes object name"},
		{name: "a namespace longer than a Kubernetes namespace",
			ref:  &pb.ScaledObjectRef{Namespace: big(64), Name: "lim", ScalerMetadata: md()},
			code: codes.InvalidArgument, msg: "scaledObjectRef.namespace: 64 bytes, more than the 63 of a Kubernetes namespace"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ts.client.GetMetricSpec(t.Context(), tc.ref)
			if tc.msg == "" {
				wantCode(t, err, tc.code)
				return
			}
			wantStatus(t, err, tc.code, tc.msg)
		})
	}
	if got := ts.srv.cache.len(); got != 0 {
		t.Errorf("instances kept: got %d, want 0", got)
	}
	if got := env.source("lim").attempts.Load(); got != 0 {
		t.Errorf("factory calls: got %d, want 0 (refused before building)", got)
	}
	m := ts.srv.m
	for limit, want := range map[string]float64{limitMetadataValueBytes: 2, limitMetadataBytes: 1, limitRef: 2} {
		if got := metricValue(t, m.refused[limit]); got != want {
			t.Errorf("refused %s: got %v, want %v", limit, got, want)
		}
	}
	// Metadata at the limits is served.
	if _, err := ts.client.GetMetricSpec(t.Context(), ref("lim", md("a", big(300)))); err != nil {
		t.Errorf("metadata within the limits: %v", err)
	}
}

func TestMaxScalers(t *testing.T) {
	env := &fakeEnv{}
	clk := clocktesting.NewFakeClock(time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC))
	reg := prometheus.NewRegistry()
	ts := startServer(t, Options{Registry: env.registry(), Clock: clk, Registerer: reg, Limits: Limits{MaxScalers: 3}}, ServeOptions{})
	get := func(name string) error {
		env.source(name).set(1, nil)
		_, err := ts.client.GetMetrics(t.Context(), &pb.GetMetricsRequest{ScaledObjectRef: ref(name, fakeMD(name)), MetricName: "fake-" + name})
		return err
	}
	for _, n := range []string{"a", "b"} {
		if err := get(n); err != nil {
			t.Fatal(err)
		}
	}
	// A broken trigger is kept too (its error is remembered).
	_, err := ts.client.GetMetricSpec(t.Context(), ref("broken", fakeMD("broken", "target", "x")))
	wantStatus(t, err, codes.InvalidArgument, `invalid metadata: target "x": not a number`)
	// A sweep: a, b and broken were used before it; then b is used again.
	ts.srv.cache.reap(clk.Now())
	clk.Step(time.Second)
	if err := get("b"); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name       string
		wantClosed []string // sources closed so far
	}{
		{name: "c", wantClosed: nil},           // the failed build goes first
		{name: "d", wantClosed: []string{"a"}}, // a is the least recently used
		{name: "e", wantClosed: []string{"a", "b"}},
	}
	for _, st := range steps {
		if err := get(st.name); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		var closed []string
		for _, n := range []string{"a", "b", "c", "d"} {
			if env.source(n).closes.Load() > 0 {
				closed = append(closed, n)
			}
		}
		if diff := cmp.Diff(st.wantClosed, closed); diff != "" {
			t.Errorf("after %s: closed (-want +got):\n%s", st.name, diff)
		}
		if got := ts.srv.cache.len(); got != 3 {
			t.Errorf("after %s: instances %d, want 3", st.name, got)
		}
	}
	if got := metricValue(t, ts.srv.m.entries); got != 3 {
		t.Errorf("hpa_scaler_cache_entries: got %v, want 3", got)
	}

	// Every instance in use (an open stream each): the next one is
	// refused, and nothing is closed.
	ctx, cancel := context.WithCancel(waitCtx(t))
	defer cancel()
	for _, n := range []string{"c", "d", "e"} {
		st, err := ts.client.StreamIsActive(ctx, ref(n, fakeMD(n)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Recv(); err != nil {
			t.Fatal(err)
		}
	}
	err = get("f")
	wantStatus(t, err, codes.ResourceExhausted,
		"server limit reached: max-scalers 3: every scaler instance is in use (by a call or a stream), none can be closed to make room")
	if got := metricValue(t, ts.srv.m.refused[limitScalers]); got != 1 {
		t.Errorf("refused max-scalers: got %v, want 1", got)
	}
	if got := env.source("f").attempts.Load(); got != 0 {
		t.Errorf("f: factory calls %d, want 0", got)
	}
}

func TestLongMessagesAreCut(t *testing.T) {
	env := &fakeEnv{}
	ts := startServer(t, Options{Registry: env.registry(), Limits: Limits{MaxMessageBytes: 100}}, ServeOptions{})
	long := strings.Repeat("é", 300) // two bytes each: the cut keeps whole characters
	env.source("long").set(0, scalers.Unavailable("fake", errors.New(long)))
	_, err := ts.client.GetMetrics(t.Context(), &pb.GetMetricsRequest{ScaledObjectRef: ref("long", fakeMD("long")), MetricName: "fake-long"})
	// "fake: " is 6 bytes, then 47 whole characters fit in 100.
	wantStatus(t, err, codes.Unavailable, "fake: "+strings.Repeat("é", 47)+"... (truncated, 606 bytes in all)")

	// A name the client sent, echoed in NotFound, is cut as well.
	env.source("ok").set(1, nil)
	_, err = ts.client.GetMetrics(t.Context(), &pb.GetMetricsRequest{ScaledObjectRef: ref("ok", fakeMD("ok")), MetricName: strings.Repeat("m", 200)})
	full := fmt.Sprintf("metric %q is not offered by this trigger (scalerType fake offers: fake-ok)", strings.Repeat("m", 200))
	wantStatus(t, err, codes.NotFound, full[:100]+fmt.Sprintf("... (truncated, %d bytes in all)", len(full)))
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		s    string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"abcdefghijk", 10, "abcdefghij... (truncated, 11 bytes in all)"},
		{"ééééé", 3, "é... (truncated, 10 bytes in all)"},
		{"ééééé", 1, "... (truncated, 10 bytes in all)"},
	}
	for _, tc := range tests {
		if got := truncate(tc.s, tc.n); got != tc.want {
			t.Errorf("truncate(%q, %d): got %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
}

type longStringer struct{ n int }

func (s longStringer) String() string { return strings.Repeat("s", s.n) }

func TestBoundedLogger(t *testing.T) {
	var buf bytes.Buffer
	noTime := func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}
	l := BoundedLogger(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: noTime})), 10)
	l.With("with", strings.Repeat("w", 11)).WithGroup("g").Debug(strings.Repeat("m", 12),
		"err", errors.New(strings.Repeat("e", 1<<20)),
		"str", strings.Repeat("x", 20),
		"short", "ok",
		"n", 42,
		"stringer", longStringer{15},
		"bytes", []byte(strings.Repeat("b", 11)),
		"any", []int{1, 2, 3, 4, 5, 6},
		slog.Group("inner", "deep", strings.Repeat("d", 13)),
	)
	want := `{"level":"DEBUG","msg":"mmmmmmmmmm... (truncated, 12 bytes in all)",` +
		`"with":"wwwwwwwwww... (truncated, 11 bytes in all)",` +
		`"g":{"err":"eeeeeeeeee... (truncated, 1048576 bytes in all)",` +
		`"str":"xxxxxxxxxx... (truncated, 20 bytes in all)","short":"ok","n":42,` +
		`"stringer":"ssssssssss... (truncated, 15 bytes in all)",` +
		`"bytes":"bbbbbbbbbb... (truncated, 11 bytes in all)",` +
		`"any":"[1 2 3 4 5... (truncated, 13 bytes in all)",` +
		`"inner":{"deep":"dddddddddd... (truncated, 13 bytes in all)"}}}` + "\n"
	if diff := cmp.Diff(want, buf.String()); diff != "" {
		t.Errorf("log line (-want +got):\n%s", diff)
	}
	if BoundedLogger(l, 10) != l {
		t.Error("BoundedLogger of a bounded logger with the same bound: want the same logger")
	}
}

func TestLimitsInMetrics(t *testing.T) {
	env := &fakeEnv{}
	reg := prometheus.NewRegistry()
	ts := startServer(t, Options{
		Registry:          env.registry(),
		Registerer:        reg,
		Limits:            Limits{MaxScalers: 7, MaxMetadataBytes: 2000, MaxMetadataValueBytes: 500},
		ScalerLimits:      scalers.Limits{MaxListItems: 9},
		Timeouts:          scalers.Timeouts{Default: 2 * time.Second, Max: 20 * time.Second},
		SourceConnections: map[string]func() (int, int){"redis": func() (int, int) { return 4, 64 }},
	}, ServeOptions{})
	env.source("g").set(1, nil)
	getValue(t, ts.client, ref("g", fakeMD("g")), "fake-g")

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			for _, lp := range m.GetLabel() {
				name += fmt.Sprintf("{%s=%s}", lp.GetName(), lp.GetValue())
			}
			if m.Gauge != nil {
				got[name] = m.Gauge.GetValue()
			}
		}
	}
	want := map[string]float64{
		"hpa_scaler_cache_entries":                     1,
		"hpa_scaler_cache_entries_max":                 7,
		"hpa_metadata_bytes_max{scope=trigger}":        2000,
		"hpa_metadata_bytes_max{scope=value}":          500,
		"hpa_metadata_list_items_max":                  9,
		"hpa_source_timeout_seconds{bound=default}":    2,
		"hpa_source_timeout_seconds{bound=max}":        20,
		"hpa_source_connections{source=redis}":         4,
		"hpa_source_connections_max{source=redis}":     64,
		"hpa_scaler_instances{scaler_type=fake}":       1,
		"hpa_grpc_open_streams{method=StreamIsActive}": 0,
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			delete(got, name)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("gauges (-want +got):\n%s", diff)
	}
}

func TestCloseContextDoesNotWaitForAStuckClose(t *testing.T) {
	env := &fakeEnv{}
	srv, err := New(Options{Registry: env.registry()})
	if err != nil {
		t.Fatal(err)
	}
	src := env.source("sticky")
	release := src.hangUntilCleanup(t)
	src.set(1, nil)
	if _, err := srv.GetMetricSpec(t.Context(), ref("sticky", fakeMD("sticky", "hangOnClose", "true"))); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.CloseContext(ctx) }()
	select {
	case err := <-done:
		want := "closing scaler instances: context deadline exceeded (builds or scaler closes still running are left behind)"
		if err == nil || err.Error() != want {
			t.Errorf("CloseContext: got %v, want %q", err, want)
		}
	case <-time.After(loadGrace):
		t.Fatalf("CloseContext did not return within %v of its deadline", loadGrace)
	}
	release()
	// Close waits for the rest.
	srv.Close()
}

func TestServeReturnsByItsDeadline(t *testing.T) {
	// A call in flight on a build that ignores its context (and its bound
	// of an hour): Serve still returns by ShutdownTimeout plus stopGrace.
	env := &fakeEnv{}
	srv, err := New(Options{Registry: env.registry(), BuildTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	src := env.source("hung")
	release := src.hangUntilCleanup(t)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	const shutdown = 50 * time.Millisecond
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ServeOptions{GRPC: lis, ShutdownTimeout: shutdown}) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := pb.NewExternalScalerClient(conn)
	callErr := make(chan error, 1)
	go func() {
		_, err := client.GetMetricSpec(waitCtx(t), ref("hung", fakeMD("hung", "hangOnBuild", "true")))
		callErr <- err
	}()
	scalertest.Eventually(t, waitLimit, "the build to start", func() error {
		if n := src.attempts.Load(); n != 1 {
			return fmt.Errorf("%d factory calls, want 1", n)
		}
		return nil
	})
	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(shutdown + stopGrace + loadGrace):
		t.Fatalf("Serve did not return within %v of the end of its context", shutdown+stopGrace+loadGrace)
	}
	// The call was cut (by the client's view: the connection went away).
	if err := <-callErr; err == nil {
		t.Error("the call in flight: got no error, want it cut")
	}
	closeCtx, closeCancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer closeCancel()
	if err := srv.CloseContext(closeCtx); err != nil {
		// The build itself returns once the cache closes (only the
		// factory is left behind), so nothing should be waited for.
		t.Errorf("CloseContext: %v", err)
	}
	release()
	srv.Close()
}
