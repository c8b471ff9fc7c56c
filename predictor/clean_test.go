package predictor

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func samplesAt(tb testing.TB, start time.Time, step time.Duration, idx []int, vals []float64) []Sample {
	tb.Helper()
	out := make([]Sample, len(idx))
	for i := range idx {
		out[i] = Sample{Time: start.Add(time.Duration(idx[i]) * step), Value: vals[i]}
	}
	return out
}

func TestRegularize(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	step := 5 * time.Minute
	tests := []struct {
		name       string
		samples    []Sample
		opts       CleanOptions
		wantStart  time.Time
		wantValues []float64
		wantFilled []int
		wantDrop   int
		wantErr    string // the whole message
	}{
		{
			name:       "regular",
			samples:    samplesAt(t, t0, step, []int{0, 1, 2}, []float64{1, 2, 3}),
			wantStart:  t0,
			wantValues: []float64{1, 2, 3},
		},
		{
			name:       "short gap filled linearly",
			samples:    samplesAt(t, t0, step, []int{0, 1, 4, 5}, []float64{10, 10, 40, 50}),
			wantStart:  t0,
			wantValues: []float64{10, 10, 20, 30, 40, 50},
			wantFilled: []int{2, 3},
		},
		{
			name:       "long gap starts afresh",
			samples:    samplesAt(t, t0, step, []int{0, 1, 2, 10, 11}, []float64{1, 2, 3, 4, 5}),
			opts:       CleanOptions{MaxGap: 3},
			wantStart:  t0.Add(10 * step),
			wantValues: []float64{4, 5},
			wantDrop:   3,
		},
		{
			name: "jittered times go to the nearest step; two in one step are averaged",
			samples: []Sample{
				{Time: t0.Add(10 * time.Second), Value: 1},
				{Time: t0.Add(step - 20*time.Second), Value: 2},
				{Time: t0.Add(step + 30*time.Second), Value: 4},
				{Time: t0.Add(2*step + time.Second), Value: 5},
			},
			wantStart:  t0.Add(10 * time.Second),
			wantValues: []float64{1, 3, 5},
		},
		{
			name:       "non-finite values are missing",
			samples:    samplesAt(t, t0, step, []int{0, 1, 2}, []float64{1, math.NaN(), 3}),
			wantStart:  t0,
			wantValues: []float64{1, 2, 3},
			wantFilled: []int{1},
		},
		{name: "no finite value", samples: samplesAt(t, t0, step, []int{0}, []float64{math.Inf(1)}), wantErr: "series too short: no finite values"},
		{name: "out of order", samples: samplesAt(t, t0, step, []int{1, 0}, []float64{1, 2}), wantErr: "sample 1 at 2026-01-01T00:00:00Z: not after the previous one"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Regularize(tc.samples, step, tc.opts)
			if diff := cmp.Diff(tc.wantErr, errText(err)); diff != "" {
				t.Fatalf("error (-want +got):\n%s", diff)
			}
			if err != nil {
				return
			}
			type regular struct {
				Start   time.Time
				Values  []float64
				Filled  []int // the indexes of filled points
				Dropped int
			}
			r := regular{Start: got.Start, Values: got.Values, Dropped: got.Dropped}
			for i, f := range got.Filled {
				if f {
					r.Filled = append(r.Filled, i)
				}
			}
			want := regular{Start: tc.wantStart, Values: tc.wantValues, Filled: tc.wantFilled, Dropped: tc.wantDrop}
			if diff := cmp.Diff(want, r); diff != "" {
				t.Errorf("series (-want +got):\n%s", diff)
			}
		})
	}
	_, err := Regularize(nil, 0, CleanOptions{})
	if diff := cmp.Diff("step 0s: want a positive duration", errText(err)); diff != "" {
		t.Errorf("step 0: error (-want +got):\n%s", diff)
	}
}

func TestCapOutliers(t *testing.T) {
	smooth := make([]float64, 200)
	for i := range smooth {
		smooth[i] = 100 + 50*math.Sin(2*math.Pi*float64(i)/24)
	}
	tests := []struct {
		name     string
		y        []float64
		wantN    int
		check    func(t *testing.T, in, out []float64)
		wantSame bool
	}{
		{name: "smooth seasonal series untouched", y: smooth, wantN: 0, wantSame: true},
		{
			name:  "a spike is pulled back",
			y:     func() []float64 { y := slices.Clone(smooth); y[100] = 10000; return y }(),
			wantN: 1,
			check: func(t *testing.T, in, out []float64) {
				// Written as "not within" so that a NaN fails too.
				if !(out[100] > smooth[100] && out[100] < 1000) {
					t.Errorf("spike capped to %v, want between %v and 1000", out[100], smooth[100])
				}
			},
		},
		{
			name:  "a drop to zero is pulled back",
			y:     func() []float64 { y := slices.Clone(smooth); y[50] = -5000; return y }(),
			wantN: 1,
			check: func(t *testing.T, in, out []float64) {
				if !(out[50] > -1000) {
					t.Errorf("drop capped to %v, want above -1000", out[50])
				}
			},
		},
		{name: "constant series", y: make([]float64, 50), wantN: 0, wantSame: true},
		{name: "too short", y: []float64{1, 100, 1}, wantN: 0, wantSame: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := slices.Clone(tc.y)
			out, n := CapOutliers(tc.y, 0, 0)
			if !slices.Equal(in, tc.y) {
				t.Fatal("CapOutliers changed its input")
			}
			if n != tc.wantN {
				t.Errorf("capped %d values, want %d", n, tc.wantN)
			}
			if tc.wantSame && !slices.Equal(out, tc.y) {
				t.Errorf("output differs from the input")
			}
			if tc.check != nil {
				tc.check(t, tc.y, out)
			}
		})
	}
}
