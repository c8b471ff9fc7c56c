package controller

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// agentMetrics are the agent's Prometheus metrics.
type agentMetrics struct {
	decisions  *prometheus.CounterVec
	errors     *prometheus.CounterVec
	current    *prometheus.GaugeVec
	desired    *prometheus.GaugeVec
	engine     prometheus.Histogram
	collection *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*agentMetrics, error) {
	m := &agentMetrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hpa_scaling_decisions_total",
			Help: "Decisions made, by Scaler and the rule that decided (applied or not: dry run, paused, conflict).",
		}, []string{"namespace", "scaler", "rule"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hpa_scaling_errors_total",
			Help: "Failures, by Scaler, trigger (empty when not a trigger's) and stage: metric (a trigger's read), spec (invalid Scaler), target (reading /scale), scale (patching /scale), status (writing status), check (PDB or conflict lookups).",
		}, []string{"namespace", "scaler", "trigger", "stage"}),
		current: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hpa_current_replicas",
			Help: "The target's spec.replicas when last read, by Scaler.",
		}, []string{"namespace", "scaler"}),
		desired: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hpa_desired_replicas",
			Help: "The count of the last decision, by Scaler.",
		}, []string{"namespace", "scaler"}),
		engine: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "hpa_decision_engine_duration_seconds",
			Help:    "Time of one decision of the engine (scaling.Decide), all Scalers.",
			Buckets: prometheus.ExponentialBuckets(1e-7, 4, 10),
		}),
		collection: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hpa_metric_collection_duration_seconds",
			Help:    "Time of one read of a trigger's source, by Scaler and trigger.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 9),
		}, []string{"namespace", "scaler", "trigger"}),
	}
	if reg == nil {
		return m, nil
	}
	var errs []error
	for _, c := range []prometheus.Collector{m.decisions, m.errors, m.current, m.desired, m.engine, m.collection} {
		errs = append(errs, reg.Register(c))
	}
	return m, errors.Join(errs...)
}

// forget drops the series of a Scaler that is gone.
func (m *agentMetrics) forget(namespace, name string) {
	l := prometheus.Labels{"namespace": namespace, "scaler": name}
	m.decisions.DeletePartialMatch(l)
	m.errors.DeletePartialMatch(l)
	m.current.DeletePartialMatch(l)
	m.desired.DeletePartialMatch(l)
	m.collection.DeletePartialMatch(l)
}
