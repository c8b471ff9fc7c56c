package decide

import (
	"encoding/json"
	"io"
	"math"

	"github.com/hpa-autoscaler/hpa-autoscaler/scaling"
)

// Answer is the decision as JSON. Fields that a decision path did not
// compute are null (metricReplicas, stabilizedReplicas, limitReason, ...).
type Answer struct {
	DesiredReplicas    int32          `json:"desiredReplicas"`
	CurrentReplicas    int32          `json:"currentReplicas"`
	Rescale            bool           `json:"rescale"`
	Rule               string         `json:"rule"`
	MetricReplicas     *int32         `json:"metricReplicas"`
	StabilizedReplicas *int32         `json:"stabilizedReplicas"`
	LimitReason        *string        `json:"limitReason"`
	ScalingLimited     *bool          `json:"scalingLimited"`
	AbleToScaleReason  *string        `json:"ableToScaleReason"`
	Recommendation     *int32         `json:"recommendation"`
	HPADesiredReplicas int32          `json:"hpaDesiredReplicas"`
	HPARule            string         `json:"hpaRule"`
	ScaleUpLimit       *int32         `json:"scaleUpLimit,omitempty"`
	ScaleDownLimit     *int32         `json:"scaleDownLimit,omitempty"`
	Tolerances         *Tols          `json:"tolerances,omitempty"`
	MetricResults      []MetricAnswer `json:"metrics,omitempty"`

	Fallback                 bool              `json:"fallback,omitempty"`
	ForecastFloor            *int32            `json:"forecastFloor,omitempty"`
	BudgetMaxReplicas        *int32            `json:"budgetMaxReplicas,omitempty"`
	CooldownRemainingSeconds *float64          `json:"cooldownRemainingSeconds,omitempty"`
	Activation               *ActivationAnswer `json:"activation,omitempty"`
}

// Tols are the tolerances used.
type Tols struct {
	ScaleUp   float64 `json:"scaleUp"`
	ScaleDown float64 `json:"scaleDown"`
}

// MetricAnswer is one metric's proposal.
type MetricAnswer struct {
	Type            string   `json:"type"`
	Name            string   `json:"name,omitempty"`
	Valid           bool     `json:"valid"`
	Error           string   `json:"error,omitempty"`
	Replicas        *int32   `json:"replicas"`
	UsageMilli      *int64   `json:"usageMilli"`
	Utilization     *int32   `json:"utilization,omitempty"`
	UsageRatio      *float64 `json:"usageRatio"`
	WithinTolerance bool     `json:"withinTolerance"`
	Fallback        bool     `json:"fallback,omitempty"`
	LastKnown       bool     `json:"lastKnown,omitempty"`
}

// ActivationAnswer is the answer of an activation-only (keda) request, and
// the activation part of an HPA request with `activation`.
type ActivationAnswer struct {
	DesiredReplicas   int32  `json:"desiredReplicas"`
	CurrentReplicas   int32  `json:"currentReplicas"`
	Rescale           bool   `json:"rescale"`
	IsActive          bool   `json:"isActive"`
	Action            string `json:"action"`
	LastActiveUpdated bool   `json:"lastActiveUpdated"`
}

// Evaluate runs the engine on a decoded request. For a keda request the
// result is an *ActivationAnswer, otherwise an *Answer.
func Evaluate(d *Decoded) any {
	if d.Keda != nil {
		r := scaling.Activate(*d.Keda, d.Now)
		return activationAnswer(d.Keda.CurrentReplicas, r)
	}
	var dec scaling.Decision
	scaling.Decide(&d.Spec, &d.Observed, &d.History, d.Now, &dec)
	return answer(d, &dec)
}

// Write encodes v as indented JSON with a trailing newline.
func Write(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func activationAnswer(current int32, r scaling.ActivationResult) *ActivationAnswer {
	return &ActivationAnswer{
		DesiredReplicas:   r.DesiredReplicas,
		CurrentReplicas:   current,
		Rescale:           r.DesiredReplicas != current,
		IsActive:          r.Active,
		Action:            string(r.Action),
		LastActiveUpdated: r.LastActiveUpdated,
	}
}

func ptr[T any](v T) *T { return &v }

func answer(d *Decoded, dec *scaling.Decision) *Answer {
	a := &Answer{
		DesiredReplicas:    dec.DesiredReplicas,
		CurrentReplicas:    dec.CurrentReplicas,
		Rescale:            dec.Rescale,
		Rule:               string(dec.Rule),
		HPADesiredReplicas: dec.HPADesiredReplicas,
		HPARule:            string(dec.HPARule),
		Fallback:           dec.Fallback,
	}
	if dec.MetricReplicasValid {
		a.MetricReplicas = ptr(dec.MetricReplicas)
	}
	if dec.Normalized {
		a.StabilizedReplicas = ptr(dec.StabilizedReplicas)
		a.LimitReason = ptr(dec.LimitReason)
		a.ScalingLimited = ptr(dec.ScalingLimited)
		a.AbleToScaleReason = ptr(dec.AbleToScaleReason)
		a.Recommendation = ptr(dec.Recommendation)
	}
	if dec.HasScaleUpLimit {
		a.ScaleUpLimit = ptr(dec.ScaleUpLimit)
	}
	if dec.HasScaleDownLimit {
		a.ScaleDownLimit = ptr(dec.ScaleDownLimit)
	}
	if dec.MetricsComputed {
		a.Tolerances = &Tols{ScaleUp: dec.Tolerances.Up, ScaleDown: dec.Tolerances.Down}
	}
	for i, r := range dec.Metrics {
		m := MetricAnswer{Type: d.Spec.Metrics[i].Type.String(), Name: d.MetricNames[i], Valid: r.Valid, WithinTolerance: r.WithinTolerance, Fallback: r.Fallback, LastKnown: r.LastKnown}
		if !r.Valid {
			m.Error = r.Err.String()
		} else {
			m.Replicas = ptr(r.Replicas)
			if !r.Fallback || r.LastKnown {
				m.UsageMilli = ptr(r.UsageMilli)
				if !math.IsNaN(r.UsageRatio) && !math.IsInf(r.UsageRatio, 0) {
					m.UsageRatio = ptr(r.UsageRatio)
				}
				if d.Spec.Metrics[i].Target == scaling.UtilizationTarget {
					m.Utilization = ptr(r.Utilization)
				}
			}
		}
		a.MetricResults = append(a.MetricResults, m)
	}
	if dec.ForecastFloor > 0 {
		a.ForecastFloor = ptr(dec.ForecastFloor)
	}
	if dec.HasBudgetCap {
		a.BudgetMaxReplicas = ptr(dec.BudgetMaxReplicas)
	}
	if dec.CooldownRemaining > 0 {
		a.CooldownRemainingSeconds = ptr(dec.CooldownRemaining.Seconds())
	}
	if dec.HasActivation {
		a.Activation = activationAnswer(dec.CurrentReplicas, dec.Activation)
	}
	return a
}
