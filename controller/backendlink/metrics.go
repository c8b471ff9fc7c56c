package backendlink

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

type linkMetrics struct {
	shed       *prometheus.CounterVec
	sent       *prometheus.CounterVec
	reconnects prometheus.Counter
	connected  prometheus.Gauge
}

func newLinkMetrics(reg prometheus.Registerer, l *Link) (*linkMetrics, error) {
	m := &linkMetrics{
		shed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hpa_agent_backend_shed_total",
			Help: "Messages for the backend dropped from the agent's buffer, by kind: metrics (shed past the buffer size), decision and event (dropped only past the hard limit).",
		}, []string{"kind"}),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hpa_agent_backend_sent_total",
			Help: "Messages sent to the backend (resends included), by kind.",
		}, []string{"kind"}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hpa_agent_backend_reconnects_total",
			Help: "Streams to the backend that ended or failed to start.",
		}),
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hpa_agent_backend_connected",
			Help: "1 while the agent holds an authenticated stream to the backend.",
		}),
	}
	for _, k := range []kind{kindMetrics, kindDecision, kindEvent} {
		m.shed.WithLabelValues(k.String())
	}
	if reg == nil {
		return m, nil
	}
	buffered := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "hpa_agent_backend_buffered",
		Help: "Messages for the backend not yet acknowledged (sent or not).",
	}, func() float64 { return float64(l.Buffered()) })
	var errs []error
	for _, c := range []prometheus.Collector{m.shed, m.sent, m.reconnects, m.connected, buffered} {
		errs = append(errs, reg.Register(c))
	}
	return m, errors.Join(errs...)
}
