package agentsvc

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics of the service, registered on Options.Registerer only.
type metrics struct {
	connected  prometheus.Gauge
	messages   *prometheus.CounterVec
	duplicates prometheus.Counter
	gaps       prometheus.Counter
	shed       prometheus.Counter
	observed   prometheus.Counter
	ends       *prometheus.CounterVec
	refused    prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		connected: prometheus.NewGauge(prometheus.GaugeOpts{Name: "hpa_agent_connected", Help: "Agents with an authenticated Connect stream."}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hpa_agent_messages_total",
			Help: "AgentMessages received after authentication, by payload."}, []string{"type"}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{Name: "hpa_agent_duplicate_messages_total",
			Help: "AgentMessages whose seq was applied before (replays), not applied again."}),
		gaps: prometheus.NewCounter(prometheus.CounterOpts{Name: "hpa_agent_seq_gaps_total",
			Help: "AgentMessages whose seq skipped some (metric reports the agent shed)."}),
		shed: prometheus.NewCounter(prometheus.CounterOpts{Name: "hpa_agent_metric_reports_shed_total",
			Help: "Metric reports dropped because the history's workers were behind."}),
		observed: prometheus.NewCounter(prometheus.CounterOpts{Name: "hpa_agent_metric_values_observed_total",
			Help: "Metric values handed to the history."}),
		ends: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hpa_agent_stream_ends_total",
			Help: "Connect streams ended after authentication, by reason."}, []string{"reason"}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{Name: "hpa_agent_inventory_refused_total",
			Help: "Scalers of an inventory refused (invalid spec, name taken by another cluster)."}),
	}
	if reg == nil {
		return m, nil
	}
	var errs []error
	for _, c := range []prometheus.Collector{m.connected, m.messages, m.duplicates, m.gaps, m.shed, m.observed, m.ends, m.refused} {
		errs = append(errs, reg.Register(c))
	}
	return m, errors.Join(errs...)
}
