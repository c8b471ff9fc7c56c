package predictive

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/hpa-autoscaler/hpa-autoscaler/predictor"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// Defaults of Options.
const (
	DefaultStep                = time.Minute
	DefaultLookAhead           = 15 * time.Minute
	DefaultConfidenceThreshold = 0.8
)

// Options configures a wrapped scaler. They carry the Scaler spec's
// advanced.predictiveScaling settings (lookAheadMinutes,
// confidenceThreshold) and the pod start-up time.
type Options struct {
	// Step is the length of one point of each metric's history; the polls
	// within a step are averaged (default 1m).
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
	Tracker predictor.TrackerOptions
	// Clock gives the time of each recorded value (nil: the real clock).
	Clock clock.PassiveClock
	// Logger receives forecasting problems at debug level (nil: discard).
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Step == 0 {
		o.Step = DefaultStep
	}
	if o.LookAhead == 0 {
		o.LookAhead = DefaultLookAhead
	}
	if o.ConfidenceThreshold == 0 {
		o.ConfidenceThreshold = DefaultConfidenceThreshold
	}
	o.ConfidenceThreshold = max(o.ConfidenceThreshold, 0)
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.Tracker.Step = o.Step
	o.Tracker.Horizon = o.horizon()
	return o
}

// horizon is the number of steps a floor can need: the window plus the
// step being sampled.
func (o Options) horizon() int {
	return int((o.LookAhead+o.StartupDelay+o.Step-1)/o.Step) + 1
}

// Validate reports every invalid field.
func (o Options) Validate() error {
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
		d := o.withDefaults()
		if h := d.horizon(); h > 1440 {
			errs = append(errs, fmt.Errorf("lookAhead %v plus startupDelay %v: %d steps of %v, want at most 1440", d.LookAhead, d.StartupDelay, h, d.Step))
		} else if err := (predictor.StreamOptions{Step: d.Step, Tracker: d.Tracker}).Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Scaler is a scalers.Scaler whose values also feed forecasts.
type Scaler struct {
	inner scalers.Scaler
	o     Options

	mu      sync.Mutex
	streams map[string]*predictor.Stream
}

var _ scalers.Scaler = (*Scaler)(nil)

// PushScaler is a wrapped scalers.PushScaler: activity pushes pass
// through.
type PushScaler struct {
	*Scaler
	push scalers.PushScaler
}

var _ scalers.PushScaler = (*PushScaler)(nil)

// Run implements scalers.PushScaler by running the wrapped scaler's.
func (p *PushScaler) Run(ctx context.Context, active chan<- bool) { p.push.Run(ctx, active) }

// New wraps inner.
func New(inner scalers.Scaler, o Options) (*Scaler, error) {
	if inner == nil {
		return nil, errors.New("predictive: no scaler to wrap")
	}
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("predictive options: %w", err)
	}
	return &Scaler{inner: inner, o: o.withDefaults(), streams: map[string]*predictor.Stream{}}, nil
}

// Wrap wraps inner and keeps its ability to push activity: the result is a
// *PushScaler when inner is a scalers.PushScaler, else a *Scaler.
func Wrap(inner scalers.Scaler, o Options) (scalers.Scaler, error) {
	s, err := New(inner, o)
	if err != nil {
		return nil, err
	}
	if p, ok := inner.(scalers.PushScaler); ok {
		return &PushScaler{Scaler: s, push: p}, nil
	}
	return s, nil
}

// Unwrap returns the wrapped scaler.
func (s *Scaler) Unwrap() scalers.Scaler { return s.inner }

// MetricSpecs implements scalers.Scaler.
func (s *Scaler) MetricSpecs() []scalers.MetricSpec { return s.inner.MetricSpecs() }

// Close implements scalers.Scaler.
func (s *Scaler) Close() error { return s.inner.Close() }

// Metrics implements scalers.Scaler: it fetches from the wrapped scaler
// and, when that succeeds, records every value at the clock's time. The
// answer is the wrapped scaler's, unchanged.
func (s *Scaler) Metrics(ctx context.Context) (scalers.Metrics, error) {
	m, err := s.inner.Metrics(ctx)
	if err != nil {
		return m, err
	}
	s.record(m)
	return m, nil
}

func (s *Scaler) record(m scalers.Metrics) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// The time is read under the lock, so concurrent fetches record in
	// time order.
	now := s.o.Clock.Now()
	for _, v := range m.Values {
		st, ok := s.streams[v.Name]
		if !ok {
			var err error
			st, err = predictor.NewStream(predictor.StreamOptions{Step: s.o.Step, Tracker: s.o.Tracker})
			if err != nil {
				// Options were validated in New.
				s.o.Logger.Debug("predictive: no stream", "metric", v.Name, "err", err)
				continue
			}
			s.streams[v.Name] = st
		}
		if err := st.Observe(now, v.Value); err != nil {
			s.o.Logger.Debug("predictive: value not recorded", "metric", v.Name, "err", err)
		}
	}
}

// MetricFloor is one metric's part of a Floor.
type MetricFloor struct {
	Metric string
	predictor.FloorResult
}

// Floor is the replica floor the forecasts ask for at a time.
type Floor struct {
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
// each metric against its own target per replica. A metric whose forecast
// is not calibrated or not confident enough gives no floor.
func (s *Scaler) Floor(now time.Time) Floor {
	opts := predictor.FloorOptions{LookAhead: s.o.LookAhead, StartupDelay: s.o.StartupDelay, ConfidenceThreshold: s.o.ConfidenceThreshold}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out Floor
	for _, spec := range s.inner.MetricSpecs() {
		mf := MetricFloor{Metric: spec.Name}
		st, ok := s.streams[spec.Name]
		switch {
		case !ok:
			mf.Reason = "no values recorded yet"
		case !(spec.Target > 0):
			mf.Reason = fmt.Sprintf("target %v: want > 0", spec.Target)
		default:
			o := opts
			o.TargetPerReplica = spec.Target
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

// Forecast returns the forecast of one metric for h steps after its last
// complete step.
func (s *Scaler) Forecast(metric string, h int) (predictor.Forecast, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.streams[metric]
	if !ok {
		return predictor.Forecast{}, fmt.Errorf("metric %q: %w: no values recorded", metric, predictor.ErrTooShort)
	}
	return st.Forecast(h)
}
