package scaling

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"
)

// testNow anchors the upstream tables' relative times.
var testNow = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// outcome is a replica count with the condition (or rule) that set it.
type outcome struct {
	Replicas  int32
	Condition string
}

func loadCases[T any](tb testing.TB, name string) []T {
	tb.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatalf("read %s: %v", name, err)
	}
	var file struct {
		Cases []T `json:"cases"`
	}
	if err := yaml.UnmarshalStrict(raw, &file); err != nil {
		tb.Fatalf("parse %s: %v", name, err)
	}
	if len(file.Cases) == 0 {
		tb.Fatalf("%s: no cases", name)
	}
	return file.Cases
}

type tdPolicy struct {
	Type          string `json:"type"`
	Value         int32  `json:"value"`
	PeriodSeconds int32  `json:"periodSeconds"`
}

type tdRules struct {
	SelectPolicy               string     `json:"selectPolicy"`
	StabilizationWindowSeconds *int32     `json:"stabilizationWindowSeconds"`
	Policies                   []tdPolicy `json:"policies"`
}

func (r *tdRules) rules(tb testing.TB, def ScalingRules) ScalingRules {
	tb.Helper()
	if r == nil {
		return def
	}
	out := def
	switch r.SelectPolicy {
	case "", "Max":
		out.SelectPolicy = SelectMax
	case "Min":
		out.SelectPolicy = SelectMin
	case "Disabled":
		out.SelectPolicy = SelectDisabled
	default:
		tb.Fatalf("selectPolicy %q", r.SelectPolicy)
	}
	if r.StabilizationWindowSeconds != nil {
		out.StabilizationWindowSeconds = *r.StabilizationWindowSeconds
	}
	if r.Policies != nil {
		out.Policies = nil
		for _, p := range r.Policies {
			sp := ScalingPolicy{Value: p.Value, PeriodSeconds: p.PeriodSeconds}
			switch p.Type {
			case "Pods":
				sp.Type = PodsPolicy
			case "Percent":
				sp.Type = PercentPolicy
			default:
				tb.Fatalf("policy type %q", p.Type)
			}
			out.Policies = append(out.Policies, sp)
		}
	}
	return out
}

type tdEvent struct {
	SecondsAgo    int64 `json:"secondsAgo"`
	ReplicaChange int32 `json:"replicaChange"`
}

type tdRec struct {
	SecondsAgo int64 `json:"secondsAgo"`
	Replicas   int32 `json:"replicas"`
}

func ago(s int64) time.Time { return testNow.Add(-time.Duration(s) * time.Second) }

func TestConvertDesiredReplicasWithRules(t *testing.T) {
	type tc struct {
		Name            string `json:"name"`
		CurrentReplicas int32  `json:"currentReplicas"`
		DesiredReplicas int32  `json:"desiredReplicas"`
		MinReplicas     int32  `json:"minReplicas"`
		MaxReplicas     int32  `json:"maxReplicas"`
		WantReplicas    int32  `json:"wantReplicas"`
		WantCondition   string `json:"wantCondition"`
	}
	for _, c := range loadCases[tc](t, "convert_with_rules.yaml") {
		t.Run(c.Name, func(t *testing.T) {
			got, cond, _ := convertWithRules(c.CurrentReplicas, c.DesiredReplicas, c.MinReplicas, c.MaxReplicas)
			if diff := cmp.Diff(outcome{c.WantReplicas, c.WantCondition}, outcome{got, cond}); diff != "" {
				t.Errorf("convertWithRules (-want +got):\n%s", diff)
			}
		})
	}
}

func TestScalingWithRules(t *testing.T) {
	type tc struct {
		Name            string    `json:"name"`
		CurrentReplicas int32     `json:"currentReplicas"`
		DesiredReplicas int32     `json:"desiredReplicas"`
		MinReplicas     int32     `json:"minReplicas"`
		MaxReplicas     int32     `json:"maxReplicas"`
		ScaleUp         *tdRules  `json:"scaleUp"`
		ScaleDown       *tdRules  `json:"scaleDown"`
		ScaleUpEvents   []tdEvent `json:"scaleUpEvents"`
		ScaleDownEvents []tdEvent `json:"scaleDownEvents"`
		WantReplicas    int32     `json:"wantReplicas"`
		WantCondition   string    `json:"wantCondition"`
	}
	for _, c := range loadCases[tc](t, "scaling_with_rules.yaml") {
		t.Run(c.Name, func(t *testing.T) {
			b := &Behavior{ScaleUp: c.ScaleUp.rules(t, DefaultScaleUpRules()), ScaleDown: c.ScaleDown.rules(t, DefaultScaleDownRules())}
			var h History
			for _, e := range c.ScaleUpEvents {
				h.AddScaleEvent(true, e.ReplicaChange, ago(e.SecondsAgo))
			}
			for _, e := range c.ScaleDownEvents {
				h.AddScaleEvent(false, e.ReplicaChange, ago(e.SecondsAgo))
			}
			got := convertWithBehaviorRate(b, &h, c.CurrentReplicas, c.DesiredReplicas, c.MinReplicas, c.MaxReplicas, testNow.UnixNano())
			if diff := cmp.Diff(outcome{c.WantReplicas, c.WantCondition}, outcome{got.replicas, got.reason}); diff != "" {
				t.Errorf("convertWithBehaviorRate (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCalculateScaleLimitsWithMinPolicy(t *testing.T) {
	// Upstream TestCalculateScaleUpLimitWithScalingRules and
	// TestCalculateScaleDownLimitWithBehaviors: selectPolicy Min of 2 pods
	// or 50% per 60 s, no events.
	rules := ScalingRules{SelectPolicy: SelectMin, Policies: []ScalingPolicy{
		{Type: PodsPolicy, Value: 2, PeriodSeconds: 60},
		{Type: PercentPolicy, Value: 50, PeriodSeconds: 60},
	}}
	var h History
	if got := scaleUpLimit(1, &h, &rules, testNow.UnixNano()); got != 2 {
		t.Errorf("scale-up limit from 1: got %d, want 2", got)
	}
	if got := scaleDownLimit(5, &h, &rules, testNow.UnixNano()); got != 3 {
		t.Errorf("scale-down limit from 5: got %d, want 3", got)
	}
}

func TestStoreScaleEvents(t *testing.T) {
	type want struct {
		Change   int32 `json:"change"`
		Outdated bool  `json:"outdated"`
	}
	type tc struct {
		Name                   string    `json:"name"`
		ReplicaChange          int32     `json:"replicaChange"`
		Rules                  *tdRules  `json:"rules"`
		Previous               []tdEvent `json:"previous"`
		WantChangeInLastMinute int32     `json:"wantChangeInLastMinute"`
		Want                   []want    `json:"want"`
	}
	for _, c := range loadCases[tc](t, "store_scale_events.yaml") {
		for _, up := range []bool{true, false} {
			dir := "down"
			if up {
				dir = "up"
			}
			t.Run(c.Name+"/"+dir, func(t *testing.T) {
				var h History
				for _, e := range c.Previous {
					h.AddScaleEvent(up, e.ReplicaChange, ago(e.SecondsAgo))
				}
				events := h.down
				if up {
					events = h.up
				}
				if got := changeInPeriod(events, testNow.UnixNano(), 60); got != c.WantChangeInLastMinute {
					t.Errorf("change in the last minute: got %d, want %d", got, c.WantChangeInLastMinute)
				}
				spec := &Spec{Controller: DefaultControllerConfig()}
				if c.Rules != nil {
					r := c.Rules.rules(t, ScalingRules{})
					spec.Behavior = &Behavior{ScaleUp: r, ScaleDown: r}
				}
				a := NewAutoscaler(spec)
				a.hist = h
				a.hist.seeded = true
				a.dec = Decision{CurrentReplicas: 10, DesiredReplicas: 10 - c.ReplicaChange, Rescale: true}
				if up {
					a.dec.DesiredReplicas = 10 + c.ReplicaChange
				}
				a.storeEventOnly(testNow)
				got := []want{}
				for _, e := range a.hist.ScaleEvents(up) {
					got = append(got, want{Change: e.Change, Outdated: e.Outdated})
				}
				if diff := cmp.Diff(c.Want, got); diff != "" {
					t.Errorf("stored events (-want +got):\n%s", diff)
				}
			})
		}
	}
}

// storeEventOnly runs the scale-event part of Commit for TestStoreScaleEvents.
func (a *Autoscaler) storeEventOnly(now time.Time) {
	d := &a.dec
	b := a.spec.Behavior
	if b == nil {
		return
	}
	if d.DesiredReplicas > d.CurrentReplicas {
		a.hist.storeScaleEvent(true, d.DesiredReplicas-d.CurrentReplicas, longestPeriod(&b.ScaleUp), now.UnixNano())
	} else {
		a.hist.storeScaleEvent(false, d.CurrentReplicas-d.DesiredReplicas, longestPeriod(&b.ScaleDown), now.UnixNano())
	}
}

func TestNormalizeDesiredReplicasWithBehavior(t *testing.T) {
	type tc struct {
		Name                                string  `json:"name"`
		Recommendations                     []tdRec `json:"recommendations"`
		CurrentReplicas                     int32   `json:"currentReplicas"`
		DesiredReplicas                     int32   `json:"desiredReplicas"`
		ScaleUpStabilizationWindowSeconds   int32   `json:"scaleUpStabilizationWindowSeconds"`
		ScaleDownStabilizationWindowSeconds int32   `json:"scaleDownStabilizationWindowSeconds"`
		WantStabilized                      int32   `json:"wantStabilized"`
		WantStored                          []int32 `json:"wantStored"`
	}
	for _, c := range loadCases[tc](t, "normalize_with_behavior.yaml") {
		t.Run(c.Name, func(t *testing.T) {
			var h History
			h.MarkWritten()
			for _, r := range c.Recommendations {
				h.AddRecommendation(r.Replicas, ago(r.SecondsAgo))
			}
			now := testNow.UnixNano()
			up := int64(c.ScaleUpStabilizationWindowSeconds) * int64(time.Second)
			down := int64(c.ScaleDownStabilizationWindowSeconds) * int64(time.Second)
			got, _ := stabilizeWithBehavior(&h, false, c.CurrentReplicas, c.DesiredReplicas, now, up, down)
			if got != c.WantStabilized {
				t.Errorf("stabilized: got %d, want %d", got, c.WantStabilized)
			}
			if c.WantStored == nil {
				return
			}
			h.storeRecommendationBehavior(c.DesiredReplicas, now, up, down)
			var stored []int32
			for _, r := range h.Recommendations() {
				stored = append(stored, r.Replicas)
			}
			if diff := cmp.Diff(c.WantStored, stored); diff != "" {
				t.Errorf("stored recommendations (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNormalizeDesiredReplicas(t *testing.T) {
	type tc struct {
		Name            string  `json:"name"`
		Recommendations []tdRec `json:"recommendations"`
		DesiredReplicas int32   `json:"desiredReplicas"`
		WantStabilized  int32   `json:"wantStabilized"`
		WantLogLength   int     `json:"wantLogLength"`
	}
	for _, c := range loadCases[tc](t, "normalize_legacy.yaml") {
		t.Run(c.Name, func(t *testing.T) {
			var h History
			h.MarkWritten()
			for _, r := range c.Recommendations {
				h.AddRecommendation(r.Replicas, ago(r.SecondsAgo))
			}
			now := testNow.UnixNano()
			window := 5 * time.Minute
			got := stabilizeLegacy(&h, false, 0, c.DesiredReplicas, now, window)
			if got != c.WantStabilized {
				t.Errorf("stabilized: got %d, want %d", got, c.WantStabilized)
			}
			h.storeRecommendationLegacy(c.DesiredReplicas, now, window)
			if n, _, _ := h.Len(); n != c.WantLogLength {
				t.Errorf("log length: got %d, want %d", n, c.WantLogLength)
			}
		})
	}
}

func TestReplicaCalculator(t *testing.T) {
	type metric struct {
		Type              string `json:"type"`
		Target            string `json:"target"`
		TargetUtilization int32  `json:"targetUtilization"`
		TargetMilli       int64  `json:"targetMilli"`
	}
	type current struct {
		PodValuesMilli   []int64 `json:"podValuesMilli"`
		PodRequestsMilli []int64 `json:"podRequestsMilli"`
		ValueMilli       int64   `json:"valueMilli"`
		ValuesMilli      []int64 `json:"valuesMilli"`
	}
	type want struct {
		Replicas        int32 `json:"replicas"`
		Utilization     int32 `json:"utilization"`
		UsageMilli      int64 `json:"usageMilli"`
		WithinTolerance bool  `json:"withinTolerance"`
	}
	type tc struct {
		Name          string      `json:"name"`
		Metric        metric      `json:"metric"`
		Current       current     `json:"current"`
		SpecReplicas  int32       `json:"specReplicas"`
		ReadyPodCount *int32      `json:"readyPodCount"`
		Tolerances    *Tolerances `json:"tolerances"`
		Want          want        `json:"want"`
		// WantError is the reason the metric gives no proposal, as
		// MetricError.String words it.
		WantError string `json:"wantError"`
	}
	types := map[string]MetricType{"Resource": ResourceMetric, "ContainerResource": ContainerResourceMetric, "Pods": PodsMetric, "Object": ObjectMetric, "External": ExternalMetric}
	targets := map[string]TargetType{"Utilization": UtilizationTarget, "AverageValue": AverageValueTarget, "Value": ValueTarget}
	for _, c := range loadCases[tc](t, "replica_calculator.yaml") {
		t.Run(c.Name, func(t *testing.T) {
			ms := MetricSpec{Type: types[c.Metric.Type], Target: targets[c.Metric.Target], TargetUtilization: c.Metric.TargetUtilization, TargetMilli: c.Metric.TargetMilli}
			if ms.Type == 0 || ms.Target == 0 {
				t.Fatalf("bad metric %+v", c.Metric)
			}
			mv := MetricValue{PodValuesMilli: c.Current.PodValuesMilli, PodRequestsMilli: c.Current.PodRequestsMilli, ValueMilli: c.Current.ValueMilli, ValuesMilli: c.Current.ValuesMilli}
			in := ProposalInput{SpecReplicas: c.SpecReplicas, StatusReplicas: c.SpecReplicas, ReadyPodCount: c.SpecReplicas, Tolerances: Tolerances{Down: 0.1, Up: 0.1}}
			if c.ReadyPodCount != nil {
				in.ReadyPodCount = *c.ReadyPodCount
			}
			if c.Tolerances != nil {
				in.Tolerances = *c.Tolerances
			}
			got := Propose(&ms, &mv, in)
			if c.WantError != "" {
				type failure struct {
					Valid bool
					Err   string
				}
				if diff := cmp.Diff(failure{Err: c.WantError}, failure{got.Valid, got.Err.String()}); diff != "" {
					t.Errorf("proposal (-want +got):\n%s", diff)
				}
				return
			}
			if !got.Valid {
				t.Fatalf("got error %v, want a proposal", got.Err)
			}
			g := want{Replicas: got.Replicas, Utilization: got.Utilization, UsageMilli: got.UsageMilli, WithinTolerance: got.WithinTolerance}
			if diff := cmp.Diff(c.Want, g); diff != "" {
				t.Errorf("proposal (-want +got):\n%s", diff)
			}
		})
	}
}

func TestKEDAExecutor(t *testing.T) {
	type trigger struct {
		Value               float64 `json:"value"`
		ActivationThreshold float64 `json:"activationThreshold"`
	}
	type keda struct {
		CurrentReplicas        int32     `json:"currentReplicas"`
		MinReplicaCount        int32     `json:"minReplicaCount"`
		IdleReplicaCount       *int32    `json:"idleReplicaCount"`
		IsActive               *bool     `json:"isActive"`
		Triggers               []trigger `json:"triggers"`
		SecondsSinceLastActive *int64    `json:"secondsSinceLastActive"`
		SecondsSinceCreation   *int64    `json:"secondsSinceCreation"`
		CooldownPeriod         *int64    `json:"cooldownPeriod"`
		InitialCooldownPeriod  int64     `json:"initialCooldownPeriod"`
		ForceActivation        bool      `json:"forceActivation"`
		PauseScaleIn           bool      `json:"pauseScaleIn"`
		PauseScaleOut          bool      `json:"pauseScaleOut"`
		IsError                bool      `json:"isError"`
		FallbackReplicas       *int32    `json:"fallbackReplicas"`
	}
	type want struct {
		DesiredReplicas   int32  `json:"desiredReplicas"`
		IsActive          bool   `json:"isActive"`
		Action            string `json:"action"`
		LastActiveUpdated bool   `json:"lastActiveUpdated"`
	}
	type tc struct {
		Name string `json:"name"`
		Keda keda   `json:"keda"`
		Want want   `json:"want"`
	}
	for _, c := range loadCases[tc](t, "keda_executor.yaml") {
		t.Run(c.Name, func(t *testing.T) {
			k := c.Keda
			in := ActivationInput{
				CurrentReplicas:       k.CurrentReplicas,
				MinReplicaCount:       k.MinReplicaCount,
				CooldownPeriod:        DefaultCooldownPeriod,
				InitialCooldownPeriod: time.Duration(k.InitialCooldownPeriod) * time.Second,
				ForceActivation:       k.ForceActivation,
				PauseScaleIn:          k.PauseScaleIn,
				PauseScaleOut:         k.PauseScaleOut,
				Error:                 k.IsError,
			}
			if k.IdleReplicaCount != nil {
				in.IdleReplicaCount, in.HasIdleReplicaCount = *k.IdleReplicaCount, true
			}
			if k.IsActive != nil {
				in.Active = *k.IsActive
			} else {
				var values, thresholds []float64
				for _, tr := range k.Triggers {
					values = append(values, tr.Value)
					thresholds = append(thresholds, tr.ActivationThreshold)
				}
				in.Active = ActivationFromTriggers(values, thresholds)
			}
			if k.SecondsSinceLastActive != nil {
				in.LastActive = ago(*k.SecondsSinceLastActive)
			}
			if k.SecondsSinceCreation != nil {
				in.CreatedAt = ago(*k.SecondsSinceCreation)
			}
			if k.CooldownPeriod != nil {
				in.CooldownPeriod = time.Duration(*k.CooldownPeriod) * time.Second
			}
			if k.FallbackReplicas != nil {
				in.FallbackReplicas, in.HasFallback = *k.FallbackReplicas, true
			}
			r := Activate(in, testNow)
			got := want{DesiredReplicas: r.DesiredReplicas, IsActive: r.Active, Action: string(r.Action), LastActiveUpdated: r.LastActiveUpdated}
			if diff := cmp.Diff(c.Want, got); diff != "" {
				t.Errorf("activation (-want +got):\n%s", diff)
			}
		})
	}
}
