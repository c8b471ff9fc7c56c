package controller

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
	"github.com/hpa-autoscaler/hpa-autoscaler/scaling"
)

func behaviorSpec(upWindow, downWindow int32) *scaling.Spec {
	b := scaling.DefaultBehavior()
	b.ScaleUp.StabilizationWindowSeconds = upWindow
	b.ScaleDown.StabilizationWindowSeconds = downWindow
	return &scaling.Spec{
		MinReplicas: 1, MaxReplicas: 50,
		Metrics:    []scaling.MetricSpec{{Name: "m", Type: scaling.ExternalMetric, Target: scaling.AverageValueTarget, TargetMilli: 1000}},
		Behavior:   b,
		Controller: scaling.DefaultControllerConfig(),
		Features:   scaling.DefaultFeatureGates(),
	}
}

// agentSim runs an Autoscaler as the reconciler does: decide, commit
// (applied), and the status write rule (historyStatus written only when
// historyMoved or the decision moved).
type agentSim struct {
	spec    *scaling.Spec
	auto    *scaling.Autoscaler
	cur     int32
	written *v1.History
	lastDec string
}

func newSim(spec *scaling.Spec, cur int32, restored *v1.History, now time.Time) *agentSim {
	a := &agentSim{spec: spec, auto: scaling.NewAutoscaler(spec), cur: cur}
	restoreHistory(a.auto.History(), restored, now)
	a.written = restored
	return a
}

// step decides on value at now, applies it, and writes the history when
// the status would be written.
func (a *agentSim) step(value int64, now time.Time) *scaling.Decision {
	obs := scaling.Observed{CurrentReplicas: a.cur, StatusReplicas: a.cur, ReadyPodCount: a.cur,
		Metrics: []scaling.MetricValue{{ValuesMilli: []int64{value * 1000}}}}
	d := a.auto.Decide(&obs, now)
	dec := fmt.Sprintf("%d %d %s %d", d.CurrentReplicas, d.DesiredReplicas, d.Rule, d.Recommendation)
	a.auto.Commit(true, now)
	a.cur = d.DesiredReplicas
	h := historyStatus(a.auto.History(), a.spec, now)
	if dec != a.lastDec || historyMoved(a.written, h) {
		a.written = h
	}
	a.lastDec = dec
	return d
}

// TestRestoreKeepsDecisions: an agent restarted at any point, from the
// history its predecessor last wrote (which lags the memory through a
// steady state), decides exactly as its predecessor would have with one
// more recommendation of the newest value at the restart: every window
// ends when it would have, except that the newest value is taken as
// recommended until the restart (the unwritten tail has that value, but
// not a known end). Loads rise, hold, fall and rise again.
func TestRestoreKeepsDecisions(t *testing.T) {
	loads := []int64{2, 2, 9, 9, 9, 9, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 12, 12, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * 15 * time.Second) }
	for _, windows := range [][2]int32{{0, 60}, {30, 60}, {45, 0}, {0, 300}, {120, 120}} {
		spec := behaviorSpec(windows[0], windows[1])
		for restart := 1; restart < len(loads); restart++ {
			t.Run(fmt.Sprintf("windows %v restart at %d", windows, restart), func(t *testing.T) {
				// The predecessor up to the restart.
				ref := newSim(spec, 2, nil, t0)
				for i := range restart {
					ref.step(loads[i], at(i))
				}
				written := &v1.History{} // nothing written yet: the first write carries one
				if ref.written != nil {
					written = ref.written.DeepCopy()
				}
				run := newSim(spec, ref.cur, written, at(restart))
				if n := len(written.Recommendations); n > 0 {
					ref.auto.History().AddRecommendation(written.Recommendations[n-1].Replicas, at(restart))
				}
				for i := restart; i < len(loads); i++ {
					want := ref.step(loads[i], at(i))
					got := run.step(loads[i], at(i))
					if got.DesiredReplicas != want.DesiredReplicas || got.Rule != want.Rule {
						t.Fatalf("step %d (load %d): restarted agent %d (%s), predecessor %d (%s)", i, loads[i], got.DesiredReplicas, got.Rule, want.DesiredReplicas, want.Rule)
					}
				}
			})
		}
	}
}

func TestHistoryStatusTrims(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	var h scaling.History
	h.AddRecommendation(3, now.Add(-10*time.Minute)) // outside the 60 s window
	h.AddRecommendation(5, now.Add(-30*time.Second))
	h.AddRecommendation(5, now.Add(-30*time.Second)) // the same entry twice
	h.AddRecommendation(4, now.Add(-500*time.Millisecond))
	h.AddScaleEvent(true, 2, now.Add(-20*time.Second)) // outside the 15 s policies
	h.AddScaleEvent(false, 1, now.Add(-5*time.Second))
	got := historyStatus(&h, behaviorSpec(0, 60), now)
	want := &v1.History{
		Recommendations: []v1.TimedReplicas{{Time: metav1.NewTime(now.Add(-30 * time.Second)), Replicas: 5}, {Time: metav1.NewTime(now), Replicas: 4}},
		ScaleDownEvents: []v1.TimedReplicas{{Time: metav1.NewTime(now.Add(-5 * time.Second)), Replicas: 1}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
}

func TestStatusTimeRoundsUp(t *testing.T) {
	base := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct{ in, want time.Time }{
		{base, base},
		{base.Add(time.Nanosecond), base.Add(time.Second)},
		{base.Add(999 * time.Millisecond), base.Add(time.Second)},
	} {
		if got := statusTime(tc.in); !got.Time.Equal(tc.want) {
			t.Errorf("statusTime(%v) = %v, want %v", tc.in, got.Time, tc.want)
		}
	}
}

// TestStatusMoved: a status that differs only in times a steady state
// moves is not written; any other difference is.
func TestStatusMoved(t *testing.T) {
	t0 := metav1.NewTime(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	t1 := metav1.NewTime(t0.Add(15 * time.Second))
	mk := func(mod func(s *v1.ScalerStatus)) *v1.ScalerStatus {
		s := &v1.ScalerStatus{
			CurrentReplicas: 3, DesiredReplicas: 3, LastActiveTime: &t0,
			Triggers:     []v1.TriggerStatus{{Name: "q", Type: "redis", Value: "12", Healthy: true, Active: true, LastSuccessTime: &t0, ConsecutiveFailures: 12}},
			LastDecision: &v1.Decision{Time: t0, CurrentReplicas: 3, DesiredReplicas: 3, Rule: "MetricProposal", Reason: "r"},
			History:      &v1.History{Recommendations: []v1.TimedReplicas{{Time: t0, Replicas: 3}}},
		}
		if mod != nil {
			mod(s)
		}
		return s
	}
	old := mk(nil)
	tests := []struct {
		name  string
		mod   func(s *v1.ScalerStatus)
		moved bool
	}{
		{"same", nil, false},
		{"times only", func(s *v1.ScalerStatus) {
			s.LastDecision.Time, s.LastActiveTime, s.Triggers[0].LastSuccessTime = t1, &t1, &t1
			s.History.Recommendations = append(s.History.Recommendations, v1.TimedReplicas{Time: t1, Replicas: 3})
		}, false},
		{"a value", func(s *v1.ScalerStatus) { s.Triggers[0].Value = "13" }, true},
		{"the decision", func(s *v1.ScalerStatus) { s.LastDecision.Rule = "WithinTolerance" }, true},
		{"the newest recommendation", func(s *v1.ScalerStatus) {
			s.History.Recommendations = append(s.History.Recommendations, v1.TimedReplicas{Time: t1, Replicas: 2})
		}, true},
		{"a scale event", func(s *v1.ScalerStatus) {
			s.History.ScaleUpEvents = []v1.TimedReplicas{{Time: t1, Replicas: 1}}
		}, true},
		{"last active time appears", func(s *v1.ScalerStatus) { s.LastActiveTime = nil }, true},
		{"failures at 4", func(s *v1.ScalerStatus) { s.Triggers[0].ConsecutiveFailures = 4 }, true},
		{"failures 16", func(s *v1.ScalerStatus) { s.Triggers[0].ConsecutiveFailures = 16 }, true},
		{"failures 13", func(s *v1.ScalerStatus) { s.Triggers[0].ConsecutiveFailures = 13 }, false},
		{"failures back to 0", func(s *v1.ScalerStatus) { s.Triggers[0].ConsecutiveFailures = 0 }, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := statusMoved(old, mk(tc.mod)); got != tc.moved {
				t.Errorf("statusMoved = %v, want %v", got, tc.moved)
			}
		})
	}
}

func TestStable(t *testing.T) {
	for in, want := range map[string]string{
		`redis list "jobs" at 127.0.0.1:42375: dial tcp 127.0.0.1:42375: connect: connection refused (the last try, 170ms ago; the next in 80ms)`: `redis list "jobs" at 127.0.0.1:42375: dial tcp 127.0.0.1:42375: connect: connection refused`,
		"no answer within 3s":          "no answer within #",
		"held 1m30s (2 left)":          "held #",
		"5 replicas for 10 (per pod)":  "5 replicas for 10",
		"trigger queue proposes 4 (x)": "trigger queue proposes 4",
	} {
		if got := stable(in); got != want {
			t.Errorf("stable(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestScalingSpec(t *testing.T) {
	metrics := []scaling.MetricSpec{externalMetric(scalersMetric("m", 5), "")}
	tests := []struct {
		name string
		spec v1.ScalerSpec
		d    Defaults
		want func(s *scaling.Spec)
	}{
		{name: "minReplicas 0: KEDA's activation, cooldownPeriod the scale-to-zero delay only",
			spec: v1.ScalerSpec{Scaling: v1.Scaling{MinReplicas: ptrTo(int32(0)), MaxReplicas: 5, CooldownPeriod: &metav1.Duration{Duration: time.Minute}}},
			want: func(s *scaling.Spec) {
				s.MinReplicas, s.MaxReplicas = 0, 5
				s.Activation = &scaling.Activation{CooldownPeriod: time.Minute}
			}},
		{name: "minReplicas 0 without cooldownPeriod: KEDA's 300 s",
			spec: v1.ScalerSpec{Scaling: v1.Scaling{MinReplicas: ptrTo(int32(0)), MaxReplicas: 5}},
			want: func(s *scaling.Spec) {
				s.MinReplicas, s.MaxReplicas = 0, 5
				s.Activation = &scaling.Activation{CooldownPeriod: 300 * time.Second}
			}},
		{name: "minReplicas 1: cooldownPeriod between scaling actions",
			spec: v1.ScalerSpec{Scaling: v1.Scaling{MaxReplicas: 5, CooldownPeriod: &metav1.Duration{Duration: time.Minute}}},
			want: func(s *scaling.Spec) { s.MinReplicas, s.MaxReplicas, s.CooldownPeriod = 1, 5, time.Minute }},
		{name: "the agent's caps under the Scaler's own",
			spec: v1.ScalerSpec{Scaling: v1.Scaling{MaxReplicas: 5}, Advanced: &v1.Advanced{Safety: &v1.Safety{MaxScaleUpPercent: ptrTo(int32(50))}}},
			d:    Defaults{MaxScaleUpPercent: 200, MaxScaleDownPercent: 10},
			want: func(s *scaling.Spec) {
				s.MinReplicas, s.MaxReplicas = 1, 5
				s.Safety = &scaling.Safety{MaxScaleUpPercent: 50, MaxScaleDownPercent: 10}
			}},
		{name: "advanced.enabled false: the agent's caps still apply",
			spec: v1.ScalerSpec{Scaling: v1.Scaling{MaxReplicas: 5}, Advanced: &v1.Advanced{Enabled: ptrTo(false), Safety: &v1.Safety{MaxScaleUpPercent: ptrTo(int32(50))}}},
			d:    Defaults{MaxScaleDownPercent: 10},
			want: func(s *scaling.Spec) {
				s.MinReplicas, s.MaxReplicas = 1, 5
				s.Safety = &scaling.Safety{MaxScaleDownPercent: 10}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := scalingSpec(&tc.spec, metrics, tc.d)
			if err != nil {
				t.Fatal(err)
			}
			want := &scaling.Spec{Metrics: metrics, Controller: scaling.DefaultControllerConfig(), Features: scaling.DefaultFeatureGates()}
			tc.want(want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("spec (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMetricConversion(t *testing.T) {
	if got := externalMetric(scalersMetric("lag", 10), "Value"); got.Target != scaling.ValueTarget || got.TargetMilli != 10000 || got.Type != scaling.ExternalMetric {
		t.Errorf("Value: %+v", got)
	}
	if got := externalMetric(scalersMetric("lag", 0.0001), ""); got.Target != scaling.AverageValueTarget || got.TargetMilli != 1 {
		t.Errorf("a tiny target rounds to 1 milli: %+v", got)
	}
	for in, want := range map[float64]int64{1.5: 1500, math.Inf(1): math.MaxInt64, math.Inf(-1): math.MinInt64, math.NaN(): 0, 0.0009: 0} {
		if got := toMilli(in); got != want {
			t.Errorf("toMilli(%v) = %d, want %d", in, got, want)
		}
	}
	for in, want := range map[int64]string{5000: "5", 250: "0.25", -1500: "-1.5", 1: "0.001"} {
		if got := milliDecimal(in); got != want {
			t.Errorf("milliDecimal(%d) = %q, want %q", in, got, want)
		}
	}
	ms, err := resourceMetric("spec.scalerSpec", &v1.ResourceTrigger{ResourceName: "memory", TargetType: "AverageValue", TargetAverageValue: "512Mi", Container: "app"})
	if err != nil || ms.Type != scaling.ContainerResourceMetric || ms.TargetMilli != 512*1024*1024*1000 || ms.Resource != "memory" {
		t.Errorf("memory AverageValue: %+v, %v", ms, err)
	}
	if _, err := resourceMetric("spec.scalerSpec", &v1.ResourceTrigger{ResourceName: "cpu", TargetType: "Utilization"}); err == nil ||
		err.Error() != "spec.scalerSpec.resource.targetAverageUtilization: required for targetType Utilization, a percentage >= 1" {
		t.Errorf("Utilization without a target: %v", err)
	}
}

func ptrTo[T any](v T) *T { return &v }

func scalersMetric(name string, target float64) scalers.MetricSpec {
	return scalers.MetricSpec{Name: name, Target: target}
}
