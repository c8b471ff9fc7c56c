package externalscaler

import (
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// The RPC names used as the method label; other services served on the same
// gRPC server (health, reflection) are not instrumented.
const (
	methodIsActive         = "IsActive"
	methodStreamIsActive   = "StreamIsActive"
	methodGetMetricSpec    = "GetMetricSpec"
	methodGetMetrics       = "GetMetrics"
	methodStreamMetricSpec = "StreamMetricSpec"

	servicePrefix = "/externalscaler.ExternalScaler/"
)

var methodNames = []string{methodIsActive, methodStreamIsActive, methodGetMetricSpec, methodGetMetrics, methodStreamMetricSpec}

// numCodes is the number of gRPC status codes (OK .. Unauthenticated).
const numCodes = int(codes.Unauthenticated) + 1

// Error reasons of hpa_scaler_errors_total.
const (
	reasonInvalidConfig = "invalid_config"
	reasonUnavailable   = "unavailable"
	reasonNoData        = "no_data"
	reasonTimeout       = "timeout"
	reasonLimit         = "limit"
	reasonOther         = "other"
)

var reasons = []string{reasonInvalidConfig, reasonUnavailable, reasonNoData, reasonTimeout, reasonLimit, reasonOther}

// unknownType is the scaler_type label of a scalerType that is not
// registered: the label must not take arbitrary client input.
const unknownType = "unknown"

// metrics holds every collector of the server. Label values are resolved
// once (per method, per scaler type) so the request path does no label
// lookups.
type metrics struct {
	requests   *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	streams    *prometheus.GaugeVec
	collection *prometheus.HistogramVec
	errors     *prometheus.CounterVec
	instances  *prometheus.GaugeVec
	builds     *prometheus.CounterVec
	overruns   *prometheus.CounterVec
	refusedVec *prometheus.CounterVec
	// entries is what Limits.MaxScalers bounds.
	entries prometheus.Gauge
	// The history hand-over and warm starts of predictive triggers.
	historyDropped   prometheus.Counter
	warmStarts       prometheus.Counter
	warmStartErrors  prometheus.Counter
	warmStartSamples prometheus.Counter
	// floors reports the forecast floors last served, read from the cache
	// at each scrape.
	floors *floorCollector
	// refused counts refusals by limit name.
	refused map[string]prometheus.Counter // read-only

	methods map[string]*methodMetrics // by full gRPC method name; read-only

	mu    sync.Mutex
	types map[string]*typeMetrics
}

// methodMetrics are the collectors of one RPC with its labels applied.
type methodMetrics struct {
	name     string
	requests *prometheus.CounterVec
	// codes holds the counter of each status code once it was used: only
	// OK exists from the start, so /metrics does not list 17 zero series
	// per method.
	codes   [numCodes]atomic.Pointer[counterBox]
	latency prometheus.Observer
	streams prometheus.Gauge
}

type counterBox struct{ c prometheus.Counter }

// counter returns the requests counter of code.
func (mm *methodMetrics) counter(code codes.Code) prometheus.Counter {
	if b := mm.codes[code].Load(); b != nil {
		return b.c
	}
	// Racing callers store the same child of the vector: harmless.
	b := &counterBox{c: mm.requests.WithLabelValues(mm.name, code.String())}
	mm.codes[code].Store(b)
	return b.c
}

// typeMetrics are the collectors of one scaler type with its labels applied.
type typeMetrics struct {
	collection prometheus.Observer
	errors     map[string]prometheus.Counter // by reason; read-only
	instances  prometheus.Gauge
	builds     prometheus.Counter
	overruns   prometheus.Counter
}

// latencyBuckets cover a loopback call (~100µs) up to a slow source (10s).
var latencyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// limitsInfo is what the server reports of its limits as gauges.
type limitsInfo struct {
	limits   Limits
	scaler   scalers.Limits
	timeouts scalers.Timeouts
	// sources report the connections of shared source clients, by source.
	sources map[string]func() (open, limit int)
}

func newMetrics(reg prometheus.Registerer, li limitsInfo) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hpa_grpc_requests_total",
			Help: "External scaler RPCs handled, by method and gRPC status code.",
		}, []string{"method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hpa_grpc_request_duration_seconds",
			Help:    "Time to handle a unary external scaler RPC, by method.",
			Buckets: latencyBuckets,
		}, []string{"method"}),
		streams: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hpa_grpc_open_streams",
			Help: "Streams currently open, by method.",
		}, []string{"method"}),
		collection: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hpa_metric_collection_duration_seconds",
			Help:    "Time to fetch metric values from the source, by scaler type.",
			Buckets: latencyBuckets,
		}, []string{"scaler_type"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hpa_scaler_errors_total",
			Help: "Scaler failures (building a scaler or fetching values), by scaler type and reason.",
		}, []string{"scaler_type", "reason"}),
		instances: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hpa_scaler_instances",
			Help: "Scaler instances currently open (one per ScaledObject trigger), by scaler type.",
		}, []string{"scaler_type"}),
		builds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hpa_scaler_builds_total",
			Help: "Scaler instances built (first use of a ScaledObject or changed metadata), by scaler type.",
		}, []string{"scaler_type"}),
		overruns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hpa_source_overruns_total",
			Help: "Source calls the server gave up on: the scaler did not return within the trigger's bound plus a grace, by scaler type.",
		}, []string{"scaler_type"}),
		refusedVec: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hpa_requests_refused_total",
			Help: "Calls refused because they would pass a server limit, by limit.",
		}, []string{"limit"}),
		entries: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hpa_scaler_cache_entries",
			Help: "Scaler instances the server keeps (built, being built, or a failed build remembered): what --max-scalers bounds.",
		}),
		historyDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hpa_history_samples_dropped_total",
			Help: "Values of predictive triggers not handed to the history sink: its queue was full.",
		}),
		warmStarts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hpa_history_warm_starts_total",
			Help: "Predictive scaler instances given their past by the history source.",
		}),
		warmStartErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hpa_history_warm_start_errors_total",
			Help: "Warm starts the history source failed: the instance forecasts from its live values only.",
		}),
		warmStartSamples: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hpa_history_warm_start_samples_total",
			Help: "Past samples the warm starts put into the forecast history.",
		}),
		floors:  &floorCollector{},
		refused: map[string]prometheus.Counter{},
		methods: map[string]*methodMetrics{},
		types:   map[string]*typeMetrics{},
	}
	for _, l := range limitNames {
		m.refused[l] = m.refusedVec.WithLabelValues(l)
	}
	cs := []prometheus.Collector{m.requests, m.latency, m.streams, m.collection, m.errors, m.instances, m.builds,
		m.overruns, m.refusedVec, m.entries, m.historyDropped, m.warmStarts, m.warmStartErrors, m.warmStartSamples, m.floors}
	cs = append(cs, limitGauges(li)...)
	if reg != nil {
		for _, c := range cs {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	for _, name := range methodNames {
		mm := &methodMetrics{name: name, requests: m.requests}
		if strings.HasPrefix(name, "Stream") {
			mm.streams = m.streams.WithLabelValues(name)
		} else {
			// A stream's lifetime says nothing about latency.
			mm.latency = m.latency.WithLabelValues(name)
		}
		mm.counter(codes.OK)
		m.methods[servicePrefix+name] = mm
	}
	return m, nil
}

// method returns the collectors of a full gRPC method name, or nil for a
// method of another service.
func (m *metrics) method(fullMethod string) *methodMetrics {
	return m.methods[fullMethod]
}

// forType returns the collectors of a scaler type; the server calls it only
// when it builds a scaler, never per request.
func (m *metrics) forType(typ string) *typeMetrics {
	m.mu.Lock()
	defer m.mu.Unlock()
	if t, ok := m.types[typ]; ok {
		return t
	}
	t := &typeMetrics{
		collection: m.collection.WithLabelValues(typ),
		errors:     make(map[string]prometheus.Counter, len(reasons)),
		instances:  m.instances.WithLabelValues(typ),
		builds:     m.builds.WithLabelValues(typ),
		overruns:   m.overruns.WithLabelValues(typ),
	}
	for _, r := range reasons {
		t.errors[r] = m.errors.WithLabelValues(typ, r)
	}
	m.types[typ] = t
	return t
}

func (mm *methodMetrics) done(code codes.Code, seconds float64) {
	if int(code) < numCodes {
		mm.counter(code).Inc()
	}
	if mm.latency != nil {
		mm.latency.Observe(seconds)
	}
}

// limitGauges are the maxima the server enforces (constant) and the shared
// source connections open now against their maximum.
func limitGauges(li limitsInfo) []prometheus.Collector {
	constant := func(name, help string, v float64, labels prometheus.Labels) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: labels}, func() float64 { return v })
	}
	metaHelp := "The most bytes of metadata the server accepts: per trigger (keys and values, --max-metadata-bytes) and per value (--max-metadata-value-bytes)."
	timeoutHelp := "Bounds of a call to a source: the default (--source-timeout) and the cap on a trigger's own timeout (--max-source-timeout)."
	cs := []prometheus.Collector{
		constant("hpa_scaler_cache_entries_max", "The most scaler instances the server keeps (--max-scalers).", float64(li.limits.MaxScalers), nil),
		constant("hpa_metadata_bytes_max", metaHelp, float64(li.limits.MaxMetadataBytes), prometheus.Labels{"scope": "trigger"}),
		constant("hpa_metadata_bytes_max", metaHelp, float64(li.limits.MaxMetadataValueBytes), prometheus.Labels{"scope": "value"}),
		constant("hpa_metadata_list_items_max", "The most items of a list in a trigger's metadata (--max-list-items).", float64(li.scaler.MaxListItems), nil),
		constant("hpa_source_timeout_seconds", timeoutHelp, li.timeouts.Default.Seconds(), prometheus.Labels{"bound": "default"}),
		constant("hpa_source_timeout_seconds", timeoutHelp, li.timeouts.Max.Seconds(), prometheus.Labels{"bound": "max"}),
	}
	for _, src := range slices.Sorted(maps.Keys(li.sources)) {
		stats := li.sources[src]
		labels := prometheus.Labels{"source": src}
		cs = append(cs,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hpa_source_connections", ConstLabels: labels,
				Help: "Shared source clients (distinct connection settings) open now, by source."},
				func() float64 { n, _ := stats(); return float64(n) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hpa_source_connections_max", ConstLabels: labels,
				Help: "The most shared source clients the server opens (--max-source-connections), by source."},
				func() float64 { _, n := stats(); return float64(n) }),
		)
	}
	return cs
}

var floorDesc = prometheus.NewDesc("hpa_forecast_floor_replicas",
	"The forecast floor GetMetrics last served for a predictive trigger's metric, in replicas (the value served is at least floor x target); absent while there is none (too little history, low confidence).",
	[]string{"namespace", "scaled_object", "metric"}, nil)

// floorCollector reports the floors of the predictive instances the cache
// holds, so that a series goes with its instance.
type floorCollector struct {
	cache atomic.Pointer[cache]
}

func (f *floorCollector) Describe(ch chan<- *prometheus.Desc) { ch <- floorDesc }

func (f *floorCollector) Collect(ch chan<- prometheus.Metric) {
	c := f.cache.Load()
	if c == nil {
		return
	}
	type labels struct{ ns, name, metric string }
	seen := map[labels]bool{}
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, sl := range c.objs {
		// The newest instance of a ScaledObject first: it is the one
		// serving after a change.
		for i := len(sl.entries) - 1; i >= 0; i-- {
			e := sl.entries[i]
			if !e.ok.Load() || e.pred == nil {
				continue
			}
			for j, name := range e.names {
				r := e.predicted[j].replicas.Load()
				l := labels{e.key.namespace, e.key.name, name}
				if r < 0 || seen[l] {
					continue
				}
				seen[l] = true
				ch <- prometheus.MustNewConstMetric(floorDesc, prometheus.GaugeValue, float64(r), l.ns, l.name, l.metric)
			}
		}
	}
}
