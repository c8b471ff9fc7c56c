package predictive

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/hpa-autoscaler/hpa-autoscaler/predictor"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// Options configures a wrapped scaler: the forecasting settings (the
// Scaler spec's advanced.predictiveScaling: lookAheadMinutes,
// confidenceThreshold; the pod start-up time; see
// predictor.MetricStreamsOptions for the defaults) plus the clock and the
// logger of the wrapper.
type Options struct {
	predictor.MetricStreamsOptions
	// Clock gives the time of each recorded value (nil: the real clock).
	Clock clock.PassiveClock
	// Logger receives forecasting problems at debug level (nil: discard).
	Logger *slog.Logger
}

// Scaler is a scalers.Scaler whose values also feed forecasts.
type Scaler struct {
	inner  scalers.Scaler
	clock  clock.PassiveClock
	logger *slog.Logger

	mu      sync.Mutex
	streams *predictor.MetricStreams
}

var (
	_ scalers.Scaler = (*Scaler)(nil)
	_ Floorer        = (*Scaler)(nil)
)

// Floorer is what the front doors (the external scaler, the CRD agent)
// and the backend ask a predictive scaler for: the floor at a time, with
// every metric's reason. Safe for concurrent use.
type Floorer interface {
	Floor(now time.Time) predictor.CombinedFloor
}

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
	streams, err := predictor.NewMetricStreams(o.MetricStreamsOptions)
	if err != nil {
		return nil, fmt.Errorf("predictive options: %w", err)
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Scaler{inner: inner, clock: o.Clock, logger: o.Logger, streams: streams}, nil
}

// Wrap wraps inner and keeps its ability to push activity: the result is a
// *PushScaler when inner is a scalers.PushScaler, else a *Scaler. Find
// recovers the *Scaler from the result.
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

// Find returns the predictive wrapper of s: s itself, or the first
// predictive layer found by following Unwrap() scalers.Scaler methods (so
// a wrapper around a wrapper is found too).
func Find(s scalers.Scaler) (*Scaler, bool) {
	for s != nil {
		switch v := s.(type) {
		case *Scaler:
			return v, true
		case *PushScaler:
			return v.Scaler, true
		}
		u, ok := s.(interface{ Unwrap() scalers.Scaler })
		if !ok {
			return nil, false
		}
		s = u.Unwrap()
	}
	return nil, false
}

// Unwrap returns the wrapped scaler.
func (s *Scaler) Unwrap() scalers.Scaler { return s.inner }

// Options returns the forecasting options with their defaults filled.
func (s *Scaler) Options() predictor.MetricStreamsOptions { return s.streams.Options() }

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
	now := s.clock.Now()
	for _, v := range m.Values {
		if err := s.streams.Observe(v.Name, now, v.Value); err != nil {
			s.logger.Debug("predictive: value not recorded", "metric", v.Name, "err", err)
		}
	}
}

// Floor returns the replicas needed at now by the upper bounds of the
// metrics' forecasts (predictor.MetricStreams.Floor), each metric against
// the target of the wrapped scaler's MetricSpec.
func (s *Scaler) Floor(now time.Time) predictor.CombinedFloor {
	specs := s.inner.MetricSpecs()
	targets := make([]predictor.MetricTarget, len(specs))
	for i, spec := range specs {
		targets[i] = predictor.MetricTarget{Metric: spec.Name, PerReplica: spec.Target}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.streams.Floor(now, targets)
}

// Forecast returns the forecast of one metric for h steps after its last
// complete step.
func (s *Scaler) Forecast(metric string, h int) (predictor.Forecast, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.streams.Forecast(metric, h)
}
