package cron

import (
	"context"

	"k8s.io/utils/clock"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// Scaler offers desiredReplicas inside the window and 0 outside. It is
// safe for concurrent use. MetricSpecs, Metrics, Value and Close come from
// scalers.Single: one metric with KEDA's name and a target of 1 (so the
// HPA wants as many replicas as the value), active while the window is
// open.
type Scaler struct {
	*scalers.Single
	window Window
	clock  clock.PassiveClock
}

var _ scalers.Scaler = (*Scaler)(nil)

// New is the scalers.Factory of the cron type, on the real clock. It does
// no I/O.
func New(ctx context.Context, cfg scalers.Config) (scalers.Scaler, error) {
	return WithClock(clock.RealClock{})(ctx, cfg)
}

// WithClock returns the factory of scalers that ask clk for now (tests
// pass a fake clock).
func WithClock(clk clock.PassiveClock) scalers.Factory {
	return func(_ context.Context, cfg scalers.Config) (scalers.Scaler, error) {
		md, err := ParseMetadata(cfg.Metadata)
		if err != nil {
			return nil, err
		}
		s := &Scaler{window: NewWindow(md), clock: clk}
		s.Single = scalers.NewSingle(scalers.SingleOptions{
			Type:   Type,
			Metric: scalers.MetricSpec{Name: md.MetricName(), Target: 1},
			Read:   s.read,
		})
		return s, nil
	}
}

func (s *Scaler) read(context.Context) (scalers.Reading, error) {
	// desiredReplicas is > 0, so a value is there exactly while the
	// window is open.
	n := s.window.Replicas(s.clock.Now())
	return scalers.Reading{Value: float64(n), Active: n > 0}, nil
}
