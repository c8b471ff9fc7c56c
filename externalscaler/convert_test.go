package externalscaler

import (
	"math"
	"testing"
)

func TestValueInt64(t *testing.T) {
	tests := []struct {
		name string
		in   float64
		want int64
	}{
		{name: "zero", in: 0, want: 0},
		{name: "integer", in: 42, want: 42},
		{name: "rounds down", in: 2.4, want: 2},
		{name: "rounds half up", in: 2.5, want: 3},
		{name: "tiny positive is 1", in: 0.001, want: 1},
		{name: "just under half is 1", in: 0.49, want: 1},
		{name: "half is 1", in: 0.5, want: 1},
		{name: "negative rounds half away from zero", in: -2.5, want: -3},
		{name: "small negative rounds to 0", in: -0.3, want: 0},
		{name: "NaN", in: math.NaN(), want: 0},
		{name: "+Inf", in: math.Inf(1), want: math.MaxInt64},
		{name: "-Inf", in: math.Inf(-1), want: math.MinInt64},
		{name: "above int64", in: 1e19, want: math.MaxInt64},
		{name: "below int64", in: -1e19, want: math.MinInt64},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := valueInt64(tc.in); got != tc.want {
				t.Errorf("valueInt64(%v): got %d, want %d", tc.in, got, tc.want)
			}
		})
	}
}

func TestTargetInt64(t *testing.T) {
	tests := []struct {
		name string
		in   float64
		want int64
	}{
		{name: "integer", in: 5, want: 5},
		{name: "fraction", in: 2.6, want: 3},
		{name: "below one is 1", in: 0.1, want: 1},
		{name: "huge", in: 1e300, want: math.MaxInt64},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := targetInt64(tc.in); got != tc.want {
				t.Errorf("targetInt64(%v): got %d, want %d", tc.in, got, tc.want)
			}
		})
	}
}

func TestFloatField(t *testing.T) {
	tests := []struct {
		name string
		in   float64
		want float64
	}{
		{name: "plain", in: 0.25, want: 0.25},
		{name: "NaN", in: math.NaN(), want: 0},
		{name: "Inf", in: math.Inf(1), want: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := floatField(tc.in); got != tc.want {
				t.Errorf("floatField(%v): got %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}
