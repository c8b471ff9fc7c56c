package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/scale"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
	"github.com/hpa-autoscaler/hpa-autoscaler/controller/triggers"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
	"github.com/hpa-autoscaler/hpa-autoscaler/scaling"
)

// DefaultSyncPeriod is how often each Scaler is reconciled when nothing
// changes (--sync-period, the agent configuration's metrics.interval).
const DefaultSyncPeriod = 15 * time.Second

// Registry builds scalers by type; *scalers.Registry satisfies it (the
// agent uses the registry `serve` uses). New is called from several
// reconciles at once.
type Registry interface {
	New(ctx context.Context, cfg scalers.Config) (scalers.Scaler, error)
}

// ResourceMetrics measures a resource (CPU or memory) trigger on the pods
// of a target: those selector selects in namespace, read through
// metrics.k8s.io and the pods API. The reconciler calls Observe from
// several goroutines at once (one per Scaler being reconciled), with ctx
// bounded by the agent's source timeout, and now the time of the
// decision.
//
// The value is the engine's observation of the trigger's one metric, whose
// spec the reconciler derives from trig itself (Resource, or
// ContainerResource when trig.Container is set; Utilization or
// AverageValue): either PodSamples with the pods in Pods (preferred: the
// engine then treats unready pods and pods without metrics as the HPA
// does), or PodValuesMilli (with PodRequestsMilli for Utilization) for
// pods that all count. An error marks the metric failed for this decision
// (it is shown, so it must not hold a secret).
type ResourceMetrics interface {
	Observe(ctx context.Context, namespace string, selector labels.Selector, trig *v1.ResourceTrigger, now time.Time) (scaling.MetricValue, error)
}

// EventRecorder records Kubernetes Events; events.EventRecorder of
// k8s.io/client-go/tools/events (the manager's GetEventRecorder) satisfies
// it. note is a format string.
type EventRecorder interface {
	Eventf(regarding runtime.Object, related runtime.Object, eventtype, reason, action, note string, args ...any)
}

// ResolveFunc resolves one trigger of a Scaler (triggers.Resolve).
type ResolveFunc func(ctx context.Context, in triggers.Input) (*triggers.Trigger, error)

// Options are the dependencies and settings of a Reconciler.
type Options struct {
	// Client reads Scalers, HorizontalPodAutoscalers,
	// PodDisruptionBudgets and ScaledObjects (from the manager's cache)
	// and writes Scaler status (required).
	Client client.Client
	// APIReader reads what must not be cached: Secrets (a get each, never
	// a list or watch) and the target's Pods (required).
	APIReader client.Reader
	// Scales reads and patches /scale (required).
	Scales scale.ScalesGetter
	// RESTMapper maps a targetRef's apiVersion and kind to its resource,
	// and tells whether KEDA's ScaledObject is served (required).
	RESTMapper meta.RESTMapper
	// Discovery tells a target that does not exist from a kind without a
	// /scale subresource (nil: both are reported as not found).
	Discovery discovery.ServerResourcesInterface
	// Recorder records the Events of every Scaler (nil: none).
	Recorder EventRecorder
	// Registry builds the scalers of the triggers (required).
	Registry Registry
	// ResourceMetrics measures resource triggers (nil: they fail with
	// "resource triggers need metrics.k8s.io (not configured)").
	ResourceMetrics ResourceMetrics
	// Resolve resolves triggers (nil: triggers.Resolve).
	Resolve ResolveFunc
	// Clock gives the time of every decision (nil: the real clock); tests
	// move windows and cooldowns with a fake one.
	Clock clock.PassiveClock
	// Registerer receives the agent's metrics (nil: none registered).
	Registerer prometheus.Registerer
	// Logger is given to the scalers (nil: discard); the reconciler logs
	// through the logr of its context.
	Logger *slog.Logger
	// SyncPeriod: each Scaler is reconciled this often (0:
	// DefaultSyncPeriod), and whenever it changes.
	SyncPeriod time.Duration
	// SourceTimeout bounds one fetch of a trigger that sets no timeout of
	// its own (0: scalers.DefaultSourceTimeout); MaxSourceTimeout caps one
	// a trigger sets (0: scalers.DefaultMaxSourceTimeout).
	SourceTimeout    time.Duration
	MaxSourceTimeout time.Duration
	// Limits bound what one trigger may ask (list sizes).
	Limits scalers.Limits
	// Defaults are the agent-wide settings under each Scaler's own.
	Defaults Defaults
	// PodStartupDelay is how long a new pod takes to become ready: the
	// forecast floor looks that much further ahead (0: none).
	PodStartupDelay time.Duration
	// Backend is the link to the backend (nil: none, the agent decides
	// alone): it gets the inventory, metric values, decisions and
	// scaling events, and gives the forecast floor (in place of the
	// local predictive floor while its forecast is valid) and the budget
	// cap. The agent's manager does not run it: add it as a Runnable
	// (backendlink.Link.Start) so that only the leader streams.
	Backend Backend
}

func (o *Options) withDefaults() {
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.SyncPeriod <= 0 {
		o.SyncPeriod = DefaultSyncPeriod
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Resolve == nil {
		o.Resolve = defaultResolve
	}
}

func (o *Options) validate() error {
	var errs []error
	for _, dep := range []struct {
		name string
		nil_ bool
	}{
		{"Client", o.Client == nil}, {"APIReader", o.APIReader == nil}, {"Scales", o.Scales == nil},
		{"RESTMapper", o.RESTMapper == nil}, {"Registry", o.Registry == nil},
	} {
		if dep.nil_ {
			errs = append(errs, fmt.Errorf("controller: Options.%s is required", dep.name))
		}
	}
	if o.SourceTimeout < 0 || o.MaxSourceTimeout < 0 {
		errs = append(errs, errors.New("controller: source timeouts must be >= 0"))
	}
	if o.PodStartupDelay < 0 {
		errs = append(errs, fmt.Errorf("controller: PodStartupDelay %v: must be >= 0", o.PodStartupDelay))
	}
	if err := o.Defaults.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("controller: defaults: %w", err))
	}
	return errors.Join(errs...)
}

// timeouts are the bounds the scalers get.
func (o *Options) timeouts() scalers.Timeouts {
	return scalers.Timeouts{Default: o.SourceTimeout, Max: o.MaxSourceTimeout}.WithDefaults()
}
