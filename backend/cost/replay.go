package cost

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
	"github.com/hpa-autoscaler/hpa-autoscaler/scaling"
	"github.com/hpa-autoscaler/hpa-autoscaler/scaling/scalerspec"
)

// MaxReplaySteps bounds one replay: 31 days of one-minute steps. A
// window longer than that is replayed from its start for MaxReplaySteps
// steps and the result says Truncated.
const MaxReplaySteps = 31 * 24 * 60

// ReplayPoint is one step of a series: its start, length and value (a
// stored history step, or a cost sample's replicas).
type ReplayPoint struct {
	Time  time.Time
	Step  time.Duration
	Value float64
}

// ReplayTrigger is one trigger's stored series and how it compares with
// its target.
type ReplayTrigger struct {
	Name string
	// Target is the trigger's target: per replica (AverageValue, and the
	// percentage of a Utilization target), or for the whole workload
	// (Value). > 0.
	Target float64
	// PerPod: the values are per-pod averages (resource triggers): the
	// replay turns each into a workload total with the actual replica
	// count of its step (the demand), then divides by the replayed count.
	PerPod bool
	// Value: the target is for the whole workload (metricType Value);
	// the value is replayed as read (it cannot be re-spread).
	Value bool
	// Points, by time.
	Points []ReplayPoint
}

// ReplayInput is what ReactiveReplay replays.
type ReplayInput struct {
	// Spec is the engine's spec (scalerspec's); its Metrics, Budget are
	// replaced: the replay has one External metric per trigger and no
	// budget cap, and no forecast floor is ever given.
	Spec scaling.Spec
	// Triggers are the stored series (at least one).
	Triggers []ReplayTrigger
	// Actual are the actual replica counts per step (cost samples), by
	// time: the first one starts the replay, and they turn PerPod values
	// into totals.
	Actual []ReplayPoint
	// From, To bound the replay.
	From, To time.Time
	// Step is the decision interval (0: the first trigger point's step,
	// else one minute).
	Step time.Duration
	// MaxSteps bounds the replay (0: MaxReplaySteps).
	MaxSteps int
}

// ReplayResult is a replay's outcome.
type ReplayResult struct {
	// ReplicaHours is the replayed count integrated over the steps
	// replayed.
	ReplicaHours float64
	// Steps replayed; Start of the first; StartReplicas its count.
	Steps         int
	Start         time.Time
	StartReplicas int32
	// Truncated: the window had more than MaxSteps steps.
	Truncated bool
}

// ErrNoReplay is returned when there is nothing to replay (no trigger
// point in the window).
var ErrNoReplay = errors.New("cost: nothing to replay")

// ReactiveReplay replays the triggers' stored values through the pure
// engine, reactive only: each step the engine decides with the values of
// the step (the last step's value held until the next one), and its
// desired count is taken at once (pods are ready immediately). It starts
// at the first step with a trigger value, with the actual count of the
// first cost sample (the spec's minimum without one), and sums the
// replayed count × step.
func ReactiveReplay(in ReplayInput) (ReplayResult, error) {
	var res ReplayResult
	if len(in.Triggers) == 0 {
		return res, fmt.Errorf("%w: no trigger", ErrNoReplay)
	}
	for _, t := range in.Triggers {
		if !(t.Target > 0) || math.IsInf(t.Target, 0) {
			return res, fmt.Errorf("cost: replay trigger %q: target %v: want > 0", t.Name, t.Target)
		}
	}
	step := in.Step
	if step <= 0 {
		step = time.Minute
		for _, t := range in.Triggers {
			if len(t.Points) > 0 && t.Points[0].Step > 0 {
				step = t.Points[0].Step
				break
			}
		}
	}
	maxSteps := in.MaxSteps
	if maxSteps <= 0 {
		maxSteps = MaxReplaySteps
	}
	// The first step: the earliest trigger point at or after From.
	var first time.Time
	for _, t := range in.Triggers {
		i := sort.Search(len(t.Points), func(i int) bool { return !t.Points[i].Time.Before(in.From) })
		if i < len(t.Points) && t.Points[i].Time.Before(in.To) && (first.IsZero() || t.Points[i].Time.Before(first)) {
			first = t.Points[i].Time
		}
	}
	if first.IsZero() {
		return res, ErrNoReplay
	}
	spec := in.Spec
	spec.Budget = nil
	spec.Metrics = make([]scaling.MetricSpec, len(in.Triggers))
	for i, t := range in.Triggers {
		tgt := scaling.AverageValueTarget
		if t.Value {
			tgt = scaling.ValueTarget
		}
		spec.Metrics[i] = scaling.MetricSpec{Name: t.Name, Type: scaling.ExternalMetric, Target: tgt, TargetMilli: max(toMilliSat(t.Target), 1)}
	}
	lo := max(spec.MinReplicas, 1)
	replicas := lo
	ai := sort.Search(len(in.Actual), func(i int) bool { return !in.Actual[i].Time.Before(first) })
	if len(in.Actual) > 0 {
		// The cost sample of the first step (or the nearest after it; the
		// last before when none is after).
		j := min(ai, len(in.Actual)-1)
		replicas = int32(math.Round(in.Actual[j].Value))
	}
	replicas = min(max(replicas, spec.MinReplicas), max(spec.MaxReplicas, spec.MinReplicas))
	res.Start, res.StartReplicas = first, replicas

	a := scaling.NewAutoscaler(&spec)
	obs := &scaling.Observed{Metrics: make([]scaling.MetricValue, len(in.Triggers))}
	vals := make([][]int64, len(in.Triggers))
	idx := make([]int, len(in.Triggers))
	for i := range vals {
		vals[i] = []int64{0}
		idx[i] = -1
	}
	ai = -1
	hours := step.Hours()
	for t := first; t.Before(in.To); t = t.Add(step) {
		if res.Steps == maxSteps {
			res.Truncated = true
			break
		}
		for ai+1 < len(in.Actual) && !in.Actual[ai+1].Time.After(t) {
			ai++
		}
		actual := float64(replicas)
		if ai >= 0 {
			actual = in.Actual[ai].Value
		}
		active := false
		for i, tr := range in.Triggers {
			for idx[i]+1 < len(tr.Points) && !tr.Points[idx[i]+1].Time.After(t) {
				idx[i]++
			}
			mv := &obs.Metrics[i]
			if idx[i] < 0 {
				// No value yet: the metric fails (no scale-down on it).
				*mv = scaling.MetricValue{Failed: true}
				continue
			}
			v := tr.Points[idx[i]].Value
			if tr.PerPod {
				v *= actual
			}
			active = active || v > 0
			vals[i][0] = toMilliSat(v)
			*mv = scaling.MetricValue{ValuesMilli: vals[i]}
		}
		obs.CurrentReplicas, obs.StatusReplicas, obs.ReadyPodCount = replicas, replicas, replicas
		obs.Active = active
		d := a.Step(obs, t)
		replicas = d.DesiredReplicas
		res.ReplicaHours += float64(replicas) * hours
		res.Steps++
	}
	return res, nil
}

// toMilliSat converts to milli-units, truncated as KEDA does, saturated.
func toMilliSat(v float64) int64 {
	switch f := v * 1000; {
	case math.IsNaN(f):
		return 0
	case f >= math.MaxInt64:
		return math.MaxInt64
	case f <= math.MinInt64:
		return math.MinInt64
	default:
		return int64(f)
	}
}

// ReplaySpec converts a Scaler's spec for ReactiveReplay: scalerspec's
// conversion without a price (so no budget cap), with KEDA's activation
// when minReplicas is 0 (as the agent builds it). Prediction is never
// applied: the replay gives no forecast floor.
func ReplaySpec(s *v1.ScalerSpec) (scaling.Spec, error) {
	res, err := scalerspec.Convert(s, scalerspec.Options{})
	if err != nil {
		return scaling.Spec{}, err
	}
	spec := *res.Spec
	spec.Budget = nil
	if spec.MinReplicas == 0 {
		act := &scaling.Activation{CooldownPeriod: scaling.DefaultCooldownPeriod}
		if cp := s.Scaling.CooldownPeriod; cp != nil {
			act.CooldownPeriod = cp.Duration
		}
		spec.Activation = act
		spec.CooldownPeriod = 0
	}
	return spec, nil
}

// ReplayTriggers pairs a Scaler's triggers with their targets: the
// status's target of each (a decimal; the percentage of a Utilization
// target), resource triggers per pod, metricType Value for the whole
// workload. A trigger without a parsable target is left out and named
// in skipped.
func ReplayTriggers(s *v1.ScalerSpec, st *v1.ScalerStatus) (out []ReplayTrigger, skipped []string) {
	targets := make(map[string]string, len(st.Triggers))
	for _, t := range st.Triggers {
		targets[t.Name] = t.Target
	}
	for _, t := range triggersOf(s) {
		name := t.Name
		if name == "" {
			name = t.Type
		}
		tgt, err := strconv.ParseFloat(targets[name], 64)
		if err != nil || !(tgt > 0) || math.IsInf(tgt, 0) {
			skipped = append(skipped, name)
			continue
		}
		out = append(out, ReplayTrigger{Name: name, Target: tgt, PerPod: t.Resource != nil, Value: t.Resource == nil && t.MetricType == "Value"})
	}
	return out, skipped
}

// triggersOf is the spec's triggers: scalerSpec's one, then triggers.
func triggersOf(s *v1.ScalerSpec) []v1.TriggerSpec {
	if s.ScalerSpec == nil {
		return s.Triggers
	}
	return append([]v1.TriggerSpec{*s.ScalerSpec}, s.Triggers...)
}
