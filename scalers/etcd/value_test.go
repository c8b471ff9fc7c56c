package etcd

import (
	"strings"
	"testing"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

func TestParseValue(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want float64
	}{{"5", 5}, {"5.5", 5.5}, {" 7\n", 7}, {"-3", -3}, {"1e3", 1000}, {"0x1p4", 16}} {
		got, err := ParseValue([]byte(tt.in))
		if err != nil || got != tt.want {
			t.Errorf("ParseValue(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	for _, tt := range []struct{ in, msg string }{
		{"", `stored value is not a number: ""`},
		{"abc", `stored value is not a number: "abc"`},
		{"NaN", `"NaN" is not finite`},
		{"-Inf", `"-Inf" is not finite`},
		{"1e999", `"1e999" is out of range`},
		{strings.Repeat("9", 600), "600 bytes, more than 512"},
	} {
		_, err := ParseValue([]byte(tt.in))
		scalertest.CheckErr(t, err, scalers.ErrNoData, tt.msg)
		scalertest.CheckErr(t, err, ErrValue)
	}
}
