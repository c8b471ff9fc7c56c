package externalscaler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/utils/clock"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// Defaults of Options.
const (
	DefaultIdleTimeout  = 10 * time.Minute
	DefaultPollInterval = 5 * time.Second
)

// SourceGrace is what the server waits beyond a trigger's bound
// (scalers.Timeouts.For its timeout) before it gives up on a source call
// the scaler did not end itself, and beyond the build bound before it gives
// up on a build. A scaler that keeps to its bound never meets it.
const SourceGrace = time.Second

// Registry is what the server needs of a registry of scaler types:
// whether a type is known (to label metrics with known types only) and
// building a scaler of cfg.Type. *scalers.Registry is one. The server calls
// both from many goroutines at once, so they must be safe for concurrent
// use (a *scalers.Registry is, once nothing registers any more).
type Registry interface {
	Has(typ string) bool
	New(ctx context.Context, cfg scalers.Config) (scalers.Scaler, error)
}

var _ Registry = (*scalers.Registry)(nil)

// Options configure a Server. Registry is required; the rest have defaults.
type Options struct {
	// Registry resolves the scalerType metadata key.
	Registry Registry
	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger
	// Clock drives stream polling, idle reaping and timings; nil is the
	// real clock.
	Clock clock.WithTicker
	// Registerer receives the server's metrics; nil registers them nowhere.
	Registerer prometheus.Registerer
	// IdleTimeout closes a scaler instance no call has used for that long
	// (default 10m). KEDA calls at least every pollingInterval for every
	// ScaledObject that exists, so only deleted or changed ones go idle.
	IdleTimeout time.Duration
	// DefaultPollInterval is the stream re-check interval of a trigger
	// without a pollInterval key (default 5s).
	DefaultPollInterval time.Duration
	// BuildTimeout bounds building one scaler instance (default
	// Timeouts.Max). Building does no I/O, so it is a backstop: a factory
	// that overruns it makes the build fail as unavailable (retried with
	// backoff) SourceGrace later, whether or not the factory returns.
	BuildTimeout time.Duration
	// Timeouts bound every call a scaler makes to its source; they are
	// passed in scalers.Config.Timeouts (zero fields: the defaults, 3s and
	// 30s). The server also enforces them: a fetch that has not returned
	// SourceGrace after the trigger's bound answers Unavailable.
	Timeouts scalers.Timeouts
	// ScalerLimits are passed in scalers.Config.Limits (list sizes).
	ScalerLimits scalers.Limits
	// Limits bound what clients can make the server hold.
	Limits Limits
	// SourceConnections report, by source name (the source label), the
	// shared source clients open now and their maximum, for /metrics
	// (hpa_source_connections, hpa_source_connections_max). The functions
	// are called at every scrape, from any goroutine.
	SourceConnections map[string]func() (open, limit int)
	// HistorySink, when set, receives the values fetched for triggers
	// with predictive: "true", through a queue of HistoryQueue values
	// (default DefaultHistoryQueue) and a goroutine of the server: never
	// on an RPC's path. Without it the history is the instances' own, in
	// memory.
	HistorySink HistorySink
	// HistoryQueue is the size of the queue to HistorySink.
	HistoryQueue int
	// HistorySource, when set, gives each new predictive instance the
	// past of its series (a warm start, in the background).
	HistorySource HistorySource
}

func (o *Options) validate() error {
	var errs []error
	if r, isReg := o.Registry.(*scalers.Registry); o.Registry == nil || isReg && r == nil {
		errs = append(errs, errors.New("Registry: a scaler registry is required"))
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"IdleTimeout", &o.IdleTimeout, DefaultIdleTimeout},
		{"DefaultPollInterval", &o.DefaultPollInterval, DefaultPollInterval},
		{"BuildTimeout", &o.BuildTimeout, o.Timeouts.WithDefaults().Max},
	} {
		switch {
		case *d.v == 0:
			*d.v = d.def
		case *d.v < 0:
			errs = append(errs, fmt.Errorf("%s %v: must be > 0", d.name, *d.v))
		}
	}
	if o.DefaultPollInterval < minPollInterval || o.DefaultPollInterval > maxPollInterval {
		errs = append(errs, fmt.Errorf("DefaultPollInterval %v: %v", o.DefaultPollInterval, errPollRange))
	}
	switch {
	case o.HistoryQueue == 0:
		o.HistoryQueue = DefaultHistoryQueue
	case o.HistoryQueue < 0:
		errs = append(errs, fmt.Errorf("HistoryQueue %d: must be > 0", o.HistoryQueue))
	}
	if o.Timeouts.Default < 0 {
		errs = append(errs, fmt.Errorf("Timeouts.Default %v: must be >= 0 (0: the default)", o.Timeouts.Default))
	}
	if o.Timeouts.Max < 0 {
		errs = append(errs, fmt.Errorf("Timeouts.Max %v: must be >= 0 (0: the default)", o.Timeouts.Max))
	}
	if o.Timeouts.Default > 0 && o.Timeouts.Max > 0 && o.Timeouts.Default > o.Timeouts.Max {
		errs = append(errs, fmt.Errorf("Timeouts.Default %v: more than Timeouts.Max %v", o.Timeouts.Default, o.Timeouts.Max))
	}
	o.Timeouts = o.Timeouts.WithDefaults()
	o.ScalerLimits = o.ScalerLimits.WithDefaults()
	o.Limits = o.Limits.withDefaults()
	o.Logger = BoundedLogger(o.Logger, o.Limits.MaxMessageBytes)
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	return errors.Join(errs...)
}

// Server implements pb.ExternalScalerServer. It is safe for concurrent use.
type Server struct {
	pb.UnimplementedExternalScalerServer

	log    *slog.Logger
	clock  clock.WithTicker
	m      *metrics
	cache  *cache
	limits Limits
	// history hands fetched values of predictive triggers to
	// Options.HistorySink (nil: none set).
	history *historyQueue

	stopping chan struct{} // closed by Shutdown: streams end
	stopOnce sync.Once
}

var _ pb.ExternalScalerServer = (*Server)(nil)

// New returns a Server; call Close when done with it.
func New(opts Options) (*Server, error) {
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("external scaler options: %w", err)
	}
	m, err := newMetrics(opts.Registerer, limitsInfo{
		limits: opts.Limits, scaler: opts.ScalerLimits, timeouts: opts.Timeouts, sources: opts.SourceConnections,
	})
	if err != nil {
		return nil, fmt.Errorf("external scaler metrics: %w", err)
	}
	s := &Server{
		log:      opts.Logger,
		clock:    opts.Clock,
		m:        m,
		limits:   opts.Limits,
		stopping: make(chan struct{}),
	}
	s.cache = newCache(cacheOptions{
		registry:     opts.Registry,
		logger:       opts.Logger,
		clock:        opts.Clock,
		idleTimeout:  opts.IdleTimeout,
		buildTimeout: opts.BuildTimeout,
		defaultPoll:  opts.DefaultPollInterval,
		metrics:      m,
		timeouts:     opts.Timeouts,
		scalerLimits: opts.ScalerLimits,
		limits:       opts.Limits,
		history:      opts.HistorySource,
	})
	if opts.HistorySink != nil {
		s.history = newHistoryQueue(opts.HistorySink, opts.HistoryQueue, m.historyDropped, opts.Logger)
	}
	m.floors.cache.Store(s.cache)
	return s, nil
}

// Register adds the ExternalScaler service to g.
func (s *Server) Register(g *grpc.Server) { pb.RegisterExternalScalerServer(g, s) }

// GRPCOptions returns the server options the service needs: interceptors
// that record metrics, bound status messages and turn a panic into an
// Internal error, a receive limit derived from Limits.MaxMetadataBytes, and
// a Stop that waits for handlers (so no scaler is used after Close; every
// handler returns once its call is cut).
func (s *Server) GRPCOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(s.unaryInterceptor),
		grpc.ChainStreamInterceptor(s.streamInterceptor),
		grpc.WaitForHandlers(true),
		grpc.MaxRecvMsgSize(s.limits.maxRecvMsgBytes()),
	}
}

// Shutdown makes open streams end cleanly, so a GracefulStop does not wait
// for clients that would keep them open for ever. KEDA reopens them, on
// another replica if there is one.
func (s *Server) Shutdown() {
	s.stopOnce.Do(func() { close(s.stopping) })
}

// Close ends streams and closes every scaler instance, waiting for builds
// under way and for every scaler's Close; later calls fail with
// Unavailable. Call it after the gRPC server has stopped.
func (s *Server) Close() { _ = s.CloseContext(context.Background()) }

// CloseContext is Close that stops waiting when ctx ends: builds under way
// are cancelled and scalers closed, but a build or a Close that does not
// return in time is left to finish on its own (a process exiting after
// its drain deadline does not wait for them). It then returns an error
// saying what was still running.
func (s *Server) CloseContext(ctx context.Context) error {
	s.Shutdown()
	err := s.cache.close(ctx)
	if s.history != nil {
		// After the cache: no fetch puts values any more.
		if herr := s.history.close(ctx); herr != nil && err == nil {
			err = fmt.Errorf("handing history to the sink: %w", herr)
		}
	}
	return err
}

func (s *Server) checkRef(ref *pb.ScaledObjectRef) error {
	switch {
	case ref == nil:
		return invalidArgument("scaledObjectRef is missing")
	case ref.Name == "":
		return invalidArgument("scaledObjectRef.name is empty")
	case ref.Namespace == "":
		return invalidArgument("scaledObjectRef.namespace is empty")
	case len(ref.Name) > maxNameBytes:
		s.m.refused[limitRef].Inc()
		return invalidArgument(fmt.Sprintf("scaledObjectRef.name: %d bytes, more than the %d of a Kubernetes object name", len(ref.Name), maxNameBytes))
	case len(ref.Namespace) > maxNamespaceBytes:
		s.m.refused[limitRef].Inc()
		return invalidArgument(fmt.Sprintf("scaledObjectRef.namespace: %d bytes, more than the %d of a Kubernetes namespace", len(ref.Namespace), maxNamespaceBytes))
	}
	return nil
}

// IsActive fetches fresh values and reports whether the trigger is active.
func (s *Server) IsActive(ctx context.Context, ref *pb.ScaledObjectRef) (*pb.IsActiveResponse, error) {
	if err := s.checkRef(ref); err != nil {
		return nil, err
	}
	e, err := s.cache.acquire(ctx, ref.Namespace, ref.Name, ref.ScalerMetadata)
	if err != nil {
		return nil, toStatus(err)
	}
	defer s.cache.release(e)
	m, err := s.fetch(ctx, e)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.IsActiveResponse{Result: m.Active}, nil
}

// GetMetricSpec returns the trigger's metrics and targets (no I/O).
func (s *Server) GetMetricSpec(ctx context.Context, ref *pb.ScaledObjectRef) (*pb.GetMetricSpecResponse, error) {
	if err := s.checkRef(ref); err != nil {
		return nil, err
	}
	e, err := s.cache.acquire(ctx, ref.Namespace, ref.Name, ref.ScalerMetadata)
	if err != nil {
		return nil, toStatus(err)
	}
	defer s.cache.release(e)
	return specResponse(e.scaler.MetricSpecs()), nil
}

func specResponse(specs []scalers.MetricSpec) *pb.GetMetricSpecResponse {
	out := make([]*pb.MetricSpec, len(specs))
	backing := make([]pb.MetricSpec, len(specs))
	for i, sp := range specs {
		backing[i] = pb.MetricSpec{
			MetricName:      sp.Name,
			TargetSize:      targetInt64(sp.Target),
			TargetSizeFloat: floatField(sp.Target),
		}
		out[i] = &backing[i]
	}
	return &pb.GetMetricSpecResponse{MetricSpecs: out}
}

// metricsResponse holds a GetMetricsResponse with its one value in a single
// allocation.
type metricsResponse struct {
	resp pb.GetMetricsResponse
	val  pb.MetricValue
	arr  [1]*pb.MetricValue
}

// GetMetrics fetches fresh values and returns the one KEDA asked for (the
// name from GetMetricSpec, without KEDA's "sN-" prefix).
func (s *Server) GetMetrics(ctx context.Context, req *pb.GetMetricsRequest) (*pb.GetMetricsResponse, error) {
	if req == nil {
		return nil, invalidArgument("request is missing")
	}
	ref := req.ScaledObjectRef
	if err := s.checkRef(ref); err != nil {
		return nil, err
	}
	switch {
	case req.MetricName == "":
		return nil, invalidArgument("metricName is empty")
	case len(req.MetricName) > maxMetricNameBytes:
		s.m.refused[limitRef].Inc()
		return nil, invalidArgument(fmt.Sprintf("metricName: %d bytes, more than the limit of %d", len(req.MetricName), maxMetricNameBytes))
	}
	e, err := s.cache.acquire(ctx, ref.Namespace, ref.Name, ref.ScalerMetadata)
	if err != nil {
		return nil, toStatus(err)
	}
	defer s.cache.release(e)
	idx := slices.Index(e.names, req.MetricName)
	if idx < 0 {
		return nil, status.Errorf(codes.NotFound, "metric %q is not offered by this trigger (scalerType %s offers: %s)",
			req.MetricName, e.meta.scalerType, strings.Join(e.names, ", "))
	}
	m, err := s.fetch(ctx, e)
	if err != nil {
		return nil, toStatus(err)
	}
	v, ok := m.Value(req.MetricName)
	if !ok {
		return nil, status.Errorf(codes.Internal, "internal error: scaler type %q returned no value for metric %q",
			e.meta.scalerType, req.MetricName)
	}
	if e.pred != nil {
		v = s.predicted(e, idx, req.MetricName, v, s.clock.Now())
	}
	r := &metricsResponse{}
	r.val = pb.MetricValue{MetricName: req.MetricName, MetricValue: valueInt64(v), MetricValueFloat: floatField(v)}
	r.arr[0] = &r.val
	r.resp.MetricValues = r.arr[:]
	return &r.resp, nil
}

// sourceBounder is a scaler that states the bound of its source calls:
// scalers.Config.Timeouts.For(its trigger's own timeout key), as
// scalers.Single.Bound does. The server gives a fetch that much plus
// SourceGrace; a scaler without the method, or that says 0, is given
// Timeouts.Max, the most any trigger's bound can be.
type sourceBounder interface {
	Bound() time.Duration
}

// maxOverrunning bounds the fetches of one instance still running after
// the server (or their caller) gave up on them: past it, calls answer
// Unavailable at once instead of starting another goroutine on a source
// that does not answer.
const maxOverrunning = 4

// fetchCall is one scaler.Metrics call run apart from its RPC, so that the
// RPC can answer when the scaler overruns its bound. Calls are pooled: an
// RPC puts its call back once it has the result; a call given up on
// belongs to its goroutine and is dropped.
type fetchCall struct {
	s   *Server
	ctx context.Context
	e   *entry

	// done receives one value when Metrics has returned (buffered: the
	// goroutine never blocks on it).
	done  chan struct{}
	timer *time.Timer
	m     scalers.Metrics
	err   error
	// state: fetchRunning, then fetchReturned (by the goroutine) or
	// fetchAbandoned (by the RPC), whichever comes first.
	state atomic.Int32
}

const (
	fetchRunning int32 = iota
	fetchReturned
	fetchAbandoned
)

var fetchCalls = sync.Pool{New: func() any {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &fetchCall{done: make(chan struct{}, 1), timer: t}
}}

// fetch asks e's scaler for fresh values and records the collection. It
// returns within e's bound plus SourceGrace whatever the scaler does. ctx
// must end when the caller is done with the call (a unary RPC's context
// does, as soon as the handler returns): a call given up on sees its
// context end then, without a context of its own per call.
func (s *Server) fetch(ctx context.Context, e *entry) (scalers.Metrics, error) {
	if n := e.overrunning.Load(); n >= maxOverrunning {
		e.tm.errors[reasonTimeout].Inc()
		return scalers.Metrics{}, &overrunError{typ: e.meta.scalerType, bound: e.bound, running: int(n)}
	}
	start := s.clock.Now()
	wait := e.bound + SourceGrace
	c := fetchCalls.Get().(*fetchCall)
	c.s, c.ctx, c.e = s, ctx, e
	c.state.Store(fetchRunning)
	// The call holds the instance until Metrics returns, even after the
	// RPC gave up on it: the scaler is not closed under it.
	e.refs.Add(1)
	go c.run()
	// A wall-clock bound on a source call, not a decision: real time.
	c.timer.Reset(wait)
	var callerErr error
	select {
	case <-c.done:
		c.timer.Stop()
		return s.fetched(ctx, e, c, start)
	case <-ctx.Done():
		callerErr = ctx.Err()
	case <-c.timer.C:
	}
	c.timer.Stop()
	if !c.state.CompareAndSwap(fetchRunning, fetchAbandoned) {
		// It returned at the same moment.
		<-c.done
		return s.fetched(ctx, e, c, start)
	}
	e.overrunning.Add(1)
	e.tm.collection.Observe(s.clock.Since(start).Seconds())
	if callerErr != nil {
		// The caller went away: not a scaler error.
		return scalers.Metrics{}, callerErr
	}
	e.tm.overruns.Inc()
	e.tm.errors[reasonTimeout].Inc()
	return scalers.Metrics{}, &overrunError{typ: e.meta.scalerType, bound: e.bound, waited: wait}
}

// fetched takes the result of a call that returned and puts the call back.
func (s *Server) fetched(ctx context.Context, e *entry, c *fetchCall, start time.Time) (scalers.Metrics, error) {
	m, err := c.m, c.err
	c.s, c.ctx, c.e, c.m, c.err = nil, nil, nil, scalers.Metrics{}, nil
	fetchCalls.Put(c)
	e.tm.collection.Observe(s.clock.Since(start).Seconds())
	if err == nil {
		if e.pred != nil {
			// Recorded here rather than in the fetch's goroutine (see
			// predictive.Scaler.Record).
			e.pred.Record(m)
		}
		if s.history != nil && e.pred != nil {
			now := s.clock.Now()
			for _, v := range m.Values {
				s.history.put(HistoryKey{Namespace: e.key.namespace, ScaledObject: e.key.name, Metric: v.Name}, now, v.Value)
			}
		}
		return m, nil
	}
	if ctx.Err() != nil {
		return m, err
	}
	if !errors.Is(err, scalers.ErrUnavailable) && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)) {
		// The scaler's own bound, returned as a bare context error: a
		// source that did not answer, not the caller's deadline.
		err = scalers.Unavailable(e.meta.scalerType+" source", err)
	}
	e.tm.errors[reasonOf(err)].Inc()
	return m, err
}

// run runs one Metrics call and releases the call's reference.
func (c *fetchCall) run() {
	s, e := c.s, c.e
	defer s.cache.release(e)
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("scaler panicked in Metrics", "scalerType", e.meta.scalerType,
				"scaledObject", e.key.String(), "panic", r, "stack", string(debug.Stack()))
			c.m, c.err = scalers.Metrics{}, status.Error(codes.Internal, "internal error")
		}
		if c.state.CompareAndSwap(fetchRunning, fetchReturned) {
			c.done <- struct{}{}
			return
		}
		// The RPC gave up on this call and counted it as overrunning.
		e.overrunning.Add(-1)
	}()
	c.m, c.err = e.source.Metrics(c.ctx)
}

// overrunError is a fetch the server gave up on: the source did not answer
// within the trigger's bound. It is an ErrUnavailable (gRPC Unavailable):
// KEDA treats it as a failure of the source, as it is.
type overrunError struct {
	typ     string
	bound   time.Duration
	waited  time.Duration
	running int // > 0: refused at once, this many calls still running
}

func (e *overrunError) Error() string {
	if e.running > 0 {
		return fmt.Sprintf("%s source did not answer within the trigger's bound of %v: %d earlier calls are still running past it, so this one was not started",
			e.typ, e.bound, e.running)
	}
	return fmt.Sprintf("%s source did not answer within the trigger's bound of %v (the server gave up after %v)", e.typ, e.bound, e.waited)
}

func (e *overrunError) Is(target error) bool { return target == scalers.ErrUnavailable }

// StreamIsActive sends the trigger's activity at once and then whenever it
// changes. A scaler that can push (scalers.PushScaler) reports changes
// itself; any other is polled every pollInterval.
//
// An error before the first message ends the stream with its status (bad
// metadata, source unreachable); after it, a failed poll keeps the last
// state and is retried at the next tick, so a short outage of the source
// does not make KEDA back off from the stream.
func (s *Server) StreamIsActive(ref *pb.ScaledObjectRef, stream grpc.ServerStreamingServer[pb.IsActiveResponse]) error {
	if err := s.checkRef(ref); err != nil {
		return err
	}
	ctx := stream.Context()
	e, err := s.cache.acquire(ctx, ref.Namespace, ref.Name, ref.ScalerMetadata)
	if err != nil {
		return toStatus(err)
	}
	defer s.releaseStream(e)

	// Start watching before the first fetch, so no change can fall between
	// the first message and the first tick or push.
	var tick <-chan time.Time
	var pushed <-chan bool
	var pushDone <-chan struct{}
	if ps, ok := e.scaler.(scalers.PushScaler); ok {
		var stop func()
		pushed, pushDone, stop = s.runPush(ctx, e, ps)
		defer stop()
	} else {
		t := s.clock.NewTicker(e.meta.pollInterval)
		defer t.Stop()
		tick = t.C()
	}

	m, err := s.pollFetch(ctx, e)
	if err != nil {
		return toStatus(err)
	}
	last := m.Active
	if err := stream.Send(&pb.IsActiveResponse{Result: last}); err != nil {
		return err
	}
	for {
		var active bool
		select {
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-s.stopping:
			return nil
		case <-pushDone:
			return status.Errorf(codes.Internal, "internal error: scaler type %q stopped pushing activity", e.meta.scalerType)
		case active = <-pushed:
		case <-tick:
			m, err := s.pollFetch(ctx, e)
			if err != nil {
				s.debugErr(ctx, "stream poll failed", e, err)
				continue
			}
			active = m.Active
		}
		if active == last {
			continue
		}
		last = active
		if err := stream.Send(&pb.IsActiveResponse{Result: last}); err != nil {
			return err
		}
	}
}

// pollFetch is fetch for a stream, whose context outlives each poll: a
// poll given up on sees its own context end when the poll returns.
func (s *Server) pollFetch(ctx context.Context, e *entry) (scalers.Metrics, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	return s.fetch(ctx, e)
}

// runPush runs a PushScaler's Run for one stream. stop cancels it and
// drains its channel until Run has returned, so no goroutine outlives the
// stream even if Run blocks on a send.
func (s *Server) runPush(ctx context.Context, e *entry, ps scalers.PushScaler) (active <-chan bool, done <-chan struct{}, stop func()) {
	runCtx, cancel := context.WithCancel(ctx)
	ch := make(chan bool, 1)
	runDone := make(chan struct{})
	go func() {
		defer close(runDone)
		defer func() {
			if r := recover(); r != nil {
				s.log.Error("push scaler panicked", "scalerType", e.meta.scalerType,
					"scaledObject", e.key.String(), "panic", r, "stack", string(debug.Stack()))
			}
		}()
		ps.Run(runCtx, ch)
	}()
	stop = func() {
		cancel()
		for {
			select {
			case <-ch:
			case <-runDone:
				return
			}
		}
	}
	return ch, runDone, stop
}

// StreamMetricSpec sends the trigger's metric specs at once and then
// whenever they change (checked every pollInterval; MetricSpecs does no
// I/O). GetMetricSpec returns the same specs, as the contract requires.
func (s *Server) StreamMetricSpec(ref *pb.ScaledObjectRef, stream grpc.ServerStreamingServer[pb.GetMetricSpecResponse]) error {
	if err := s.checkRef(ref); err != nil {
		return err
	}
	ctx := stream.Context()
	e, err := s.cache.acquire(ctx, ref.Namespace, ref.Name, ref.ScalerMetadata)
	if err != nil {
		return toStatus(err)
	}
	defer s.releaseStream(e)
	t := s.clock.NewTicker(e.meta.pollInterval)
	defer t.Stop()
	last := e.scaler.MetricSpecs()
	if err := stream.Send(specResponse(last)); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-s.stopping:
			return nil
		case <-t.C():
		}
		specs := e.scaler.MetricSpecs()
		if slices.Equal(specs, last) {
			continue
		}
		last = specs
		if err := stream.Send(specResponse(specs)); err != nil {
			return err
		}
	}
}

// releaseStream marks the instance used (the stream kept it alive until
// now) and releases it.
func (s *Server) releaseStream(e *entry) {
	e.used.Store(true)
	s.cache.release(e)
}

func (s *Server) debugErr(ctx context.Context, msg string, e *entry, err error) {
	if s.log.Enabled(ctx, slog.LevelDebug) {
		s.log.DebugContext(ctx, msg, "scalerType", e.meta.scalerType, "scaledObject", e.key.String(), "err", err)
	}
}

// unaryInterceptor records metrics of ExternalScaler calls and turns a panic
// into an Internal error.
func (s *Server) unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	mm := s.m.method(info.FullMethod)
	start := s.clock.Now()
	defer func() {
		if r := recover(); r != nil {
			resp, err = nil, s.panicked(info.FullMethod, r)
		}
		err = boundStatus(err, s.limits.MaxMessageBytes)
		if mm != nil {
			s.done(ctx, mm, err, start)
		}
	}()
	return handler(ctx, req)
}

// streamInterceptor is unaryInterceptor for streams; it also counts open
// streams.
func (s *Server) streamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	mm := s.m.method(info.FullMethod)
	start := s.clock.Now()
	if mm != nil && mm.streams != nil {
		mm.streams.Inc()
	}
	defer func() {
		if r := recover(); r != nil {
			err = s.panicked(info.FullMethod, r)
		}
		err = boundStatus(err, s.limits.MaxMessageBytes)
		if mm != nil {
			if mm.streams != nil {
				mm.streams.Dec()
			}
			s.done(ss.Context(), mm, err, start)
		}
	}()
	return handler(srv, ss)
}

func (s *Server) done(ctx context.Context, mm *methodMetrics, err error, start time.Time) {
	code := status.Code(err)
	mm.done(code, s.clock.Since(start).Seconds())
	if err != nil && s.log.Enabled(ctx, slog.LevelDebug) {
		s.log.DebugContext(ctx, "rpc failed", "method", mm.name, "code", code.String(), "err", err)
	}
}

func (s *Server) panicked(method string, r any) error {
	s.log.Error("panic in handler", "method", method, "panic", r, "stack", string(debug.Stack()))
	return status.Error(codes.Internal, "internal error")
}
