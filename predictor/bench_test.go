package predictor

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/cputime"
)

// minuteSeries is n one-minute points with a daily and a weekly pattern, a
// slow trend and noise.
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

// BenchmarkTrackerLoad fits a tracker on 14 days of one-minute points
// (20,160): period detection, every candidate model fitted, and each new
// model backtested on the recent points.
func BenchmarkTrackerLoad(b *testing.B) {
	y := minuteSeries(b, 20160)
	b.ReportAllocs()
	start := cputime.Now(b)
	for b.Loop() {
		tr, err := NewTracker(TrackerOptions{Step: time.Minute, Horizon: 30})
		if err != nil {
			b.Fatal(err)
		}
		if err := tr.Load(y); err != nil {
			b.Fatal(err)
		}
	}
	cputime.Report(b, start, time.Millisecond)
}

func loadedTracker(b *testing.B) *Tracker {
	b.Helper()
	tr, err := NewTracker(TrackerOptions{Step: time.Minute, Horizon: 30})
	if err != nil {
		b.Fatal(err)
	}
	if err := tr.Load(minuteSeries(b, 20160)); err != nil {
		b.Fatal(err)
	}
	return tr
}

// BenchmarkTrackerForecast is one forecast of 30 steps with intervals from
// the selected model.
func BenchmarkTrackerForecast(b *testing.B) {
	tr := loadedTracker(b)
	b.ReportAllocs()
	start := cputime.Now(b)
	for b.Loop() {
		if _, err := tr.Forecast(30); err != nil {
			b.Fatal(err)
		}
	}
	cputime.Report(b, start, time.Millisecond)
}

// BenchmarkTrackerAdd is one new point: every model's state updated and its
// earlier forecasts scored, without refits (the refit every week of points
// is BenchmarkTrackerLoad's cost).
func BenchmarkTrackerAdd(b *testing.B) {
	tr := loadedTracker(b)
	tr.opts.RefitEvery = math.MaxInt
	y := minuteSeries(b, 20160+10000)[20160:]
	b.ReportAllocs()
	start := cputime.Now(b)
	i := 0
	for b.Loop() {
		if err := tr.Add(y[i%len(y)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
	cputime.Report(b, start, time.Millisecond)
}

// BenchmarkHoltWintersFit fits multiplicative Holt-Winters with a daily
// period on 14 days of one-minute points.
func BenchmarkHoltWintersFit(b *testing.B) {
	y := minuteSeries(b, 20160)
	m := HoltWinters{Seasonality: Multiplicative, Period: 1440}
	b.ReportAllocs()
	start := cputime.Now(b)
	for b.Loop() {
		if _, err := m.Fit(y); err != nil {
			b.Fatal(err)
		}
	}
	cputime.Report(b, start, time.Millisecond)
}
