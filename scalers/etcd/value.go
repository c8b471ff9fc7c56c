package etcd

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// ErrValue marks a stored value that is not a number; it is also a
// scalers.ErrNoData.
var ErrValue error = noData("stored value is not a number")

// noData is a sentinel that is also scalers.ErrNoData.
type noData string

func (e noData) Error() string        { return string(e) }
func (e noData) Is(target error) bool { return target == scalers.ErrNoData }

// MaxValueBytes is the longest stored value ParseValue reads as a number:
// a number is short, and a longer value is not parsed.
const MaxValueBytes = 512

// ParseValue reads a stored value as KEDA does (strconv.ParseFloat of the
// whole value), and refuses what is not a finite number: NaN and ±Inf
// parse but cannot be a metric value. Surrounding spaces and a trailing
// newline (etcdctl put k "$(cmd)" often leaves one) are accepted.
func ParseValue(b []byte) (float64, error) {
	if len(b) > MaxValueBytes {
		return 0, fmt.Errorf("%w: %d bytes, more than %d", ErrValue, len(b), MaxValueBytes)
	}
	s := strings.TrimSpace(string(b))
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange) {
			return 0, fmt.Errorf("%w: %s is out of range", ErrValue, scalers.Quote(s))
		}
		return 0, fmt.Errorf("%w: %s", ErrValue, scalers.Quote(s))
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%w: %s is not finite", ErrValue, scalers.Quote(s))
	}
	return v, nil
}
