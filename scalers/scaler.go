package scalers

import (
	"context"
	"errors"
	"log/slog"
)

// Scaler is one configured trigger: it knows which metrics it offers and how
// to fetch their current values.
//
// Implementations must be safe for concurrent use: the external scaler server
// calls Metrics from many goroutines at once for the same ScaledObject.
type Scaler interface {
	// MetricSpecs returns the metrics this scaler offers with their targets.
	// It does no I/O and always returns the same names for the same
	// configuration.
	MetricSpecs() []MetricSpec
	// Metrics fetches fresh values of every metric and whether the trigger
	// is active (above its activation threshold). Errors that come from the
	// source being unreachable wrap ErrUnavailable.
	Metrics(ctx context.Context) (Metrics, error)
	// Close releases connections. Calling Metrics after Close is an error.
	Close() error
}

// PushScaler is a Scaler that can notice activity changes without being
// polled (for example by blocking on a Redis stream). Run sends the current
// activity on active whenever it may have changed, and returns when ctx ends;
// it never closes active.
type PushScaler interface {
	Scaler
	Run(ctx context.Context, active chan<- bool)
}

// MetricSpec names one metric and its target value per replica (for the
// AverageValue metric type KEDA uses by default, the value one replica can
// handle).
type MetricSpec struct {
	// Name is stable for a given configuration and unique per trigger.
	Name string
	// Target is the target value. It is always > 0.
	Target float64
}

// MetricValue is one fetched metric value.
type MetricValue struct {
	Name  string
	Value float64
}

// Metrics is the result of one fetch.
type Metrics struct {
	Values []MetricValue
	// Active reports whether any value is above its activation threshold
	// (strictly, as KEDA compares).
	Active bool
}

// Value returns the value of the named metric.
func (m Metrics) Value(name string) (float64, bool) {
	for _, v := range m.Values {
		if v.Name == name {
			return v.Value, true
		}
	}
	return 0, false
}

// Config is what a Factory receives.
type Config struct {
	// Type is the scaler type the registry resolved.
	Type string
	// Metadata holds the trigger's metadata keys exactly as KEDA sends them
	// (including keys that belong to KEDA itself, which scalers ignore).
	Metadata map[string]string
	// Namespace and Name identify the scaled object (used in metric names and
	// logs only).
	Namespace, Name string
	// Logger is never nil when the registry calls a Factory.
	Logger *slog.Logger
	// Timeouts bound every call the scaler makes to its source (see
	// Timeouts); the registry fills its zero fields before calling a
	// Factory.
	Timeouts Timeouts
	// Limits bound what one trigger may ask of the server (list sizes);
	// the registry fills its zero fields before calling a Factory.
	Limits Limits
	// SecretFiles is which files <key>File keys may name; pass it to
	// ParseMetadata. The registry sets it from its own
	// (Registry.SetSecretFiles), replacing what the caller put here, so
	// every type gets the server's rule, the sources of a custom trigger
	// too. Its zero value refuses every <key>File key.
	SecretFiles FileAccess
}

// ScalerLogger returns Logger (one that discards when it is nil, as when a
// test builds a scaler without the registry) with the scaler type and the
// scaled object's namespace and name, for the scaler's own messages.
func (c Config) ScalerLogger(scalerType string) *slog.Logger {
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return log.With("scaler", scalerType, "namespace", c.Namespace, "name", c.Name)
}

// Factory builds a Scaler from its configuration. Bad metadata is reported as
// an error wrapping ErrInvalidConfig (a *MetadataError from ParseMetadata
// does); anything else (a source that cannot be reached while connecting) is
// an error wrapping ErrUnavailable.
type Factory func(ctx context.Context, cfg Config) (Scaler, error)

// Sentinel errors callers branch on.
var (
	// ErrInvalidConfig marks errors caused by the trigger's configuration:
	// retrying with the same metadata cannot succeed.
	ErrInvalidConfig = errors.New("invalid scaler configuration")
	// ErrUnavailable marks errors caused by the metric source: it may work
	// again later.
	ErrUnavailable = errors.New("metric source unavailable")
	// ErrNoData marks a source that answered without a usable value.
	ErrNoData = errors.New("no data")
	// ErrLimit marks a request refused because a server limit was reached
	// (live scaler instances, distinct source connections): it may work
	// once load goes down. The error names the limit and its value.
	ErrLimit = errors.New("server limit reached")
)
