package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"

	"github.com/hpa-autoscaler/hpa-autoscaler/backend/api"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/history"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/store"
)

// historyOpts are serve's flags of the metric history (backend/history).
type historyOpts struct {
	step            time.Duration
	retention       time.Duration
	downsampleAfter time.Duration
	maxSeries       int
	// registerer gets the history's metrics (serve's registry).
	registerer prometheus.Registerer
}

func (o *historyOpts) addFlags(f *pflag.FlagSet) {
	f.DurationVar(&o.step, "history-step", history.DefaultStep, "step of the metric history: the samples of a step are averaged into one stored value")
	f.DurationVar(&o.retention, "history-retention", history.DefaultRetention, "how long the metric history is kept (840h: 35 days)")
	f.DurationVar(&o.downsampleAfter, "history-downsample-after", 0,
		"history older than this is kept as hourly averages (0: the trackers' window, 14 days of steps, plus 2 days)")
	f.IntVar(&o.maxSeries, "history-max-series", history.DefaultMaxSeries, "most series with a tracker in memory (about 0.8 MB each); more are recorded without forecasts")
}

// options are the Service's options for a store.
func (o *historyOpts) options(s history.Store, logger *slog.Logger) history.Options {
	return history.Options{Store: s, Step: o.step, Retention: o.retention, DownsampleAfter: o.downsampleAfter, MaxSeries: o.maxSeries, Logger: logger, Registerer: o.registerer}
}

// validate checks the flags as the Service would, naming them.
func (o *historyOpts) validate() []error {
	if o.step <= 0 {
		return []error{fmt.Errorf("--history-step %v: expected a positive duration", o.step)}
	}
	if o.retention <= 0 {
		return []error{fmt.Errorf("--history-retention %v: expected a positive duration", o.retention)}
	}
	if o.downsampleAfter < 0 {
		return []error{fmt.Errorf("--history-downsample-after %v: expected a positive duration, or 0", o.downsampleAfter)}
	}
	if o.maxSeries < 1 {
		return []error{fmt.Errorf("--history-max-series %d: expected at least 1", o.maxSeries)}
	}
	if err := o.options(noStore{}, nil).Validate(); err != nil {
		return []error{fmt.Errorf("--history-step, --history-retention, --history-downsample-after: %w", err)}
	}
	return nil
}

// noStore fills history.Options.Store for validate (never called).
type noStore struct{ history.Store }

// startHistory starts the metric history on s: the series stored are
// listed now, their trackers rebuilt in the background.
func startHistory(ctx context.Context, o *historyOpts, s store.Store, logger *slog.Logger) (*history.Service, error) {
	hs, err := history.New(o.options(s, logger))
	if err != nil {
		return nil, err
	}
	if err := hs.Start(ctx); err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	ho := hs.Options()
	logger.Info("backend: metric history", "step", ho.Step, "retention", ho.Retention, "downsampleAfter", ho.DownsampleAfter, "series", hs.Stats().Series)
	return hs, nil
}

// apiPredictor is hs as the API's Predictor (a nil interface for none).
func apiPredictor(hs *history.Service) api.Predictor {
	if hs == nil {
		return nil
	}
	return hs
}
