package hpa

import (
	"errors"
	"fmt"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/hpa-autoscaler/hpa-autoscaler/scaling"
)

// Limits of the autoscaling/v2 validation.
const (
	MaxPeriodSeconds              = 1800
	MaxStabilizationWindowSeconds = 3600
)

// FieldError is one invalid field.
type FieldError struct {
	Path string
	Msg  string
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Msg }

func fieldErr(path, format string, args ...any) error {
	return &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)}
}

// Behavior converts b, filling unset fields with the autoscaling/v2
// defaults (SetDefaults_HorizontalPodAutoscalerBehavior): a nil direction
// gets the default rules; in a set direction each nil field gets the
// default's. The scale-down stabilization window stays "unset" (-1) when nil:
// the controller's window applies. b == nil returns nil (the legacy path).
// path prefixes field names in errors.
func Behavior(path string, b *autoscalingv2.HorizontalPodAutoscalerBehavior) (*scaling.Behavior, error) {
	if b == nil {
		return nil, nil
	}
	up, err1 := Rules(path+".scaleUp", b.ScaleUp, scaling.DefaultScaleUpRules())
	down, err2 := Rules(path+".scaleDown", b.ScaleDown, scaling.DefaultScaleDownRules())
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	return &scaling.Behavior{ScaleUp: up, ScaleDown: down}, nil
}

// Rules converts one direction over def (copyHPAScalingRules: a nil field
// keeps the default; a non-nil policy list, even empty, replaces it — and an
// empty one is then rejected, as the API server rejects it).
func Rules(path string, r *autoscalingv2.HPAScalingRules, def scaling.ScalingRules) (scaling.ScalingRules, error) {
	out := def
	if r == nil {
		return out, nil
	}
	var errs []error
	if r.StabilizationWindowSeconds != nil {
		w := *r.StabilizationWindowSeconds
		if w < 0 || w > MaxStabilizationWindowSeconds {
			errs = append(errs, fieldErr(path+".stabilizationWindowSeconds", "%d: expected 0 to %d", w, MaxStabilizationWindowSeconds))
		}
		out.StabilizationWindowSeconds = w
	}
	if r.SelectPolicy != nil {
		switch *r.SelectPolicy {
		case autoscalingv2.MaxChangePolicySelect:
			out.SelectPolicy = scaling.SelectMax
		case autoscalingv2.MinChangePolicySelect:
			out.SelectPolicy = scaling.SelectMin
		case autoscalingv2.DisabledPolicySelect:
			out.SelectPolicy = scaling.SelectDisabled
		default:
			errs = append(errs, fieldErr(path+".selectPolicy", "%q: expected Max, Min or Disabled", string(*r.SelectPolicy)))
		}
	}
	if r.Policies != nil {
		if len(r.Policies) == 0 {
			errs = append(errs, fieldErr(path+".policies", "empty: expected at least one policy"))
		}
		out.Policies = make([]scaling.ScalingPolicy, 0, len(r.Policies))
		for i, p := range r.Policies {
			pp := fmt.Sprintf("%s.policies[%d]", path, i)
			sp := scaling.ScalingPolicy{Value: p.Value, PeriodSeconds: p.PeriodSeconds}
			switch p.Type {
			case autoscalingv2.PodsScalingPolicy:
				sp.Type = scaling.PodsPolicy
			case autoscalingv2.PercentScalingPolicy:
				sp.Type = scaling.PercentPolicy
			default:
				errs = append(errs, fieldErr(pp+".type", "%q: expected Pods or Percent", string(p.Type)))
			}
			if p.Value <= 0 {
				errs = append(errs, fieldErr(pp+".value", "%d: expected a value greater than 0", p.Value))
			}
			if p.PeriodSeconds <= 0 || p.PeriodSeconds > MaxPeriodSeconds {
				errs = append(errs, fieldErr(pp+".periodSeconds", "%d: expected 1 to %d", p.PeriodSeconds, MaxPeriodSeconds))
			}
			out.Policies = append(out.Policies, sp)
		}
	}
	if r.Tolerance != nil {
		// The controller reads the quantity with AsApproximateFloat64.
		t := r.Tolerance.AsApproximateFloat64()
		if t < 0 {
			errs = append(errs, fieldErr(path+".tolerance", "%s: expected a value of at least 0", r.Tolerance.String()))
		}
		out.Tolerance, out.HasTolerance = t, true
	}
	return out, errors.Join(errs...)
}

// Metric converts a metric spec. targetMilli, when not nil, is the target of
// an AverageValue or Value target in milli-units; it must agree with the
// quantity when both are given. path prefixes field names in errors.
func Metric(path string, ms *autoscalingv2.MetricSpec, targetMilli *int64) (scaling.MetricSpec, error) {
	var out scaling.MetricSpec
	var target *autoscalingv2.MetricTarget
	tpath := path
	switch ms.Type {
	case autoscalingv2.ResourceMetricSourceType:
		if ms.Resource == nil {
			return out, fieldErr(path+".resource", "missing: required for type Resource")
		}
		out.Type, out.Name, target, tpath = scaling.ResourceMetric, string(ms.Resource.Name), &ms.Resource.Target, path+".resource.target"
		out.Resource = string(ms.Resource.Name)
		if ms.Resource.Name == "" {
			return out, fieldErr(path+".resource.name", "missing: expected a resource name such as cpu")
		}
	case autoscalingv2.ContainerResourceMetricSourceType:
		if ms.ContainerResource == nil {
			return out, fieldErr(path+".containerResource", "missing: required for type ContainerResource")
		}
		out.Type, out.Name, target, tpath = scaling.ContainerResourceMetric, string(ms.ContainerResource.Name), &ms.ContainerResource.Target, path+".containerResource.target"
		out.Resource = string(ms.ContainerResource.Name)
		if ms.ContainerResource.Name == "" || ms.ContainerResource.Container == "" {
			return out, fieldErr(path+".containerResource", "expected a resource name and a container")
		}
	case autoscalingv2.PodsMetricSourceType:
		if ms.Pods == nil {
			return out, fieldErr(path+".pods", "missing: required for type Pods")
		}
		out.Type, out.Name, target, tpath = scaling.PodsMetric, ms.Pods.Metric.Name, &ms.Pods.Target, path+".pods.target"
	case autoscalingv2.ObjectMetricSourceType:
		if ms.Object == nil {
			return out, fieldErr(path+".object", "missing: required for type Object")
		}
		out.Type, out.Name, target, tpath = scaling.ObjectMetric, ms.Object.Metric.Name, &ms.Object.Target, path+".object.target"
	case autoscalingv2.ExternalMetricSourceType:
		if ms.External == nil {
			return out, fieldErr(path+".external", "missing: required for type External")
		}
		out.Type, out.Name, target, tpath = scaling.ExternalMetric, ms.External.Metric.Name, &ms.External.Target, path+".external.target"
	case "":
		return out, fieldErr(path+".type", "missing: expected Resource, ContainerResource, Pods, Object or External")
	default:
		return out, fieldErr(path+".type", "%q: expected Resource, ContainerResource, Pods, Object or External", string(ms.Type))
	}

	allowed := map[scaling.MetricType][]autoscalingv2.MetricTargetType{
		scaling.ResourceMetric:          {autoscalingv2.UtilizationMetricType, autoscalingv2.AverageValueMetricType},
		scaling.ContainerResourceMetric: {autoscalingv2.UtilizationMetricType, autoscalingv2.AverageValueMetricType},
		scaling.PodsMetric:              {autoscalingv2.AverageValueMetricType},
		scaling.ObjectMetric:            {autoscalingv2.ValueMetricType, autoscalingv2.AverageValueMetricType},
		scaling.ExternalMetric:          {autoscalingv2.ValueMetricType, autoscalingv2.AverageValueMetricType},
	}[out.Type]
	ok := false
	for _, a := range allowed {
		ok = ok || a == target.Type
	}
	if !ok {
		names := make([]string, len(allowed))
		for i, a := range allowed {
			names[i] = string(a)
		}
		return out, fieldErr(tpath+".type", "%q: expected %s for type %s", string(target.Type), joinOr(names), ms.Type)
	}

	switch target.Type {
	case autoscalingv2.UtilizationMetricType:
		out.Target = scaling.UtilizationTarget
		if target.AverageUtilization == nil {
			return out, fieldErr(tpath+".averageUtilization", "missing: required for a Utilization target")
		}
		if *target.AverageUtilization <= 0 {
			return out, fieldErr(tpath+".averageUtilization", "%d: expected a percentage greater than 0", *target.AverageUtilization)
		}
		out.TargetUtilization = *target.AverageUtilization
		return out, nil
	case autoscalingv2.AverageValueMetricType:
		out.Target = scaling.AverageValueTarget
		v, err := milli(tpath, "averageValue", target.AverageValue, targetMilli)
		out.TargetMilli = v
		return out, err
	default:
		out.Target = scaling.ValueTarget
		v, err := milli(tpath, "value", target.Value, targetMilli)
		out.TargetMilli = v
		return out, err
	}
}

func milli(tpath, field string, q *resource.Quantity, targetMilli *int64) (int64, error) {
	var v int64
	have := q != nil
	if have {
		// Quantity.MilliValue rounds up, as the controller reads targets.
		v = q.MilliValue()
	}
	if targetMilli != nil {
		if have && *targetMilli != v {
			return 0, fieldErr(tpath, "targetMilli %d and %s %s (%d milli) disagree", *targetMilli, field, q.String(), v)
		}
		v, have = *targetMilli, true
	}
	if !have {
		return 0, fieldErr(tpath+"."+field, "missing: required (or targetMilli)")
	}
	if v <= 0 {
		return 0, fieldErr(tpath+"."+field, "%d milli: expected a value greater than 0", v)
	}
	return v, nil
}

func joinOr(s []string) string {
	switch len(s) {
	case 0:
		return ""
	case 1:
		return s[0]
	}
	out := s[0]
	for _, x := range s[1 : len(s)-1] {
		out += ", " + x
	}
	return out + " or " + s[len(s)-1]
}
