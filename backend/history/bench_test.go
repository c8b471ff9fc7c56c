package history

import (
	"context"
	"fmt"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/hpa-autoscaler/hpa-autoscaler/backend/store"
)

// BenchmarkObserve is the cost of Observe on the caller's path: a send on
// the bounded queue (the recording goroutine drains it concurrently).
func BenchmarkObserve(b *testing.B) {
	st := openStore(b, "sqlite:"+b.TempDir()+"/store.db", "acme")
	o := testOptions(st, clocktesting.NewFakeClock(t0))
	o.QueueSize = 1 << 20
	s := start(b, o)
	keys := make([]Key, 1000)
	for i := range keys {
		keys[i] = Key{Tenant: "acme", Cluster: "c1", Namespace: "ns", Scaler: fmt.Sprintf("s%d", i/10), Trigger: fmt.Sprintf("t%d", i%10)}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s.Observe(keys[i%len(keys)], t0.Add(time.Duration(i)*time.Millisecond), float64(i))
		i++
	}
	b.StopTimer()
	if shed := s.Stats().Shed[reasonQueueFull]; shed > 0 {
		b.ReportMetric(float64(shed)/float64(i), "shed/op")
	}
}

// BenchmarkWriteRate is the history's write rate on SQLite and
// PostgreSQL: batches of steps of 1,000 series, one transaction each, as
// the writer goroutine writes them.
func BenchmarkWriteRate(b *testing.B) {
	for _, be := range backends {
		for _, size := range []int{1000, 5000} {
			b.Run(fmt.Sprintf("%s/batch=%d", be.name, size), func(b *testing.B) { benchWrite(b, be.url(b), size) })
		}
	}
}

func benchWrite(b *testing.B, url string, size int) {
	st := openStore(b, url, "acme")
	ctx := context.Background()
	batch := make([]store.HistorySample, size)
	n := 0
	for b.Loop() {
		for i := range batch {
			batch[i] = store.HistorySample{Tenant: "acme", Series: store.SeriesKey{Cluster: "c1", Namespace: "ns", Scaler: fmt.Sprintf("s%d", i%1000/10), Trigger: fmt.Sprintf("t%d", i%10)},
				Time: t0.Add(time.Duration(n+i/1000) * time.Minute), Step: time.Minute, Value: float64(i), Samples: 4}
		}
		n += size / 1000
		if err := st.AppendHistory(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "steps/s")
}
