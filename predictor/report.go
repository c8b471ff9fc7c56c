package predictor

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"time"
)

// MaxHorizonSteps is the longest forecast, in steps, a Tracker makes
// (TrackerOptions.Horizon).
const MaxHorizonSteps = 1440

// The report shapes below are the stable JSON of `hpa-autoscaler predict
// --json` (and, later, of the backend's forecast API); fields beyond the
// documented ones are additions and may be ignored. Figures that measure
// nothing (MAPE over all-zero actuals) are null.

// BacktestReport is the JSON of a backtest at one horizon:
// {"horizon": "30m", "selected": "<model>", "models": [...]}.
type BacktestReport struct {
	Horizon  string        `json:"horizon"`
	Selected string        `json:"selected"`
	Models   []ModelReport `json:"models"`
}

// ModelReport is one model family's row (the last row is "auto", the
// selection).
type ModelReport struct {
	Name       string   `json:"name"`
	MAPE       *float64 `json:"mape"`
	SMAPE      *float64 `json:"smape"`
	Coverage80 *float64 `json:"coverage80"`
	// Scored is the number of forecasts scored; Selected the share of them
	// for which auto picked this model.
	Scored   int      `json:"scored"`
	Selected *float64 `json:"selectedShare,omitempty"`
}

// NewBacktestReport is the report of one horizon's EvalResult.
func NewBacktestReport(r EvalResult, horizon time.Duration) BacktestReport {
	out := BacktestReport{Horizon: FormatHorizon(horizon), Selected: r.Final}
	for _, row := range r.Rows {
		out.Models = append(out.Models, ModelReport{
			Name:       row.Name,
			MAPE:       jsonNumber(row.Accuracy.MAPE()),
			SMAPE:      jsonNumber(row.Accuracy.SMAPE()),
			Coverage80: jsonNumber(row.Accuracy.Coverage()),
			Scored:     row.Accuracy.N,
			Selected:   jsonNumber(row.Selected),
		})
	}
	return out
}

// WriteTable writes the report as the aligned table `predict --backtest`
// prints (after its heading lines).
func (r BacktestReport) WriteTable(w io.Writer) error {
	if _, err := fmt.Fprintf(w, "%-28s %8s %8s %11s %12s\n", "model", "MAPE", "sMAPE", "coverage80", "auto picked"); err != nil {
		return err
	}
	for _, m := range r.Models {
		picked := ""
		if m.Name != "auto" {
			picked = fmtPct(m.Selected, "%.0f%%")
		}
		if _, err := fmt.Fprintf(w, "%-28s %8s %8s %11s %12s\n", m.Name, fmtNum(m.MAPE, "%.2f"), fmtNum(m.SMAPE, "%.2f"), fmtPct(m.Coverage80, "%.1f%%"), picked); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "\nselected now: %s\n", r.Selected)
	return err
}

// ForecastReport is the JSON of a forecast:
// {"model": "<model>", "forecast": [{"timestamp", "value", "lower", "upper"}, ...]}.
type ForecastReport struct {
	Model      string        `json:"model"`
	Period     string        `json:"period,omitempty"`
	Confidence *float64      `json:"confidence"`
	Forecast   []PointReport `json:"forecast"`
	// calibrated is false while the intervals are not yet calibrated.
	calibrated bool
}

// PointReport is one forecast step.
type PointReport struct {
	Timestamp string  `json:"timestamp"`
	Value     float64 `json:"value"`
	Lower     float64 `json:"lower"`
	Upper     float64 `json:"upper"`
}

// NewForecastReport is the report of f, made after the step starting at
// last of a series with the given step; format writes the times (the
// series' own layout).
func NewForecastReport(f Forecast, last time.Time, step time.Duration, format func(time.Time) string) ForecastReport {
	out := ForecastReport{Model: f.Model, Confidence: jsonNumber(f.Confidence()), calibrated: f.Calibrated}
	if f.Period > 0 {
		out.Period = FormatHorizon(time.Duration(f.Period) * step)
	}
	for k := range f.Values {
		out.Forecast = append(out.Forecast, PointReport{
			Timestamp: format(last.Add(time.Duration(k+1) * step)),
			Value:     f.Values[k], Lower: f.Lower[k], Upper: f.Upper[k],
		})
	}
	return out
}

// WriteTable writes the forecast as `predict` prints it.
func (r ForecastReport) WriteTable(w io.Writer) error {
	period := "none"
	if r.Period != "" {
		period = r.Period
	}
	conf := "no calibrated interval yet"
	if r.calibrated && r.Confidence != nil {
		conf = fmt.Sprintf("%.2f", *r.Confidence)
	}
	if _, err := fmt.Fprintf(w, "model %s (period %s), 80%% intervals, confidence %s\n\n", r.Model, period, conf); err != nil {
		return err
	}
	if _, err := fmt.Fprintf(w, "%-25s %12s %12s %12s\n", "timestamp", "forecast", "lower", "upper"); err != nil {
		return err
	}
	for _, p := range r.Forecast {
		if _, err := fmt.Fprintf(w, "%-25s %12.6g %12.6g %12.6g\n", p.Timestamp, p.Value, p.Lower, p.Upper); err != nil {
			return err
		}
	}
	return nil
}

// WriteJSON writes v (a report) as indented JSON.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// jsonNumber maps NaN and infinities (a measure with nothing to measure,
// such as MAPE on all-zero actuals) to null.
func jsonNumber(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

func fmtNum(p *float64, format string) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf(format, *p)
}

func fmtPct(p *float64, format string) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf(format, 100**p)
}
