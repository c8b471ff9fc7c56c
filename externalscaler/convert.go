package externalscaler

import "math"

// KEDA reads the float fields (targetSizeFloat, metricValueFloat) only when
// they are > 0 and falls back to the deprecated int64 fields otherwise; older
// KEDA releases read the int64 fields only. We fill both, so the int64 must
// be the best integer stand-in for the float.

// valueInt64 is the deprecated int64 form of a metric value: the value
// rounded half away from zero, except that a value in (0, 0.5) becomes 1 so
// that a client reading only the integer still sees "some demand" rather
// than none (the difference between 0 and >0 is what activation turns on).
// Negative values matter most here: KEDA ignores a float <= 0 and uses this
// integer, so it must round, not truncate, towards the real value.
func valueInt64(v float64) int64 {
	if v > 0 && v < 0.5 {
		return 1
	}
	return clampInt64(math.Round(v))
}

// targetInt64 is the deprecated int64 form of a target. A target must be
// > 0 for the HPA, so it never rounds down to 0.
func targetInt64(t float64) int64 {
	n := clampInt64(math.Round(t))
	if n < 1 {
		return 1
	}
	return n
}

// clampInt64 converts a rounded float to int64 without the undefined
// behaviour of out-of-range conversions; NaN becomes 0.
func clampInt64(f float64) int64 {
	switch {
	case math.IsNaN(f):
		return 0
	case f >= math.MaxInt64:
		return math.MaxInt64
	case f <= math.MinInt64:
		return math.MinInt64
	default:
		return int64(f)
	}
}

// floatField is the float form sent to KEDA: NaN and infinities cannot be
// represented by a Kubernetes quantity, so they are sent as 0 (KEDA then
// reads the int64 field, which clampInt64 made finite).
func floatField(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}
