package scaling

import (
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/cputime"
)

// upstreamTestingConfig is the controller configuration of upstream's
// replica calculator tests: defaultTestingTolerance,
// defaultTestingCPUInitializationPeriod and
// defaultTestingDelayOfInitialReadinessStatus.
func upstreamTestingConfig() ControllerConfig {
	return ControllerConfig{Tolerance: 0.1, DownscaleStabilizationWindow: DefaultDownscaleStabilizationWindow, CPUInitializationPeriod: 2 * time.Minute, InitialReadinessDelay: 10 * time.Second}
}

var (
	tdMetricTypes = map[string]MetricType{"Resource": ResourceMetric, "ContainerResource": ContainerResourceMetric, "Pods": PodsMetric, "Object": ObjectMetric, "External": ExternalMetric}
	tdTargetTypes = map[string]TargetType{"Utilization": UtilizationTarget, "AverageValue": AverageValueTarget, "Value": ValueTarget}
)

type tdMetric struct {
	Type              string `json:"type"`
	Resource          string `json:"resource"`
	Target            string `json:"target"`
	TargetUtilization int32  `json:"targetUtilization"`
	TargetMilli       int64  `json:"targetMilli"`
}

func (m tdMetric) spec(tb testing.TB) MetricSpec {
	tb.Helper()
	ms := MetricSpec{Type: tdMetricTypes[m.Type], Target: tdTargetTypes[m.Target], Resource: m.Resource, TargetUtilization: m.TargetUtilization, TargetMilli: m.TargetMilli}
	if ms.Type == 0 || ms.Target == 0 {
		tb.Fatalf("bad metric %+v", m)
	}
	return ms
}

type tdCounts struct {
	Counted int32 `json:"counted"`
	Unready int32 `json:"unready"`
	Missing int32 `json:"missing"`
	Ignored int32 `json:"ignored"`
}

// tdCalcPod is a pod of replica_calculator_pods.yaml, in upstream's fixture
// conventions (see the file's header).
type tdCalcPod struct {
	Phase         string  `json:"phase"`
	Ready         *string `json:"ready"`
	ReadyAgo      *int64  `json:"readyAgo"`
	Deleting      bool    `json:"deleting"`
	Start         string  `json:"start"`
	StartAgo      *int64  `json:"startAgo"`
	Value         int64   `json:"value"`
	Request       *int64  `json:"request"`
	Missing       bool    `json:"missing"`
	SampleAgo     *int64  `json:"sampleAgo"`
	WindowSeconds *int64  `json:"windowSeconds"`
}

func (p *tdCalcPod) build(tb testing.TB, podRequest int64) (PodInfo, PodSample) {
	tb.Helper()
	pi := PodInfo{Phase: PodRunning, Ready: ConditionTrue, Deleting: p.Deleting, HasStartTime: true}
	if p.Phase != "" {
		pi.Phase = PodPhase(p.Phase)
	}
	if p.Ready != nil {
		pi.Ready = ConditionStatus(*p.Ready)
	}
	if p.ReadyAgo != nil {
		pi.ReadyTransition = ago(*p.ReadyAgo)
	}
	switch p.Start {
	case "":
	case "hot":
		pi.StartTime = testNow
	case "cool":
		pi.StartTime = ago(180)
	case "none":
		pi.HasStartTime = false
	default:
		tb.Fatalf("start %q: expected hot, cool or none", p.Start)
	}
	if p.StartAgo != nil {
		pi.StartTime = ago(*p.StartAgo)
	}
	s := PodSample{Missing: p.Missing, ValueMilli: p.Value, RequestMilli: podRequest, Window: time.Minute}
	if p.Request != nil {
		s.RequestMilli = *p.Request
	}
	if p.SampleAgo != nil {
		s.Timestamp = ago(*p.SampleAgo)
	}
	if p.WindowSeconds != nil {
		s.Window = time.Duration(*p.WindowSeconds) * time.Second
	}
	return pi, s
}

type tdCalcWant struct {
	Replicas        int32    `json:"replicas"`
	Utilization     int32    `json:"utilization"`
	UsageMilli      int64    `json:"usageMilli"`
	Pods            tdCounts `json:"pods"`
	Rebalanced      bool     `json:"rebalanced"`
	WithinTolerance bool     `json:"withinTolerance"`
	DirectionHeld   bool     `json:"directionHeld"`
}

type tdCalcCase struct {
	Name            string      `json:"name"`
	Upstream        string      `json:"upstream"`
	Metric          tdMetric    `json:"metric"`
	CurrentReplicas int32       `json:"currentReplicas"`
	PodRequest      int64       `json:"podRequest"`
	Pods            []tdCalcPod `json:"pods"`
	Unlisted        []int64     `json:"unlisted"`
	Want            *tdCalcWant `json:"want"`
	WantError       string      `json:"wantError"`
}

func (c *tdCalcCase) inputs(tb testing.TB) (MetricSpec, MetricValue, []PodInfo) {
	tb.Helper()
	pods := make([]PodInfo, len(c.Pods))
	samples := make([]PodSample, len(c.Pods))
	for i := range c.Pods {
		pods[i], samples[i] = c.Pods[i].build(tb, c.PodRequest)
	}
	return c.Metric.spec(tb), MetricValue{PodSamples: samples, UnlistedPodValuesMilli: c.Unlisted}, pods
}

func (c *tdCalcCase) proposalInput(pods []PodInfo, cfg ControllerConfig) ProposalInput {
	return ProposalInput{
		SpecReplicas: c.CurrentReplicas, StatusReplicas: c.CurrentReplicas, ReadyPodCount: CountReadyPods(pods),
		Tolerances: Tolerances{Down: cfg.Tolerance, Up: cfg.Tolerance},
		Pods:       pods, Now: testNow,
		CPUInitializationPeriod: cfg.CPUInitializationPeriod, InitialReadinessDelay: cfg.InitialReadinessDelay,
	}
}

func checkCalcResult(tb testing.TB, c *tdCalcCase, got MetricResult) {
	tb.Helper()
	if c.WantError != "" {
		type failure struct {
			Valid bool
			Err   string
		}
		if diff := cmp.Diff(failure{Err: c.WantError}, failure{got.Valid, got.Err.String()}); diff != "" {
			tb.Errorf("proposal (-want +got):\n%s", diff)
		}
		return
	}
	if c.Want == nil {
		tb.Fatalf("case has neither want nor wantError")
	}
	if !got.Valid {
		tb.Fatalf("got error %v, want a proposal", got.Err)
	}
	g := tdCalcWant{
		Replicas: got.Replicas, Utilization: got.Utilization, UsageMilli: got.UsageMilli,
		Pods:       tdCounts(got.Pods),
		Rebalanced: got.Rebalanced, WithinTolerance: got.WithinTolerance, DirectionHeld: got.DirectionHeld,
	}
	if diff := cmp.Diff(*c.Want, g); diff != "" {
		tb.Errorf("proposal (-want +got):\n%s", diff)
	}
}

func TestReplicaCalculatorPods(t *testing.T) {
	cfg := upstreamTestingConfig()
	cases := loadCases[tdCalcCase](t, "replica_calculator_pods.yaml")
	upstream := 0
	for i := range cases {
		c := &cases[i]
		if c.Upstream != "" {
			upstream++
		}
		t.Run(c.Name, func(t *testing.T) {
			ms, mv, pods := c.inputs(t)
			checkCalcResult(t, c, Propose(&ms, &mv, c.proposalInput(pods, cfg)))
		})
	}
	if upstream < 15 {
		t.Errorf("%d upstream cases, want at least 15", upstream)
	}
}

// TestDecideWithPods runs the same cases through Decide: Observed.Pods, now
// and the controller flags reach the proposal.
func TestDecideWithPods(t *testing.T) {
	cases := loadCases[tdCalcCase](t, "replica_calculator_pods.yaml")
	for i := range cases {
		c := &cases[i]
		t.Run(c.Name, func(t *testing.T) {
			ms, mv, pods := c.inputs(t)
			spec := &Spec{MinReplicas: 1, MaxReplicas: 1000, Metrics: []MetricSpec{ms}, Controller: upstreamTestingConfig(), Features: DefaultFeatureGates()}
			obs := &Observed{CurrentReplicas: c.CurrentReplicas, StatusReplicas: c.CurrentReplicas, ReadyPodCount: CountReadyPods(pods), Pods: pods, Metrics: []MetricValue{mv}}
			var d Decision
			Decide(spec, obs, nil, testNow, &d)
			if len(d.Metrics) != 1 {
				t.Fatalf("got %d metric results, want 1", len(d.Metrics))
			}
			checkCalcResult(t, c, d.Metrics[0])
		})
	}
}

// tdGroupPod is a pod of group_pods.yaml, in TestGroupPods' conventions.
type tdGroupPod struct {
	Name     string `json:"name"`
	Phase    string `json:"phase"`
	Deleting bool   `json:"deleting"`
	StartAgo *int64 `json:"startAgo"`
	Ready    string `json:"ready"`
	ReadyAgo *int64 `json:"readyAgo"`
	Sample   *struct {
		Ago           *int64 `json:"ago"`
		WindowSeconds int64  `json:"windowSeconds"`
	} `json:"sample"`
}

func TestGroupPods(t *testing.T) {
	type tc struct {
		Name     string       `json:"name"`
		Resource string       `json:"resource"`
		Pods     []tdGroupPod `json:"pods"`
		Want     []string     `json:"want"`
	}
	cfg := upstreamTestingConfig()
	var groups []PodGroup
	for _, c := range loadCases[tc](t, "group_pods.yaml") {
		t.Run(c.Name, func(t *testing.T) {
			pods := make([]PodInfo, len(c.Pods))
			samples := make([]PodSample, len(c.Pods))
			for i, p := range c.Pods {
				pods[i] = PodInfo{Name: p.Name, Phase: PodSucceeded, Deleting: p.Deleting, Ready: ConditionStatus(p.Ready)}
				if p.Phase != "" {
					pods[i].Phase = PodPhase(p.Phase)
				}
				if p.StartAgo != nil {
					pods[i].StartTime, pods[i].HasStartTime = ago(*p.StartAgo), true
				}
				if p.ReadyAgo != nil {
					pods[i].ReadyTransition = ago(*p.ReadyAgo)
				}
				if p.Sample == nil {
					samples[i].Missing = true
					continue
				}
				if p.Sample.Ago != nil {
					samples[i].Timestamp = ago(*p.Sample.Ago)
				}
				samples[i].Window = time.Duration(p.Sample.WindowSeconds) * time.Second
			}
			var counts PodCounts
			groups, counts = GroupPods(pods, samples, cfg.GroupOptions(c.Resource), testNow, groups)
			got := []string{}
			var want PodCounts
			for i, g := range groups {
				got = append(got, g.String())
				want.add(g)
				if one := GroupPod(&pods[i], &samples[i], cfg.GroupOptions(c.Resource), testNow); one != g {
					t.Errorf("pod %d: GroupPod %v, GroupPods %v", i, one, g)
				}
			}
			if diff := cmp.Diff(c.Want, got); diff != "" {
				t.Errorf("groups (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(want, counts); diff != "" {
				t.Errorf("counts (-want +got):\n%s", diff)
			}
		})
	}
}

func TestGroupPodsWithoutSamples(t *testing.T) {
	// A pod past the end of samples, or with a nil sample, is missing.
	pods := []PodInfo{{Phase: PodRunning, Ready: ConditionTrue, HasStartTime: true}, {Phase: PodRunning, Ready: ConditionTrue, HasStartTime: true}}
	groups, counts := GroupPods(pods, []PodSample{{ValueMilli: 1}}, GroupOptions{Resource: ResourceCPU}, testNow, nil)
	if diff := cmp.Diff([]PodGroup{PodCounted, PodMissing}, groups); diff != "" {
		t.Errorf("groups (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(PodCounts{Counted: 1, Missing: 1}, counts); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	if g := GroupPod(&pods[0], nil, GroupOptions{}, testNow); g != PodMissing {
		t.Errorf("nil sample: got %v, want missing", g)
	}
}

func TestCountReadyPods(t *testing.T) {
	pods := []PodInfo{
		{Phase: PodRunning, Ready: ConditionTrue},
		{Phase: PodRunning, Ready: ConditionFalse},
		{Phase: PodPending, Ready: ConditionTrue},
		{Phase: PodRunning},
		{Phase: PodRunning, Ready: ConditionTrue, Deleting: true},
	}
	// getReadyPodsCount looks at the phase and the condition only.
	if got := CountReadyPods(pods); got != 2 {
		t.Errorf("got %d ready pods, want 2", got)
	}
}

func TestDefaultControllerConfigReadiness(t *testing.T) {
	c := DefaultControllerConfig()
	got := [2]time.Duration{c.CPUInitializationPeriod, c.InitialReadinessDelay}
	if want := [2]time.Duration{5 * time.Minute, 30 * time.Second}; got != want {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestPodSamplesLengthMismatch(t *testing.T) {
	ms := MetricSpec{Type: PodsMetric, Target: AverageValueTarget, TargetMilli: 10}
	mv := MetricValue{PodSamples: []PodSample{{ValueMilli: 1}, {ValueMilli: 2}}}
	got := Propose(&ms, &mv, ProposalInput{SpecReplicas: 2, Pods: make([]PodInfo, 3)})
	if got.Valid || got.Err != MetricInvalidSpec {
		t.Errorf("got %+v, want %v", got, MetricInvalidSpec)
	}
}

// TestLastKnownPodSamples: the lastKnownValue fallback recomputes a pod
// metric from the pods and the time of its last good value, not from the
// pods the caller passes (or reuses) later.
func TestLastKnownPodSamples(t *testing.T) {
	spec := &Spec{MinReplicas: 1, MaxReplicas: 100, Controller: upstreamTestingConfig(), Features: DefaultFeatureGates(),
		Metrics:  []MetricSpec{{Type: ResourceMetric, Resource: ResourceCPU, Target: UtilizationTarget, TargetUtilization: 30}},
		Fallback: &Fallback{FailureThreshold: 0, Behavior: FallbackLastKnownValue, Replicas: 1, LastKnownMaxAge: time.Hour}}
	// TestReplicaCalcScaleUpHotCpuLessScale: the first pod is hot at t0.
	pods := []PodInfo{
		{Phase: PodRunning, Ready: ConditionTrue, HasStartTime: true, StartTime: testNow},
		{Phase: PodRunning, Ready: ConditionTrue, HasStartTime: true, StartTime: testNow.Add(-3 * time.Minute)},
		{Phase: PodRunning, Ready: ConditionTrue, HasStartTime: true, StartTime: testNow.Add(-3 * time.Minute)},
	}
	samples := []PodSample{{ValueMilli: 600, RequestMilli: 2000, Window: time.Minute}, {ValueMilli: 1000, RequestMilli: 2000, Window: time.Minute}, {ValueMilli: 1400, RequestMilli: 2000, Window: time.Minute}}
	a := NewAutoscaler(spec)
	obs := &Observed{CurrentReplicas: 3, StatusReplicas: 3, ReadyPodCount: 3, Pods: pods, Metrics: []MetricValue{{PodSamples: samples}}}
	d := a.Decide(obs, testNow)
	if got := d.Metrics[0]; !got.Valid || got.Replicas != 4 || got.Pods.Unready != 1 {
		t.Fatalf("t0: got %+v, want 4 replicas with one unready pod", got)
	}
	a.Commit(false, testNow)

	// Later the caller reuses its buffers: every pod now looks failed.
	for i := range pods {
		pods[i].Phase = PodFailed
	}
	later := testNow.Add(time.Minute)
	obs = &Observed{CurrentReplicas: 3, StatusReplicas: 3, ReadyPodCount: 0, Pods: pods, Metrics: []MetricValue{{Failed: true}}}
	d = a.Decide(obs, later)
	got := d.Metrics[0]
	type res struct {
		Valid, Fallback, LastKnown bool
		Replicas, Unready          int32
	}
	if diff := cmp.Diff(res{true, true, true, 4, 1}, res{got.Valid, got.Fallback, got.LastKnown, got.Replicas, got.Pods.Unready}); diff != "" {
		t.Errorf("last known proposal (-want +got):\n%s", diff)
	}
}

func TestDecideWithPodsAllocations(t *testing.T) {
	spec, obs := benchPodsSpec(), benchPodsObserved()
	h := benchHistory()
	var d Decision
	Decide(spec, obs, h, testNow, &d)
	if !d.Metrics[0].Rebalanced {
		t.Fatalf("the pods decision must rebalance: %+v", d.Metrics[0])
	}
	allocs := testing.AllocsPerRun(1000, func() { Decide(spec, obs, h, testNow, &d) })
	if allocs != 0 {
		t.Errorf("Decide with pods allocates %v times, want 0", allocs)
	}
}

func benchPodsSpec() *Spec {
	spec := benchSpec()
	spec.Metrics[0].Resource = ResourceCPU
	return spec
}

// benchPodsObserved is benchObserved with the CPU metric as samples of 12
// pods: 10 ready, one starting (hot), one without metrics, one failed.
func benchPodsObserved() *Observed {
	obs := benchObserved()
	start := testNow.Add(-time.Hour)
	for i := 0; i < 13; i++ {
		p := PodInfo{Phase: PodRunning, Ready: ConditionTrue, HasStartTime: true, StartTime: start, ReadyTransition: start}
		s := PodSample{ValueMilli: 900, RequestMilli: 1000, Timestamp: testNow, Window: time.Minute}
		switch i {
		case 10:
			p.StartTime = testNow.Add(-time.Minute)
			p.ReadyTransition = testNow.Add(-30 * time.Second)
		case 11:
			s = PodSample{Missing: true, RequestMilli: 1000}
		case 12:
			p.Phase = PodFailed
		}
		obs.Pods = append(obs.Pods, p)
		obs.Metrics[0].PodSamples = append(obs.Metrics[0].PodSamples, s)
	}
	obs.Metrics[0].PodValuesMilli, obs.Metrics[0].PodRequestsMilli = nil, nil
	obs.ReadyPodCount = CountReadyPods(obs.Pods)
	return obs
}

// BenchmarkDecidePods is BenchmarkDecide with the Utilization metric given
// as per-pod samples that need rebalancing.
func BenchmarkDecidePods(b *testing.B) {
	spec, obs, h := benchPodsSpec(), benchPodsObserved(), benchHistory()
	var d Decision
	b.ReportAllocs()
	b.ResetTimer()
	start := cputime.Now(b)
	for b.Loop() {
		Decide(spec, obs, h, testNow, &d)
	}
	cputime.Report(b, start, time.Nanosecond)
}

// genPods draws pods and samples, including hostile values: any phase or
// condition string, times far apart, negative and huge numbers.
func genPods(t *rapid.T) ([]PodInfo, []PodSample) {
	n := rapid.IntRange(0, 12).Draw(t, "pods")
	phases := []PodPhase{PodRunning, PodPending, PodSucceeded, PodFailed, PodUnknown, "", "Weird"}
	statuses := []ConditionStatus{ConditionTrue, ConditionFalse, ConditionUnknown, "", "maybe"}
	when := func(label string) time.Time {
		switch rapid.IntRange(0, 3).Draw(t, label+"Kind") {
		case 0:
			return time.Time{}
		case 1:
			return testNow.Add(time.Duration(rapid.Int64Range(-3600, 3600).Draw(t, label)) * time.Second)
		case 2:
			return time.Unix(0, rapid.Int64().Draw(t, label+"Ns"))
		default:
			return testNow.Add(time.Duration(rapid.Int64().Draw(t, label+"Raw")))
		}
	}
	value := func(label string) int64 {
		if rapid.IntRange(0, 9).Draw(t, label+"Kind") == 0 {
			return rapid.SampledFrom([]int64{math.MaxInt64, math.MinInt64, -1, 0, math.MaxInt64 / 100}).Draw(t, label+"Edge")
		}
		return rapid.Int64Range(0, 10_000_000).Draw(t, label)
	}
	pods := make([]PodInfo, n)
	samples := make([]PodSample, n)
	for i := range pods {
		pods[i] = PodInfo{
			Phase:           rapid.SampledFrom(phases).Draw(t, "phase"),
			Deleting:        rapid.IntRange(0, 5).Draw(t, "deleting") == 0,
			StartTime:       when("start"),
			HasStartTime:    rapid.IntRange(0, 5).Draw(t, "noStart") != 0,
			Ready:           rapid.SampledFrom(statuses).Draw(t, "ready"),
			ReadyTransition: when("transition"),
		}
		samples[i] = PodSample{
			Missing:      rapid.IntRange(0, 4).Draw(t, "missing") == 0,
			ValueMilli:   value("value"),
			RequestMilli: value("request"),
			Timestamp:    when("timestamp"),
			Window:       time.Duration(rapid.Int64().Draw(t, "window")),
		}
	}
	return pods, samples
}

// Property: per-pod inputs never panic, through Propose, GroupPods and the
// whole Decide, and a result is either a proposal or a reason.
func TestPropertyPodInputsNeverPanic(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		pods, samples := genPods(t)
		cfg := ControllerConfig{
			Tolerance:               rapid.Float64Range(0, 2).Draw(t, "tolerance"),
			CPUInitializationPeriod: time.Duration(rapid.Int64().Draw(t, "init")),
			InitialReadinessDelay:   time.Duration(rapid.Int64().Draw(t, "delay")),
		}
		ms := MetricSpec{
			Type:              rapid.SampledFrom([]MetricType{ResourceMetric, ContainerResourceMetric, PodsMetric}).Draw(t, "type"),
			Target:            rapid.SampledFrom([]TargetType{UtilizationTarget, AverageValueTarget}).Draw(t, "target"),
			Resource:          rapid.SampledFrom([]string{ResourceCPU, "memory", ""}).Draw(t, "resource"),
			TargetUtilization: rapid.Int32Range(-5, 500).Draw(t, "targetUtilization"),
			TargetMilli:       rapid.SampledFrom([]int64{0, 1, 100, 20000, math.MaxInt64, -3}).Draw(t, "targetMilli"),
		}
		if rapid.IntRange(0, 5).Draw(t, "dropSample") == 0 && len(samples) > 0 {
			samples = samples[:len(samples)-1]
		}
		unlisted := rapid.SliceOfN(rapid.Int64(), 0, 3).Draw(t, "unlisted")
		mv := MetricValue{PodSamples: samples, UnlistedPodValuesMilli: unlisted}
		cur := rapid.Int32Range(0, 50).Draw(t, "current")
		now := testNow.Add(time.Duration(rapid.Int64Range(-1e12, 1e12).Draw(t, "now")))

		GroupPods(pods, samples, cfg.GroupOptions(ms.Resource), now, nil)
		r := Propose(&ms, &mv, ProposalInput{SpecReplicas: cur, StatusReplicas: cur, ReadyPodCount: CountReadyPods(pods), Tolerances: Tolerances{Down: cfg.Tolerance, Up: cfg.Tolerance}, Pods: pods, Now: now, CPUInitializationPeriod: cfg.CPUInitializationPeriod, InitialReadinessDelay: cfg.InitialReadinessDelay})
		if r.Valid == (r.Err != MetricOK) {
			t.Fatalf("valid %v with error %v", r.Valid, r.Err)
		}
		spec := &Spec{MinReplicas: 1, MaxReplicas: 100, Metrics: []MetricSpec{ms}, Controller: cfg, Features: DefaultFeatureGates()}
		var d Decision
		Decide(spec, &Observed{CurrentReplicas: cur, StatusReplicas: cur, Pods: pods, Metrics: []MetricValue{mv}}, nil, now, &d)
	})
}

// Property: with every pod running, ready long ago and with a sample, the
// per-pod path gives what the all-ready path gives.
func TestPropertyAllReadyPodsMatchLegacy(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 20).Draw(t, "pods")
		ms, legacy := genMetric(t, int32(n), "")
		if ms.Type == ObjectMetric || ms.Type == ExternalMetric {
			return
		}
		ms.Resource = rapid.SampledFrom([]string{ResourceCPU, "memory"}).Draw(t, "resource")
		pods := make([]PodInfo, n)
		mv := MetricValue{PodSamples: make([]PodSample, n)}
		for i := range pods {
			start := testNow.Add(-time.Duration(rapid.IntRange(600, 100_000).Draw(t, "age")) * time.Second)
			pods[i] = PodInfo{Phase: PodRunning, Ready: ConditionTrue, HasStartTime: true, StartTime: start, ReadyTransition: start}
			mv.PodSamples[i] = PodSample{ValueMilli: legacy.PodValuesMilli[i], Timestamp: testNow, Window: time.Minute}
			if legacy.PodRequestsMilli != nil {
				mv.PodSamples[i].RequestMilli = legacy.PodRequestsMilli[i]
			}
		}
		cur := rapid.Int32Range(1, 50).Draw(t, "current")
		tol := rapid.Float64Range(0, 0.5).Draw(t, "tolerance")
		in := ProposalInput{SpecReplicas: cur, StatusReplicas: cur, ReadyPodCount: cur, Tolerances: Tolerances{Down: tol, Up: tol},
			Pods: pods, Now: testNow, CPUInitializationPeriod: DefaultCPUInitializationPeriod, InitialReadinessDelay: DefaultInitialReadinessDelay}
		want := Propose(&ms, &legacy, in)
		got := Propose(&ms, &mv, in)
		if got.Pods != (PodCounts{Counted: int32(n)}) {
			t.Fatalf("counts %+v, want %d counted", got.Pods, n)
		}
		got.Pods = PodCounts{}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("per-pod proposal differs from the all-ready one (-want +got):\n%s", diff)
		}
	})
}

// Property: failed and deleting pods take no part: dropping them changes
// nothing but the ignored count.
func TestPropertyIgnoredPodsTakeNoPart(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		pods, samples := genPods(t)
		ms := MetricSpec{Type: ResourceMetric, Resource: ResourceCPU, Target: UtilizationTarget, TargetUtilization: rapid.Int32Range(1, 300).Draw(t, "target")}
		if rapid.Bool().Draw(t, "pods") {
			ms = MetricSpec{Type: PodsMetric, Target: AverageValueTarget, TargetMilli: rapid.Int64Range(1, 100_000).Draw(t, "targetMilli")}
		}
		in := ProposalInput{SpecReplicas: rapid.Int32Range(1, 30).Draw(t, "current"), Tolerances: Tolerances{Down: 0.1, Up: 0.1},
			Now: testNow, CPUInitializationPeriod: 2 * time.Minute, InitialReadinessDelay: 10 * time.Second}
		in.Pods = pods
		all := Propose(&ms, &MetricValue{PodSamples: samples}, in)
		var keptPods []PodInfo
		var keptSamples []PodSample
		for i := range pods {
			if GroupPod(&pods[i], &samples[i], GroupOptions{}, testNow) != PodIgnored {
				keptPods, keptSamples = append(keptPods, pods[i]), append(keptSamples, samples[i])
			}
		}
		if len(keptPods) == 0 {
			return // no pods at all is another error upstream
		}
		in.Pods = keptPods
		kept := Propose(&ms, &MetricValue{PodSamples: keptSamples}, in)
		if int(kept.Pods.Ignored) != 0 || int(all.Pods.Ignored) != len(pods)-len(keptPods) {
			t.Fatalf("ignored counts %d and %d for %d dropped pods", all.Pods.Ignored, kept.Pods.Ignored, len(pods)-len(keptPods))
		}
		all.Pods.Ignored = 0
		if diff := cmp.Diff(kept, all); diff != "" {
			t.Fatalf("ignored pods changed the proposal (-without +with):\n%s", diff)
		}
	})
}

// Property: a recomputed proposal never moves against the direction of the
// first ratio.
func TestPropertyRebalanceKeepsDirection(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		pods, samples := genPods(t)
		ms := MetricSpec{Type: ContainerResourceMetric, Resource: ResourceCPU, Target: UtilizationTarget, TargetUtilization: rapid.Int32Range(1, 300).Draw(t, "target")}
		if rapid.Bool().Draw(t, "pods") {
			ms = MetricSpec{Type: PodsMetric, Target: AverageValueTarget, TargetMilli: rapid.Int64Range(1, 100_000).Draw(t, "targetMilli")}
		}
		cur := rapid.Int32Range(1, 30).Draw(t, "current")
		in := ProposalInput{SpecReplicas: cur, Tolerances: Tolerances{Down: 0.1, Up: 0.1}, Pods: pods,
			Now: testNow, CPUInitializationPeriod: 2 * time.Minute, InitialReadinessDelay: 10 * time.Second}
		r := Propose(&ms, &MetricValue{PodSamples: samples}, in)
		if !r.Valid || !r.Rebalanced {
			return
		}
		if (r.UsageRatio < 1 && r.Replicas > cur) || (r.UsageRatio > 1 && r.Replicas < cur) {
			t.Fatalf("ratio %v (rebalanced %v) proposes %d from %d", r.UsageRatio, r.RebalancedRatio, r.Replicas, cur)
		}
	})
}

// FuzzPodProposal feeds arbitrary bytes as pods, samples and a metric to
// Propose and GroupPods; nothing may panic.
func FuzzPodProposal(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 3, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	f.Add([]byte("\x01\x05\xff\xff\xff\xff\xff\xff\xff\x7f\x00\x00\x00\x00\x00\x00\x00\x80pods that are not ready"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := fuzzReader{data: data}
		ms := MetricSpec{Type: MetricType(r.byte()%4 + 1), Target: TargetType(r.byte()%3 + 1), TargetUtilization: int32(r.int64()), TargetMilli: r.int64()}
		if r.byte()%2 == 0 {
			ms.Resource = ResourceCPU
		}
		n := int(r.byte() % 16)
		pods := make([]PodInfo, n)
		samples := make([]PodSample, n-int(r.byte()%2)*min(n, 1))
		phases := []PodPhase{PodRunning, PodPending, PodSucceeded, PodFailed, PodUnknown, ""}
		statuses := []ConditionStatus{ConditionTrue, ConditionFalse, ConditionUnknown, ""}
		for i := range pods {
			b := r.byte()
			pods[i] = PodInfo{Phase: phases[int(b)%len(phases)], Deleting: b&0x80 != 0, HasStartTime: b&0x40 != 0,
				StartTime: time.Unix(0, r.int64()), Ready: statuses[int(r.byte())%len(statuses)], ReadyTransition: time.Unix(0, r.int64())}
			if i < len(samples) {
				samples[i] = PodSample{Missing: r.byte()%3 == 0, ValueMilli: r.int64(), RequestMilli: r.int64(), Timestamp: time.Unix(0, r.int64()), Window: time.Duration(r.int64())}
			}
		}
		var unlisted []int64
		for i := r.byte() % 3; i > 0; i-- {
			unlisted = append(unlisted, r.int64())
		}
		now := time.Unix(0, r.int64())
		in := ProposalInput{SpecReplicas: int32(r.byte()), Tolerances: Tolerances{Down: 0.1, Up: 0.1}, Pods: pods, Now: now,
			CPUInitializationPeriod: time.Duration(r.int64()), InitialReadinessDelay: time.Duration(r.int64())}
		GroupPods(pods, samples, GroupOptions{Resource: ms.Resource, CPUInitializationPeriod: in.CPUInitializationPeriod, InitialReadinessDelay: in.InitialReadinessDelay}, now, nil)
		res := Propose(&ms, &MetricValue{PodSamples: samples, UnlistedPodValuesMilli: unlisted}, in)
		if res.Valid == (res.Err != MetricOK) {
			t.Fatalf("valid %v with error %v", res.Valid, res.Err)
		}
	})
}

// fuzzReader hands out bytes and int64s from fuzz data, zeros once used up.
type fuzzReader struct {
	data []byte
}

func (r *fuzzReader) byte() byte {
	if len(r.data) == 0 {
		return 0
	}
	b := r.data[0]
	r.data = r.data[1:]
	return b
}

func (r *fuzzReader) int64() int64 {
	var v uint64
	for i := 0; i < 8; i++ {
		v = v<<8 | uint64(r.byte())
	}
	return int64(v)
}
