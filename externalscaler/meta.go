package externalscaler

import (
	"strconv"
	"strings"
	"time"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/predictive"
)

// Metadata keys the server reads itself; they are not passed to the scaler.
const (
	// KeyScalerType selects the scaler type (redis, redis-streams, ...).
	KeyScalerType = "scalerType"
	// KeyPollInterval is how often StreamIsActive and StreamMetricSpec
	// re-check a scaler that cannot push changes: a Go duration ("10s",
	// "500ms") or a number of seconds ("10", "2.5").
	KeyPollInterval = "pollInterval"
	// The predictive keys (predictive, lookAhead, confidenceThreshold,
	// startupDelay, historyStep) are package predictive's: see
	// predictive.ParseMetadata.
)

// serverKeys are the keys the server reads itself; the scaler never sees
// them.
var serverKeys = append([]string{KeyScalerType, KeyPollInterval}, predictive.MetadataKeys...)

// Bounds of pollInterval: faster than 100ms would turn a stream into a load
// test of the source; slower than an hour would make a stream useless.
const (
	minPollInterval = 100 * time.Millisecond
	maxPollInterval = time.Hour
)

// serverMeta is what the server itself takes from a trigger's metadata.
type serverMeta struct {
	scalerType   string
	pollInterval time.Duration
	// predictive is set when the trigger has predictive: "true": the
	// forecasting options, defaults filled (no clock or logger yet).
	predictive *predictive.Options
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
	p, perrs := predictive.ParseMetadata(md)
	sm.predictive = p
	errs = append(errs, perrs...)
	return sm, scalers.Invalid(errs...)
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
