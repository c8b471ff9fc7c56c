package externalscaler

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// fakeSource is a metric source the test controls; fake scalers built with
// metadata "source: <name>" read it.
type fakeSource struct {
	mu    sync.Mutex
	value float64
	err   error
	// changed is signalled (non-blocking) on every set, for push scalers.
	changed chan struct{}

	builds atomic.Int32
	closes atomic.Int32
	// reads counts the values read (one per Metrics call), specs the
	// MetricSpecs calls: a test waits on them for the server to have
	// polled.
	reads, specs atomic.Int32
	// gate, when set, blocks builds until it is closed.
	gate chan struct{}
	// hang, when set, blocks builds (hangOnBuild), Metrics (hangOnMetrics)
	// and Close (hangOnClose) until it is closed, whatever their context
	// says: a scaler that breaks its bound.
	hang chan struct{}
	// attempts counts factory calls, failed ones included.
	attempts atomic.Int32
	// buildErr, when set, is what the factory returns.
	buildErr error
}

// hangUntilCleanup makes the source's hang* keys block until release is
// called, or the test ends.
func (s *fakeSource) hangUntilCleanup(tb testing.TB) (release func()) {
	s.hang = make(chan struct{})
	release = sync.OnceFunc(func() { close(s.hang) })
	tb.Cleanup(release)
	return release
}

func (s *fakeSource) setBuildErr(err error) {
	s.mu.Lock()
	s.buildErr = err
	s.mu.Unlock()
}

func (s *fakeSource) set(v float64, err error) {
	s.mu.Lock()
	s.value, s.err = v, err
	s.mu.Unlock()
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

func (s *fakeSource) get() (float64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads.Add(1)
	return s.value, s.err
}

// fakeEnv is a registry of fake scaler types over named sources.
type fakeEnv struct {
	mu      sync.Mutex
	sources map[string]*fakeSource
}

func (f *fakeEnv) source(name string) *fakeSource {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sources == nil {
		f.sources = map[string]*fakeSource{}
	}
	s, ok := f.sources[name]
	if !ok {
		s = &fakeSource{changed: make(chan struct{}, 1)}
		f.sources[name] = s
	}
	return s
}

type fakeMeta struct {
	Source     string  `meta:"source"`
	Target     float64 `meta:"target,default=5,gt=0"`
	Activation float64 `meta:"activation,default=0"`
	Panic      bool    `meta:"panicOnBuild,default=false"`
	PanicCall  bool    `meta:"panicOnMetrics,default=false"`
	// Bound is what the scaler's Bound reports (0: it states none).
	Bound       time.Duration `meta:"bound,optional"`
	HangBuild   bool          `meta:"hangOnBuild,default=false"`
	HangMetrics bool          `meta:"hangOnMetrics,default=false"`
	HangClose   bool          `meta:"hangOnClose,default=false"`
}

// registry returns a registry with "fake" (polled), "fake-push"
// (PushScaler) and "fake-bad-specs" (breaks the MetricSpecs contract).
func (f *fakeEnv) registry() *scalers.Registry {
	r := scalers.NewRegistry()
	build := func(ctx context.Context, cfg scalers.Config) (*fakeScaler, error) {
		if name, ok := cfg.Metadata["source"]; ok {
			f.source(name).attempts.Add(1)
		}
		var m fakeMeta
		if err := scalers.ParseMetadata(cfg.Metadata, &m); err != nil {
			return nil, err
		}
		if m.Panic {
			panic("fake factory panic")
		}
		src := f.source(m.Source)
		src.mu.Lock()
		berr := src.buildErr
		src.mu.Unlock()
		if berr != nil {
			return nil, berr
		}
		if m.HangBuild {
			<-src.hang
		}
		if src.gate != nil {
			select {
			case <-src.gate:
			case <-ctx.Done():
				return nil, scalers.Unavailable("fake build", ctx.Err())
			}
		}
		src.builds.Add(1)
		return &fakeScaler{src: src, meta: m, md: cfg.Metadata}, nil
	}
	r.MustRegister("fake", func(ctx context.Context, cfg scalers.Config) (scalers.Scaler, error) {
		return build(ctx, cfg)
	})
	r.MustRegister("fake-push", func(ctx context.Context, cfg scalers.Config) (scalers.Scaler, error) {
		s, err := build(ctx, cfg)
		if err != nil {
			return nil, err
		}
		return &fakePushScaler{fakeScaler: s}, nil
	})
	r.MustRegister("fake-bad-specs", func(ctx context.Context, cfg scalers.Config) (scalers.Scaler, error) {
		s, err := build(ctx, cfg)
		if err != nil {
			return nil, err
		}
		return &badSpecScaler{fakeScaler: s}, nil
	})
	return r
}

type fakeScaler struct {
	src    *fakeSource
	meta   fakeMeta
	md     map[string]string
	closed atomic.Bool
}

func (s *fakeScaler) MetricSpecs() []scalers.MetricSpec {
	s.src.specs.Add(1)
	return []scalers.MetricSpec{{Name: scalers.MetricName("fake", s.meta.Source), Target: s.meta.Target}}
}

func (s *fakeScaler) Bound() time.Duration { return s.meta.Bound }

func (s *fakeScaler) Metrics(context.Context) (scalers.Metrics, error) {
	if s.closed.Load() {
		return scalers.Metrics{}, errors.New("fake scaler used after Close")
	}
	if s.meta.PanicCall {
		panic("fake Metrics panic")
	}
	if s.meta.HangMetrics {
		<-s.src.hang
	}
	v, err := s.src.get()
	if err != nil {
		return scalers.Metrics{}, err
	}
	return scalers.Metrics{
		Values: []scalers.MetricValue{{Name: scalers.MetricName("fake", s.meta.Source), Value: v}},
		Active: v > s.meta.Activation,
	}, nil
}

func (s *fakeScaler) Close() error {
	if s.closed.Swap(true) {
		return errors.New("fake scaler closed twice")
	}
	if s.meta.HangClose {
		<-s.src.hang
	}
	s.src.closes.Add(1)
	return nil
}

type fakePushScaler struct{ *fakeScaler }

func (s *fakePushScaler) Run(ctx context.Context, active chan<- bool) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.src.changed:
		}
		m, err := s.Metrics(ctx)
		if err != nil {
			continue
		}
		// A blocking send, as a careless push scaler would do: the server
		// must drain it.
		active <- m.Active
	}
}

type badSpecScaler struct{ *fakeScaler }

func (s *badSpecScaler) MetricSpecs() []scalers.MetricSpec {
	return []scalers.MetricSpec{{Name: "same", Target: 1}, {Name: "same", Target: 0}}
}

// testServer is a Server serving over loopback TCP with a client of the
// KEDA contract.
type testServer struct {
	srv    *Server
	client pb.ExternalScalerClient
	conn   *grpc.ClientConn
	addr   string
	cancel context.CancelFunc
	done   chan error
}

// startServer serves o on a free loopback port until the test ends.
func startServer(tb testing.TB, o Options, so ServeOptions) *testServer {
	tb.Helper()
	srv, err := New(o)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	so.GRPC = lis
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{srv: srv, addr: lis.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { ts.done <- srv.Serve(ctx, so) }()
	if !so.TLS.Enabled() {
		conn, err := grpc.NewClient(ts.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			tb.Fatalf("grpc client: %v", err)
		}
		ts.conn = conn
		ts.client = pb.NewExternalScalerClient(conn)
	}
	tb.Cleanup(ts.stop)
	return ts
}

// stop shuts the server down (idempotent) and closes the scalers.
func (ts *testServer) stop() {
	if ts.conn != nil {
		_ = ts.conn.Close()
	}
	ts.cancel()
	if ts.done != nil {
		<-ts.done
		ts.done = nil
	}
	ts.srv.Close()
}

func ref(name string, md map[string]string) *pb.ScaledObjectRef {
	return &pb.ScaledObjectRef{Namespace: "default", Name: name, ScalerMetadata: md}
}

func fakeMD(source string, kv ...string) map[string]string {
	md := map[string]string{
		"scalerType":    "fake",
		"source":        source,
		"scalerAddress": "hpa-autoscaler.keda:9443",
	}
	for i := 0; i+1 < len(kv); i += 2 {
		md[kv[i]] = kv[i+1]
	}
	return md
}

// wantCode fails unless err is a status with code want. It serves errors
// whose message is gRPC's (a failed handshake); wantStatus checks ours.
func wantCode(tb testing.TB, err error, want codes.Code) {
	tb.Helper()
	st, ok := status.FromError(err)
	if !ok {
		tb.Fatalf("error %v: not a gRPC status", err)
	}
	if st.Code() != want {
		tb.Fatalf("code: got %v (%q), want %v", st.Code(), st.Message(), want)
	}
}

// wantStatus fails unless err is a status with code and the whole message
// msg.
func wantStatus(tb testing.TB, err error, code codes.Code, msg string) {
	tb.Helper()
	st, ok := status.FromError(err)
	if !ok {
		tb.Fatalf("error %v: not a gRPC status", err)
	}
	type codeMsg struct {
		Code codes.Code
		Msg  string
	}
	if diff := cmp.Diff(codeMsg{code, msg}, codeMsg{st.Code(), st.Message()}); diff != "" {
		tb.Errorf("status (-want +got):\n%s", diff)
	}
}

// waitLimit bounds every wait for work other goroutines, processes or
// servers do (a stream message, a restarted Redis answering, a closed
// instance). It asserts nothing about how long that takes: it is far above
// what an idle machine needs.
const waitLimit = 30 * time.Second

// waitCtx is a context for a call or stream that waits for such work: it
// ends at waitLimit, so a wait that never ends fails the test, naming
// the call, instead of hanging it.
func waitCtx(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(tb.Context(), waitLimit)
	tb.Cleanup(cancel)
	return ctx
}

func getValue(tb testing.TB, c pb.ExternalScalerClient, r *pb.ScaledObjectRef, metric string) *pb.MetricValue {
	tb.Helper()
	resp, err := c.GetMetrics(tb.Context(), &pb.GetMetricsRequest{ScaledObjectRef: r, MetricName: metric})
	if err != nil {
		tb.Fatalf("GetMetrics(%s): %v", metric, err)
	}
	if len(resp.MetricValues) != 1 {
		tb.Fatalf("GetMetrics(%s): got %d values, want 1", metric, len(resp.MetricValues))
	}
	return resp.MetricValues[0]
}
