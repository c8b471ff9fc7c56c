package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/hpa-autoscaler/hpa-autoscaler/demand"
	"github.com/hpa-autoscaler/hpa-autoscaler/predictor"
)

// maxHorizonSteps is the longest forecast a tracker makes.
const maxHorizonSteps = 1440

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
	if steps > maxHorizonSteps {
		return usagef("--horizon %s: %d steps of %s, want at most %d", predictor.FormatHorizon(horizon), steps, predictor.FormatHorizon(step), maxHorizonSteps)
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
	out := backtestJSON{Horizon: predictor.FormatHorizon(horizon), Selected: r.Final}
	for _, row := range r.Rows {
		out.Models = append(out.Models, modelJSON{
			Name:       row.Name,
			MAPE:       jsonNumber(row.Accuracy.MAPE()),
			SMAPE:      jsonNumber(row.Accuracy.SMAPE()),
			Coverage80: jsonNumber(row.Accuracy.Coverage()),
			Scored:     row.Accuracy.N,
			Selected:   jsonNumber(row.Selected),
		})
	}
	w := cmd.OutOrStdout()
	if o.json {
		return writeJSON(w, out)
	}
	fmt.Fprintf(w, "trace %s: %d points every %s from %s\n", o.trace, len(series.Values), predictor.FormatHorizon(series.Step), tr.Format(series.Start))
	fmt.Fprintf(w, "horizon %s (%d steps); scored from %s (%d forecasts per model)\n\n",
		out.Horizon, steps, tr.Format(series.Time(from)), r.Rows[len(r.Rows)-1].Accuracy.N)
	fmt.Fprintf(w, "%-28s %8s %8s %11s %12s\n", "model", "MAPE", "sMAPE", "coverage80", "auto picked")
	for _, m := range out.Models {
		picked := fmt.Sprintf("%.0f%%", 100*deref(m.Selected))
		if m.Name == "auto" {
			picked = ""
		}
		fmt.Fprintf(w, "%-28s %8s %8s %11s %12s\n", m.Name, fmtNum(m.MAPE, "%.2f"), fmtNum(m.SMAPE, "%.2f"), fmtPct(m.Coverage80), picked)
	}
	_, err = fmt.Fprintf(w, "\nselected now: %s\n", out.Selected)
	return err
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
	out := forecastJSON{Model: f.Model, Confidence: jsonNumber(f.Confidence())}
	if f.Period > 0 {
		out.Period = predictor.FormatHorizon(time.Duration(f.Period) * series.Step)
	}
	last := series.Time(len(series.Values) - 1)
	for k := range f.Values {
		out.Forecast = append(out.Forecast, pointJSON{
			Timestamp: tr.Format(last.Add(time.Duration(k+1) * series.Step)),
			Value:     f.Values[k], Lower: f.Lower[k], Upper: f.Upper[k],
		})
	}
	w := cmd.OutOrStdout()
	if o.json {
		return writeJSON(w, out)
	}
	period := "none"
	if out.Period != "" {
		period = out.Period
	}
	conf := "no calibrated interval yet"
	if f.Calibrated {
		conf = fmt.Sprintf("%.2f", f.Confidence())
	}
	fmt.Fprintf(w, "model %s (period %s), 80%% intervals, confidence %s\n\n", out.Model, period, conf)
	fmt.Fprintf(w, "%-25s %12s %12s %12s\n", "timestamp", "forecast", "lower", "upper")
	for _, p := range out.Forecast {
		if _, err := fmt.Fprintf(w, "%-25s %12.6g %12.6g %12.6g\n", p.Timestamp, p.Value, p.Lower, p.Upper); err != nil {
			return err
		}
	}
	return nil
}

// The --json shapes. Fields beyond the documented ones are additions and
// may be ignored.
type backtestJSON struct {
	Horizon  string      `json:"horizon"`
	Selected string      `json:"selected"`
	Models   []modelJSON `json:"models"`
}

type modelJSON struct {
	Name       string   `json:"name"`
	MAPE       *float64 `json:"mape"`
	SMAPE      *float64 `json:"smape"`
	Coverage80 *float64 `json:"coverage80"`
	// Scored is the number of forecasts scored; Selected the share of them
	// for which auto picked this model.
	Scored   int      `json:"scored"`
	Selected *float64 `json:"selectedShare,omitempty"`
}

type forecastJSON struct {
	Model      string      `json:"model"`
	Period     string      `json:"period,omitempty"`
	Confidence *float64    `json:"confidence"`
	Forecast   []pointJSON `json:"forecast"`
}

type pointJSON struct {
	Timestamp string  `json:"timestamp"`
	Value     float64 `json:"value"`
	Lower     float64 `json:"lower"`
	Upper     float64 `json:"upper"`
}

// jsonNumber maps NaN (a measure with nothing to measure, such as MAPE on
// all-zero actuals) to null.
func jsonNumber(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

func deref(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

func fmtNum(p *float64, format string) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf(format, *p)
}

func fmtPct(p *float64) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100**p)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
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
