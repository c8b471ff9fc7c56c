// Package scalerspec turns the scaling part of a Scaler (api/v1
// spec.scaling and spec.advanced) into the decision engine's scaling.Spec:
// replica bounds, the HPA behavior with the HPA's defaults, the cooldown,
// and our additions (safety caps, fallback, budget). The triggers' metrics
// are not its business: the agent adds them, and simulate replays demand
// instead.
//
// It is the one conversion from the CRD's shape to the engine, used by the
// agent (controller/) and by hpa-autoscaler simulate, so a Scaler file
// means the same to both. Every check the API server makes with the CRD's
// schema and CEL rules is made here too (simulate reads files that never
// went through an API server), each error naming the field.
package scalerspec

import (
	"errors"
	"fmt"
	"math"
	"strconv"

	autoscalingv2 "k8s.io/api/autoscaling/v2"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
	"github.com/hpa-autoscaler/hpa-autoscaler/scaling"
	"github.com/hpa-autoscaler/hpa-autoscaler/scaling/hpa"
)

// Options are what the Scaler does not say.
type Options struct {
	// PricePerReplicaHour prices one replica for an hour; with it,
	// costThresholds.maxCostPerHour becomes a replica cap (scaling.Budget).
	// 0: no budget cap (Result.BudgetUnpriced says whether one was asked).
	PricePerReplicaHour float64
	// Controller and Features are the kube-controller-manager settings the
	// HPA math depends on; zero values mean Kubernetes' defaults.
	Controller *scaling.ControllerConfig
	Features   *scaling.FeatureGates
}

// Result is the converted spec and what it could not honour.
type Result struct {
	Spec *scaling.Spec
	// BudgetUnpriced: costThresholds.maxCostPerHour is set (and cost
	// optimization enabled) but Options gave no price, so no cap applies.
	BudgetUnpriced bool
}

// Convert converts s. Errors name the field ("spec.scaling.maxReplicas:
// 0: expected at least 1"), every problem at once.
func Convert(s *v1.ScalerSpec, o Options) (Result, error) {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	spec := &scaling.Spec{MinReplicas: 1, Controller: scaling.DefaultControllerConfig(), Features: scaling.DefaultFeatureGates()}
	if o.Controller != nil {
		spec.Controller = *o.Controller
	}
	if o.Features != nil {
		spec.Features = *o.Features
	}
	sc := &s.Scaling
	if sc.MinReplicas != nil {
		if *sc.MinReplicas < 0 {
			add("spec.scaling.minReplicas", "%d: expected 0 or more", *sc.MinReplicas)
		}
		spec.MinReplicas = *sc.MinReplicas
	}
	switch {
	case sc.MaxReplicas == 0:
		add("spec.scaling.maxReplicas", "missing: required")
	case sc.MaxReplicas < 1 || sc.MaxReplicas < spec.MinReplicas:
		add("spec.scaling.maxReplicas", "%d: expected at least 1 and at least minReplicas (%d)", sc.MaxReplicas, spec.MinReplicas)
	default:
		spec.MaxReplicas = sc.MaxReplicas
	}
	if sc.CooldownPeriod != nil {
		if sc.CooldownPeriod.Duration < 0 {
			add("spec.scaling.cooldownPeriod", "%s: expected 0 or more", sc.CooldownPeriod.Duration)
		}
		spec.CooldownPeriod = sc.CooldownPeriod.Duration
	}
	// Without either policy the Scaler is an HPA without behavior (the
	// legacy path: the controller's downscale stabilization, the legacy
	// scale-up limit); with one, the other direction gets the HPA's
	// defaults, as autoscaling/v2 defaulting does.
	if sc.ScaleUpPolicy != nil || sc.ScaleDownPolicy != nil {
		up, err1 := hpa.Rules("spec.scaling.scaleUpPolicy", hpaRules(sc.ScaleUpPolicy), scaling.DefaultScaleUpRules())
		down, err2 := hpa.Rules("spec.scaling.scaleDownPolicy", hpaRules(sc.ScaleDownPolicy), scaling.DefaultScaleDownRules())
		if err := errors.Join(err1, err2); err != nil {
			errs = append(errs, err)
		}
		spec.Behavior = &scaling.Behavior{ScaleUp: up, ScaleDown: down}
	}

	var res Result
	if a := s.Advanced; a != nil && (a.Enabled == nil || *a.Enabled) {
		if sf := a.Safety; sf != nil && (sf.MaxScaleUpPercent != nil || sf.MaxScaleDownPercent != nil) {
			out := &scaling.Safety{}
			if v := sf.MaxScaleUpPercent; v != nil {
				if *v < 1 || *v > 1000 {
					add("spec.advanced.safety.maxScaleUpPercent", "%d: expected 1 to 1000", *v)
				}
				out.MaxScaleUpPercent = *v
			}
			if v := sf.MaxScaleDownPercent; v != nil {
				if *v < 1 || *v > 100 {
					add("spec.advanced.safety.maxScaleDownPercent", "%d: expected 1 to 100", *v)
				}
				out.MaxScaleDownPercent = *v
			}
			spec.Safety = out
		}
		if f := a.Fallback; f != nil {
			fb := &scaling.Fallback{FailureThreshold: scaling.DefaultFailureThreshold, LastKnownMaxAge: scaling.DefaultLastKnownMaxAge}
			if f.FailureThreshold != nil {
				if *f.FailureThreshold < 1 {
					add("spec.advanced.fallback.failureThreshold", "%d: expected 1 or more", *f.FailureThreshold)
				}
				fb.FailureThreshold = *f.FailureThreshold
			}
			b, err := scaling.ParseFallbackBehavior(f.Behavior)
			if err != nil {
				add("spec.advanced.fallback.behavior", "%v", err)
			}
			fb.Behavior = b
			if f.Replicas != nil {
				if *f.Replicas < 0 {
					add("spec.advanced.fallback.replicas", "%d: expected 0 or more", *f.Replicas)
				}
				fb.Replicas = *f.Replicas
			} else if b != scaling.FallbackCurrentReplicas && b != scaling.FallbackLastKnownValue {
				add("spec.advanced.fallback.replicas", "missing: behavior %s needs replicas", b)
			}
			spec.Fallback = fb
		}
		if c := a.CostOptimization; c != nil && c.Enabled && c.CostThresholds != nil && c.CostThresholds.MaxCostPerHour != "" {
			m := c.CostThresholds.MaxCostPerHour
			v, err := strconv.ParseFloat(m, 64)
			switch {
			case err != nil || v < 0 || math.IsNaN(v) || math.IsInf(v, 0):
				add("spec.advanced.costOptimization.costThresholds.maxCostPerHour", "%q: expected a cost such as \"50.00\"", m)
			case o.PricePerReplicaHour > 0:
				spec.Budget = &scaling.Budget{MaxCostPerHour: v, PricePerReplicaHour: o.PricePerReplicaHour}
			default:
				res.BudgetUnpriced = true
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Result{}, err
	}
	res.Spec = spec
	return res, nil
}

// hpaRules is r in autoscaling/v2's shape, which hpa.Rules defaults and
// checks exactly as the HPA does.
func hpaRules(r *v1.ScalingRules) *autoscalingv2.HPAScalingRules {
	if r == nil {
		return nil
	}
	out := &autoscalingv2.HPAScalingRules{
		StabilizationWindowSeconds: r.StabilizationWindowSeconds,
		Tolerance:                  r.Tolerance,
	}
	if r.SelectPolicy != nil {
		p := autoscalingv2.ScalingPolicySelect(*r.SelectPolicy)
		out.SelectPolicy = &p
	}
	if r.Policies != nil {
		out.Policies = make([]autoscalingv2.HPAScalingPolicy, len(r.Policies))
		for i, p := range r.Policies {
			out.Policies[i] = autoscalingv2.HPAScalingPolicy{Type: autoscalingv2.HPAScalingPolicyType(p.Type), Value: p.Value, PeriodSeconds: p.PeriodSeconds}
		}
	}
	return out
}
