package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Condition types of a Scaler.
const (
	// ConditionReady: the Scaler is valid, its target and triggers were
	// built, and the last reconcile completed.
	ConditionReady = "Ready"
	// ConditionActive: at least one trigger is active (above its
	// activation threshold).
	ConditionActive = "Active"
	// ConditionScalingLimited: the last decision was limited (bounds,
	// policies, safety caps, PDB floor, budget).
	ConditionScalingLimited = "ScalingLimited"
	// ConditionConflict: another autoscaler targets the same workload; the
	// agent does not act.
	ConditionConflict = "Conflict"
	// ConditionFallback: a failing trigger's proposal came from the
	// fallback.
	ConditionFallback = "Fallback"
	// ConditionPaused: the paused annotations hold the target.
	ConditionPaused = "Paused"
)

// ScalerStatus is what the agent observed and decided.
type ScalerStatus struct {
	// ObservedGeneration is the spec generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Target is the target as kind/name, for kubectl get.
	// +optional
	Target string `json:"target,omitempty"`
	// CurrentReplicas is the target's spec.replicas when last read.
	// +optional
	CurrentReplicas int32 `json:"currentReplicas"`
	// DesiredReplicas is the count of the last decision.
	// +optional
	DesiredReplicas int32 `json:"desiredReplicas"`
	// LastScaleTime is when the agent last changed the count.
	// +optional
	LastScaleTime *metav1.Time `json:"lastScaleTime,omitempty"`
	// LastActiveTime is when a trigger was last active.
	// +optional
	LastActiveTime *metav1.Time `json:"lastActiveTime,omitempty"`
	// Triggers is the state of each trigger.
	// +optional
	// +listType=map
	// +listMapKey=name
	Triggers []TriggerStatus `json:"triggers,omitempty"`
	// LastDecision explains the last decision.
	// +optional
	LastDecision *Decision `json:"lastDecision,omitempty"`
	// History is the HPA's memory (recommendations and scale events),
	// kept here so that an agent restart keeps the stabilization windows
	// and the policies' periods.
	// +optional
	History *History `json:"history,omitempty"`
	// Conditions: Ready, Active, ScalingLimited, Conflict, Fallback, Paused.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// TriggerStatus is the state of one trigger.
type TriggerStatus struct {
	// Name of the trigger.
	Name string `json:"name"`
	// Type of the trigger.
	Type string `json:"type"`
	// Metric is the metric name the trigger offers.
	// +optional
	Metric string `json:"metric,omitempty"`
	// Value is the last value read, as a decimal string.
	// +optional
	Value string `json:"value,omitempty"`
	// Target is the target value (or utilization percent), as a decimal.
	// +optional
	Target string `json:"target,omitempty"`
	// Active: the trigger is above its activation threshold.
	Active bool `json:"active"`
	// Healthy: the last read succeeded.
	Healthy bool `json:"healthy"`
	// ConsecutiveFailures counts the failed reads since the last success.
	// +optional
	ConsecutiveFailures int32 `json:"consecutiveFailures,omitempty"`
	// LastError is the last read's error, secrets redacted.
	// +optional
	LastError string `json:"lastError,omitempty"`
	// LastSuccessTime is when a read last succeeded.
	// +optional
	LastSuccessTime *metav1.Time `json:"lastSuccessTime,omitempty"`
}

// Decision explains one decision: "why did it scale, why did it not".
type Decision struct {
	// Time of the decision.
	Time metav1.Time `json:"time"`
	// CurrentReplicas and DesiredReplicas: the count before and the count
	// decided.
	CurrentReplicas int32 `json:"currentReplicas"`
	DesiredReplicas int32 `json:"desiredReplicas"`
	// HPADesiredReplicas is what the Kubernetes HPA would have set (before
	// our additions).
	HPADesiredReplicas int32 `json:"hpaDesiredReplicas"`
	// Rule is what decided the count (MetricProposal, ScaleUpStabilized,
	// ScaleDownLimit, TooManyReplicas, SafetyScaleUpCap, PDBFloor,
	// ForecastFloor, Fallback, Activation, Cooldown, Paused, Conflict, ...).
	Rule string `json:"rule"`
	// Recommendations are the proposals per trigger.
	// +optional
	// +listType=atomic
	Recommendations []Recommendation `json:"recommendations,omitempty"`
	// Limits are the limits that changed the count, in the order they
	// applied.
	// +optional
	// +listType=atomic
	Limits []string `json:"limits,omitempty"`
	// Reason says it in words.
	Reason string `json:"reason"`
	// DryRun: the decision was not applied.
	// +optional
	DryRun bool `json:"dryRun,omitempty"`
}

// Recommendation is one trigger's proposal.
type Recommendation struct {
	// Trigger is the trigger's name.
	Trigger string `json:"trigger"`
	// Replicas proposed; absent when the trigger gave none.
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`
	// Value and Target the proposal came from, as decimals.
	// +optional
	Value string `json:"value,omitempty"`
	// +optional
	Target string `json:"target,omitempty"`
	// Note says why there is no proposal, or that it came from the
	// fallback or the last known value.
	// +optional
	Note string `json:"note,omitempty"`
}

// History is the HPA's memory of one Scaler.
type History struct {
	// Recommendations are the unstabilized recommendations of the longest
	// stabilization window.
	// +optional
	// +listType=atomic
	Recommendations []TimedReplicas `json:"recommendations,omitempty"`
	// ScaleUpEvents and ScaleDownEvents are the changes within the longest
	// policy period (replicas is the change's magnitude).
	// +optional
	// +listType=atomic
	ScaleUpEvents []TimedReplicas `json:"scaleUpEvents,omitempty"`
	// +optional
	// +listType=atomic
	ScaleDownEvents []TimedReplicas `json:"scaleDownEvents,omitempty"`
}

// TimedReplicas is a count at a time.
type TimedReplicas struct {
	Time     metav1.Time `json:"time"`
	Replicas int32       `json:"replicas"`
}
