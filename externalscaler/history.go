package externalscaler

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// HistoryKey names one series of history: one metric of one ScaledObject's
// trigger served here. It holds what KEDA's calls carry and nothing more:
// the ScaledObject's namespace and name (scaledObjectRef) and the metric
// name the trigger's scaler offers (GetMetricSpec's, without KEDA's "sN-"
// prefix). KEDA's calls carry no tenant or cluster: the wiring that stores
// history adds its own (one external scaler serves one cluster of one
// tenant). Two triggers of one ScaledObject whose scalers offer the same
// metric name share a key.
type HistoryKey struct {
	Namespace    string
	ScaledObject string
	Metric       string
}

// HistorySample is one past value of a series.
type HistorySample struct {
	Time  time.Time
	Value float64
}

// HistorySink receives every value the server fetches for a trigger with
// predictive: "true" (from GetMetrics, IsActive and stream polls alike), at
// the time it was fetched. The server calls Observe from one goroutine of
// its own, never on an RPC's path and never concurrently: the values are
// handed over through a bounded queue (DefaultHistoryQueue), and values
// that find it full are dropped and counted
// (hpa_history_samples_dropped_total), so a slow sink costs history, never
// latency. Values of one key come in fetch order; several fetches within
// one step are the sink's to average. Observe should not block for long:
// while it does, the queue fills.
type HistorySink interface {
	Observe(key HistoryKey, t time.Time, v float64)
}

// HistorySource gives a new predictive instance (a first call after the
// server started, a changed trigger, an instance closed while idle) the
// past of its series, so that its forecasts do not start from nothing.
// History returns the samples of key before until, in time order (a
// step's average is a sample), as far back as the source keeps them; the
// server takes at most the last MaxWarmStartSamples. It is called from a
// goroutine of the server apart from every RPC, with a context that ends
// at WarmStartTimeout or when the server closes; an error leaves the
// instance with its live history only. Safe for concurrent use.
type HistorySource interface {
	History(ctx context.Context, key HistoryKey, until time.Time) ([]HistorySample, error)
}

// Defaults of the history hand-over.
const (
	// DefaultHistoryQueue is the number of values the queue to the
	// HistorySink holds (Options.HistoryQueue).
	DefaultHistoryQueue = 16384
	// WarmStartTimeout bounds the HistorySource calls of one warm start.
	WarmStartTimeout = 30 * time.Second
	// MaxWarmStartSamples is the most past samples a warm start takes per
	// series (the newest): five weeks of one-minute steps.
	MaxWarmStartSamples = 35 * 24 * 60
)

type historyRecord struct {
	key HistoryKey
	t   time.Time
	v   float64
}

// historyQueue hands values to a HistorySink from one goroutine.
type historyQueue struct {
	sink    HistorySink
	ch      chan historyRecord
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
	dropped prometheus.Counter
	log     *slog.Logger
}

func newHistoryQueue(sink HistorySink, size int, dropped prometheus.Counter, log *slog.Logger) *historyQueue {
	q := &historyQueue{sink: sink, ch: make(chan historyRecord, size), stop: make(chan struct{}), done: make(chan struct{}), dropped: dropped, log: log}
	go q.run()
	return q
}

// put queues one value without waiting; a full queue drops it.
func (q *historyQueue) put(key HistoryKey, t time.Time, v float64) {
	select {
	case q.ch <- historyRecord{key, t, v}:
	default:
		q.dropped.Inc()
	}
}

func (q *historyQueue) run() {
	defer close(q.done)
	for {
		select {
		case r := <-q.ch:
			q.observe(r)
		case <-q.stop:
			// Hand over what is queued, then stop: values put after
			// close are dropped with the queue.
			for {
				select {
				case r := <-q.ch:
					q.observe(r)
				default:
					return
				}
			}
		}
	}
}

func (q *historyQueue) observe(r historyRecord) {
	defer func() {
		if p := recover(); p != nil {
			q.log.Error("history sink panicked", "panic", p)
		}
	}()
	q.sink.Observe(r.key, r.t, r.v)
}

// close stops the goroutine after it handed over the queued values, or
// when ctx ends.
func (q *historyQueue) close(ctx context.Context) error {
	q.once.Do(func() { close(q.stop) })
	select {
	case <-q.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
