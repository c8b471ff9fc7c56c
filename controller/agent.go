package controller

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/scale"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crcontroller "sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
)

// DefaultLeaderElectionID is the name of the agent's Lease.
const DefaultLeaderElectionID = "hpa-autoscaler-agent"

// AgentOptions configure an Agent: the reconciler's options (whose
// clients NewAgent fills from the manager) and the manager's.
type AgentOptions struct {
	Options
	// Namespace limits the agent to the Scalers (and the objects it reads)
	// of one namespace ("": every namespace).
	Namespace string
	// MetricsAddr serves /metrics (controller-runtime's registry, where
	// the binary registers the agent's metrics); "" or "0": off.
	MetricsAddr string
	// HealthAddr serves /healthz and /readyz; "": off.
	HealthAddr string
	// LeaderElection: only the holder of the Lease LeaderElectionID in
	// LeaderElectionNamespace reconciles ("" namespace: the pod's own,
	// from the service account).
	LeaderElection          bool
	LeaderElectionID        string
	LeaderElectionNamespace string
	// LeaseDuration, RenewDeadline, RetryPeriod of the election (0:
	// controller-runtime's 15s, 10s, 2s).
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// Workers is the number of Scalers reconciled at once (0: 1).
	Workers int
	// ShutdownTimeout bounds the stop of the manager's runnables (0: 30s).
	ShutdownTimeout time.Duration
}

// Agent is the agent: a controller-runtime manager running the Scaler
// reconciler.
type Agent struct {
	mgr manager.Manager
	rec *Reconciler
}

// Scheme returns the scheme of the agent's objects.
func Scheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := errors.Join(clientgoscheme.AddToScheme(s), v1.AddToScheme(s)); err != nil {
		return nil, err
	}
	return s, nil
}

// NewAgent builds the manager and the reconciler on cfg.
func NewAgent(cfg *rest.Config, o AgentOptions) (*Agent, error) {
	scheme, err := Scheme()
	if err != nil {
		return nil, fmt.Errorf("agent: scheme: %w", err)
	}
	if o.Logger != nil {
		o.Options.Logger = o.Logger
	}
	log := logr.Discard()
	if o.Logger != nil {
		log = logr.FromSlogHandler(o.Logger.Handler())
	}
	mo := manager.Options{
		Scheme: scheme,
		Logger: log,
		Client: client.Options{Cache: &client.CacheOptions{Unstructured: true}},
		Metrics: metricsserver.Options{
			BindAddress: "0",
		},
		HealthProbeBindAddress:        o.HealthAddr,
		LeaderElection:                o.LeaderElection,
		LeaderElectionID:              o.LeaderElectionID,
		LeaderElectionNamespace:       o.LeaderElectionNamespace,
		LeaderElectionResourceLock:    "leases",
		LeaderElectionReleaseOnCancel: true,
	}
	if mo.LeaderElectionID == "" {
		mo.LeaderElectionID = DefaultLeaderElectionID
	}
	if o.MetricsAddr != "" {
		mo.Metrics.BindAddress = o.MetricsAddr
	}
	if mo.HealthProbeBindAddress == "" {
		mo.HealthProbeBindAddress = "0"
	}
	if o.Namespace != "" {
		mo.Cache = cache.Options{DefaultNamespaces: map[string]cache.Config{o.Namespace: {}}}
	}
	for _, d := range []struct {
		v   time.Duration
		dst **time.Duration
	}{{o.LeaseDuration, &mo.LeaseDuration}, {o.RenewDeadline, &mo.RenewDeadline}, {o.RetryPeriod, &mo.RetryPeriod}, {o.ShutdownTimeout, &mo.GracefulShutdownTimeout}} {
		if d.v > 0 {
			v := d.v
			*d.dst = &v
		}
	}
	mgr, err := manager.New(cfg, mo)
	if err != nil {
		return nil, fmt.Errorf("agent: manager: %w", err)
	}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &v1.Scaler{}, targetIndex, scalerTarget); err != nil {
		return nil, fmt.Errorf("agent: index Scalers by target: %w", err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("agent: discovery: %w", err)
	}
	scales, err := scale.NewForConfig(rest.CopyConfig(cfg), mgr.GetRESTMapper(), dynamic.LegacyAPIPathResolverFunc, scale.NewDiscoveryScaleKindResolver(dc))
	if err != nil {
		return nil, fmt.Errorf("agent: scale client: %w", err)
	}
	ro := o.Options
	ro.Client, ro.APIReader, ro.Scales, ro.RESTMapper, ro.Discovery = mgr.GetClient(), mgr.GetAPIReader(), scales, mgr.GetRESTMapper(), dc
	if ro.Recorder == nil {
		ro.Recorder = mgr.GetEventRecorder("hpa-autoscaler-agent")
	}
	rec, err := NewReconciler(ro)
	if err != nil {
		return nil, err
	}
	skip := true
	// controller-runtime v0.24.1's priority queue (its default) can
	// deadlock when the manager stops: a ready item handed to a worker
	// that has left on shutdown blocks the queue with its lock held
	// (kubernetes-sigs/controller-runtime#3538, fixed by #3540 after
	// v0.24.1), and the agent then fails to stop within its grace period
	// (seen in our tests under load). The classic rate-limited workqueue
	// has no such race; nothing here needs priorities.
	noPriorityQueue := false
	err = builder.ControllerManagedBy(mgr).
		Named("scaler").
		For(&v1.Scaler{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		WithOptions(crcontroller.Options{MaxConcurrentReconciles: max(o.Workers, 1), SkipNameValidation: &skip, UsePriorityQueue: &noPriorityQueue}).
		Complete(rec)
	if err != nil {
		return nil, fmt.Errorf("agent: controller: %w", err)
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return nil, fmt.Errorf("agent: healthz: %w", err)
	}
	// Ready once the informers of the cache have synced.
	if err := mgr.AddReadyzCheck("cache", func(req *http.Request) error {
		ctx, cancel := context.WithTimeout(req.Context(), time.Second)
		defer cancel()
		if !mgr.GetCache().WaitForCacheSync(ctx) {
			return errors.New("cache not synced")
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("agent: readyz: %w", err)
	}
	return &Agent{mgr: mgr, rec: rec}, nil
}

// Manager returns the agent's manager.
func (a *Agent) Manager() manager.Manager { return a.mgr }

// Run runs the agent until ctx ends (or leadership is lost), then closes
// every scaler.
func (a *Agent) Run(ctx context.Context) error {
	defer a.rec.Close()
	return a.mgr.Start(ctx)
}
