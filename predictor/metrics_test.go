package predictor

import (
	"math"
	"testing"
)

func TestAccuracy(t *testing.T) {
	type point struct {
		a, f, lo, hi float64
		iv           bool
	}
	tests := []struct {
		name                  string
		points                []point
		mape, smape, coverage float64
	}{
		{
			name:   "exact",
			points: []point{{a: 10, f: 10, lo: 9, hi: 11, iv: true}},
			mape:   0, smape: 0, coverage: 1,
		},
		{
			// |10-12|/10 = 20%; 200*2/22 = 18.18; outside [11, 13].
			name:   "over-forecast",
			points: []point{{a: 10, f: 12, lo: 11, hi: 13, iv: true}},
			mape:   20, smape: 200 * 2.0 / 22, coverage: 0,
		},
		{
			// MAPE skips the zero actual; sMAPE of 0 vs 5 is 200; both
			// zero is 0; a forecast without interval is a miss.
			name: "zeros",
			points: []point{
				{a: 0, f: 5, iv: false},
				{a: 0, f: 0, lo: 0, hi: 0, iv: true},
				{a: 4, f: 2, lo: 1, hi: 5, iv: true},
			},
			mape: 50, smape: (200 + 0 + 200*2.0/6) / 3, coverage: 2.0 / 3,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var acc Accuracy
			for _, p := range tc.points {
				acc.Add(p.a, p.f, p.lo, p.hi, p.iv)
			}
			for _, c := range []struct {
				name      string
				got, want float64
			}{{"MAPE", acc.MAPE(), tc.mape}, {"sMAPE", acc.SMAPE(), tc.smape}, {"coverage", acc.Coverage(), tc.coverage}} {
				if math.Abs(c.got-c.want) > 1e-9 {
					t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
				}
			}
		})
	}
	var empty Accuracy
	if !math.IsNaN(empty.MAPE()) || !math.IsNaN(empty.SMAPE()) || !math.IsNaN(empty.Coverage()) {
		t.Errorf("empty accuracy: got %v %v %v, want NaN", empty.MAPE(), empty.SMAPE(), empty.Coverage())
	}
}

func TestAsymLoss(t *testing.T) {
	tests := []struct {
		name    string
		a, f, w float64
		want    float64
	}{
		{name: "exact", a: 10, f: 10, w: 2, want: 0},
		{name: "over", a: 10, f: 12, w: 2, want: 2 * 2.0 / 22},
		{name: "under costs more", a: 12, f: 10, w: 2, want: 2 * 2 * 2.0 / 22},
		{name: "both zero", a: 0, f: 0, w: 2, want: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := asymLoss(tc.a, tc.f, tc.w); math.Abs(got-tc.want) > 1e-12 {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
