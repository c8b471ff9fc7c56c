package history

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/utils/clock"

	"github.com/hpa-autoscaler/hpa-autoscaler/backend/store"
	"github.com/hpa-autoscaler/hpa-autoscaler/predictor"
)

// Store is what the Service needs of the backend's store: the history and
// the list of tenants (to find the series at a start and to prune). It is
// safe for concurrent use (store.Store is).
type Store interface {
	store.HistoryStore
	Admin() store.Admin
}

// Defaults of Options.
const (
	DefaultStep            = time.Minute
	DefaultRetention       = 35 * 24 * time.Hour
	DefaultDownsampleStep  = time.Hour
	DefaultRebuildEvery    = 24 * time.Hour
	DefaultHorizon         = 30 * time.Minute
	DefaultQueueSize       = 1 << 16
	DefaultBatchSize       = 5000
	DefaultMaxSeries       = 2000
	DefaultMaxRecorded     = 200000
	DefaultIdleAfter       = time.Hour
	DefaultGrace           = 10 * time.Second
	DefaultTick            = 5 * time.Second
	DefaultMaintainEvery   = 15 * time.Minute
	DefaultWriteTimeout    = 30 * time.Second
	DefaultMaxGap          = 5
	defaultWindow          = 20160
	defaultWriteQueueDepth = 64
)

// Options configure New. Store is required; every other zero field takes
// its default.
type Options struct {
	Store Store
	// Step is the length of a step of every series (default 1m): the
	// samples within one are averaged into one stored value.
	Step time.Duration
	// Retention: steps older than this are deleted (default 35 days).
	Retention time.Duration
	// DownsampleAfter: steps older than this are replaced by their
	// averages per DownsampleStep (default: the trackers' window plus
	// RebuildEvery plus a day, 16 days with the defaults, so that a start
	// finds every step a tracker needs at full resolution).
	DownsampleAfter time.Duration
	// DownsampleStep is the step of downsampled history (default 1h).
	DownsampleStep time.Duration
	// Window is the number of steps a tracker is rebuilt from (default
	// the tracker's History, 20,160: two weeks of minutes).
	Window int
	// RebuildEvery is how often each tracker is rebuilt from its window
	// (default 24h; each series at its own phase, so that the rebuilds
	// spread over the period).
	RebuildEvery time.Duration
	// Horizon is the longest forecast a tracker makes (default 30m): a
	// look-ahead plus start-up delay beyond it gets no floor, and says so.
	Horizon time.Duration
	// MaxGap is the longest run of missing steps filled by linear
	// interpolation (default 5); after a longer one the tracker starts
	// afresh.
	MaxGap int
	// Tracker tunes the forecasting; its Step, Horizon and History are
	// set from the fields above.
	Tracker predictor.TrackerOptions

	// QueueSize bounds the samples waiting for the recording goroutine
	// (default 65,536); Observe sheds what does not fit.
	QueueSize int
	// BatchSize is the most steps written in one transaction (default
	// 5,000).
	BatchSize int
	// MaxSeries bounds the series with a tracker in memory (default
	// 2,000, about 0.8 MB each with the default window): a new series
	// beyond it is recorded (averaged and written) without a tracker, and
	// Recommend says so, until it is evicted and comes back with room.
	MaxSeries int
	// MaxRecorded bounds all the series in memory, with a tracker or not
	// (default 200,000; an open step is about 200 bytes): a sample of a
	// new series beyond it is shed (series_cap).
	MaxRecorded int
	// IdleAfter evicts a series from memory that had no sample for this
	// long (default 1h); its history stays stored.
	IdleAfter time.Duration
	// Grace is how long after its end a step waits for late samples
	// before it is closed (default 10s).
	Grace time.Duration
	// Tick is how often steps are closed and batches written (default
	// 5s).
	Tick time.Duration
	// MaintainEvery is how often retention and downsampling run (default
	// 15m; < 0: never, Maintain only).
	MaintainEvery time.Duration
	// WriteTimeout bounds one batch's write (default 30s).
	WriteTimeout time.Duration

	// Clock is the recording loop's clock (default the real one).
	Clock clock.WithTicker
	// Logger gets shed samples and failed writes (nil: discard).
	Logger *slog.Logger
	// Registerer, when set, gets the package's metrics.
	Registerer prometheus.Registerer
}

func (o Options) withDefaults() Options {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	defInt := func(d *int, v int) {
		if *d == 0 {
			*d = v
		}
	}
	def(&o.Step, DefaultStep)
	def(&o.Retention, DefaultRetention)
	def(&o.DownsampleStep, DefaultDownsampleStep)
	def(&o.RebuildEvery, DefaultRebuildEvery)
	def(&o.Horizon, DefaultHorizon)
	def(&o.IdleAfter, DefaultIdleAfter)
	def(&o.Grace, DefaultGrace)
	def(&o.Tick, DefaultTick)
	def(&o.MaintainEvery, DefaultMaintainEvery)
	def(&o.WriteTimeout, DefaultWriteTimeout)
	defInt(&o.MaxGap, DefaultMaxGap)
	defInt(&o.QueueSize, DefaultQueueSize)
	defInt(&o.BatchSize, DefaultBatchSize)
	defInt(&o.MaxSeries, DefaultMaxSeries)
	defInt(&o.MaxRecorded, max(DefaultMaxRecorded, o.MaxSeries))
	if o.Window == 0 {
		o.Window = o.Tracker.History
		if o.Window == 0 {
			o.Window = defaultWindow
		}
	}
	if o.Step > 0 && o.DownsampleAfter == 0 {
		o.DownsampleAfter = time.Duration(o.Window)*o.Step + o.RebuildEvery + 24*time.Hour
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.Tracker.Step = o.Step
	o.Tracker.History = o.Window
	if o.Step > 0 {
		o.Tracker.Horizon = o.horizonSteps()
	}
	return o
}

// horizonSteps: the horizon in steps, rounded up, plus the step being
// sampled.
func (o Options) horizonSteps() int { return int((o.Horizon+o.Step-1)/o.Step) + 1 }

// rebuildSteps is RebuildEvery in steps (at least 1).
func (o Options) rebuildSteps() int64 { return max(1, int64(o.RebuildEvery/o.Step)) }

// Validate reports every invalid field (with the defaults filled in).
func (o Options) Validate() error {
	var errs []error
	if o.Store == nil {
		errs = append(errs, errors.New("store: required"))
	}
	d := o.withDefaults()
	pos := func(name string, v time.Duration) {
		if v <= 0 {
			errs = append(errs, fmt.Errorf("%s %v: want a positive duration", name, v))
		}
	}
	pos("step", d.Step)
	pos("retention", d.Retention)
	pos("downsampleAfter", d.DownsampleAfter)
	pos("downsampleStep", d.DownsampleStep)
	pos("rebuildEvery", d.RebuildEvery)
	pos("horizon", d.Horizon)
	pos("idleAfter", d.IdleAfter)
	pos("grace", d.Grace)
	pos("tick", d.Tick)
	pos("writeTimeout", d.WriteTimeout)
	for name, v := range map[string]int{"window": d.Window, "maxGap": d.MaxGap, "queueSize": d.QueueSize, "batchSize": d.BatchSize, "maxSeries": d.MaxSeries, "maxRecorded": d.MaxRecorded} {
		if v <= 0 {
			errs = append(errs, fmt.Errorf("%s %d: want > 0", name, v))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if d.Step%time.Second != 0 && time.Second%d.Step != 0 {
		errs = append(errs, fmt.Errorf("step %v: want a whole number of seconds or a divisor of one", d.Step))
	}
	if d.MaxRecorded < d.MaxSeries {
		errs = append(errs, fmt.Errorf("maxRecorded %d: want at least maxSeries %d", d.MaxRecorded, d.MaxSeries))
	}
	if d.RebuildEvery < d.Step {
		errs = append(errs, fmt.Errorf("rebuildEvery %v: want at least the step %v", d.RebuildEvery, d.Step))
	}
	if need := time.Duration(d.Window)*d.Step + d.RebuildEvery; d.DownsampleAfter < need {
		errs = append(errs, fmt.Errorf("downsampleAfter %v: want at least the window (%d steps of %v) plus rebuildEvery %v, %v: a start rebuilds the trackers from full-resolution steps", d.DownsampleAfter, d.Window, d.Step, d.RebuildEvery, need))
	}
	if d.DownsampleStep <= d.Step {
		errs = append(errs, fmt.Errorf("downsampleStep %v: want longer than the step %v", d.DownsampleStep, d.Step))
	}
	if d.Retention < d.DownsampleAfter {
		errs = append(errs, fmt.Errorf("retention %v: want at least downsampleAfter %v", d.Retention, d.DownsampleAfter))
	}
	if d.Tracker.Horizon > predictor.MaxHorizonSteps {
		errs = append(errs, fmt.Errorf("horizon %v: %d steps of %v, want at most %d", d.Horizon, d.Tracker.Horizon, d.Step, predictor.MaxHorizonSteps))
	} else if err := d.Tracker.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("tracker: %w", err))
	}
	return errors.Join(errs...)
}
