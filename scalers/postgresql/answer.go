package postgresql

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// Answer is what a query returned, as far as the scaler reads it: the
// number of columns, the first column's values of the first rows (at most
// two are read: a second row is already an error) and the column's name.
type Answer struct {
	Columns int
	Column  string
	Values  []any
}

// Errors of an answer that is not one number. Each wraps scalers.ErrNoData.
var (
	ErrNoRow       = fmt.Errorf("returned no row, want one row of one number: %w", scalers.ErrNoData)
	ErrSeveralRows = fmt.Errorf("returned more than one row, want one row of one number: %w", scalers.ErrNoData)
	ErrNull        = fmt.Errorf("returned NULL, want a number (COALESCE(..., 0) turns NULL into 0): %w", scalers.ErrNoData)
)

// Number returns the one number of a, or an error wrapping
// scalers.ErrNoData that says what is wrong with the answer. Values are
// what pgx decodes: integers, floats, numeric, and text holding a number
// (KEDA reads text such as '12' as a number too); NaN and ±Inf are
// refused, as the HPA cannot use them.
func Number(a Answer) (float64, error) {
	switch {
	case a.Columns != 1:
		return 0, fmt.Errorf("returned %d columns, want one row of one number: %w", a.Columns, scalers.ErrNoData)
	case len(a.Values) == 0:
		return 0, ErrNoRow
	case len(a.Values) > 1:
		return 0, ErrSeveralRows
	}
	f, err := toFloat(a.Values[0])
	if err != nil {
		return 0, fmt.Errorf("column %s: %w", scalers.Quote(a.Column), err)
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("column %s: returned %v, want a finite number: %w", scalers.Quote(a.Column), f, scalers.ErrNoData)
	}
	return f, nil
}

func toFloat(v any) (float64, error) {
	switch x := v.(type) {
	case nil:
		return 0, ErrNull
	case int64:
		return float64(x), nil
	case int32:
		return float64(x), nil
	case int16:
		return float64(x), nil
	case int8:
		return float64(x), nil
	case int:
		return float64(x), nil
	case uint32:
		return float64(x), nil
	case uint64:
		return float64(x), nil
	case float64:
		return x, nil
	case float32:
		return float64(x), nil
	case pgtype.Numeric:
		return numericFloat(x)
	case string:
		return textFloat(x)
	case []byte:
		return textFloat(string(x))
	default:
		return 0, fmt.Errorf("returned a value of type %T, want a number: %w", v, scalers.ErrNoData)
	}
}

// numericFloat converts a numeric, which may be NULL, NaN or ±Infinity.
func numericFloat(n pgtype.Numeric) (float64, error) {
	switch {
	case !n.Valid:
		return 0, ErrNull
	case n.NaN:
		return math.NaN(), nil
	case n.InfinityModifier == pgtype.Infinity:
		return math.Inf(1), nil
	case n.InfinityModifier == pgtype.NegativeInfinity:
		return math.Inf(-1), nil
	case n.Int == nil:
		return 0, nil
	}
	// Int * 10^Exp, exactly as far as a float64 holds it. The exponent
	// is bounded first: numeric allows 1000 digits, and big.Float's
	// power of a huge exponent is slow.
	if n.Exp > 400 || n.Exp < -400 {
		if n.Int.Sign() == 0 {
			return 0, nil
		}
		if n.Exp > 0 {
			return math.Inf(n.Int.Sign()), nil
		}
		return 0, nil
	}
	f := new(big.Float).SetInt(n.Int)
	p := new(big.Float).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(abs(n.Exp))), nil))
	if n.Exp < 0 {
		f.Quo(f, p)
	} else {
		f.Mul(f, p)
	}
	v, _ := f.Float64()
	return v, nil
}

func abs(n int32) int32 {
	if n < 0 {
		return -n
	}
	return n
}

// textFloat reads a number from text, the way database/sql does into a
// float64 (KEDA's destination).
func textFloat(s string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, fmt.Errorf("returned text %s, want a number: %w", scalers.Quote(s), scalers.ErrNoData)
	}
	return f, nil
}
