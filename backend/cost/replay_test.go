package cost

import (
	"errors"
	"math"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
	"github.com/hpa-autoscaler/hpa-autoscaler/scaling"
)

var replayT0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// series makes one-minute points from replayT0 with values vs.
func series(vs ...float64) []ReplayPoint {
	out := make([]ReplayPoint, len(vs))
	for i, v := range vs {
		out[i] = ReplayPoint{Time: replayT0.Add(time.Duration(i) * time.Minute), Step: time.Minute, Value: v}
	}
	return out
}

func replaySpec(stabilization time.Duration) scaling.Spec {
	c := scaling.DefaultControllerConfig()
	c.DownscaleStabilizationWindow = stabilization
	return scaling.Spec{MinReplicas: 1, MaxReplicas: 10, Controller: c, Features: scaling.DefaultFeatureGates()}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestReactiveReplayHandComputed(t *testing.T) {
	to := replayT0.Add(time.Hour)
	cases := []struct {
		name  string
		in    ReplayInput
		hours float64
		steps int
		start int32
		trunc bool
	}{{
		// 35 against 10 per replica: ceil(3.5) = 4 from the first step;
		// 3 steps of a minute: 3×4/60.
		name: "average value", in: ReplayInput{Spec: replaySpec(0), Triggers: []ReplayTrigger{{Name: "q", Target: 10, Points: series(35, 35, 35)}},
			Actual: series(2, 2, 2), From: replayT0, To: replayT0.Add(3 * time.Minute)},
		hours: 12.0 / 60, steps: 3, start: 2,
	}, {
		// No stabilization: 40 → 4, then 10 → 1 at once: (4+1+1)/60.
		name: "down at once", in: ReplayInput{Spec: replaySpec(0), Triggers: []ReplayTrigger{{Name: "q", Target: 10, Points: series(40, 10, 10)}},
			Actual: series(4, 4, 4), From: replayT0, To: replayT0.Add(3 * time.Minute)},
		hours: 6.0 / 60, steps: 3, start: 4,
	}, {
		// Per pod: 80% of 50% with 2 actual pods is a demand of 160
		// percent-pods: ceil(160/50) = 4, held (the demand stays 80%×2).
		name: "per pod utilization", in: ReplayInput{Spec: replaySpec(0), Triggers: []ReplayTrigger{{Name: "cpu", Target: 50, PerPod: true, Points: series(80, 80)}},
			Actual: series(2, 2), From: replayT0, To: replayT0.Add(2 * time.Minute)},
		hours: 8.0 / 60, steps: 2, start: 2,
	}, {
		// Two triggers: the larger proposal wins: max(ceil(35/10), ceil(90/30)) = 4.
		name: "two triggers", in: ReplayInput{Spec: replaySpec(0), Triggers: []ReplayTrigger{{Name: "a", Target: 10, Points: series(35)}, {Name: "b", Target: 30, Points: series(90)}},
			Actual: series(1), From: replayT0, To: replayT0.Add(time.Minute)},
		hours: 4.0 / 60, steps: 1, start: 1,
	}, {
		// The last value is held after the series ends, up to To; max 10.
		name: "held and capped", in: ReplayInput{Spec: replaySpec(0), Triggers: []ReplayTrigger{{Name: "q", Target: 1, Points: series(500)}},
			Actual: series(10), From: replayT0, To: replayT0.Add(5 * time.Minute)},
		hours: 50.0 / 60, steps: 5, start: 10,
	}, {
		// Bounded: 3 of the hour's 60 steps.
		name: "truncated", in: ReplayInput{Spec: replaySpec(0), Triggers: []ReplayTrigger{{Name: "q", Target: 10, Points: series(20)}},
			Actual: series(2), From: replayT0, To: to, MaxSteps: 3},
		hours: 6.0 / 60, steps: 3, start: 2, trunc: true,
	}, {
		// No cost sample: the spec's minimum (1) starts; 20/10 → 2.
		name: "no actual", in: ReplayInput{Spec: replaySpec(0), Triggers: []ReplayTrigger{{Name: "q", Target: 10, Points: series(20, 20)}},
			From: replayT0, To: replayT0.Add(2 * time.Minute)},
		hours: 4.0 / 60, steps: 2, start: 1,
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := ReactiveReplay(c.in)
			if err != nil {
				t.Fatal(err)
			}
			if !near(r.ReplicaHours, c.hours) || r.Steps != c.steps || r.StartReplicas != c.start || r.Truncated != c.trunc {
				t.Fatalf("got %+v, want %v replica-hours, %d steps, start %d, truncated %v", r, c.hours, c.steps, c.start, c.trunc)
			}
		})
	}
}

// TestReactiveReplayStabilization: with the HPA's default 5-minute
// scale-down stabilization the replay holds the peak's count for the
// window, as the engine does when driven directly; scale-up is at once.
func TestReactiveReplayStabilization(t *testing.T) {
	vals := []float64{40, 10, 10, 10, 10, 10, 10, 10, 10, 10}
	spec := replaySpec(scaling.DefaultDownscaleStabilizationWindow)
	r, err := ReactiveReplay(ReplayInput{Spec: spec, Triggers: []ReplayTrigger{{Name: "q", Target: 10, Points: series(vals...)}},
		Actual: series(1), From: replayT0, To: replayT0.Add(10 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	// The engine itself, step by step.
	s2 := spec
	s2.Metrics = []scaling.MetricSpec{{Name: "q", Type: scaling.ExternalMetric, Target: scaling.AverageValueTarget, TargetMilli: 10_000}}
	a := scaling.NewAutoscaler(&s2)
	replicas, sum, counts := int32(1), 0, []int32{}
	for i, v := range vals {
		obs := &scaling.Observed{CurrentReplicas: replicas, StatusReplicas: replicas, ReadyPodCount: replicas,
			Metrics: []scaling.MetricValue{{ValuesMilli: []int64{int64(v * 1000)}}}}
		replicas = a.Step(obs, replayT0.Add(time.Duration(i)*time.Minute)).DesiredReplicas
		sum += int(replicas)
		counts = append(counts, replicas)
	}
	if !near(r.ReplicaHours, float64(sum)/60) {
		t.Fatalf("replay %v replica-hours, the engine %v (%v)", r.ReplicaHours, float64(sum)/60, counts)
	}
	// Up to 4 at once, held 4 for the 5-minute window after the peak
	// (t = 0..5 min), then 1: 6×4 + 4×1 = 28 replica-minutes.
	if counts[0] != 4 || counts[4] != 4 || counts[9] != 1 || sum != 28 {
		t.Fatalf("counts %v (sum %d): want 4 at once, held through the window, then 1", counts, sum)
	}
}

func TestReactiveReplayErrors(t *testing.T) {
	if _, err := ReactiveReplay(ReplayInput{Spec: replaySpec(0)}); !errors.Is(err, ErrNoReplay) {
		t.Fatalf("no trigger: %v", err)
	}
	if _, err := ReactiveReplay(ReplayInput{Spec: replaySpec(0), Triggers: []ReplayTrigger{{Name: "q", Target: 10, Points: series(1)}},
		From: replayT0.Add(time.Hour), To: replayT0.Add(2 * time.Hour)}); !errors.Is(err, ErrNoReplay) {
		t.Fatalf("no point in the window: %v", err)
	}
	if _, err := ReactiveReplay(ReplayInput{Spec: replaySpec(0), Triggers: []ReplayTrigger{{Name: "q", Target: 0, Points: series(1)}},
		From: replayT0, To: replayT0.Add(time.Hour)}); err == nil {
		t.Fatal("target 0: no error")
	}
}

func TestReplaySpecAndTriggers(t *testing.T) {
	s := &v1.ScalerSpec{Scaling: v1.Scaling{MaxReplicas: 5, CooldownPeriod: &metav1.Duration{Duration: time.Minute}},
		Triggers: []v1.TriggerSpec{{Name: "cpu", Type: "resource", Resource: &v1.ResourceTrigger{ResourceName: "cpu"}},
			{Name: "q", Type: "redis", MetricType: "Value"}, {Name: "bad", Type: "redis"}}}
	spec, err := ReplaySpec(s)
	if err != nil {
		t.Fatal(err)
	}
	if spec.MaxReplicas != 5 || spec.Budget != nil {
		t.Fatalf("spec %+v", spec)
	}
	st := &v1.ScalerStatus{Triggers: []v1.TriggerStatus{{Name: "cpu", Target: "70"}, {Name: "q", Target: "2.5"}, {Name: "bad", Target: "x"}}}
	trs, skipped := ReplayTriggers(s, st)
	if len(trs) != 2 || !trs[0].PerPod || trs[0].Target != 70 || trs[1].PerPod || !trs[1].Value || trs[1].Target != 2.5 || len(skipped) != 1 || skipped[0] != "bad" {
		t.Fatalf("triggers %+v, skipped %v", trs, skipped)
	}
}
