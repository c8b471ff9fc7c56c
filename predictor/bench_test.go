package predictor

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// minuteSeries is two weeks of one-minute points with a daily and a weekly
// pattern, a slow trend and noise.
func minuteSeries(tb testing.TB, n int) []float64 {
	tb.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	y := make([]float64, n)
	for i := range y {
		day := math.Sin(2 * math.Pi * float64(i) / 1440)
		week := 0.0
		if (i/1440)%7 >= 5 {
			week = -0.3
		}
		y[i] = 1000 * (1 + 0.5*day + week + 0.00001*float64(i) + 0.05*rng.NormFloat64())
	}
	return y
}

func BenchmarkTrackerLoad(b *testing.B) {
	y := minuteSeries(b, 20160)
	b.ReportAllocs()
	for b.Loop() {
		tr, err := NewTracker(TrackerOptions{Step: time.Minute})
		if err != nil {
			b.Fatal(err)
		}
		if err := tr.Load(y); err != nil {
			b.Fatal(err)
		}
	}
}
