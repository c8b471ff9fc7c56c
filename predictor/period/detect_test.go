package period

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"
)

func sine(n int, period float64, amp float64) []float64 {
	y := make([]float64, n)
	for i := range y {
		y[i] = amp * math.Sin(2*math.Pi*float64(i)/period)
	}
	return y
}

func add(ys ...[]float64) []float64 {
	out := make([]float64, len(ys[0]))
	for _, y := range ys {
		for i, v := range y {
			out[i] += v
		}
	}
	return out
}

func noise(n int, sd float64, seed uint64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 99))
	y := make([]float64, n)
	for i := range y {
		y[i] = sd * rng.NormFloat64()
	}
	return y
}

func randomWalk(n int, seed uint64) []float64 {
	y := noise(n, 1, seed)
	for i := 1; i < n; i++ {
		y[i] += y[i-1]
	}
	return y
}

func ramp(n int, slope float64) []float64 {
	y := make([]float64, n)
	for i := range y {
		y[i] = slope * float64(i)
	}
	return y
}

// weekly is a daily shape of 24 steps with quieter weekends: periods 24 and
// 168.
func weekly(n int) []float64 {
	y := make([]float64, n)
	for i := range y {
		d := 1 + 0.8*math.Sin(2*math.Pi*float64(i)/24)
		if (i/24)%7 >= 5 {
			d *= 0.5
		}
		y[i] = 100 * d
	}
	return y
}

func TestDetect(t *testing.T) {
	tests := []struct {
		name string
		y    []float64
		opts Options
		want []int
	}{
		{name: "pure sine period 37", y: sine(2000, 37, 1), want: []int{37}},
		{name: "sine 37 with noise", y: add(sine(2000, 37, 1), noise(2000, 0.5, 1)), want: []int{37}},
		{name: "sine 37 on a trend", y: add(sine(2000, 37, 1), ramp(2000, 0.01)), want: []int{37}},
		{name: "sine 37 on a random walk", y: add(sine(3000, 37, 3), randomWalk(3000, 2)), want: []int{37}},
		{name: "two periods", y: add(sine(3000, 12, 1), sine(3000, 100, 2), noise(3000, 0.3, 3)), want: []int{12, 100}},
		{name: "daily and weekly", y: weekly(24 * 7 * 6), want: []int{24, 168}},
		{name: "white noise", y: noise(3000, 1, 4), want: nil},
		{name: "random walk", y: randomWalk(3000, 5), want: nil},
		{name: "constant", y: make([]float64, 500), want: nil},
		{name: "too short", y: sine(7, 3, 1), want: nil},
		{name: "fewer than two cycles", y: sine(300, 200, 1), want: nil},
		{name: "max period bound", y: add(sine(3000, 12, 1), sine(3000, 100, 2)), opts: Options{MaxPeriod: 50}, want: []int{12}},
		// The stronger line (more variance) wins.
		{name: "one period asked for", y: add(sine(3000, 12, 1), sine(3000, 100, 2)), opts: Options{MaxPeriods: 1}, want: []int{100}},
		{name: "ten periods asked for", y: add(sine(3000, 12, 1), sine(3000, 100, 2)), opts: Options{MaxPeriods: 10}, want: []int{12, 100}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			found := Detect(tc.y, tc.opts)
			var got []int
			for _, p := range found {
				got = append(got, p.Steps)
			}
			slices.Sort(got)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Fatalf("periods, found %+v (-want +got):\n%s", found, diff)
			}
		})
	}
}

func TestDetectNonIntegerPeriod(t *testing.T) {
	// 50 and 51 are as near as each other to 50.5; on this series Detect
	// settles on 51, and one period only.
	found := Detect(sine(3000, 50.5, 1), Options{})
	var got []int
	for _, p := range found {
		got = append(got, p.Steps)
	}
	if diff := cmp.Diff([]int{51}, got); diff != "" {
		t.Fatalf("periods, found %+v (-want +got):\n%s", found, diff)
	}
}

func TestDetectReportsStrength(t *testing.T) {
	found := Detect(sine(2000, 37, 1), Options{})
	if len(found) != 1 {
		t.Fatalf("got %d periods, want 1", len(found))
	}
	// Written as "not at least" so that a NaN fails too.
	if !(found[0].ACF >= 0.95) {
		t.Errorf("ACF of a pure sine at its period: got %.3f, want >= 0.95", found[0].ACF)
	}
	if !(found[0].Power >= 10) {
		t.Errorf("relative power of a pure sine's line: got %.1f, want >= 10", found[0].Power)
	}
}

func TestDetectIgnoresNonFinite(t *testing.T) {
	y := sine(2000, 37, 1)
	y[100], y[500], y[900] = math.NaN(), math.Inf(1), math.Inf(-1)
	found := Detect(y, Options{})
	if len(found) == 0 || found[0].Steps != 37 {
		t.Fatalf("got %+v, want period 37 first", found)
	}
}

// TestDetectProperties: whatever the input, Detect does not panic and
// returns distinct periods within bounds, strongest first.
func TestDetectProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(0, 600).Draw(t, "n")
		y := rapid.SliceOfN(rapid.Float64(), n, n).Draw(t, "y")
		opts := Options{MaxPeriods: rapid.IntRange(0, 4).Draw(t, "maxPeriods")}
		found := Detect(y, opts)
		maxPeriods := opts.MaxPeriods
		if maxPeriods == 0 {
			maxPeriods = 3
		}
		if len(found) > maxPeriods {
			t.Fatalf("got %d periods, want at most %d", len(found), maxPeriods)
		}
		seen := map[int]bool{}
		for i, p := range found {
			if p.Steps < 2 || p.Steps > n/2 {
				t.Fatalf("period %d outside [2, %d]", p.Steps, n/2)
			}
			if seen[p.Steps] {
				t.Fatalf("period %d twice", p.Steps)
			}
			seen[p.Steps] = true
			// A NaN power would pass the ordering check below.
			if math.IsNaN(p.Power) || math.IsNaN(p.ACF) {
				t.Fatalf("period %d with power %v and ACF %v", p.Steps, p.Power, p.ACF)
			}
			if i > 0 && p.Power > found[i-1].Power {
				t.Fatalf("periods not ordered by power: %+v", found)
			}
		}
	})
}

func BenchmarkDetect(b *testing.B) {
	y := add(sine(20160, 1440, 1), sine(20160, 10080, 0.5), noise(20160, 0.2, 1))
	b.ReportAllocs()
	for b.Loop() {
		Detect(y, Options{})
	}
}
