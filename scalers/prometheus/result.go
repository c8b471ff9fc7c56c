package prometheus

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/prometheus/common/model"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// SampleValue returns the one value of an instant query's result.
//
// An instant vector must hold exactly one series and a scalar is its own
// value. An empty vector, NaN and ±Inf are 0 when ignoreNull is true and an
// error wrapping scalers.ErrNoData otherwise (KEDA's ignoreNullValues).
// More than one series, a range vector, a string and a native histogram
// sample are errors wrapping scalers.ErrNoData whatever ignoreNull says: the
// query cannot give one number. A missing result is an error wrapping
// scalers.ErrUnavailable: a real Prometheus always sends one.
func SampleValue(v model.Value, ignoreNull bool) (float64, error) {
	switch r := v.(type) {
	case model.Vector:
		switch len(r) {
		case 0:
			if ignoreNull {
				return 0, nil
			}
			return 0, noData(`returned no samples (set ignoreNullValues to "true" to read this as 0)`)
		case 1:
			if r[0].Histogram != nil {
				return 0, noData("returned a native histogram sample, expected a float (apply histogram_sum, histogram_count or histogram_quantile)")
			}
			return finite(float64(r[0].Value), ignoreNull)
		default:
			return 0, noData(fmt.Sprintf("returned %d samples, expected exactly 1 (aggregate them, e.g. with sum(), or narrow the label matchers): %s",
				len(r), seriesList(r)))
		}
	case *model.Scalar:
		if r == nil {
			return 0, scalers.Unavailable("prometheus answer", errors.New("malformed answer: no result"))
		}
		return finite(float64(r.Value), ignoreNull)
	case model.Matrix:
		return 0, noData(fmt.Sprintf("returned a range vector of %d series, expected an instant vector or a scalar (drop the [range] selector or wrap it in a function such as rate())", len(r)))
	case *model.String:
		return 0, noData("returned a string, expected an instant vector or a scalar")
	case nil:
		return 0, scalers.Unavailable("prometheus answer", errors.New("malformed answer: no result"))
	default:
		return 0, scalers.Unavailable("prometheus answer", fmt.Errorf("malformed answer: unexpected result type %s", v.Type()))
	}
}

func finite(f float64, ignoreNull bool) (float64, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		if ignoreNull {
			return 0, nil
		}
		return 0, noData(fmt.Sprintf(`returned %v (set ignoreNullValues to "true" to read this as 0)`, f))
	}
	return f, nil
}

// seriesList names up to three series of a vector for an error message.
func seriesList(v model.Vector) string {
	const show = 3
	parts := make([]string, 0, show+1)
	for i, s := range v {
		if i == show {
			parts = append(parts, fmt.Sprintf("and %d more", len(v)-show))
			break
		}
		parts = append(parts, scalers.Excerpt(s.Metric.String()))
	}
	return strings.Join(parts, ", ")
}

// noDataError is a usable answer without a usable value.
type noDataError struct{ msg string }

func noData(msg string) error { return &noDataError{msg: msg} }

func (e *noDataError) Error() string        { return e.msg }
func (e *noDataError) Is(target error) bool { return target == scalers.ErrNoData }
