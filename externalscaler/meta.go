package externalscaler

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/hpa-autoscaler/hpa-autoscaler/predictor"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// Metadata keys the server reads itself; they are not passed to the scaler.
const (
	// KeyScalerType selects the scaler type (redis, redis-streams, ...).
	KeyScalerType = "scalerType"
	// KeyPollInterval is how often StreamIsActive and StreamMetricSpec
	// re-check a scaler that cannot push changes: a Go duration ("10s",
	// "500ms") or a number of seconds ("10", "2.5").
	KeyPollInterval = "pollInterval"

	// KeyPredictive turns predictive scaling on for the trigger ("true");
	// the keys below tune it. They are read whether or not it is on, so a
	// bad value is reported even while prediction is off.
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

// serverKeys are the keys the server reads itself; the scaler never sees
// them.
var serverKeys = []string{KeyScalerType, KeyPollInterval, KeyPredictive, KeyLookAhead, KeyConfidenceThreshold, KeyStartupDelay, KeyHistoryStep}

// Bounds of pollInterval: faster than 100ms would turn a stream into a load
// test of the source; slower than an hour would make a stream useless.
const (
	minPollInterval = 100 * time.Millisecond
	maxPollInterval = time.Hour
)

// Bounds of historyStep: finer than a second is finer than any KEDA
// polling; coarser than a day leaves too few points to learn a week.
const (
	minHistoryStep = time.Second
	maxHistoryStep = 24 * time.Hour
)

// serverMeta is what the server itself takes from a trigger's metadata.
type serverMeta struct {
	scalerType   string
	pollInterval time.Duration
	// predictive is set when the trigger has predictive: "true": the
	// forecasting options, defaults filled.
	predictive *predictor.MetricStreamsOptions
}

// parseServerMeta reads the server's own keys; errors are *MetadataError
// (ErrInvalidConfig) naming the key, the value and what was expected.
func parseServerMeta(md map[string]string, defaultPoll time.Duration) (serverMeta, error) {
	sm := serverMeta{pollInterval: defaultPoll}
	var errs []error
	sm.scalerType = strings.TrimSpace(md[KeyScalerType])
	if sm.scalerType == "" {
		errs = append(errs, &scalers.FieldError{Key: KeyScalerType, Missing: true,
			Msg: "required key is missing (the scaler type, e.g. redis)"})
	}
	if raw, ok := md[KeyPollInterval]; ok && strings.TrimSpace(raw) != "" {
		d, err := parsePollInterval(strings.TrimSpace(raw))
		if err != nil {
			errs = append(errs, scalers.NewFieldError(KeyPollInterval, raw, err.Error()))
		} else {
			sm.pollInterval = d
		}
	}
	p, perrs := parsePredictive(md)
	sm.predictive = p
	errs = append(errs, perrs...)
	return sm, scalers.Invalid(errs...)
}

// parsePredictive reads the predictive keys: the options when predictive
// is "true" (nil otherwise), and every bad key's error.
func parsePredictive(md map[string]string) (*predictor.MetricStreamsOptions, []error) {
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
	o = o.WithDefaults()
	return &o, nil
}

type pollError string

func (e pollError) Error() string { return string(e) }

// parsePollInterval accepts a Go duration or a plain number of seconds.
func parsePollInterval(raw string) (time.Duration, error) {
	var d time.Duration
	if f, err := strconv.ParseFloat(raw, 64); err == nil {
		// Compare in seconds first: converting a huge float to a Duration
		// overflows.
		if !(f >= minPollInterval.Seconds() && f <= maxPollInterval.Seconds()) {
			return 0, errPollRange
		}
		d = time.Duration(f * float64(time.Second))
	} else {
		pd, err := time.ParseDuration(raw)
		if err != nil {
			return 0, pollError("not a duration (e.g. \"10s\", \"500ms\" or a number of seconds)")
		}
		d = pd
	}
	if d < minPollInterval || d > maxPollInterval {
		return 0, errPollRange
	}
	return d, nil
}

var errPollRange = pollError("must be between " + minPollInterval.String() + " and " + maxPollInterval.String())

// scalerMetadata is md without the server's own keys: what the scaler gets.
func scalerMetadata(md map[string]string) map[string]string {
	out := make(map[string]string, len(md))
	for k, v := range md {
		if isServerKey(k) {
			continue
		}
		out[k] = v
	}
	return out
}

func isServerKey(k string) bool {
	for _, sk := range serverKeys {
		if k == sk {
			return true
		}
	}
	return false
}
