package cost

import (
	"fmt"
	"testing"
	"time"

	"github.com/hpa-autoscaler/hpa-autoscaler/backend/store"
)

// BenchmarkCost: one step's cost of a workload (the exact arithmetic
// with its one rounding).
func BenchmarkCost(b *testing.B) {
	r := DefaultTable().Pool("", "").Rate(true)
	req := Requests{CPUMilli: 250, MemoryBytes: 512 << 20, GPU: 1}
	b.ReportAllocs()
	for b.Loop() {
		_ = r.Cost(2500, req, time.Minute)
	}
}

// BenchmarkRecord: one observation into the Recorder (no I/O; a step
// closes every 4th, as with reports every 15s and a 1m step).
func BenchmarkRecord(b *testing.B) {
	s := openStore(b, nil)
	r, err := NewRecorder(RecorderOptions{Store: s})
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC)
	ws := make([]Workload, 1000)
	for i := range ws {
		ws[i] = Workload{Tenant: "acme", Cluster: "c1", Namespace: "prod", Name: fmt.Sprintf("w%d", i)}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		w := ws[i%len(ws)]
		at := t0.Add(time.Duration(i/len(ws)) * 15 * time.Second)
		if err := r.Record(Observation{Workload: w, Time: at, Replicas: 3, Requests: pod}); err != nil {
			b.Fatal(err)
		}
		i++
		if len(r.pending) > 10_000 {
			r.mu.Lock()
			r.pending = r.pending[:0]
			r.mu.Unlock()
		}
	}
}

// BenchmarkRecordCostSamples: 1,000 workloads' samples of one step
// written in one call to SQLite (a batch of the Recorder's Flush).
func BenchmarkRecordCostSamples(b *testing.B) {
	s := openStore(b, nil)
	t0 := time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC)
	batch := make([]store.CostSample, 1000)
	n := 0
	for b.Loop() {
		for i := range batch {
			batch[i] = store.CostSample{Cluster: "c1", Namespace: "prod", Workload: fmt.Sprintf("w%d", i), Start: t0.Add(time.Duration(n) * time.Minute), Step: time.Minute,
				ReplicasMilli: 3000, CPUMilli: 1000, MemoryBytes: 1 << 30, CPUMicros: 1581, RAMMicros: 212, PriceTable: "h"}
		}
		n++
		if err := s.RecordCostSamples(testCtx(b), "acme", batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "samples/s")
}
