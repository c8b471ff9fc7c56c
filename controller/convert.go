package controller

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
	"github.com/hpa-autoscaler/hpa-autoscaler/scaling"
	"github.com/hpa-autoscaler/hpa-autoscaler/scaling/scalerspec"
)

// Defaults are the agent-wide settings under each Scaler's own (the agent
// configuration's safety block and --dry-run). A Scaler's own value wins
// where it sets one; a switch that only a Scaler can turn on (a bool of
// the CRD) is on when either turns it on.
type Defaults struct {
	// DryRun: compute and report every decision, never patch a target.
	DryRun bool
	// MaxScaleUpPercent and MaxScaleDownPercent cap one step of every
	// Scaler that sets no cap of its own (0: no cap).
	MaxScaleUpPercent   int32
	MaxScaleDownPercent int32
	// RespectPDBs turns the PodDisruptionBudget floor on for every Scaler.
	RespectPDBs bool
	// PDBMinAvailable, when > 0 and the PDB floor is on, is a floor of its
	// own: no target is scaled below it (as if a PodDisruptionBudget with
	// that minAvailable selected every target).
	PDBMinAvailable int32
}

// Validate reports every invalid field.
func (d Defaults) Validate() error {
	var errs []error
	if d.MaxScaleUpPercent < 0 || d.MaxScaleUpPercent > 1000 {
		errs = append(errs, fmt.Errorf("maxScaleUpPercent %d: expected 0 (no cap) to 1000", d.MaxScaleUpPercent))
	}
	if d.MaxScaleDownPercent < 0 || d.MaxScaleDownPercent > 100 {
		errs = append(errs, fmt.Errorf("maxScaleDownPercent %d: expected 0 (no cap) to 100", d.MaxScaleDownPercent))
	}
	if d.PDBMinAvailable < 0 {
		errs = append(errs, fmt.Errorf("pdb.minAvailable %d: expected >= 0", d.PDBMinAvailable))
	}
	return errors.Join(errs...)
}

// policy is what a Scaler's spec asks of the agent beyond scaling.Spec:
// the switches the reconciler itself acts on.
type policy struct {
	dryRun          bool
	pdbChecks       bool
	pdbMinAvailable int32
	conflicts       bool
	predictive      *v1.PredictiveScaling
	// cost is set when advanced.costOptimization is enabled: accepted,
	// not applied (there is no price source yet).
	cost bool
}

// additionsOn reports whether the Scaler's own additions apply
// (advanced.enabled, default true).
func additionsOn(a *v1.Advanced) bool {
	return a != nil && (a.Enabled == nil || *a.Enabled)
}

// triggerSpecs returns the Scaler's triggers with their field paths.
func triggerSpecs(s *v1.ScalerSpec) (specs []v1.TriggerSpec, paths []string) {
	if s.ScalerSpec != nil {
		return []v1.TriggerSpec{*s.ScalerSpec}, []string{"spec.scalerSpec"}
	}
	for i := range s.Triggers {
		specs = append(specs, s.Triggers[i])
		paths = append(paths, fmt.Sprintf("spec.triggers[%d]", i))
	}
	return specs, paths
}

// specPolicy returns the Scaler's switches with the agent's defaults.
func specPolicy(s *v1.ScalerSpec, d Defaults) policy {
	p := policy{dryRun: d.DryRun, pdbChecks: d.RespectPDBs, pdbMinAvailable: d.PDBMinAvailable}
	a := s.Advanced
	if a != nil && a.DryRun {
		// Honoured even with enabled false: a switch that lets the agent
		// act must never be implied by turning additions off.
		p.dryRun = true
	}
	if !additionsOn(a) {
		return p
	}
	if sf := a.Safety; sf != nil {
		p.pdbChecks = p.pdbChecks || sf.EnablePDBChecks
		p.conflicts = sf.EnableHPAConflictDetection
	}
	if ps := a.PredictiveScaling; ps != nil && ps.Enabled {
		p.predictive = ps
	}
	if c := a.CostOptimization; c != nil && c.Enabled {
		p.cost = true
	}
	return p
}

// scalingSpec converts the Scaler's scaling block and additions
// (scaling/scalerspec, the conversion simulate uses too) into the
// engine's Spec over metrics (one per metric of every trigger, in trigger
// order), with KEDA's activation when minReplicas is 0 and the agent's
// safety defaults under the Scaler's own. Every problem is reported at
// once, each naming its field.
func scalingSpec(s *v1.ScalerSpec, metrics []scaling.MetricSpec, d Defaults) (*scaling.Spec, error) {
	// No price source yet: a budget asked for is not applied
	// (scalerspec.Result.BudgetUnpriced; the decision's reason says so).
	res, err := scalerspec.Convert(s, scalerspec.Options{})
	if err != nil {
		return nil, err
	}
	spec := res.Spec
	spec.Metrics = metrics
	if spec.MinReplicas == 0 {
		// KEDA's activation: to zero when no trigger has been active for
		// the cooldown period (KEDA's default 300 s), back to one replica
		// when one is. The cooldown period is then KEDA's: the
		// scale-to-zero delay only, not also a pause between scaling
		// actions, so that scaling out from zero is not held back.
		act := &scaling.Activation{CooldownPeriod: scaling.DefaultCooldownPeriod}
		if cp := s.Scaling.CooldownPeriod; cp != nil {
			act.CooldownPeriod = cp.Duration
		}
		spec.Activation = act
		spec.CooldownPeriod = 0
	}
	if d.MaxScaleUpPercent != 0 || d.MaxScaleDownPercent != 0 {
		sf := scaling.Safety{}
		if spec.Safety != nil {
			sf = *spec.Safety
		}
		if sf.MaxScaleUpPercent == 0 {
			sf.MaxScaleUpPercent = d.MaxScaleUpPercent
		}
		if sf.MaxScaleDownPercent == 0 {
			sf.MaxScaleDownPercent = d.MaxScaleDownPercent
		}
		spec.Safety = &sf
	}
	return spec, nil
}

// externalMetric converts one metric of a (non-resource) trigger: an
// External metric, its target per replica (AverageValue, KEDA's default)
// or for the whole workload (Value).
func externalMetric(m scalers.MetricSpec, metricType string) scaling.MetricSpec {
	t := scaling.AverageValueTarget
	if metricType == "Value" {
		t = scaling.ValueTarget
	}
	// A target rounds to at least one milli-unit: the engine needs > 0.
	return scaling.MetricSpec{Name: m.Name, Type: scaling.ExternalMetric, Target: t, TargetMilli: max(toMilli(m.Target), 1)}
}

// toMilli converts a scaler value to milli-units as KEDA does
// (int64(value * 1000): truncated), saturated instead of wrapping.
func toMilli(v float64) int64 {
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

// resourceMetric converts a resource trigger: Resource (or
// ContainerResource with a container) with a Utilization or AverageValue
// target, as the HPA's.
func resourceMetric(path string, r *v1.ResourceTrigger) (scaling.MetricSpec, error) {
	ms := scaling.MetricSpec{Name: r.ResourceName, Type: scaling.ResourceMetric, Resource: r.ResourceName}
	if r.Container != "" {
		ms.Type = scaling.ContainerResourceMetric
		ms.Name = r.ResourceName + "/" + r.Container
	}
	switch r.TargetType {
	case "Utilization":
		if r.TargetAverageUtilization == nil || *r.TargetAverageUtilization < 1 {
			return ms, fmt.Errorf("%s.resource.targetAverageUtilization: required for targetType Utilization, a percentage >= 1", path)
		}
		ms.Target, ms.TargetUtilization = scaling.UtilizationTarget, *r.TargetAverageUtilization
	case "AverageValue":
		q, err := resource.ParseQuantity(r.TargetAverageValue)
		if err != nil {
			return ms, fmt.Errorf("%s.resource.targetAverageValue %q: expected a quantity such as 500m or 512Mi", path, r.TargetAverageValue)
		}
		// MilliValue rounds up, as the controller reads targets.
		if ms.TargetMilli = q.MilliValue(); ms.TargetMilli <= 0 {
			return ms, fmt.Errorf("%s.resource.targetAverageValue %q: expected a quantity > 0", path, r.TargetAverageValue)
		}
		ms.Target = scaling.AverageValueTarget
	default:
		return ms, fmt.Errorf("%s.resource.targetType %q: expected Utilization or AverageValue", path, r.TargetType)
	}
	if r.ResourceName != "cpu" && r.ResourceName != "memory" {
		return ms, fmt.Errorf("%s.resource.resourceName %q: expected cpu or memory", path, r.ResourceName)
	}
	return ms, nil
}

// decimal formats a value for status (shortest representation).
func decimal(v float64) string {
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// milliDecimal formats a milli-unit value as a decimal without trailing
// zeros ("5", "0.25").
func milliDecimal(m int64) string {
	neg := m < 0
	u := uint64(m)
	if neg {
		u = uint64(-m)
	}
	s := strconv.FormatUint(u/1000, 10)
	if f := u % 1000; f != 0 {
		s += strings.TrimRight(fmt.Sprintf(".%03d", f), "0")
	}
	if neg {
		s = "-" + s
	}
	return s
}

// parsePausedReplicas reads the paused-replicas annotation.
func parsePausedReplicas(v string) (int32, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("annotation %s %q: expected a replica count >= 0", v1.AnnotationPausedReplicas, v)
	}
	return int32(n), nil
}
