package cost

import (
	"path/filepath"
	"testing"
	"time"

	"k8s.io/utils/ptr"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/store"
)

// openAt opens a store on url with tenant acme and its cluster c1.
func openAt(t *testing.T, url string) store.Store {
	t.Helper()
	s, err := store.Open(testCtx(t), url, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Update(testCtx(t), "acme", "test", func(tx store.Tx) error {
		if _, err := tx.CreateTenant("Acme"); err != nil {
			return err
		}
		_, err := tx.CreateCluster(store.Cluster{ID: "c1", Name: "one"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestComputeEfficiencyStored: 4 one-minute cost samples of 4 replicas
// of 500m and 1 GiB, and a cpu Utilization trigger (target 50%) whose
// stored history says 25% each step. By hand:
//   - actual: 4 × 4 replica-minutes = 16/60 replica-hours;
//   - reactive: the demand is 25% × 4 pods = 100 percent-pods, over 50
//     per pod = 2 replicas, at once (scale-down stabilization 0 in the
//     spec, 100% per 15 s the HPA's default policy): 4 × 2 = 8/60, so
//     the ratio is 2;
//   - requested cpu: 4 × 0.5 core × 4 min = 8/60 core-hours; used 25% of
//     it = 2/60; memory requested 4 × 1 GiB × 4 min = 16/60 GiB-hours,
//     used unknown (no memory trigger);
//   - score: cpu only (memory has no usage): 0.25.
func TestComputeEfficiencyStored(t *testing.T) {
	urls := map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "store.db") },
		"postgres": func(t *testing.T) string { return pg.Get(t).NewDatabase(t) },
	}
	for name, url := range urls {
		t.Run(name, func(t *testing.T) {
			s := openAt(t, url(t))
			ctx := testCtx(t)
			t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
			var samples []store.CostSample
			var hist []store.HistorySample
			for i := range 4 {
				at := t0.Add(time.Duration(i) * time.Minute)
				samples = append(samples, store.CostSample{Cluster: "c1", Namespace: "shop", Workload: "web", Start: at, Step: time.Minute,
					ReplicasMilli: 4000, CPUMilli: 500, MemoryBytes: 1 << 30, CPUMicros: 100, RAMMicros: 50})
				hist = append(hist, store.HistorySample{Tenant: "acme", Series: store.SeriesKey{Cluster: "c1", Namespace: "shop", Scaler: "web", Trigger: "cpu"},
					Time: at, Step: time.Minute, Value: 25, Samples: 1})
			}
			// Another workload's samples and another trigger's history
			// must not count.
			samples = append(samples, store.CostSample{Cluster: "c1", Namespace: "shop", Workload: "other", Start: t0, Step: time.Minute, ReplicasMilli: 9000, CPUMilli: 500})
			hist = append(hist, store.HistorySample{Tenant: "acme", Series: store.SeriesKey{Cluster: "c1", Namespace: "shop", Scaler: "other", Trigger: "cpu"},
				Time: t0, Step: time.Minute, Value: 99, Samples: 1})
			if err := s.RecordCostSamples(ctx, "acme", samples); err != nil {
				t.Fatal(err)
			}
			if err := s.AppendHistory(ctx, hist); err != nil {
				t.Fatal(err)
			}
			sc := store.Scaler{Name: "web", Namespace: "shop", Cluster: "c1",
				Spec: v1.ScalerSpec{Scaling: v1.Scaling{MaxReplicas: 10, ScaleDownPolicy: &v1.ScalingRules{StabilizationWindowSeconds: ptr.To[int32](0)}},
					Triggers: []v1.TriggerSpec{{Name: "cpu", Type: "resource", Resource: &v1.ResourceTrigger{ResourceName: "cpu", TargetType: "Utilization", TargetAverageUtilization: ptr.To[int32](50)}}}},
				Status: v1.ScalerStatus{Triggers: []v1.TriggerStatus{{Name: "cpu", Type: "resource", Target: "50"}}}}
			rep, err := ComputeEfficiency(ctx, s, "acme", sc, t0, t0.Add(time.Hour), 0)
			if err != nil {
				t.Fatal(err)
			}
			check := func(what string, got, want float64) {
				t.Helper()
				if !near(got, want) {
					t.Errorf("%s: %v, want %v", what, got, want)
				}
			}
			check("actual replica-hours", rep.ActualReplicaHours, 16.0/60)
			if rep.Reactive == nil {
				t.Fatalf("no replay: %s", rep.ReactiveNote)
			}
			// The replay ends with the stored history: 4 steps of 2.
			check("reactive replica-hours", rep.Reactive.ReplicaHours, 8.0/60)
			check("actual replayed", rep.ActualReplicaHoursReplayed, 16.0/60)
			check("ratio", *rep.Ratio(), 2)
			if rep.Reactive.Steps != 4 || rep.Reactive.StartReplicas != 4 || rep.Reactive.Truncated {
				t.Errorf("replay %+v", rep.Reactive)
			}
			check("requested cpu", rep.RequestedCPUCoreHours, 8.0/60)
			if rep.UsedCPUCoreHours == nil {
				t.Fatal("used cpu: nil")
			}
			check("used cpu", *rep.UsedCPUCoreHours, 2.0/60)
			check("cpu utilization", *rep.CPUUtilization(), 0.25)
			check("requested memory", rep.RequestedMemoryByteHours, 16.0/60*(1<<30))
			if rep.UsedMemoryByteHours != nil || rep.MemoryUtilization() != nil {
				t.Errorf("used memory %v: want nil", *rep.UsedMemoryByteHours)
			}
			check("score", *rep.Score(), 0.25)
		})
	}
}

// TestComputeEfficiencyAverageValueMemory: a memory AverageValue
// trigger's values are one pod's bytes: used = value × replicas. Two
// steps of 3 replicas of 1 GiB requested; the trigger says 256 MiB in
// the first step only: used 3 × 256 MiB × 1 min, against 3 GiB × 1 min
// of the covered step (utilisation 0.25); requested over both steps 2 ×
// 3 GiB-minutes. The score is memory's alone: 0.25.
func TestComputeEfficiencyAverageValueMemory(t *testing.T) {
	s := openStore(t, time.Now)
	ctx := testCtx(t)
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	var samples []store.CostSample
	for i := range 2 {
		samples = append(samples, store.CostSample{Cluster: "c1", Namespace: "shop", Workload: "db", Start: t0.Add(time.Duration(i) * time.Minute), Step: time.Minute,
			ReplicasMilli: 3000, CPUMilli: 100, MemoryBytes: 1 << 30, CPUMicros: 5, RAMMicros: 7})
	}
	if err := s.RecordCostSamples(ctx, "acme", samples); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendHistory(ctx, []store.HistorySample{{Tenant: "acme", Series: store.SeriesKey{Cluster: "c1", Namespace: "shop", Scaler: "db", Trigger: "mem"},
		Time: t0, Step: time.Minute, Value: 256 << 20, Samples: 1}}); err != nil {
		t.Fatal(err)
	}
	sc := store.Scaler{Name: "db", Namespace: "shop", Cluster: "c1",
		Spec: v1.ScalerSpec{Scaling: v1.Scaling{MaxReplicas: 10},
			ScalerSpec: &v1.TriggerSpec{Name: "mem", Type: "resource", Resource: &v1.ResourceTrigger{ResourceName: "memory", TargetType: "AverageValue", TargetAverageValue: "512Mi"}}},
		Status: v1.ScalerStatus{Triggers: []v1.TriggerStatus{{Name: "mem", Type: "resource", Target: "536870912"}}}}
	rep, err := ComputeEfficiency(ctx, s, "acme", sc, t0, t0.Add(10*time.Minute), 0)
	if err != nil {
		t.Fatal(err)
	}
	gib := float64(1 << 30)
	if rep.UsedMemoryByteHours == nil || !near(*rep.UsedMemoryByteHours, 3*gib/4/60) || !near(rep.RequestedMemoryByteHours, 6*gib/60) ||
		!near(*rep.MemoryUtilization(), 0.25) || rep.UsedCPUCoreHours != nil || !near(*rep.Score(), 0.25) {
		t.Fatalf("report %+v", rep)
	}
	// The replay: 256 MiB × 3 pods over 512 MiB per pod proposes 2, but
	// the HPA's default 5-minute scale-down stabilization holds the first
	// count, 3, for the one stored step; the actual span is the same 3.
	if rep.Reactive == nil || rep.Reactive.Steps != 1 || !near(rep.Reactive.ReplicaHours, 3.0/60) || !near(*rep.Ratio(), 1) {
		t.Fatalf("replay %+v (%s)", rep.Reactive, rep.ReactiveNote)
	}
}
