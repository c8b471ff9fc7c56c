package agentsvc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
	"k8s.io/utils/clock"

	"github.com/hpa-autoscaler/hpa-autoscaler/backend/auth"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/store"
	agentv1 "github.com/hpa-autoscaler/hpa-autoscaler/proto/agent/v1"
)

// ScalerRef names one Scaler of an agent's cluster. Its store name is
// Namespace + "." + Name (a namespace has no dot, so it is unambiguous).
type ScalerRef struct {
	Tenant    store.TenantID
	Cluster   string
	Namespace string
	Name      string
}

// StoreName is the scaler's name in the store.
func (r ScalerRef) StoreName() string { return r.Namespace + "." + r.Name }

// SeriesKey names one trigger's series of a Scaler.
type SeriesKey struct {
	ScalerRef
	Trigger string
}

// Observer takes the metric values the agents report (the metric
// history). Observe is called from the service's observer workers,
// several at once, never from a stream: it may take a little time, and
// when the workers fall behind, reports are shed (and counted), never
// queued without bound.
type Observer interface {
	Observe(key SeriesKey, t time.Time, v float64)
}

// Workload is what an inventory says of a Scaler's target: its
// replicas and the requests of one pod (for cost).
type Workload struct {
	CurrentReplicas, DesiredReplicas int32
	CPUMillis, MemoryBytes, GPUs     int64
}

// WorkloadObserver takes each Scaler's Workload from every applied
// inventory (cost per workload). ObserveWorkload is called on the
// stream's goroutine: it must not block.
type WorkloadObserver interface {
	ObserveWorkload(ref ScalerRef, at time.Time, w Workload)
}

// Forecast is a Recommender's answer for one Scaler. Valid false: no
// forecast (too little history, prediction off).
type Forecast struct {
	Valid               bool
	ComputedAt          time.Time
	ExpiresAt           time.Time
	Value, Lower, Upper float64
	Confidence          float64
	Model               string
	Floor               int32
	FloorReason         string
}

// Recommender computes the forecast floor of a Scaler. It is called from
// a stream's push loop (one call at a time per stream, many streams at
// once) and from GetScalingRecommendation; ctx bounds it.
type Recommender interface {
	Recommend(ctx context.Context, ref ScalerRef, now time.Time) (Forecast, error)
}

// Cap is a budget cap of one Scaler: MaxReplicas 0 means none.
type Cap struct {
	MaxReplicas               int32
	PricePerReplicaHourMicros int64
	PriceTableHash            string
	Currency                  string
}

// Budgets computes the budget cap of a Scaler; called as Recommender.
type Budgets interface {
	BudgetCap(ctx context.Context, ref ScalerRef, now time.Time) (Cap, error)
}

// AgentConfig is the configuration the backend sets for a cluster's
// agent; Version 0 means none.
type AgentConfig struct {
	Version  int64
	Settings map[string]string
}

// ConfigSource gives the agent configuration of a cluster; called at
// connect and on every recommendation period.
type ConfigSource interface {
	AgentConfig(ctx context.Context, tenant store.TenantID, cluster string) (AgentConfig, error)
}

// Options configure New. Store is required; the interfaces are optional
// (without a Recommender and Budgets no recommendation is pushed).
type Options struct {
	Store store.Store
	// Auth authenticates agent tokens (default: an Authenticator on Store
	// with a 1 s cache).
	Auth        *auth.Authenticator
	Observer    Observer
	Recommender Recommender
	Budgets     Budgets
	Config      ConfigSource
	Workloads   WorkloadObserver
	Logger      *slog.Logger
	// Registerer takes the service's metrics (nil: not registered).
	Registerer prometheus.Registerer
	Version    string
	// Clock drives the streams' timers and the messages' times (default
	// the real clock).
	Clock clock.WithTicker

	// AuthTimeout bounds the wait for the first message (default 10s).
	AuthTimeout time.Duration
	// HeartbeatInterval is sent to the agent in AuthResponse; the server
	// sends a heartbeat when it has sent nothing for that long, and an
	// agent silent for MissedHeartbeats intervals is ended and marked
	// offline (default 10s and 3).
	HeartbeatInterval time.Duration
	MissedHeartbeats  int
	// RecommendInterval is the period at which every Scaler's
	// recommendation and the agent's config are computed again and
	// pushed (default 15s); a metric report of a Scaler computes its
	// recommendation at once, pushed when it changed.
	RecommendInterval time.Duration
	// FlushInterval is how often the seq of applied metric reports is
	// made durable (default 1s); their ack waits for it.
	FlushInterval time.Duration
	// SendQueue bounds the messages a stream has not sent yet, other
	// than recommendations (kept one per Scaler, the latest): past it
	// the stream ends with ResourceExhausted (default 256).
	SendQueue int
	// SendTimeout: a send blocked this long (the agent stopped reading)
	// ends the stream with ResourceExhausted (default 30s).
	SendTimeout time.Duration
	// Outbox bounds the sent messages kept per cluster until the agent
	// acknowledges them, for replay after a reconnect (default 256);
	// past it the oldest go, and a reconnect that needs them resyncs.
	Outbox int
	// ObserveQueue and ObserveWorkers: metric reports waiting for the
	// Observer (default 65536) and the workers calling it (default 2).
	ObserveQueue   int
	ObserveWorkers int
	// RequireClientCert refuses agents whose connection has no verified
	// client certificate (mTLS). A certificate, when present, must name
	// the cluster either way.
	RequireClientCert bool
	// MaxInventory bounds the Scalers of one inventory (default 10000).
	MaxInventory int
	// RPCTimeout bounds a unary call's work and a stream's store writes
	// (default 10s).
	RPCTimeout time.Duration
}

func (o *Options) defaults() error {
	if o.Store == nil {
		return errors.New("agentsvc: no Store")
	}
	if o.Auth == nil {
		o.Auth = &auth.Authenticator{Store: o.Store, Logger: o.Logger, CacheTTL: time.Second}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	defInt := func(d *int, v int) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.AuthTimeout, 10*time.Second)
	def(&o.HeartbeatInterval, 10*time.Second)
	def(&o.RecommendInterval, 15*time.Second)
	def(&o.FlushInterval, time.Second)
	def(&o.SendTimeout, 30*time.Second)
	def(&o.RPCTimeout, 10*time.Second)
	defInt(&o.MissedHeartbeats, 3)
	defInt(&o.SendQueue, 256)
	defInt(&o.Outbox, 256)
	defInt(&o.ObserveQueue, 65536)
	defInt(&o.ObserveWorkers, 2)
	defInt(&o.MaxInventory, 10000)
	return nil
}

// Keepalive settings: the server accepts a client's pings every
// MinClientPing or less often; the agent pings every 30s
// (AgentPingInterval), well above it, so the server never answers
// too_many_pings, and idle connections are still seen by proxies that
// drop after a minute.
const (
	MinClientPing     = 10 * time.Second
	AgentPingInterval = 30 * time.Second
)

// ServerOptions are the gRPC server options the service needs: the
// keepalive enforcement policy that lets the agents' pings through.
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
		MinTime:             MinClientPing,
		PermitWithoutStream: true,
	})}
}

// Service implements agentv1.AgentServiceServer.
type Service struct {
	agentv1.UnimplementedAgentServiceServer

	o   Options
	log *slog.Logger
	m   *metrics

	ctx    context.Context // ends at Close: every stream ends
	cancel context.CancelFunc

	mu       sync.Mutex
	clusters map[clusterKey]*clusterState

	observeQ chan observation
	workers  sync.WaitGroup
}

var _ agentv1.AgentServiceServer = (*Service)(nil)

type clusterKey struct {
	tenant  store.TenantID
	cluster string
}

// New makes the service and starts its observer workers; Close stops
// them and ends every stream.
func New(o Options) (*Service, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	s := &Service{o: o, log: o.Logger, m: m, clusters: map[clusterKey]*clusterState{}, observeQ: make(chan observation, o.ObserveQueue)}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	for range o.ObserveWorkers {
		s.workers.Add(1)
		go s.observeLoop()
	}
	return s, nil
}

// Register registers the service on a gRPC server.
func (s *Service) Register(r grpc.ServiceRegistrar) { agentv1.RegisterAgentServiceServer(r, s) }

// Close ends every stream (Unavailable: the backend is shutting down)
// and stops the observer workers after the reports queued.
func (s *Service) Close() {
	s.cancel()
	s.workers.Wait()
}

// ConnectedAgents is the number of streams authenticated now.
func (s *Service) ConnectedAgents() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, cs := range s.clusters {
		cs.mu.Lock()
		if cs.active != nil {
			n++
		}
		cs.mu.Unlock()
	}
	return n
}

// observation is one metric report for the Observer, and what to do once
// it is observed (compute the Scaler's recommendation).
type observation struct {
	ref     ScalerRef
	at      time.Time
	metrics []*agentv1.MetricValue
	after   func()
}

func (s *Service) observeLoop() {
	defer s.workers.Done()
	for {
		var ob observation
		select {
		case ob = <-s.observeQ:
		case <-s.ctx.Done():
			// What was queued before the end is observed still.
			for {
				select {
				case ob := <-s.observeQ:
					s.observeOne(ob)
				default:
					return
				}
			}
		}
		s.observeOne(ob)
	}
}

func (s *Service) observeOne(ob observation) {
	if s.o.Observer != nil {
		for _, mv := range ob.metrics {
			if mv.GetError() != "" || mv.GetTrigger() == "" {
				continue
			}
			s.o.Observer.Observe(SeriesKey{ScalerRef: ob.ref, Trigger: mv.GetTrigger()}, ob.at, mv.GetValue())
		}
		s.m.observed.Add(float64(len(ob.metrics)))
	}
	if ob.after != nil {
		ob.after()
	}
}

// observe queues a report, or sheds it when the workers are behind.
func (s *Service) observe(ob observation) {
	if s.ctx.Err() != nil {
		return
	}
	select {
	case s.observeQ <- ob:
	default:
		s.m.shed.Inc()
	}
}

// recommendation computes the Recommendation of ref at now.
func (s *Service) recommendation(ctx context.Context, ref ScalerRef, now time.Time) (*agentv1.Recommendation, error) {
	r := &agentv1.Recommendation{Namespace: ref.Namespace, ScalerName: ref.Name}
	if s.o.Recommender != nil {
		f, err := s.o.Recommender.Recommend(ctx, ref, now)
		if err != nil {
			return nil, fmt.Errorf("recommend %s/%s: %w", ref.Namespace, ref.Name, err)
		}
		if f.Valid {
			r.Forecast, r.ForecastLower, r.ForecastUpper = f.Value, f.Lower, f.Upper
			r.Confidence, r.Model, r.Floor, r.FloorReason = f.Confidence, f.Model, f.Floor, f.FloorReason
			if !f.ComputedAt.IsZero() {
				r.ComputedAt = ts(f.ComputedAt)
			}
			if !f.ExpiresAt.IsZero() {
				r.ExpiresAt = ts(f.ExpiresAt)
			}
		} else {
			r.FloorReason = f.FloorReason
		}
	}
	if s.o.Budgets != nil {
		c, err := s.o.Budgets.BudgetCap(ctx, ref, now)
		if err != nil {
			return nil, fmt.Errorf("budget cap %s/%s: %w", ref.Namespace, ref.Name, err)
		}
		r.BudgetMaxReplicas, r.PricePerReplicaHourMicros, r.PriceTableHash, r.Currency = c.MaxReplicas, c.PricePerReplicaHourMicros, c.PriceTableHash, c.Currency
	}
	if r.ComputedAt == nil {
		r.ComputedAt = ts(now)
	}
	return r, nil
}

// grpcErr maps an error of the store or of auth onto a gRPC status with
// msg as context. Secrets are never in these errors (auth names a token
// by tenant and id only).
func grpcErr(msg string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	code := codes.Internal
	switch {
	case errors.Is(err, auth.ErrMalformed), errors.Is(err, auth.ErrUnauthenticated):
		code = codes.Unauthenticated
	case errors.Is(err, auth.ErrForbidden):
		code = codes.PermissionDenied
	case errors.Is(err, store.ErrNotFound), errors.Is(err, auth.ErrNotFound):
		code = codes.NotFound
	case errors.Is(err, store.ErrInvalid):
		code = codes.InvalidArgument
	case errors.Is(err, store.ErrConflict):
		code = codes.AlreadyExists
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, store.ErrClosed):
		code = codes.Unavailable
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	}
	return status.Errorf(code, "%s: %v", msg, err)
}

// invalid is InvalidArgument naming the field.
func invalid(field, format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, "%s: %s", field, fmt.Sprintf(format, args...))
}
