package simulate

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

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

// approx compares the floats of a result to 1e-9; a NaN differs from
// everything.
var approx = cmpopts.EquateApprox(0, 1e-9)

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
	want := Result{Name: "reactive", UnservedDemand: 100, UnservedIntervals: 2, ReplicaHours: 420.0 / 3600, Cost: 0.42, ScalingActions: 1, PeakReplicas: 3, Decisions: 12}
	if diff := cmp.Diff(want, res[0], approx); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
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
	type floored struct {
		UnservedDemand float64
		PeakReplicas   int32
	}
	if diff := cmp.Diff(floored{0, 3}, floored{res[0].UnservedDemand, res[0].PeakReplicas}, approx); diff != "" {
		t.Errorf("floor (-want +got):\n%s", diff)
	}
	// Without a downscale window the extra pods go at 120 s: two actions.
	type quick struct {
		ScalingActions int
		ReplicaHours   float64
	}
	if diff := cmp.Diff(quick{2, (60 + 60*3 + 60) / 3600.0}, quick{res[1].ScalingActions, res[1].ReplicaHours}, approx); diff != "" {
		t.Errorf("fast (-want +got):\n%s", diff)
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
	type pending struct {
		ReplicaHours      float64
		UnservedDemand    float64
		UnservedIntervals int
	}
	want := pending{(60 + 15*4) / 3600.0, 400, 1}
	if diff := cmp.Diff(want, pending{res[0].ReplicaHours, res[0].UnservedDemand, res[0].UnservedIntervals}, approx); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
}

func TestConfigValidate(t *testing.T) {
	err := (&Config{CapacityPerReplica: 0, TargetUtilization: 1.5, StartupDelay: -1, Interval: time.Millisecond, PricePerReplicaHour: -1}).Validate()
	if err == nil {
		t.Fatal("got no error")
	}
	// Every problem at once, one a line.
	want := "capacity-per-replica 0: expected a number greater than 0\n" +
		"target-utilization 1.5: expected a fraction in (0, 1]\n" +
		"startup-delay -1ns: expected 0 or more\n" +
		"interval 1ms: expected at least 1s\n" +
		"price-per-replica-hour -1: expected 0 or more"
	if diff := cmp.Diff(want, err.Error()); diff != "" {
		t.Errorf("error (-want +got):\n%s", diff)
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
