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
	// WarmStart says past samples will come with Seed: until then the
	// values recorded live are also kept aside (at most MaxPending), so
	// that Seed can put the past before them. Without it Seed refuses.
	WarmStart bool
}

// MaxPending bounds the live samples a wrapper created with WarmStart
// keeps for Seed; past it the warm start is given up (Seed refuses) and
// the history is the live one only.
const MaxPending = 100_000

// Sample is one past value of a metric, for Seed.
type Sample struct {
	Time  time.Time
	Value float64
}

// ErrNoWarmStart is Seed's error when the wrapper takes no warm start (not
// created with WarmStart, seeded already, or too many live samples kept).
var ErrNoWarmStart = errors.New("predictive: no warm start pending")

// Scaler is a scalers.Scaler whose values also feed forecasts.
type Scaler struct {
	inner  scalers.Scaler
	clock  clock.PassiveClock
	logger *slog.Logger

	mu      sync.Mutex
	streams *predictor.MetricStreams
	// warming is set until Seed (or until pending overflows); pending
	// holds the values recorded meanwhile, in recording order.
	warming bool
	pending []pendingSample
}

type pendingSample struct {
	metric string
	t      time.Time
	v      float64
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
	return &Scaler{inner: inner, clock: o.Clock, logger: o.Logger, streams: streams, warming: o.WarmStart}, nil
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

// Record records m's values at the clock's time, as Metrics does after a
// fetch: for a caller that fetches from Unwrap() itself, apart from the
// goroutine that records (the external scaler fetches in a short-lived
// goroutine of its own, whose small stack the forecasting code would
// have to grow on every call).
func (s *Scaler) Record(m scalers.Metrics) { s.record(m) }

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
		if s.warming {
			if len(s.pending) >= MaxPending {
				// The past never came: keep the live history only.
				s.warming, s.pending = false, nil
				s.logger.Debug("predictive: warm start given up", "pending", MaxPending)
				continue
			}
			s.pending = append(s.pending, pendingSample{v.Name, now, v.Value})
		}
	}
}

// Seed puts past samples of each metric (by metric name, each in time
// order) before the values recorded live since the wrapper was created,
// as if they had been recorded first: a new instance starts with the
// history of the one it replaces (a restart, another replica) instead of
// learning it again. Past samples at or after a metric's first live value
// (or, for a metric without one yet, after the time Seed is called) are
// dropped: the live ones are the truth for that time. So are those the
// stream refuses (out of order, not finite). It returns how many past
// samples were taken. It can be called once, on a wrapper created with
// Options.WarmStart; later calls, or a wrapper that gave up waiting, get
// ErrNoWarmStart. The past goes through the trackers without the
// wrapper's lock (Metrics and Floor go on meanwhile, on the live history);
// the lock is held only to replay the live values on top and swap.
func (s *Scaler) Seed(past map[string][]Sample) (int, error) {
	s.mu.Lock()
	if !s.warming {
		s.mu.Unlock()
		return 0, ErrNoWarmStart
	}
	cut := s.clock.Now()
	opts := s.streams.Options()
	firstLive := map[string]time.Time{}
	for _, p := range s.pending {
		if _, ok := firstLive[p.metric]; !ok {
			firstLive[p.metric] = p.t
		}
	}
	s.mu.Unlock()

	ms, err := predictor.NewMetricStreams(opts)
	if err != nil {
		return 0, fmt.Errorf("predictive options: %w", err)
	}
	n := 0
	for metric, samples := range past {
		until, live := firstLive[metric]
		for _, smp := range samples {
			if live && !smp.Time.Before(until) || !live && smp.Time.After(cut) {
				break
			}
			if err := ms.Observe(metric, smp.Time, smp.Value); err != nil {
				s.logger.Debug("predictive: past value not taken", "metric", metric, "err", err)
				continue
			}
			n++
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.warming {
		// Too many live values came meanwhile.
		return 0, ErrNoWarmStart
	}
	for _, p := range s.pending {
		if err := ms.Observe(p.metric, p.t, p.v); err != nil {
			s.logger.Debug("predictive: value not recorded", "metric", p.metric, "err", err)
		}
	}
	s.streams, s.warming, s.pending = ms, false, nil
	return n, nil
}

// Floor returns the replicas needed at now by the upper bounds of the
// metrics' forecasts (predictor.MetricStreams.Floor), each metric against
// the target of the wrapped scaler's MetricSpec.
func (s *Scaler) Floor(now time.Time) predictor.CombinedFloor {
	specs := s.inner.MetricSpecs()
	// Most scalers offer one metric or two: no allocation for those.
	var buf [4]predictor.MetricTarget
	targets := buf[:0]
	for _, spec := range specs {
		targets = append(targets, predictor.MetricTarget{Metric: spec.Name, PerReplica: spec.Target})
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
