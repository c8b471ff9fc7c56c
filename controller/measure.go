package controller

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
	"github.com/hpa-autoscaler/hpa-autoscaler/scaling"
)

// errNoResourceMetrics is the error of a resource trigger when the agent
// has no ResourceMetrics.
var errNoResourceMetrics = errors.New("resource triggers need metrics.k8s.io (not configured)")

// measure reads every trigger at once, each bounded by the source
// timeout, and returns the engine's observations in spec.Metrics order
// and whether any trigger is active. selector is the target's pod
// selector (nil when /scale has none).
func (r *Reconciler) measure(ctx context.Context, s *v1.Scaler, st *scalerState, selector labels.Selector, now time.Time) ([]scaling.MetricValue, bool) {
	values := make([][]scaling.MetricValue, len(st.triggers))
	var wg sync.WaitGroup
	for i, t := range st.triggers {
		wg.Go(func() {
			start := time.Now()
			values[i] = r.measureOne(ctx, s, t, selector, now)
			r.metrics.collection.WithLabelValues(s.Namespace, s.Name, t.name).Observe(time.Since(start).Seconds())
		})
	}
	wg.Wait()
	var out []scaling.MetricValue
	active := false
	for i, t := range st.triggers {
		if t.healthy && t.active {
			active = true
		}
		for _, v := range values[i] {
			if v.Failed {
				v.Failures = t.failures
			}
			out = append(out, v)
		}
	}
	return out, active
}

// measureOne reads one trigger and updates its state.
func (r *Reconciler) measureOne(ctx context.Context, s *v1.Scaler, t *trigState, selector labels.Selector, now time.Time) []scaling.MetricValue {
	failed := func(err error) []scaling.MetricValue {
		t.failures++
		t.healthy, t.active, t.measured = false, false, true
		t.lastErr = t.scrub(err.Error())
		r.metrics.errors.WithLabelValues(s.Namespace, s.Name, t.name, "metric").Inc()
		out := make([]scaling.MetricValue, len(t.metrics))
		for i := range out {
			out[i].Failed = true
		}
		return out
	}
	ok := func() {
		t.failures, t.lastErr = 0, ""
		t.healthy, t.measured, t.lastSuccess = true, true, now
	}
	if t.err != nil {
		return failed(t.err)
	}
	timeout := r.o.timeouts().Default
	if t.resource != nil {
		if r.o.ResourceMetrics == nil {
			return failed(errNoResourceMetrics)
		}
		if selector == nil {
			return failed(errors.New("the target's /scale reports no pod selector: resource triggers cannot find its pods"))
		}
		mctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		v, err := r.o.ResourceMetrics.Observe(mctx, s.Namespace, selector, t.resource, now)
		if err != nil {
			return failed(fmt.Errorf("%s: %w", t.resource.ResourceName, err))
		}
		ok()
		// A resource trigger takes no part in activation (as KEDA's cpu
		// and memory triggers).
		t.active = false
		return []scaling.MetricValue{v}
	}
	if t.scaler == nil {
		return failed(errors.New("scaler not built"))
	}
	// The scalers bound their own calls (Timeouts); this is a backstop a
	// second later.
	mctx, cancel := context.WithTimeout(ctx, r.o.timeouts().Max+time.Second)
	defer cancel()
	m, err := t.scaler.Metrics(mctx)
	if err != nil {
		return failed(err)
	}
	out := make([]scaling.MetricValue, len(t.names))
	t.values = make([]float64, len(t.names))
	for i, name := range t.names {
		v, found := m.Value(name)
		if !found {
			return failed(fmt.Errorf("the scaler answered no value for its metric %q", name))
		}
		t.values[i] = v
		out[i].ValuesMilli = []int64{toMilli(v)}
	}
	ok()
	t.active = m.Active
	return out
}
