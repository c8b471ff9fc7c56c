package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/hpa-autoscaler/hpa-autoscaler/demand"
	"github.com/hpa-autoscaler/hpa-autoscaler/predictor"
)

type predictOpts struct {
	trace       string
	column      string
	horizon     string
	backtest    bool
	json        bool
	warmup      string
	underWeight float64
	models      []string
}

func newPredictCmd() *cobra.Command {
	o := &predictOpts{}
	cmd := &cobra.Command{
		Use:   "predict --trace FILE --horizon 30m [--backtest] [--json]",
		Short: "Forecast a demand trace, or backtest every model on it",
		Long: `predict reads a demand trace (CSV: timestamp,value) and forecasts it from its
end to --horizon, with 80% prediction intervals, using the model the
predictor selects (see docs/predictor.md).

With --backtest it replays the trace point by point instead and scores, for
every model family and for the automatic selection ("auto"), the forecast
made --horizon ahead from the data up to each origin only: MAPE (zero
actuals skipped), sMAPE (0-200) and the share of actuals inside the 80%
interval, on every point from --warmup after the start on (day 8 by
default).

The --json shapes are stable:
  backtest: {"horizon": "30m", "selected": "<model>", "models": [{"name": "<model>", "mape": x, "smape": y, "coverage80": z}, ...]}
  forecast: {"model": "<model>", "forecast": [{"timestamp": "...", "value": v, "lower": l, "upper": u}, ...]}`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runPredict(cmd, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.trace, "trace", "", "demand trace: CSV with a header, timestamp first (required)")
	f.StringVar(&o.column, "column", "", "value column by header name (default: the second column)")
	f.StringVar(&o.horizon, "horizon", "30m", "how far ahead to forecast: a whole number of the trace's steps (30m, 1h, 1d)")
	f.BoolVar(&o.backtest, "backtest", false, "score every model by rolling-origin backtest instead of forecasting")
	f.BoolVar(&o.json, "json", false, "write JSON instead of a table")
	f.StringVar(&o.warmup, "warmup", "7d", "with --backtest: score the points this long after the trace's start and later")
	f.Float64Var(&o.underWeight, "under-weight", 2, "how much more an under-forecast costs than an over-forecast when selecting the model")
	f.StringSliceVar(&o.models, "models", nil, "restrict the candidate model families (naive is always one): "+strings.Join(predictor.Families, ", "))
	return cmd
}

func runPredict(cmd *cobra.Command, o *predictOpts) error {
	if o.trace == "" {
		return usagef("--trace: required (a CSV demand trace)")
	}
	horizon, err := predictor.ParseHorizon(o.horizon)
	if err != nil {
		return usagef("--horizon: %v", err)
	}
	warmup, err := predictor.ParseHorizon(o.warmup)
	if err != nil {
		return usagef("--warmup: %v", err)
	}
	if !(o.underWeight > 0) || math.IsInf(o.underWeight, 0) {
		return usagef("--under-weight %v: want a finite number > 0", o.underWeight)
	}
	tr, err := demand.ReadFile(o.trace, demand.Options{Column: o.column})
	if err != nil {
		return usagef("--trace: %v", err)
	}
	step := tr.Step()
	if step <= 0 {
		return usagef("--trace %s: %w: one point has no step", o.trace, predictor.ErrTooShort)
	}
	steps, err := predictor.HorizonSteps(horizon, step)
	if err != nil {
		return usagef("--horizon: %v", err)
	}
	if steps > predictor.MaxHorizonSteps {
		return usagef("--horizon %s: %d steps of %s, want at most %d", predictor.FormatHorizon(horizon), steps, predictor.FormatHorizon(step), predictor.MaxHorizonSteps)
	}
	samples := make([]predictor.Sample, len(tr.Points))
	for i, p := range tr.Points {
		samples[i] = predictor.Sample{Time: p.Time, Value: p.Value}
	}
	series, err := predictor.Regularize(samples, step, predictor.CleanOptions{})
	if err != nil {
		return usagef("--trace %s: %v", o.trace, err)
	}
	stderr := cmd.ErrOrStderr()
	if series.Dropped > 0 {
		fmt.Fprintf(stderr, "note: %d points before a gap longer than 5 steps left out; the series starts at %s\n", series.Dropped, tr.Format(series.Start))
	}
	topts := predictor.TrackerOptions{Step: step, Horizon: steps, UnderWeight: o.underWeight, Models: o.models}
	for _, m := range o.models {
		if !slices.Contains(predictor.Families, m) {
			return usagef("--models %q: want some of %s", m, strings.Join(predictor.Families, ", "))
		}
	}
	if err := topts.Validate(); err != nil {
		return usagef("%v", err)
	}
	if o.backtest {
		return runBacktest(cmd, o, tr, series, horizon, steps, warmup, topts)
	}
	return runForecast(cmd, o, tr, series, steps, topts)
}

func runBacktest(cmd *cobra.Command, o *predictOpts, tr *demand.Series, series *predictor.Series, horizon time.Duration, steps int, warmup time.Duration, topts predictor.TrackerOptions) error {
	from := int((warmup + series.Step - 1) / series.Step)
	if from+1 > len(series.Values) {
		return usagef("--trace %s: %v: %d points of %s cover %s; --backtest scores from %s after the start (--warmup)",
			o.trace, predictor.ErrTooShort, len(series.Values), predictor.FormatHorizon(series.Step),
			predictor.FormatHorizon(time.Duration(len(series.Values)-1)*series.Step), predictor.FormatHorizon(warmup))
	}
	bar := newProgress(cmd.ErrOrStderr(), len(series.Values), "backtest")
	res, err := predictor.Evaluate(series.Values, predictor.EvalOptions{
		Tracker:  topts,
		Horizons: []int{steps},
		From:     from,
		Skip:     series.Filled,
		Progress: func(done, _ int) {
			if bar != nil && (done%256 == 0 || done == len(series.Values)) {
				_ = bar.Set(done)
			}
		},
	})
	if bar != nil {
		_ = bar.Finish()
		fmt.Fprintln(cmd.ErrOrStderr())
	}
	if err != nil {
		if errors.Is(err, predictor.ErrTooShort) {
			return usagef("--trace %s: %v", o.trace, err)
		}
		return err
	}
	r := res[0]
	out := predictor.NewBacktestReport(r, horizon)
	w := cmd.OutOrStdout()
	if o.json {
		return predictor.WriteJSON(w, out)
	}
	fmt.Fprintf(w, "trace %s: %d points every %s from %s\n", o.trace, len(series.Values), predictor.FormatHorizon(series.Step), tr.Format(series.Start))
	fmt.Fprintf(w, "horizon %s (%d steps); scored from %s (%d forecasts per model)\n\n",
		out.Horizon, steps, tr.Format(series.Time(from)), r.Rows[len(r.Rows)-1].Accuracy.N)
	return out.WriteTable(w)
}

func runForecast(cmd *cobra.Command, o *predictOpts, tr *demand.Series, series *predictor.Series, steps int, topts predictor.TrackerOptions) error {
	t, err := predictor.NewTracker(topts)
	if err != nil {
		return usagef("%v", err)
	}
	if err := t.Load(series.Values); err != nil {
		return usagef("--trace %s: %v", o.trace, err)
	}
	f, err := t.Forecast(steps)
	if err != nil {
		return err
	}
	out := predictor.NewForecastReport(f, series.Time(len(series.Values)-1), series.Step, tr.Format)
	w := cmd.OutOrStdout()
	if o.json {
		return predictor.WriteJSON(w, out)
	}
	return out.WriteTable(w)
}

// newProgress returns a progress bar on w when w is a terminal, else nil.
func newProgress(w io.Writer, total int, what string) *progressbar.ProgressBar {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return progressbar.NewOptions(total,
		progressbar.OptionSetWriter(f),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
}
