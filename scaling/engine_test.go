package scaling

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/cputime"
)

func pods(n int, v int64) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// externalSpec scales on a queue: External AverageValue of 10 per pod.
func externalSpec() *Spec {
	return &Spec{
		MinReplicas: 1,
		MaxReplicas: 50,
		Metrics:     []MetricSpec{{Name: "queue", Type: ExternalMetric, Target: AverageValueTarget, TargetMilli: 10_000}},
		Controller:  DefaultControllerConfig(),
		Features:    DefaultFeatureGates(),
	}
}

func externalObs(cur int32, total int64) *Observed {
	return &Observed{CurrentReplicas: cur, StatusReplicas: cur, ReadyPodCount: cur, Metrics: []MetricValue{{ValuesMilli: []int64{total}}}}
}

func TestAdditions(t *testing.T) {
	tests := []struct {
		name     string
		spec     func(*Spec)
		obs      func(*Observed)
		cur      int32
		total    int64
		want     int32
		wantRule Rule
	}{
		{name: "off: plain HPA", cur: 4, total: 200_000, want: 8, wantRule: RuleScaleUpLimit},
		{name: "forecast floor raises", cur: 4, total: 40_000, obs: func(o *Observed) { o.ForecastFloor = 9 }, want: 9, wantRule: RuleForecastFloor},
		{name: "forecast floor never lowers", cur: 4, total: 60_000, obs: func(o *Observed) { o.ForecastFloor = 2 }, want: 6, wantRule: RuleMetricProposal},
		{name: "forecast floor never scales in on its own", cur: 8, total: 80_000, obs: func(o *Observed) { o.ForecastFloor = 3 }, want: 8, wantRule: RuleWithinTolerance},
		{name: "forecast floor capped at max", cur: 40, total: 400_000, obs: func(o *Observed) { o.ForecastFloor = 90 }, want: 50, wantRule: RuleForecastFloor},
		{name: "budget caps", cur: 6, total: 110_000, spec: func(s *Spec) { s.Budget = &Budget{MaxCostPerHour: 4, PricePerReplicaHour: 0.5} }, want: 8, wantRule: RuleBudgetCap},
		{name: "budget never below min", cur: 6, total: 110_000, spec: func(s *Spec) { s.MinReplicas = 5; s.Budget = &Budget{MaxCostPerHour: 1, PricePerReplicaHour: 0.5} }, want: 5, wantRule: RuleBudgetCap},
		{name: "safety scale-up cap", cur: 10, total: 400_000, spec: func(s *Spec) { s.Safety = &Safety{MaxScaleUpPercent: 50} }, want: 15, wantRule: RuleSafetyScaleUpCap},
		{name: "safety scale-up always allows one", cur: 1, total: 30_000, spec: func(s *Spec) { s.Safety = &Safety{MaxScaleUpPercent: 10} }, want: 2, wantRule: RuleSafetyScaleUpCap},
		{name: "safety scale-down cap", cur: 20, total: 20_000, spec: func(s *Spec) { s.Safety = &Safety{MaxScaleDownPercent: 25} }, want: 15, wantRule: RuleSafetyScaleDownCap},
		{name: "cooldown holds", cur: 4, total: 80_000, spec: func(s *Spec) { s.CooldownPeriod = 5 * time.Minute }, obs: func(o *Observed) { o.LastScaleTime = testNow.Add(-time.Minute) }, want: 4, wantRule: RuleCooldown},
		{name: "cooldown passed", cur: 4, total: 80_000, spec: func(s *Spec) { s.CooldownPeriod = 5 * time.Minute }, obs: func(o *Observed) { o.LastScaleTime = testNow.Add(-5 * time.Minute) }, want: 8, wantRule: RuleMetricProposal},
		{name: "cooldown does not block min/max corrections", cur: 60, total: 0, spec: func(s *Spec) { s.CooldownPeriod = time.Hour }, obs: func(o *Observed) { o.LastScaleTime = testNow }, want: 50, wantRule: RuleAboveMaxReplicas},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := externalSpec()
			if tt.spec != nil {
				tt.spec(spec)
			}
			obs := externalObs(tt.cur, tt.total)
			if tt.obs != nil {
				tt.obs(obs)
			}
			var h History
			h.MarkWritten()
			var d Decision
			Decide(spec, obs, &h, testNow, &d)
			if diff := cmp.Diff(ruled{tt.want, tt.wantRule}, ruled{d.DesiredReplicas, d.Rule}); diff != "" {
				t.Errorf("decision (-want +got):\n%s", diff)
			}
		})
	}
}

// ruled is a desired count with the rule that set it.
type ruled struct {
	Replicas int32
	Rule     Rule
}

func TestFallbackBehaviors(t *testing.T) {
	lastKnown := &MetricValue{ValuesMilli: []int64{70_000}}
	tests := []struct {
		name     string
		fallback Fallback
		failures int32
		known    *MetricValue
		knownAge time.Duration
		want     int32
		wantRule Rule
	}{
		{name: "below threshold: no scaling", fallback: Fallback{FailureThreshold: 3, Replicas: 9}, failures: 3, want: 4, wantRule: RuleMetricsUnavailable},
		{name: "static", fallback: Fallback{FailureThreshold: 3, Replicas: 6}, failures: 4, want: 6, wantRule: RuleFallback},
		{name: "currentReplicas", fallback: Fallback{FailureThreshold: 0, Behavior: FallbackCurrentReplicas, Replicas: 9}, failures: 1, want: 4, wantRule: RuleFallback},
		{name: "currentReplicasIfHigher", fallback: Fallback{Behavior: FallbackCurrentReplicasIfHigher, Replicas: 2}, failures: 1, want: 4, wantRule: RuleFallback},
		{name: "currentReplicasIfLower", fallback: Fallback{Behavior: FallbackCurrentReplicasIfLower, Replicas: 2}, failures: 1, want: 2, wantRule: RuleFallback},
		{name: "lastKnownValue fresh", fallback: Fallback{Behavior: FallbackLastKnownValue, Replicas: 2, LastKnownMaxAge: time.Minute}, failures: 1, known: lastKnown, knownAge: time.Minute, want: 7, wantRule: RuleFallback},
		{name: "lastKnownValue stale acts as static", fallback: Fallback{Behavior: FallbackLastKnownValue, Replicas: 2, LastKnownMaxAge: time.Minute}, failures: 1, known: lastKnown, knownAge: 61 * time.Second, want: 2, wantRule: RuleFallback},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := externalSpec()
			fb := tt.fallback
			spec.Fallback = &fb
			obs := externalObs(4, 0)
			obs.Metrics[0] = MetricValue{Failed: true, Failures: tt.failures, LastKnown: tt.known, LastKnownAt: testNow.Add(-tt.knownAge)}
			var h History
			h.MarkWritten()
			var d Decision
			Decide(spec, obs, &h, testNow, &d)
			if diff := cmp.Diff(ruled{tt.want, tt.wantRule}, ruled{d.DesiredReplicas, d.Rule}); diff != "" {
				t.Errorf("decision (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAutoscalerInitialRecommendation(t *testing.T) {
	// Upstream TestScaleDownStabilizeInitialSize: on the first sync the
	// controller records the current count, which holds a scale-down for
	// the downscale window.
	spec := externalSpec()
	a := NewAutoscaler(spec)
	d := a.Step(externalObs(5, 20_000), testNow)
	type seeded struct {
		Replicas int32
		Rule     Rule
		Seeded   bool
	}
	if diff := cmp.Diff(seeded{5, RuleScaleDownStabilized, true}, seeded{d.DesiredReplicas, d.Rule, d.SeedRecommendation}); diff != "" {
		t.Fatalf("first sync (-want +got):\n%s", diff)
	}
	// The seed was recorded a moment before the first stabilization, so
	// 4m59s later it still holds and 5m later it does not: the
	// recommendation of 2 stored by the first sync decides.
	if d = a.Step(externalObs(5, 20_000), testNow.Add(5*time.Minute-time.Second)); d.DesiredReplicas != 5 {
		t.Fatalf("inside the window: got %d, want 5", d.DesiredReplicas)
	}
	if d = a.Step(externalObs(5, 20_000), testNow.Add(5*time.Minute)); d.DesiredReplicas != 2 {
		t.Fatalf("after the seed left the window: got %d, want 2", d.DesiredReplicas)
	}
	if n, _, _ := a.History().Len(); n > 3 {
		t.Errorf("history grew to %d recommendations, want old ones reused", n)
	}
}

func TestAutoscalerTracksFailuresAndScaleTime(t *testing.T) {
	spec := externalSpec()
	spec.Fallback = &Fallback{FailureThreshold: 2, Behavior: FallbackLastKnownValue, Replicas: 1, LastKnownMaxAge: time.Minute}
	spec.CooldownPeriod = 45 * time.Second
	a := NewAutoscaler(spec)
	now := testNow
	step := func(obs *Observed) *Decision {
		now = now.Add(15 * time.Second)
		return a.Step(obs, now)
	}
	// stepped is what the test asserts of a decision on the one metric.
	type stepped struct {
		Replicas  int32
		Rule      Rule
		Fallback  bool
		Valid     bool
		LastKnown bool
		Proposed  int32
	}
	summary := func(d *Decision) stepped {
		if len(d.Metrics) != 1 {
			t.Fatalf("decision with %d metric results, want 1", len(d.Metrics))
		}
		m := d.Metrics[0]
		return stepped{d.DesiredReplicas, d.Rule, d.Fallback, m.Valid, m.LastKnown, m.Replicas}
	}
	d := step(externalObs(2, 60_000))
	// 6 proposed; the legacy path's scale-up limit, max(2 × 2, 4), gives 4.
	if diff := cmp.Diff(stepped{Replicas: 4, Rule: RuleScaleUpLimit, Valid: true, Proposed: 6}, summary(d)); diff != "" {
		t.Fatalf("good metric (-want +got):\n%s", diff)
	}
	failed := &Observed{CurrentReplicas: 4, StatusReplicas: 4, ReadyPodCount: 4, Metrics: []MetricValue{{Failed: true}}}
	for i := 1; i <= 2; i++ {
		// Below the threshold of 2 failures nothing scales.
		if diff := cmp.Diff(stepped{Replicas: 4, Rule: RuleMetricsUnavailable}, summary(step(failed))); diff != "" {
			t.Fatalf("failure %d (-want +got):\n%s", i, diff)
		}
	}
	// Third failure, 45 s after the last scaling (the cooldown has passed):
	// the last known value (60 over a target of 10) proposes 6.
	if diff := cmp.Diff(stepped{Replicas: 6, Rule: RuleFallback, Fallback: true, Valid: true, LastKnown: true, Proposed: 6}, summary(step(failed))); diff != "" {
		t.Fatalf("failure 3 (-want +got):\n%s", diff)
	}
	failed.CurrentReplicas, failed.StatusReplicas, failed.ReadyPodCount = 6, 6, 6
	// Twenty seconds later the last known value is 80 s old: the static 1,
	// which the downscale window holds at 6.
	now = now.Add(5 * time.Second)
	if diff := cmp.Diff(stepped{Replicas: 6, Rule: RuleScaleDownStabilized, Fallback: true, Valid: true, Proposed: 1}, summary(step(failed))); diff != "" {
		t.Fatalf("stale last known (-want +got):\n%s", diff)
	}
	if got, want := a.LastScaleTime(), testNow.Add(60*time.Second); !got.Equal(want) {
		t.Errorf("last scale time: got %v, want %v", got, want)
	}
}

func TestAutoscalerStepAllocations(t *testing.T) {
	spec := benchSpec()
	a := NewAutoscaler(spec)
	obs := benchObserved()
	now := testNow
	for i := 0; i < 500; i++ {
		now = now.Add(15 * time.Second)
		obs.CurrentReplicas = a.Step(obs, now).DesiredReplicas
		obs.StatusReplicas, obs.ReadyPodCount = obs.CurrentReplicas, obs.CurrentReplicas
	}
	allocs := testing.AllocsPerRun(1000, func() {
		now = now.Add(15 * time.Second)
		a.Step(obs, now)
	})
	if allocs != 0 {
		t.Errorf("steady-state Step allocates %v times, want 0", allocs)
	}
}

func benchSpec() *Spec {
	return &Spec{
		MinReplicas: 1,
		MaxReplicas: 200,
		Metrics: []MetricSpec{
			{Type: ResourceMetric, Target: UtilizationTarget, TargetUtilization: 60},
			{Type: ExternalMetric, Target: AverageValueTarget, TargetMilli: 5_000},
		},
		Behavior: &Behavior{
			ScaleUp: ScalingRules{StabilizationWindowSeconds: 1500, SelectPolicy: SelectMax, Policies: []ScalingPolicy{
				{Type: PodsPolicy, Value: 4, PeriodSeconds: 1500}, {Type: PercentPolicy, Value: 100, PeriodSeconds: 1500},
			}},
			ScaleDown: ScalingRules{StabilizationWindowSeconds: 1500, SelectPolicy: SelectMax, Policies: []ScalingPolicy{
				{Type: PercentPolicy, Value: 10, PeriodSeconds: 1500},
			}},
		},
		Controller: DefaultControllerConfig(),
		Features:   DefaultFeatureGates(),
	}
}

func benchObserved() *Observed {
	return &Observed{
		CurrentReplicas: 10, StatusReplicas: 10, ReadyPodCount: 10,
		Metrics: []MetricValue{
			{PodValuesMilli: pods(10, 700), PodRequestsMilli: pods(10, 1000)},
			{ValuesMilli: []int64{61_000}},
		},
	}
}

// benchHistory holds 100 recommendations and 100 events per direction, all
// inside the windows and periods of benchSpec.
func benchHistory() *History {
	var h History
	h.MarkWritten()
	for i := 0; i < 100; i++ {
		at := testNow.Add(-time.Duration(i*14+1) * time.Second)
		h.AddRecommendation(int32(13+i%5), at)
		h.AddScaleEvent(true, 1, at)
		h.AddScaleEvent(false, 1, at)
	}
	return &h
}

// BenchmarkDecide is a full decision (two metric proposals, behavior
// normalization) with 100 stored recommendations and 100 scale events in
// each direction.
func BenchmarkDecide(b *testing.B) {
	spec, obs, h := benchSpec(), benchObserved(), benchHistory()
	var d Decision
	Decide(spec, obs, h, testNow, &d)
	if !d.HasScaleUpLimit {
		b.Fatalf("the benchmark decision must go through the scale-up policies")
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := cputime.Now(b)
	for b.Loop() {
		Decide(spec, obs, h, testNow, &d)
	}
	cputime.Report(b, start, time.Nanosecond)
}

// BenchmarkAutoscalerStep decides and records, 15 s apart, with windows and
// periods of 25 minutes (100 stored recommendations in steady state).
func BenchmarkAutoscalerStep(b *testing.B) {
	spec := benchSpec()
	a := NewAutoscaler(spec)
	obs := benchObserved()
	now := testNow
	for i := 0; i < 200; i++ {
		now = now.Add(15 * time.Second)
		a.Step(obs, now)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := cputime.Now(b)
	for b.Loop() {
		now = now.Add(15 * time.Second)
		a.Step(obs, now)
	}
	cputime.Report(b, start, time.Nanosecond)
	recs, up, down := a.History().Len()
	b.ReportMetric(float64(recs), "recs")
	b.ReportMetric(float64(up+down), "events")
}
