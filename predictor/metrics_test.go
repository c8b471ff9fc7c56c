package predictor

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// scores are the three figures of an Accuracy.
type scores struct{ MAPE, SMAPE, Coverage float64 }

func scoresOf(a *Accuracy) scores { return scores{a.MAPE(), a.SMAPE(), a.Coverage()} }

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
			// Within 1e-9; a NaN differs from everything.
			if diff := cmp.Diff(scores{tc.mape, tc.smape, tc.coverage}, scoresOf(&acc), cmpopts.EquateApprox(0, 1e-9)); diff != "" {
				t.Errorf("accuracy (-want +got):\n%s", diff)
			}
		})
	}
	// Nothing scored: every figure is NaN (and only NaN equals NaN here).
	var empty Accuracy
	nan := math.NaN()
	if diff := cmp.Diff(scores{nan, nan, nan}, scoresOf(&empty), cmpopts.EquateNaNs()); diff != "" {
		t.Errorf("empty accuracy (-want +got):\n%s", diff)
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
			// Within 1e-12; a NaN differs from everything.
			if diff := cmp.Diff(tc.want, asymLoss(tc.a, tc.f, tc.w), cmpopts.EquateApprox(0, 1e-12)); diff != "" {
				t.Errorf("loss (-want +got):\n%s", diff)
			}
		})
	}
}
