package controller

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
	"github.com/hpa-autoscaler/hpa-autoscaler/controller/backendlink"
	"github.com/hpa-autoscaler/hpa-autoscaler/controller/triggers"
	"github.com/hpa-autoscaler/hpa-autoscaler/predictor"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/predictive"
	"github.com/hpa-autoscaler/hpa-autoscaler/scaling"
)

// scalerState is what the agent keeps in memory for one Scaler: its built
// triggers and the engine's Autoscaler with the history. A reconcile holds
// mu for its whole run (controller-runtime never reconciles one key twice
// at once; the lock orders a reconcile against Close).
type scalerState struct {
	mu  sync.Mutex
	uid types.UID
	// closed: the Scaler is gone or the agent is stopping; nothing more is
	// built.
	closed bool

	// generation is the spec generation the triggers and spec were built
	// for (0: never built).
	generation int64
	triggers   []*trigState
	spec       *scaling.Spec
	pol        policy
	specErr    error
	// layout names the metrics of spec in order: a change renews auto.
	layout string
	auto   *scaling.Autoscaler

	// lastActive is when a trigger was last active (zero: never).
	lastActive time.Time
	// lastScale is when the agent last changed the count (zero: never).
	lastScale time.Time
	// lastEvents are the Warning events already recorded, by key, so that
	// a steady failure records its Event once.
	lastEvents map[string]string
	// lastReported is the last decision reported to the backend (nil:
	// none yet).
	lastReported *v1.Decision
	// podRequests are one pod's requests for the backend's inventory
	// (read without mu), read at podReqAt.
	podRequests atomic.Pointer[backendlink.Requests]
	podReqAt    time.Time
}

// trigState is one trigger of a Scaler.
type trigState struct {
	name, typ, path string
	metricType      string
	resource        *v1.ResourceTrigger
	secrets         []triggers.SecretVersion
	// secretValues are the metadata values that came from Secrets, to
	// scrub from messages (the scalers redact already; this is a second
	// guard).
	secretValues []string
	// metadata is the resolved metadata until the scaler is built.
	metadata map[string]string
	// resolved: Resolve succeeded for this state.
	resolved bool

	scaler scalers.Scaler // nil: resource trigger, or not built
	// metrics are the trigger's metrics in the engine's terms.
	metrics []scaling.MetricSpec
	// names are the scaler's metric names, same order.
	names []string

	// err is why the trigger cannot be measured: invalid (no retry until
	// the spec changes) or not built yet (retried each sync).
	err     error
	invalid bool

	// Measurement state.
	failures    int32
	lastSuccess time.Time
	lastErr     string
	values      []float64 // last values by metric (non-resource)
	active      bool
	healthy     bool
	measured    bool
}

func (t *trigState) close() {
	if t.scaler != nil {
		_ = t.scaler.Close()
		t.scaler = nil
	}
}

func (st *scalerState) closeTriggers() {
	for _, t := range st.triggers {
		t.close()
	}
	st.triggers = nil
}

// secretGetter reads Secrets with a get through an uncached reader.
type secretGetter struct{ r client.Reader }

func (g secretGetter) GetSecret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	var s corev1.Secret
	if err := g.r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// prepare resolves every trigger (reading the Secrets they reference, a
// get each), rebuilds a trigger whose spec generation or Secret versions
// changed (closing the old scaler), retries the build of one that failed
// for a reason other than its spec, and renews the engine's spec. It
// returns the error of a spec that cannot be decided on at all.
func (r *Reconciler) prepare(ctx context.Context, s *v1.Scaler, st *scalerState, now time.Time) error {
	specs, paths := triggerSpecs(&s.Spec)
	regen := st.generation != s.Generation
	old := map[string]*trigState{}
	for _, t := range st.triggers {
		old[t.path] = t
	}
	pol := specPolicy(&s.Spec, r.o.Defaults)
	next := make([]*trigState, 0, len(specs))
	for i := range specs {
		in := triggers.Input{Namespace: s.Namespace, Path: paths[i], Spec: specs[i], Secrets: secretGetter{r.o.APIReader}}
		res, err := r.o.Resolve(ctx, in)
		prev := old[paths[i]]
		delete(old, paths[i])
		name := cmp.Or(specs[i].Name, specs[i].Type)
		if err != nil {
			t := &trigState{name: name, typ: specs[i].Type, path: paths[i], metricType: specs[i].MetricType, err: err, invalid: errors.Is(err, triggers.ErrInvalid)}
			if prev != nil {
				prev.close()
				t.carry(prev)
			}
			t.metrics, t.names = placeholder(name)
			next = append(next, t)
			continue
		}
		if prev != nil && !regen && prev.resolved && prev.typ == res.Type && slices.Equal(prev.secrets, res.Secrets) && (prev.err == nil || prev.invalid) {
			// Built for this generation and these Secret versions (or
			// refused by its scaler type: no retry until the spec changes).
			next = append(next, prev)
			continue
		}
		if prev != nil {
			prev.close()
		}
		t := &trigState{name: res.Name, typ: res.Type, path: paths[i], metricType: res.MetricType, resource: res.Resource, secrets: res.Secrets, metadata: res.Metadata, resolved: true}
		t.secretValues = secretValues(specs[i], res)
		if prev != nil {
			t.carry(prev)
		}
		r.build(ctx, s, t, pol)
		next = append(next, t)
	}
	for _, t := range old {
		t.close()
	}
	st.triggers = next
	st.generation = s.Generation
	st.pol = pol

	var metrics []scaling.MetricSpec
	var layout strings.Builder
	for _, t := range st.triggers {
		metrics = append(metrics, t.metrics...)
		for _, m := range t.metrics {
			fmt.Fprintf(&layout, "%s|%d|%d|%d|%s;", m.Name, m.Type, m.Target, m.TargetMilli+int64(m.TargetUtilization), m.Resource)
		}
	}
	spec, err := scalingSpec(&s.Spec, metrics, r.o.Defaults)
	if err == nil {
		err = checkActivation(s, st.triggers)
	}
	st.specErr = err
	if err != nil {
		return err
	}
	st.spec = spec
	switch {
	case st.auto == nil:
		st.auto = scaling.NewAutoscaler(spec)
		restoreHistory(st.auto.History(), s.Status.History, now)
	case layout.String() != st.layout:
		// Other metrics: the failure counts and last known values by index
		// no longer fit; the history does.
		a := scaling.NewAutoscaler(spec)
		copyHistory(a.History(), st.auto.History())
		st.auto = a
	default:
		st.auto.SetSpec(spec)
	}
	st.layout = layout.String()
	return nil
}

// checkActivation refuses minReplicas 0 with resource triggers only, as
// KEDA does: CPU and memory cannot tell activity from zero pods.
func checkActivation(s *v1.Scaler, ts []*trigState) error {
	if s.Spec.Scaling.MinReplicas == nil || *s.Spec.Scaling.MinReplicas != 0 {
		return nil
	}
	for _, t := range ts {
		if t.typ != triggers.TypeResource {
			return nil
		}
	}
	return errors.New("spec.scaling.minReplicas 0: needs at least one trigger that is not resource (CPU and memory cannot tell activity from zero pods), as KEDA")
}

// carry keeps the measurement state of prev, the same trigger before a
// rebuild.
func (t *trigState) carry(prev *trigState) {
	t.failures, t.lastSuccess, t.lastErr = prev.failures, prev.lastSuccess, prev.lastErr
	t.healthy, t.active, t.measured = prev.healthy, prev.active, prev.measured
}

// placeholder is the one metric of a trigger that could not be built: it
// always fails, so that the engine treats it as the HPA treats a metric
// it cannot read (no scale-down while it fails; the fallback after
// failureThreshold).
func placeholder(name string) ([]scaling.MetricSpec, []string) {
	return []scaling.MetricSpec{{Name: name, Type: scaling.ExternalMetric, Target: scaling.AverageValueTarget, TargetMilli: 1}}, []string{name}
}

// build builds the trigger's scaler (or its resource metric).
func (r *Reconciler) build(ctx context.Context, s *v1.Scaler, t *trigState, pol policy) {
	if t.typ == triggers.TypeResource {
		if t.resource == nil {
			t.err, t.invalid = fmt.Errorf("%s: type resource needs the resource block", t.path), true
			t.metrics, t.names = placeholder(t.name)
			return
		}
		ms, err := resourceMetric(t.path, t.resource)
		if err != nil {
			t.err, t.invalid = err, true
			t.metrics, t.names = placeholder(t.name)
			return
		}
		t.metrics, t.names = []scaling.MetricSpec{ms}, []string{ms.Name}
		return
	}
	bctx, cancel := context.WithTimeout(ctx, r.o.timeouts().Max+time.Second)
	defer cancel()
	sc, err := r.o.Registry.New(bctx, scalers.Config{
		Type:      t.typ,
		Metadata:  t.metadata,
		Namespace: s.Namespace,
		Name:      s.Name,
		Logger:    r.o.Logger.With("trigger", t.name),
		Timeouts:  r.o.timeouts(),
		Limits:    r.o.Limits,
	})
	t.metadata = nil // secrets are held by the scaler only
	if err != nil {
		t.err = fmt.Errorf("%s: build %s scaler: %w", t.path, t.typ, err)
		t.invalid = errors.Is(err, scalers.ErrInvalidConfig)
		t.metrics, t.names = placeholder(t.name)
		return
	}
	if pol.predictive != nil {
		w, err := predictive.Wrap(sc, predictive.Options{MetricStreamsOptions: predictorOptions(pol.predictive, r.o.PodStartupDelay), Clock: r.o.Clock, Logger: r.o.Logger})
		if err != nil {
			_ = sc.Close()
			t.err, t.invalid = fmt.Errorf("spec.advanced.predictiveScaling: %w", err), true
			t.metrics, t.names = placeholder(t.name)
			return
		}
		sc = w
	}
	t.scaler = sc
	for _, m := range sc.MetricSpecs() {
		t.metrics = append(t.metrics, externalMetric(m, t.metricType))
		t.names = append(t.names, m.Name)
	}
	if len(t.metrics) == 0 {
		t.close()
		t.err = fmt.Errorf("%s: the %s scaler offers no metric", t.path, t.typ)
		t.metrics, t.names = placeholder(t.name)
	}
}

// predictorOptions converts advanced.predictiveScaling.
func predictorOptions(p *v1.PredictiveScaling, startup time.Duration) predictor.MetricStreamsOptions {
	o := predictor.MetricStreamsOptions{StartupDelay: startup}
	if p.LookAheadMinutes > 0 {
		o.LookAhead = time.Duration(p.LookAheadMinutes) * time.Minute
	}
	if c := p.ConfidenceThreshold; c != nil {
		// The predictor reads 0 as "default" (0.8) and a negative value
		// as 0; an explicit 0 means any calibrated forecast.
		o.ConfidenceThreshold = *c
		if *c == 0 {
			o.ConfidenceThreshold = -1
		}
	}
	return o
}

// secretValues returns the metadata values the trigger got from Secrets
// through secretRefs, to scrub from its messages.
func secretValues(spec v1.TriggerSpec, res *triggers.Trigger) []string {
	var out []string
	for _, ref := range spec.SecretRefs {
		if v := res.Metadata[ref.Parameter]; len(v) >= 4 {
			out = append(out, v)
		}
	}
	return out
}

// scrub removes secret values from a message.
func (t *trigState) scrub(msg string) string {
	for _, v := range t.secretValues {
		msg = strings.ReplaceAll(msg, v, "[secret]")
	}
	return msg
}
