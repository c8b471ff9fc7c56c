package scalers

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
)

// ErrClosed marks the error of a scaler used after Close.
var ErrClosed = errors.New("scaler closed")

// Reading is one fetched value of a single-metric scaler and whether the
// trigger is active.
type Reading struct {
	Value  float64
	Active bool
}

// SingleOptions configures NewSingle.
type SingleOptions struct {
	// Type is the scaler type, for the error after Close ("prometheus
	// scaler: closed").
	Type string
	// Metric is the one metric offered, with its target.
	Metric MetricSpec
	// Read fetches the value and decides whether the trigger is active
	// (see ActiveAbove for the usual rule); its errors are returned as
	// they are. It is called from many goroutines at once, and not after
	// Close (a call already under way is not waited for).
	Read func(ctx context.Context) (Reading, error)
	// Release, if not nil, frees the source's connections; the first
	// Close calls it, once, and returns its error.
	Release func() error
	// Bound is how long a Read may take at most (Config.Timeouts.For of
	// the trigger's timeout key), which Bound reports; Read itself must
	// keep to it.
	Bound time.Duration
}

// Single is the part that every scaler offering exactly one metric
// repeats: MetricSpecs of that one metric, Metrics of one value, Value,
// and Close that marks the scaler closed (then Metrics and Value fail with
// an error wrapping ErrClosed) and releases the source once. The scaler
// embeds a *Single built by NewSingle and writes only the fetch (Read) and
// its own configuration; its Metrics, MetricSpecs, Value and Close come
// from here. It is safe for concurrent use if Read is.
type Single struct {
	typ     string
	spec    MetricSpec
	read    func(ctx context.Context) (Reading, error)
	release func() error
	bound   time.Duration
	closed  atomic.Bool
}

var _ Scaler = (*Single)(nil)

// NewSingle returns the skeleton of a single-metric scaler.
func NewSingle(o SingleOptions) *Single {
	return &Single{typ: o.Type, spec: o.Metric, read: o.Read, release: o.Release, bound: o.Bound}
}

// Bound returns the most a call of Metrics takes (SingleOptions.Bound; 0
// when the scaler did not say), so that a scaler built from scalers (the
// custom scaler) can bound its own call by the largest bound of its
// sources.
func (s *Single) Bound() time.Duration { return s.bound }

// ActiveAbove is the Read of a scaler whose trigger is active while the
// value is above threshold (strictly, as KEDA compares).
func ActiveAbove(threshold float64, value func(ctx context.Context) (float64, error)) func(ctx context.Context) (Reading, error) {
	return func(ctx context.Context) (Reading, error) {
		v, err := value(ctx)
		if err != nil {
			return Reading{}, err
		}
		return Reading{Value: v, Active: v > threshold}, nil
	}
}

// MetricSpecs returns the one metric.
func (s *Single) MetricSpecs() []MetricSpec { return []MetricSpec{s.spec} }

// Metrics reads the value and reports it under the metric's name.
func (s *Single) Metrics(ctx context.Context) (Metrics, error) {
	r, err := s.reading(ctx)
	if err != nil {
		return Metrics{}, err
	}
	return Metrics{Values: []MetricValue{{Name: s.spec.Name, Value: r.Value}}, Active: r.Active}, nil
}

// Value reads the value alone.
func (s *Single) Value(ctx context.Context) (float64, error) {
	r, err := s.reading(ctx)
	return r.Value, err
}

func (s *Single) reading(ctx context.Context) (Reading, error) {
	if s.closed.Load() {
		return Reading{}, closedError(s.typ)
	}
	return s.read(ctx)
}

// Close marks the scaler closed and releases the source; calling it again
// does nothing.
func (s *Single) Close() error {
	if s.closed.Swap(true) || s.release == nil {
		return nil
	}
	return s.release()
}

// Closed is the error of a scaler of scalerType used after Close
// ("rabbitmq scaler: closed", wrapping ErrClosed): what Single returns, for
// a source that finds itself closed while a call was under way.
func Closed(scalerType string) error { return closedError(scalerType) }

type closedError string

func (e closedError) Error() string        { return string(e) + " scaler: closed" }
func (e closedError) Is(target error) bool { return target == ErrClosed }
