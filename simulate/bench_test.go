package simulate

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/hpa-autoscaler/hpa-autoscaler/demand"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/cputime"
)

func nycTaxi(tb testing.TB) *demand.Series {
	tb.Helper()
	s, err := demand.ReadFile(filepath.Join("..", "examples", "traces", "nab", "nyc_taxi.csv"), demand.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// BenchmarkSimulateNYCTaxi replays the 10,320 half-hour points of nyc_taxi
// (215 days) with the reactive policy, a decision every 15 s (1.24 million
// decisions), a 60 s startup delay, and the default spec.
func BenchmarkSimulateNYCTaxi(b *testing.B) {
	series := nycTaxi(b)
	cfg := Config{CapacityPerReplica: 500, TargetUtilization: 0.7, StartupDelay: time.Minute, PricePerReplicaHour: 0.05}
	b.ReportAllocs()
	b.ResetTimer()
	start := cputime.Now(b)
	for b.Loop() {
		res, err := Simulate(b.Context(), series, cfg, []Run{{Name: "reactive", Spec: DefaultSpec().Spec, Policy: Reactive{}}})
		if err != nil || res[0].Decisions != 1_238_400 {
			b.Fatalf("got %v decisions, err %v", res, err)
		}
	}
	cputime.Report(b, start, time.Second)
}
