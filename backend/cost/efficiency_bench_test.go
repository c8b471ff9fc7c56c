package cost

import (
	"testing"
	"time"

	"k8s.io/utils/ptr"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/store"
)

// BenchmarkComputeEfficiency31Days: one scaler's report over the most
// one request reads, 31 days of one-minute cost samples and history of
// a cpu Utilization trigger (a daily wave), on SQLite.
func BenchmarkComputeEfficiency31Days(b *testing.B) {
	s := openStore(b, time.Now)
	ctx := testCtx(b)
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	n := MaxReplaySteps
	var cs []store.CostSample
	var hs []store.HistorySample
	flush := func() {
		if err := s.RecordCostSamples(ctx, "acme", cs); err != nil {
			b.Fatal(err)
		}
		if err := s.AppendHistory(ctx, hs); err != nil {
			b.Fatal(err)
		}
		cs, hs = cs[:0], hs[:0]
	}
	for i := range n {
		at := t0.Add(time.Duration(i) * time.Minute)
		cs = append(cs, store.CostSample{Cluster: "c1", Namespace: "shop", Workload: "web", Start: at, Step: time.Minute, ReplicasMilli: int64(2000 + (i%1440)*5), CPUMilli: 500, MemoryBytes: 1 << 30, CPUMicros: 10, RAMMicros: 2})
		hs = append(hs, store.HistorySample{Tenant: "acme", Series: store.SeriesKey{Cluster: "c1", Namespace: "shop", Scaler: "web", Trigger: "cpu"}, Time: at, Step: time.Minute, Value: float64(20 + (i%1440)/20), Samples: 1})
		if len(cs) == 1000 {
			flush()
		}
	}
	flush()
	sc := store.Scaler{Name: "web", Namespace: "shop", Cluster: "c1",
		Spec: v1.ScalerSpec{Scaling: v1.Scaling{MaxReplicas: 100},
			Triggers: []v1.TriggerSpec{{Name: "cpu", Type: "resource", Resource: &v1.ResourceTrigger{ResourceName: "cpu", TargetType: "Utilization", TargetAverageUtilization: ptr.To[int32](50)}}}},
		Status: v1.ScalerStatus{Triggers: []v1.TriggerStatus{{Name: "cpu", Type: "resource", Target: "50"}}}}
	b.ResetTimer()
	for b.Loop() {
		rep, err := ComputeEfficiency(ctx, s, "acme", sc, t0, t0.Add(time.Duration(n)*time.Minute), 0)
		if err != nil || rep.Reactive == nil || rep.Reactive.Steps != n || rep.Steps != n {
			b.Fatalf("%+v, %v", rep, err)
		}
	}
}

// BenchmarkReactiveReplay31Days: the replay alone, 31 days of minutes.
func BenchmarkReactiveReplay31Days(b *testing.B) {
	n := MaxReplaySteps
	pts := make([]ReplayPoint, n)
	act := make([]ReplayPoint, n)
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		at := t0.Add(time.Duration(i) * time.Minute)
		pts[i] = ReplayPoint{Time: at, Step: time.Minute, Value: float64(20 + (i%1440)/20)}
		act[i] = ReplayPoint{Time: at, Step: time.Minute, Value: float64(2 + (i%1440)/200)}
	}
	spec, err := ReplaySpec(&v1.ScalerSpec{Scaling: v1.Scaling{MaxReplicas: 100}})
	if err != nil {
		b.Fatal(err)
	}
	in := ReplayInput{Spec: spec, Triggers: []ReplayTrigger{{Name: "cpu", Target: 50, PerPod: true, Points: pts}}, Actual: act, From: t0, To: t0.Add(time.Duration(n) * time.Minute)}
	for b.Loop() {
		if r, err := ReactiveReplay(in); err != nil || r.Steps != n {
			b.Fatal(r, err)
		}
	}
}
