package history

import (
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Why a sample (or a step) was shed: the values of the reason label.
const (
	reasonQueueFull      = "queue_full"       // Observe's queue was full
	reasonClosed         = "closed"           // observed after Close
	reasonInvalid        = "invalid"          // a bad key, time or value
	reasonLate           = "late"             // for a step already closed
	reasonSeriesCap      = "series_cap"       // a new series beyond MaxRecorded
	reasonWriteQueueFull = "write_queue_full" // steps: the writer was behind
	reasonWriteFailed    = "write_failed"     // steps: the store refused the batch
	reasonShutdown       = "shutdown"         // steps still open at Close
)

var reasons = []string{reasonQueueFull, reasonClosed, reasonInvalid, reasonLate, reasonSeriesCap, reasonWriteQueueFull, reasonWriteFailed, reasonShutdown}

type metrics struct {
	observed     prometheus.Counter
	shedVec      *prometheus.CounterVec
	written      prometheus.Counter
	series       prometheus.Gauge
	evicted      prometheus.Counter
	rebuilds     prometheus.Counter
	pruned       *prometheus.CounterVec
	writeSeconds prometheus.Histogram

	shedTotal    atomic.Int64
	writtenTotal atomic.Int64
	mu           sync.Mutex
	byReason     map[string]int64
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		observed: prometheus.NewCounter(prometheus.CounterOpts{Name: "hpa_history_samples_observed_total", Help: "Samples the history's recording goroutine took from its queue."}),
		shedVec: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hpa_history_samples_shed_total",
			Help: "Samples (or, for write_queue_full, write_failed and shutdown, steps) the history did not record, by reason."}, []string{"reason"}),
		written:  prometheus.NewCounter(prometheus.CounterOpts{Name: "hpa_history_steps_written_total", Help: "Steps written to the store."}),
		series:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "hpa_history_series", Help: "Series held in memory."}),
		evicted:  prometheus.NewCounter(prometheus.CounterOpts{Name: "hpa_history_series_evicted_total", Help: "Series dropped from memory after IdleAfter without a sample."}),
		rebuilds: prometheus.NewCounter(prometheus.CounterOpts{Name: "hpa_history_tracker_rebuilds_total", Help: "Trackers rebuilt from their window (warm starts and periodic rebuilds)."}),
		pruned: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hpa_history_steps_pruned_total",
			Help: "Stored steps deleted past retention or replaced by downsampled averages."}, []string{"kind"}),
		writeSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "hpa_history_write_seconds", Help: "Time to write one batch of steps.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		byReason: map[string]int64{},
	}
	for _, r := range reasons {
		m.shedVec.WithLabelValues(r)
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.observed, m.shedVec, m.written, m.series, m.evicted, m.rebuilds, m.pruned, m.writeSeconds} {
			reg.MustRegister(c)
		}
	}
	return m
}

func (m *metrics) shed(reason string, n int64) {
	if n == 0 {
		return
	}
	m.shedVec.WithLabelValues(reason).Add(float64(n))
	m.shedTotal.Add(n)
	m.mu.Lock()
	m.byReason[reason] += n
	m.mu.Unlock()
}

func (m *metrics) shedByReason() map[string]int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]int64, len(m.byReason))
	for k, v := range m.byReason {
		out[k] = v
	}
	return out
}

// Stats are the service's counts since New.
type Stats struct {
	Series int
	// Tracked counts the series with a tracker (at most MaxSeries).
	Tracked int
	// Written counts the steps written to the store.
	Written int64
	// Shed counts what was not recorded, by reason (see the reason label
	// of hpa_history_samples_shed_total).
	Shed map[string]int64
}

// Stats returns the service's counts.
func (s *Service) Stats() Stats {
	s.mu.RLock()
	n := len(s.series)
	s.mu.RUnlock()
	return Stats{Series: n, Tracked: int(s.trackedN.Load()), Written: s.m.writtenTotal.Load(), Shed: s.m.shedByReason()}
}
