package simulate

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hpa-autoscaler/hpa-autoscaler/demand"
	"github.com/hpa-autoscaler/hpa-autoscaler/scaling"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func series(step time.Duration, values ...float64) *demand.Series {
	s := &demand.Series{Name: "value"}
	for i, v := range values {
		s.Points = append(s.Points, demand.Point{Time: t0.Add(time.Duration(i) * step), Value: v})
	}
	return s
}

// fixedFloor is a stand-in for a predictive policy.
type fixedFloor struct{ floor int32 }

func (fixedFloor) Name() string { return "fixed" }

func (f fixedFloor) Floor(history []demand.Point, now time.Time, m Model) int32 {
	if len(history) == 0 || history[len(history)-1].Time.After(now) {
		panic("history must end at or before now")
	}
	return f.floor
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestSimulateByHand(t *testing.T) {
	// Demand 100, 300, 100 per minute-step; one replica serves 100; pods
	// are ready 30 s after creation; a decision every 15 s.
	//  - 0..60 s: one ready replica, demand 100: served.
	//  - at 60 s the HPA asks for 3 (ratio 3); the two new pods are ready
	//    at 90 s, so 60..90 s misses 200 per minute for half a minute: 100.
	//  - from 120 s demand is 100 again, but the 300 s downscale window
	//    keeps 3 replicas to the end (180 s).
	// Pod-seconds: 60 × 1 + 120 × 3 = 420.
	s := series(time.Minute, 100, 300, 100)
	cfg := Config{CapacityPerReplica: 100, TargetUtilization: 1, StartupDelay: 30 * time.Second, Interval: 15 * time.Second, PricePerReplicaHour: 3.6}
	res, err := Simulate(t.Context(), s, cfg, []Run{{Name: "reactive", Spec: DefaultSpec().Spec, Policy: Reactive{}}})
	if err != nil {
		t.Fatal(err)
	}
	r := res[0]
	if !near(r.UnservedDemand, 100) || r.UnservedIntervals != 2 {
		t.Errorf("unserved: got %v over %d intervals, want 100 over 2", r.UnservedDemand, r.UnservedIntervals)
	}
	if !near(r.ReplicaHours, 420.0/3600) || !near(r.Cost, 0.42) {
		t.Errorf("replica-hours %v cost %v, want %v and 0.42", r.ReplicaHours, r.Cost, 420.0/3600)
	}
	if r.ScalingActions != 1 || r.PeakReplicas != 3 || r.Decisions != 12 {
		t.Errorf("actions %d peak %d decisions %d, want 1, 3, 12", r.ScalingActions, r.PeakReplicas, r.Decisions)
	}
}

func TestSimulateFloorAndScaleDown(t *testing.T) {
	s := series(time.Minute, 100, 300, 100)
	cfg := Config{CapacityPerReplica: 100, TargetUtilization: 1, StartupDelay: 30 * time.Second, Interval: 15 * time.Second}
	spec := DefaultSpec().Spec
	behavior := scaling.DefaultBehavior()
	behavior.ScaleDown.StabilizationWindowSeconds = 0
	fast := *spec
	fast.Behavior = behavior
	res, err := Simulate(t.Context(), s, cfg, []Run{
		{Name: "floor", Spec: spec, Policy: fixedFloor{floor: 3}},
		{Name: "fast", Spec: &fast, Policy: Reactive{}},
	})
	if err != nil {
		t.Fatal(err)
	}
	// With a floor of 3 from the start, the pods created at 0 s are ready
	// at 30 s: 0..30 s has enough (demand 100), nothing is missed.
	if res[0].UnservedDemand != 0 || res[0].PeakReplicas != 3 {
		t.Errorf("floor: unserved %v peak %d, want 0 and 3", res[0].UnservedDemand, res[0].PeakReplicas)
	}
	// Without a downscale window the extra pods go at 120 s: two actions.
	if res[1].ScalingActions != 2 || !near(res[1].ReplicaHours, (60+60*3+60)/3600.0) {
		t.Errorf("fast: actions %d replica-hours %v, want 2 and %v", res[1].ScalingActions, res[1].ReplicaHours, (60+60*3+60)/3600.0)
	}
}

func TestSimulateRemovesPendingPodsFirst(t *testing.T) {
	// Demand jumps to 500 for one 15 s step and falls back; pods take 60 s.
	// The scale-down at 15 s removes pods that never became ready, so the
	// only replica-time is the one ready pod plus 15 s of four new ones.
	s := series(15*time.Second, 100, 500, 100, 100)
	cfg := Config{CapacityPerReplica: 100, TargetUtilization: 1, StartupDelay: time.Minute, Interval: 15 * time.Second}
	spec := DefaultSpec().Spec
	b := scaling.DefaultBehavior()
	b.ScaleDown.StabilizationWindowSeconds = 0
	spec.Behavior = b
	res, err := Simulate(t.Context(), s, cfg, []Run{{Name: "r", Spec: spec, Policy: Reactive{}}})
	if err != nil {
		t.Fatal(err)
	}
	if want := (60 + 15*4) / 3600.0; !near(res[0].ReplicaHours, want) {
		t.Errorf("replica-hours: got %v, want %v", res[0].ReplicaHours, want)
	}
	if !near(res[0].UnservedDemand, 400) || res[0].UnservedIntervals != 1 {
		t.Errorf("unserved: got %v over %d, want 400 over 1", res[0].UnservedDemand, res[0].UnservedIntervals)
	}
}

func TestConfigValidate(t *testing.T) {
	err := (&Config{CapacityPerReplica: 0, TargetUtilization: 1.5, StartupDelay: -1, Interval: time.Millisecond, PricePerReplicaHour: -1}).Validate()
	for _, want := range []string{"capacity-per-replica 0", "target-utilization 1.5", "startup-delay -1ns", "interval 1ms", "price-per-replica-hour -1"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %q", err, want)
		}
	}
}

func TestRegistry(t *testing.T) {
	r := NewRegistry()
	r.Register("fixed", func(Model) (Policy, error) { return fixedFloor{floor: 2}, nil })
	r.RegisterAlias("pair", "reactive", "fixed")
	ps, err := r.Resolve([]string{"pair", "reactive", "both"}, Model{Step: time.Minute, Interval: 15 * time.Second, CapacityPerReplica: 1})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range ps {
		names = append(names, p.Name())
	}
	if diff := cmp.Diff([]string{"reactive", "fixed", "predictive"}, names); diff != "" {
		t.Errorf("resolved policies, each once (-want +got):\n%s", diff)
	}
	_, err = r.Resolve([]string{"psychic"}, Model{})
	want := `policy "psychic": expected one of both, fixed, pair, predictive, reactive`
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

func TestModelReplicas(t *testing.T) {
	m := Model{CapacityPerReplica: 100, TargetUtilization: 0.7}
	for _, tt := range []struct {
		demand float64
		want   int32
	}{{0, 0}, {70, 1}, {70.0001, 2}, {140, 2}, {700, 10}} {
		if got := m.Replicas(tt.demand); got != tt.want {
			t.Errorf("Replicas(%v): got %d, want %d", tt.demand, got, tt.want)
		}
	}
}
