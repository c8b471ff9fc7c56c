package cost

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// Micros is an amount of money in millionths of the currency's unit:
// 1,000,000 is one dollar (or euro).
type Micros int64

// MicrosPerUnit is one unit of the currency.
const MicrosPerUnit = 1_000_000

// PPM is a fraction in parts per million: 1,000,000 is 1 (all of it).
type PPM int64

// One is the fraction 1.
const One PPM = 1_000_000

// ParseMicros parses a non-negative decimal with at most 6 decimal
// places ("1250", "1250.00", "0.031611") exactly: no float on the way.
func ParseMicros(s string) (Micros, error) {
	v, err := parseFixed6(s)
	return Micros(v), err
}

// ParsePPM parses a fraction from 0 to 1 with at most 6 decimal places
// ("0.21", "1", "0.5").
func ParsePPM(s string) (PPM, error) {
	v, err := parseFixed6(s)
	if err != nil {
		return 0, err
	}
	if v > int64(One) {
		return 0, fmt.Errorf("%q: want a fraction from 0 to 1", s)
	}
	return PPM(v), nil
}

// parseFixed6 parses digits[.digits] with at most 6 decimals into
// millionths. Signs, exponents, NaN, Inf, spaces and underscores are
// refused.
func parseFixed6(s string) (int64, error) {
	if s == "" {
		return 0, fmt.Errorf("%q: want a decimal number", s)
	}
	if len(s) > 32 {
		return 0, fmt.Errorf("%q: too long", s[:32]+"...")
	}
	ip, fp, dot := strings.Cut(s, ".")
	if ip == "" || (dot && fp == "") || !digits(ip) || !digits(fp) {
		if strings.HasPrefix(s, "-") {
			return 0, fmt.Errorf("%q: negative", s)
		}
		return 0, fmt.Errorf("%q: want a non-negative decimal number like 12.50", s)
	}
	if len(fp) > 6 {
		return 0, fmt.Errorf("%q: at most 6 decimal places", s)
	}
	n, err := strconv.ParseInt(ip, 10, 64)
	if err != nil || n > math.MaxInt64/MicrosPerUnit-1 {
		return 0, fmt.Errorf("%q: too large", s)
	}
	frac := int64(0)
	if fp != "" {
		f, _ := strconv.ParseInt(fp+strings.Repeat("0", 6-len(fp)), 10, 64)
		frac = f
	}
	return n*MicrosPerUnit + frac, nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// String formats m as a decimal with at least 2 and at most 6 decimal
// places: "1250.00", "0.031611", "-3.50".
func (m Micros) String() string {
	neg := m < 0
	u := uint64(m)
	if neg {
		u = uint64(-m) // math.MinInt64 wraps to itself, read unsigned: still right
	}
	s := fmt.Sprintf("%d.%06d", u/MicrosPerUnit, u%MicrosPerUnit)
	for strings.HasSuffix(s, "0") && len(s)-strings.IndexByte(s, '.') > 3 {
		s = s[:len(s)-1]
	}
	if neg {
		return "-" + s
	}
	return s
}

// Float is m in units of the currency, for gauges and JSON figures
// only (never for arithmetic).
func (m Micros) Float() float64 { return float64(m) / MicrosPerUnit }

// String formats p as a decimal fraction ("0.21").
func (p PPM) String() string {
	s := Micros(p).String()
	return s
}

// Float is p as a fraction, for gauges.
func (p PPM) Float() float64 { return float64(p) / float64(One) }

// roundDiv is num/den rounded half away from zero (den > 0), clamped to
// the range of int64: the one rounding of the package.
func roundDiv(num, den *big.Int) int64 {
	var q, r big.Int
	q.QuoRem(num, den, &r) // truncated toward zero
	r.Abs(&r)
	r.Lsh(&r, 1)
	if r.Cmp(den) >= 0 {
		if num.Sign() < 0 {
			q.Sub(&q, big.NewInt(1))
		} else {
			q.Add(&q, big.NewInt(1))
		}
	}
	switch {
	case !q.IsInt64() && q.Sign() > 0:
		return math.MaxInt64
	case !q.IsInt64():
		return math.MinInt64
	}
	return q.Int64()
}
