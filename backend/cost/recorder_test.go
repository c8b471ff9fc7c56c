package cost

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/hpa-autoscaler/hpa-autoscaler/backend/store"
)

func TestRecorder(t *testing.T) {
	t0 := time.Date(2026, 12, 8, 10, 0, 0, 0, time.UTC)
	s := openStore(t, nil)
	reg := prometheus.NewRegistry()
	fc := clocktesting.NewFakeClock(t0)
	tb, err := ParseTable([]byte("nodePools: [{name: od, capacityType: on-demand}, {name: mixed, capacityType: mixed, spotShare: 0.5, instanceTypes: [c5.large]}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewRecorder(RecorderOptions{Store: s, Prices: func() *Table { return tb }, Clock: fc, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	web := Workload{Tenant: "acme", Cluster: "c1", Namespace: "prod", Name: "web"}
	batch := Workload{Tenant: "acme", Cluster: "c1", Namespace: "prod", Name: "batch"}
	obs := func(w Workload, at time.Duration, replicas int32, spot bool, it string) Observation {
		return Observation{Workload: w, Time: t0.Add(at), Replicas: replicas, Requests: pod, Spot: spot, Placement: Placement{InstanceType: it},
			UsedCPUMilli: 500, UsedMemoryBytes: 1 << 30, HasUsage: true}
	}
	// web: 2, 4, 3, 3 replicas in the first minute (average 3), 1 in the
	// second; batch: 2 replicas, spot on, in the mixed pool.
	for _, o := range []Observation{obs(web, 0, 2, false, ""), obs(web, 15*time.Second, 4, false, ""), obs(web, 30*time.Second, 3, false, ""), obs(web, 45*time.Second, 3, false, ""),
		obs(batch, 10*time.Second, 2, true, "c5.large"), obs(web, 70*time.Second, 1, false, "")} {
		if err := r.Record(o); err != nil {
			t.Fatal(err)
		}
	}
	// Late for web's open step: dropped.
	if err := r.Record(obs(web, 5*time.Second, 100, false, "")); err != nil || r.Dropped() != 1 {
		t.Fatalf("late: %v, dropped %d", err, r.Dropped())
	}
	if err := r.Record(Observation{Workload: web, Time: t0, Replicas: -1}); err == nil {
		t.Fatal("negative replicas: want an error")
	}
	// web's first step closed by its second; batch's by the flush at
	// t0+2m15s (the end of web's second step and the grace), as is
	// web's second.
	fc.SetTime(t0.Add(2*time.Minute + 14*time.Second))
	if err := r.Flush(testCtx(t), fc.Now()); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.CostAllocations(testCtx(t), "acme", store.CostFilter{From: t0, To: t0.Add(time.Hour), Aggregate: store.AggregateWorkload}); len(got) != 2 {
		t.Fatalf("before the grace ended, the workloads of the closed steps only: %+v", got)
	}
	fc.SetTime(t0.Add(2*time.Minute + 15*time.Second))
	if err := r.Flush(testCtx(t), fc.Now()); err != nil {
		t.Fatal(err)
	}
	rows, err := s.CostAllocations(testCtx(t), "acme", store.CostFilter{From: t0, To: t0.Add(time.Hour), Step: time.Minute, Aggregate: store.AggregateWorkload})
	if err != nil {
		t.Fatal(err)
	}
	// batch: 2 × (0.5 × 6655 + 0.5 × 31611) / 60 = 637.77 -> 638 CPU; 2 × (0.5 × 892 + 0.5 × 4237) / 60 = 85.48 -> 85 RAM.
	// web: 3 × 31611 / 60 = 1580.55 -> 1581; 3 × 4237 / 60 = 211.85 -> 212; then 1 replica: 527, 70.6 -> 71.
	type row struct {
		wl       string
		minute   int
		cpu, ram int64
		spotMs   int64
	}
	var got []row
	for _, a := range rows {
		got = append(got, row{a.Workload, int(a.Start.Sub(t0) / time.Minute), a.CPUMicros, a.RAMMicros, a.SpotReplicaMilliSeconds})
	}
	want := []row{{"batch", 0, 638, 85, 60_000}, {"web", 0, 1581, 212, 0}, {"web", 1, 527, 71, 0}}
	if len(got) != len(want) {
		t.Fatalf("rows %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("rows %+v, want %+v", got, want)
		}
	}
	// The gauges: web at its last step (1 replica: 0.035848 per hour),
	// the cluster's spot ratio (1 of 3 replicas' worth: batch 2 × 0.5 of
	// web 1 + batch 2), web's efficiency (half its CPU, all its memory,
	// weighted by cost).
	if v := gauge(t, r.costPerHour.WithLabelValues("c1", "prod", "web")); v != 0.035848 {
		t.Fatalf("hpa_cost_per_hour %v", v)
	}
	if v := gauge(t, r.spotRatio.WithLabelValues("c1")); v < 0.333 || v > 0.334 {
		t.Fatalf("hpa_spot_instance_usage_ratio %v", v)
	}
	if v, want := gauge(t, r.efficiency.WithLabelValues("c1", "web")), (0.5*31611+4237)/35848.0; v < want-1e-9 || v > want+1e-9 {
		t.Fatalf("hpa_efficiency_score %v, want %v", v, want)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	if strings.Join(names, ",") != "hpa_cost_per_hour,hpa_efficiency_score,hpa_spot_instance_usage_ratio" {
		t.Fatalf("registered %v", names)
	}
	// The shared budget's view: what the others cost.
	ns := store.Budget{Scope: store.ScopeNamespace, Namespace: "prod"}
	if got, ok := r.CostPerHour(web); !ok || got != 35_848 {
		t.Fatalf("CostPerHour(web) %d %v", got, ok)
	}
	// batch: 2 × 19133 CPU + 2 × 2564.5 = 5129 RAM (each part rounded once).
	if got := r.CostPerHourExcept("acme", ns, web); got != 38_266+5_129 {
		t.Fatalf("CostPerHourExcept %d", got)
	}
	// Retention: with the default 35 days, nothing yet; 35 days and a
	// minute after t0, web's first step goes.
	if err := r.Prune(testCtx(t), t0.Add(DefaultRetention)); err != nil {
		t.Fatal(err)
	}
	if rows, _ := s.CostAllocations(testCtx(t), "acme", store.CostFilter{From: t0, To: t0.Add(time.Hour), Aggregate: store.AggregateWorkload}); len(rows) != 2 {
		t.Fatalf("pruned too early: %+v", rows)
	}
	if err := r.Prune(testCtx(t), t0.Add(DefaultRetention+time.Minute)); err != nil {
		t.Fatal(err)
	}
	if rows, _ := s.CostAllocations(testCtx(t), "acme", store.CostFilter{From: t0, To: t0.Add(time.Hour), Step: time.Minute, Aggregate: store.AggregateWorkload}); len(rows) != 1 || rows[0].Workload != "web" {
		t.Fatalf("after the retention: %+v", rows)
	}
	// Workloads not seen for 5 steps are forgotten, gauges and all.
	fc.SetTime(t0.Add(10 * time.Minute))
	if err := r.Flush(testCtx(t), fc.Now()); err != nil {
		t.Fatal(err)
	}
	if n := count(r.costPerHour); n != 0 {
		t.Fatalf("%d stale gauges", n)
	}
}

// Run writes at each step of its clock and stops with its context.
func TestRecorderRun(t *testing.T) {
	t0 := time.Date(2026, 12, 8, 10, 0, 0, 0, time.UTC)
	s := openStore(t, nil)
	fc := clocktesting.NewFakeClock(t0)
	r, err := NewRecorder(RecorderOptions{Store: s, Clock: fc})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := testCtxCancel(t)
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	w := Workload{Tenant: "acme", Cluster: "c1", Namespace: "prod", Name: "web"}
	if err := r.Record(Observation{Workload: w, Time: t0, Replicas: 1, Requests: pod}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if fc.HasWaiters() {
			fc.Step(time.Minute)
		}
		rows, err := s.CostAllocations(testCtx(t), "acme", store.CostFilter{From: t0, To: t0.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) == 1 && rows[0].CPUMicros == 527 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Run wrote no sample of web's first minute in 30s: %+v", rows)
		}
		time.Sleep(10 * time.Millisecond) // polling the store, not waiting for a duration
	}
	cancel()
	<-done
}

func gauge(t testing.TB, g prometheus.Gauge) float64 {
	t.Helper()
	var m dto.Metric
	if err := g.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetGauge().GetValue()
}

func count(c prometheus.Collector) int {
	ch := make(chan prometheus.Metric, 100)
	c.Collect(ch)
	close(ch)
	return len(ch)
}
