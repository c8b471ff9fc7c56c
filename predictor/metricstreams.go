package predictor

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Defaults of MetricStreamsOptions.
const (
	DefaultStreamStep          = time.Minute
	DefaultLookAhead           = 15 * time.Minute
	DefaultConfidenceThreshold = 0.8
)

// MetricStreamsOptions configures MetricStreams. They carry the Scaler
// spec's advanced.predictiveScaling settings (lookAheadMinutes,
// confidenceThreshold) and the pod start-up time.
type MetricStreamsOptions struct {
	// Step is the length of one point of each metric's history; the
	// samples within a step are averaged (default 1m).
	Step time.Duration
	// LookAhead is how far ahead the floor provides for (lookAheadMinutes;
	// default 15m).
	LookAhead time.Duration
	// StartupDelay is the time a new pod takes to become ready; the floor
	// looks that much further ahead.
	StartupDelay time.Duration
	// ConfidenceThreshold is the confidence a forecast needs over the
	// window to give a floor (confidenceThreshold; default 0.8: every 80%
	// interval in the window within 20% of its forecast). A negative value
	// means 0: any calibrated forecast.
	ConfidenceThreshold float64
	// Tracker tunes the forecasting (periods, selection, intervals); its
	// Step and Horizon are set from the fields above.
	Tracker TrackerOptions
}

// WithDefaults fills the zero fields with their defaults and sets the
// tracker's step and horizon.
func (o MetricStreamsOptions) WithDefaults() MetricStreamsOptions {
	if o.Step == 0 {
		o.Step = DefaultStreamStep
	}
	if o.LookAhead == 0 {
		o.LookAhead = DefaultLookAhead
	}
	if o.ConfidenceThreshold == 0 {
		o.ConfidenceThreshold = DefaultConfidenceThreshold
	}
	o.ConfidenceThreshold = max(o.ConfidenceThreshold, 0)
	o.Tracker.Step = o.Step
	o.Tracker.Horizon = o.horizon()
	return o
}

// horizon is the number of steps the floor's window needs forecast: the
// look-ahead plus the start-up delay, rounded up, plus the step being
// sampled.
func (o MetricStreamsOptions) horizon() int {
	return int((o.LookAhead+o.StartupDelay+o.Step-1)/o.Step) + 1
}

// Validate reports every invalid field.
func (o MetricStreamsOptions) Validate() error {
	var errs []error
	if o.Step < 0 {
		errs = append(errs, fmt.Errorf("step %v: want a positive duration", o.Step))
	}
	if o.LookAhead < 0 {
		errs = append(errs, fmt.Errorf("lookAhead %v: want a positive duration", o.LookAhead))
	}
	if o.StartupDelay < 0 {
		errs = append(errs, fmt.Errorf("startupDelay %v: want >= 0", o.StartupDelay))
	}
	if o.ConfidenceThreshold > 1 || math.IsNaN(o.ConfidenceThreshold) {
		errs = append(errs, fmt.Errorf("confidenceThreshold %v: want 0..1", o.ConfidenceThreshold))
	}
	if len(errs) == 0 {
		d := o.WithDefaults()
		if h := d.horizon(); h > MaxHorizonSteps {
			errs = append(errs, fmt.Errorf("lookAhead %v plus startupDelay %v: %d steps of %v, want at most %d", d.LookAhead, d.StartupDelay, h, d.Step, MaxHorizonSteps))
		} else if err := (StreamOptions{Step: d.Step, Tracker: d.Tracker}).Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// MetricStreams keeps one Stream per named metric (a scaler's metrics, say)
// and turns their forecasts into one replica floor: the pure part of
// predictive scaling. The caller supplies the times; nothing here reads a
// clock or knows where the values come from.
//
// MetricStreams is not safe for concurrent use; a caller that records from
// several goroutines holds a lock around it.
type MetricStreams struct {
	o       MetricStreamsOptions
	streams map[string]*Stream
}

// NewMetricStreams returns empty streams.
func NewMetricStreams(o MetricStreamsOptions) (*MetricStreams, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	return &MetricStreams{o: o.WithDefaults(), streams: map[string]*Stream{}}, nil
}

// Options returns the options with their defaults filled.
func (m *MetricStreams) Options() MetricStreamsOptions { return m.o }

// Observe records one sample of metric at t (see Stream.Observe): samples
// must come in time order per metric.
func (m *MetricStreams) Observe(metric string, t time.Time, v float64) error {
	st, ok := m.streams[metric]
	if !ok {
		var err error
		st, err = NewStream(StreamOptions{Step: m.o.Step, Tracker: m.o.Tracker})
		if err != nil {
			return fmt.Errorf("metric %q: %w", metric, err)
		}
		m.streams[metric] = st
	}
	if err := st.Observe(t, v); err != nil {
		return fmt.Errorf("metric %q: %w", metric, err)
	}
	return nil
}

// Forecast returns the forecast of one metric for h steps after its last
// complete step.
func (m *MetricStreams) Forecast(metric string, h int) (Forecast, error) {
	st, ok := m.streams[metric]
	if !ok {
		return Forecast{}, fmt.Errorf("metric %q: %w: no values recorded", metric, ErrTooShort)
	}
	return st.Forecast(h)
}

// MetricTarget is one metric's target value per replica (a scaler's
// MetricSpec).
type MetricTarget struct {
	Metric     string
	PerReplica float64
}

// MetricFloor is one metric's part of a CombinedFloor.
type MetricFloor struct {
	Metric string
	FloorResult
}

// CombinedFloor is the replica floor the forecasts of several metrics ask
// for at one time.
type CombinedFloor struct {
	// Replicas is the highest floor of any metric; valid only when OK.
	Replicas int32
	OK       bool
	// Metric names the metric that set it; Metrics has every metric's
	// result (with the reason when it gave none), for the audit record.
	Metric  string
	Metrics []MetricFloor
}

// Floor returns the replicas needed at now by the upper bounds of the
// metrics' forecasts over the look-ahead window plus the start-up delay,
// each metric against its own target per replica; the highest wins, as
// the HPA takes the highest proposal of several metrics. A metric without
// values, with a target that is not positive, or whose forecast is not
// calibrated or not confident enough gives no floor, and says why.
func (m *MetricStreams) Floor(now time.Time, targets []MetricTarget) CombinedFloor {
	opts := FloorOptions{LookAhead: m.o.LookAhead, StartupDelay: m.o.StartupDelay, ConfidenceThreshold: m.o.ConfidenceThreshold}
	var out CombinedFloor
	for _, t := range targets {
		mf := MetricFloor{Metric: t.Metric}
		st, ok := m.streams[t.Metric]
		switch {
		case !ok:
			mf.Reason = "no values recorded yet"
		case !(t.PerReplica > 0):
			// A target of 0 or NaN would divide the peak into nothing.
			mf.Reason = fmt.Sprintf("target %v: want > 0", t.PerReplica)
		default:
			o := opts
			o.TargetPerReplica = t.PerReplica
			res, err := st.Floor(now, o)
			if err != nil {
				mf.Reason = err.Error()
			} else {
				mf.FloorResult = res
			}
		}
		if mf.OK && (!out.OK || mf.Replicas > out.Replicas) {
			out.Replicas, out.OK, out.Metric = mf.Replicas, true, mf.Metric
		}
		out.Metrics = append(out.Metrics, mf)
	}
	return out
}
