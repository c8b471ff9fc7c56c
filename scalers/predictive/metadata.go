package predictive

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/hpa-autoscaler/hpa-autoscaler/predictor"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// Metadata keys of predictive scaling on a trigger (the external
// scaler's KEDA path reads them beside scalerType, on any scaler type).
const (
	// KeyPredictive turns predictive scaling on for the trigger ("true");
	// the keys below tune it.
	KeyPredictive = "predictive"
	// KeyLookAhead is how far ahead the forecast floor provides for
	// (default 15m): a duration as predictor.ParseHorizon reads it ("15m",
	// "1h30m", "1d"). The CRD's lookAheadMinutes.
	KeyLookAhead = "lookAhead"
	// KeyConfidenceThreshold is the least confidence (0 to 1, default
	// 0.8) the forecast needs over the window to give a floor; 0 takes any
	// calibrated forecast. The CRD's confidenceThreshold.
	KeyConfidenceThreshold = "confidenceThreshold"
	// KeyStartupDelay is how long a new pod of the workload takes to be
	// ready (default 0): the floor looks that much further ahead. The CRD
	// agent's --pod-startup-delay, per trigger.
	KeyStartupDelay = "startupDelay"
	// KeyHistoryStep is the length of one point of the forecast history
	// (default 1m); the values fetched within a step are averaged.
	KeyHistoryStep = "historyStep"
)

// MetadataKeys are the keys ParseMetadata reads: a scaler built from the
// same metadata does not get them.
var MetadataKeys = []string{KeyPredictive, KeyLookAhead, KeyConfidenceThreshold, KeyStartupDelay, KeyHistoryStep}

// Bounds of historyStep: finer than a second is finer than any KEDA
// polling; coarser than a day leaves too few points to learn a week.
const (
	minHistoryStep = time.Second
	maxHistoryStep = 24 * time.Hour
)

// ParseMetadata reads the predictive keys of a trigger's metadata (other
// keys are ignored): the options when predictive is "true" (nil
// otherwise, also when any key is bad), and every bad key's error as a
// *scalers.FieldError naming the key, the value and what was expected.
// The keys are read whether or not prediction is on, so a bad value is
// reported even while it is off. The options have their defaults filled
// and no Clock or Logger.
func ParseMetadata(md map[string]string) (*Options, []error) {
	var errs []error
	bad := func(key, raw, msg string) { errs = append(errs, scalers.NewFieldError(key, raw, msg)) }
	on := false
	if raw, ok := md[KeyPredictive]; ok && strings.TrimSpace(raw) != "" {
		b, err := strconv.ParseBool(strings.TrimSpace(raw))
		if err != nil {
			bad(KeyPredictive, raw, `not a boolean (want "true" or "false")`)
		}
		on = b
	}
	var o predictor.MetricStreamsOptions
	duration := func(key string, zeroOK bool, dst *time.Duration) {
		raw, ok := md[key]
		if !ok || strings.TrimSpace(raw) == "" {
			return
		}
		v := strings.TrimSpace(raw)
		if zeroOK {
			if f, err := strconv.ParseFloat(v, 64); err == nil && f == 0 {
				*dst = 0
				return
			}
		}
		d, err := predictor.ParseHorizon(v)
		if err != nil {
			// ParseHorizon's words, without its "horizon" prefix: the key
			// is named by the field error.
			msg := `not a duration (e.g. "15m", "1h30m" or "1d")`
			if strings.Contains(err.Error(), "longer than") {
				msg = "longer than " + predictor.FormatHorizon(predictor.MaxHorizon)
			} else if strings.Contains(err.Error(), "positive") {
				msg = "want a positive duration"
			}
			bad(key, raw, msg)
			return
		}
		*dst = d
	}
	duration(KeyLookAhead, false, &o.LookAhead)
	duration(KeyStartupDelay, true, &o.StartupDelay)
	duration(KeyHistoryStep, false, &o.Step)
	if raw, ok := md[KeyConfidenceThreshold]; ok && strings.TrimSpace(raw) != "" {
		c, err := strconv.ParseFloat(strings.TrimSpace(raw), 64)
		switch {
		case err != nil || math.IsNaN(c):
			bad(KeyConfidenceThreshold, raw, "not a number (want 0 to 1)")
		case c < 0 || c > 1:
			bad(KeyConfidenceThreshold, raw, "want 0 to 1")
		case c == 0:
			// The predictor reads 0 as its default (0.8) and a negative
			// value as 0: an explicit 0 is any calibrated forecast.
			o.ConfidenceThreshold = -1
		default:
			o.ConfidenceThreshold = c
		}
	}
	if o.Step != 0 && (o.Step < minHistoryStep || o.Step > maxHistoryStep) {
		bad(KeyHistoryStep, md[KeyHistoryStep], "want "+predictor.FormatHorizon(minHistoryStep)+" to "+predictor.FormatHorizon(maxHistoryStep))
	}
	if len(errs) == 0 {
		if err := o.Validate(); err != nil {
			d := o.WithDefaults()
			msg := err.Error()
			if h := int((d.LookAhead+d.StartupDelay+d.Step-1)/d.Step) + 1; h > predictor.MaxHorizonSteps {
				msg = "with " + KeyStartupDelay + " " + predictor.FormatHorizon(d.StartupDelay) + ": " + strconv.Itoa(h) +
					" steps of " + KeyHistoryStep + " " + predictor.FormatHorizon(d.Step) + ", want at most " + strconv.Itoa(predictor.MaxHorizonSteps)
			}
			bad(KeyLookAhead, predictor.FormatHorizon(d.LookAhead), msg)
		}
	}
	if !on || len(errs) > 0 {
		return nil, errs
	}
	return &Options{MetricStreamsOptions: o.WithDefaults()}, nil
}
