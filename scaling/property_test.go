package scaling

import (
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"
)

// genMetric draws one metric spec and a matching observation for a target
// with `pods` pods.
func genMetric(t *rapid.T, pods int32, label string) (MetricSpec, MetricValue) {
	kind := rapid.IntRange(0, 6).Draw(t, label+"kind")
	target := rapid.Int64Range(1, 1_000_000).Draw(t, label+"target")
	values := func() []int64 {
		return rapid.SliceOfN(rapid.Int64Range(0, 2_000_000), int(pods), int(pods)).Draw(t, label+"values")
	}
	switch kind {
	case 0:
		util := rapid.Int32Range(1, 200).Draw(t, label+"util")
		reqs := rapid.SliceOfN(rapid.Int64Range(1, 4000), int(pods), int(pods)).Draw(t, label+"requests")
		return MetricSpec{Type: ResourceMetric, Target: UtilizationTarget, TargetUtilization: util}, MetricValue{PodValuesMilli: values(), PodRequestsMilli: reqs}
	case 1:
		return MetricSpec{Type: ResourceMetric, Target: AverageValueTarget, TargetMilli: target}, MetricValue{PodValuesMilli: values()}
	case 2:
		return MetricSpec{Type: PodsMetric, Target: AverageValueTarget, TargetMilli: target}, MetricValue{PodValuesMilli: values()}
	case 3:
		return MetricSpec{Type: ObjectMetric, Target: ValueTarget, TargetMilli: target}, MetricValue{ValueMilli: rapid.Int64Range(0, 100_000_000).Draw(t, label+"value")}
	case 4:
		return MetricSpec{Type: ObjectMetric, Target: AverageValueTarget, TargetMilli: target}, MetricValue{ValueMilli: rapid.Int64Range(0, 100_000_000).Draw(t, label+"value")}
	case 5:
		return MetricSpec{Type: ExternalMetric, Target: ValueTarget, TargetMilli: target}, MetricValue{ValuesMilli: rapid.SliceOfN(rapid.Int64Range(0, 10_000_000), 1, 4).Draw(t, label+"series")}
	default:
		return MetricSpec{Type: ExternalMetric, Target: AverageValueTarget, TargetMilli: target}, MetricValue{ValuesMilli: rapid.SliceOfN(rapid.Int64Range(0, 10_000_000), 1, 4).Draw(t, label+"series")}
	}
}

func genRules(t *rapid.T, label string, up bool) ScalingRules {
	r := ScalingRules{
		StabilizationWindowSeconds: rapid.Int32Range(0, 600).Draw(t, label+"window"),
		SelectPolicy:               SelectPolicy(rapid.IntRange(0, 2).Draw(t, label+"select")),
	}
	if !up && rapid.Bool().Draw(t, label+"controllerWindow") {
		r.StabilizationWindowSeconds = -1
	}
	n := rapid.IntRange(1, 3).Draw(t, label+"policies")
	for i := 0; i < n; i++ {
		p := ScalingPolicy{PeriodSeconds: rapid.Int32Range(1, 1800).Draw(t, label+"period")}
		if rapid.Bool().Draw(t, label+"pods") {
			p.Type, p.Value = PodsPolicy, rapid.Int32Range(1, 50).Draw(t, label+"podsValue")
		} else {
			p.Type, p.Value = PercentPolicy, rapid.Int32Range(1, 900).Draw(t, label+"percentValue")
		}
		r.Policies = append(r.Policies, p)
	}
	if rapid.Bool().Draw(t, label+"hasTolerance") {
		r.Tolerance, r.HasTolerance = rapid.Float64Range(0, 1).Draw(t, label+"tolerance"), true
	}
	return r
}

func genSpec(t *rapid.T, withAdditions bool) *Spec {
	minR := rapid.Int32Range(0, 20).Draw(t, "min")
	spec := &Spec{
		MinReplicas: minR,
		MaxReplicas: rapid.Int32Range(max(minR, 1), 200).Draw(t, "max"),
		Controller: ControllerConfig{
			Tolerance:                    rapid.Float64Range(0, 0.5).Draw(t, "tolerance"),
			DownscaleStabilizationWindow: time.Duration(rapid.IntRange(0, 600).Draw(t, "downscaleWindow")) * time.Second,
		},
		Features: FeatureGates{
			HPAScaleToZero:           rapid.Bool().Draw(t, "scaleToZero"),
			HPAConfigurableTolerance: rapid.Bool().Draw(t, "configurableTolerance"),
		},
	}
	if rapid.Bool().Draw(t, "behavior") {
		spec.Behavior = &Behavior{ScaleUp: genRules(t, "up", true), ScaleDown: genRules(t, "down", false)}
	}
	if withAdditions {
		if rapid.Bool().Draw(t, "safety") {
			spec.Safety = &Safety{MaxScaleUpPercent: rapid.Int32Range(0, 300).Draw(t, "safetyUp"), MaxScaleDownPercent: rapid.Int32Range(0, 100).Draw(t, "safetyDown")}
		}
		if rapid.Bool().Draw(t, "budget") {
			spec.Budget = &Budget{MaxCostPerHour: rapid.Float64Range(0, 100).Draw(t, "maxCost"), PricePerReplicaHour: rapid.Float64Range(0.01, 5).Draw(t, "price")}
		}
		if rapid.Bool().Draw(t, "cooldown") {
			spec.CooldownPeriod = time.Duration(rapid.IntRange(1, 600).Draw(t, "cooldownSeconds")) * time.Second
		}
	}
	return spec
}

func genHistory(t *rapid.T) *History {
	var h History
	h.MarkWritten()
	for i, n := 0, rapid.IntRange(0, 20).Draw(t, "recs"); i < n; i++ {
		h.AddRecommendation(rapid.Int32Range(0, 300).Draw(t, "rec"), testNow.Add(-time.Duration(rapid.IntRange(0, 1200).Draw(t, "recAge"))*time.Second))
	}
	for _, up := range []bool{true, false} {
		for i, n := 0, rapid.IntRange(0, 10).Draw(t, "events"); i < n; i++ {
			h.AddScaleEvent(up, rapid.Int32Range(1, 30).Draw(t, "change"), testNow.Add(-time.Duration(rapid.IntRange(0, 2000).Draw(t, "eventAge"))*time.Second))
		}
	}
	return &h
}

// Property: once the current count is within [min, max], so is the
// decision, whatever the metrics, history and additions.
func TestPropertyWithinBounds(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		spec := genSpec(t, true)
		cur := rapid.Int32Range(spec.MinReplicas, spec.MaxReplicas).Draw(t, "current")
		obs := &Observed{CurrentReplicas: cur, StatusReplicas: cur, ReadyPodCount: cur, ScaledToZeroCondition: rapid.Bool().Draw(t, "scaledToZero")}
		pods := max(cur, 1)
		for i, n := 0, rapid.IntRange(1, 3).Draw(t, "metrics"); i < n; i++ {
			ms, mv := genMetric(t, pods, "m")
			mv.Failed = rapid.IntRange(0, 9).Draw(t, "failed") == 0
			spec.Metrics = append(spec.Metrics, ms)
			obs.Metrics = append(obs.Metrics, mv)
		}
		if rapid.Bool().Draw(t, "floor") {
			obs.ForecastFloor = rapid.Int32Range(0, 400).Draw(t, "forecastFloor")
		}
		if rapid.Bool().Draw(t, "lastScale") {
			obs.LastScaleTime = testNow.Add(-time.Duration(rapid.IntRange(0, 900).Draw(t, "lastScaleAge")) * time.Second)
		}
		var d Decision
		Decide(spec, obs, genHistory(t), testNow, &d)
		if d.DesiredReplicas < spec.MinReplicas || d.DesiredReplicas > spec.MaxReplicas {
			t.Fatalf("desired %d outside [%d, %d] from current %d (rule %s)", d.DesiredReplicas, spec.MinReplicas, spec.MaxReplicas, cur, d.Rule)
		}
	})
}

// singleMetricCase draws a spec with one metric and a written, empty
// history, at a current count within [min, max] and above zero.
func singleMetricCase(t *rapid.T) (*Spec, *Observed) {
	spec := genSpec(t, false)
	lo := max(spec.MinReplicas, 1)
	cur := rapid.Int32Range(lo, max(lo, spec.MaxReplicas)).Draw(t, "current")
	if cur > spec.MaxReplicas {
		spec.MaxReplicas = cur
	}
	ms, mv := genMetric(t, cur, "m")
	spec.Metrics = []MetricSpec{ms}
	return spec, &Observed{CurrentReplicas: cur, StatusReplicas: cur, ReadyPodCount: cur, Metrics: []MetricValue{mv}}
}

// Property: with no stored history, the decision never moves against the
// direction of the metric (a usage ratio above 1 never scales down, below 1
// never scales up).
func TestPropertyFollowsMetricDirection(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		spec, obs := singleMetricCase(t)
		var h History
		h.MarkWritten()
		var d Decision
		Decide(spec, obs, &h, testNow, &d)
		if len(d.Metrics) != 1 || !d.Metrics[0].Valid {
			return
		}
		ratio, cur := d.Metrics[0].UsageRatio, obs.CurrentReplicas
		// A NaN ratio is neither above nor below 1: the cases below would
		// let any decision pass.
		if math.IsNaN(ratio) {
			t.Fatalf("valid proposal with a NaN usage ratio (rule %s)", d.Rule)
		}
		// Clamping to [min, max] is not a move against the metric.
		lo, hi := spec.MinReplicas, spec.MaxReplicas
		switch {
		case ratio > 1 && d.DesiredReplicas < cur && d.DesiredReplicas > lo:
			t.Fatalf("ratio %v > 1 but scaled down %d -> %d (rule %s)", ratio, cur, d.DesiredReplicas, d.Rule)
		case ratio < 1 && d.DesiredReplicas > cur && d.DesiredReplicas < hi:
			t.Fatalf("ratio %v < 1 but scaled up %d -> %d (rule %s)", ratio, cur, d.DesiredReplicas, d.Rule)
		}
	})
}

// Property: within tolerance and without history, nothing changes.
func TestPropertyWithinToleranceNoChange(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		spec, obs := singleMetricCase(t)
		var h History
		h.MarkWritten()
		var d Decision
		Decide(spec, obs, &h, testNow, &d)
		if len(d.Metrics) != 1 || !d.Metrics[0].Valid {
			return
		}
		// Within is false for NaN, which would let any decision pass.
		if math.IsNaN(d.Metrics[0].UsageRatio) {
			t.Fatalf("valid proposal with a NaN usage ratio (rule %s)", d.Rule)
		}
		if TolerancesFor(spec).Within(d.Metrics[0].UsageRatio) && d.Rescale {
			t.Fatalf("ratio %v within tolerance %+v but %d -> %d (rule %s)", d.Metrics[0].UsageRatio, TolerancesFor(spec), obs.CurrentReplicas, d.DesiredReplicas, d.Rule)
		}
	})
}

type applied struct {
	at     time.Time
	change int32 // signed
}

// periodLimits recomputes, from the test's own log of applied changes, the
// bounds the behavior's policies allow at now.
func periodLimits(b *Behavior, log []applied, cur int32, now time.Time) (upLimit, downLimit int32) {
	startAt := func(period int32) int32 {
		s := cur
		for _, a := range log {
			if now.Sub(a.at) < time.Duration(period)*time.Second {
				s -= a.change
			}
		}
		return s
	}
	pick := func(rules *ScalingRules, up bool) int32 {
		if rules.SelectPolicy == SelectDisabled {
			return cur
		}
		var res int32
		first := true
		for _, p := range rules.Policies {
			s := startAt(p.PeriodSeconds)
			var v int32
			switch {
			case up && p.Type == PodsPolicy:
				v = s + p.Value
			case up:
				v = int32(math.Ceil(float64(s) * (1 + float64(p.Value)/100)))
			case p.Type == PodsPolicy:
				v = s - p.Value
			default:
				v = int32(float64(s) * (1 - float64(p.Value)/100))
			}
			// For scale-up Max allows the most, for scale-down Max
			// removes the most: the lowest bound.
			wantHigh := (rules.SelectPolicy == SelectMax) == up
			if first || (wantHigh && v > res) || (!wantHigh && v < res) {
				res, first = v, false
			}
		}
		return res
	}
	return max(pick(&b.ScaleUp, true), cur), min(pick(&b.ScaleDown, false), cur)
}

// Property: over a run of decisions, no scale-up goes beyond what the
// selected policy allows given the changes applied during its period, and
// no scale-down below.
func TestPropertyPoliciesNeverExceeded(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		spec := genSpec(t, false)
		spec.Behavior = &Behavior{ScaleUp: genRules(t, "up", true), ScaleDown: genRules(t, "down", false)}
		spec.Metrics = nil
		a := NewAutoscaler(spec)
		cur := rapid.Int32Range(max(spec.MinReplicas, 1), max(spec.MinReplicas, spec.MaxReplicas, 1)).Draw(t, "current")
		spec.MaxReplicas = max(spec.MaxReplicas, cur)
		now := testNow
		var log []applied
		for step, n := 0, rapid.IntRange(1, 40).Draw(t, "steps"); step < n; step++ {
			now = now.Add(time.Duration(rapid.IntRange(1, 120).Draw(t, "interval")) * time.Second)
			obs := &Observed{CurrentReplicas: cur, StatusReplicas: cur, ReadyPodCount: cur,
				MetricDesiredReplicas: rapid.Int32Range(0, 400).Draw(t, "proposal"), HasMetricDesiredReplicas: true}
			upLimit, downLimit := periodLimits(spec.Behavior, log, cur, now)
			d := a.Step(obs, now)
			if d.DesiredReplicas > cur && d.DesiredReplicas > upLimit {
				t.Fatalf("step %d: scaled up %d -> %d beyond the policy limit %d", step, cur, d.DesiredReplicas, upLimit)
			}
			if d.DesiredReplicas < cur && d.DesiredReplicas < downLimit {
				t.Fatalf("step %d: scaled down %d -> %d beyond the policy limit %d", step, cur, d.DesiredReplicas, downLimit)
			}
			if d.Rescale {
				log = append(log, applied{at: now, change: d.DesiredReplicas - cur})
			}
			cur = d.DesiredReplicas
		}
	})
}

// Property: pruning the history (Autoscaler) never changes a decision
// compared with keeping everything, as the controller does.
func TestPropertyPruningKeepsDecisions(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		spec := genSpec(t, false)
		spec.Metrics = nil
		pruned := NewAutoscaler(spec)
		var full History
		cur := rapid.Int32Range(max(spec.MinReplicas, 1), max(spec.MinReplicas, spec.MaxReplicas, 1)).Draw(t, "current")
		spec.MaxReplicas = max(spec.MaxReplicas, cur)
		now := testNow
		for step, n := 0, rapid.IntRange(1, 60).Draw(t, "steps"); step < n; step++ {
			now = now.Add(time.Duration(rapid.IntRange(1, 400).Draw(t, "interval")) * time.Second)
			obs := &Observed{CurrentReplicas: cur, StatusReplicas: cur, ReadyPodCount: cur,
				MetricDesiredReplicas: rapid.Int32Range(0, 300).Draw(t, "proposal"), HasMetricDesiredReplicas: true}
			var ref Decision
			Decide(spec, obs, &full, now, &ref)
			referenceCommit(spec, &full, &ref, now)
			d := pruned.Step(obs, now)
			type decided struct{ Desired, Stabilized int32 }
			if diff := cmp.Diff(decided{ref.DesiredReplicas, ref.StabilizedReplicas}, decided{d.DesiredReplicas, d.StabilizedReplicas}); diff != "" {
				t.Fatalf("step %d: pruned history decided otherwise than the full one (-full +pruned):\n%s", step, diff)
			}
			cur = d.DesiredReplicas
		}
	})
}

// referenceCommit is the controller's bookkeeping without pruning.
func referenceCommit(spec *Spec, h *History, d *Decision, now time.Time) {
	ns := now.UnixNano()
	if !h.seeded {
		h.recs = append(h.recs, recEntry{replicas: d.CurrentReplicas, at: ns - seedAge})
		h.seeded = true
	}
	if d.Normalized {
		if spec.Behavior == nil {
			h.storeRecommendationLegacy(d.Recommendation, ns, spec.Controller.DownscaleStabilizationWindow)
		} else {
			up, down := windows(spec.Behavior, spec.Controller.DownscaleStabilizationWindow)
			h.storeRecommendationBehavior(d.Recommendation, ns, up, down)
		}
	}
	if d.Rescale && spec.Behavior != nil {
		if d.DesiredReplicas > d.CurrentReplicas {
			h.storeScaleEvent(true, d.DesiredReplicas-d.CurrentReplicas, longestPeriod(&spec.Behavior.ScaleUp), ns)
		} else {
			h.storeScaleEvent(false, d.CurrentReplicas-d.DesiredReplicas, longestPeriod(&spec.Behavior.ScaleDown), ns)
		}
	}
}
