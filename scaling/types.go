package scaling

import (
	"time"
)

// Defaults of the Kubernetes controller and of autoscaling/v2 defaulting.
const (
	// DefaultTolerance is --horizontal-pod-autoscaler-tolerance.
	DefaultTolerance = 0.1
	// DefaultDownscaleStabilizationWindow is
	// --horizontal-pod-autoscaler-downscale-stabilization.
	DefaultDownscaleStabilizationWindow = 5 * time.Minute
)

// MetricType is the source of a metric, as autoscaling/v2 MetricSourceType.
type MetricType uint8

// Metric source types.
const (
	ResourceMetric MetricType = iota + 1
	ContainerResourceMetric
	PodsMetric
	ObjectMetric
	ExternalMetric
)

var metricTypeNames = [...]string{"", "Resource", "ContainerResource", "Pods", "Object", "External"}

func (t MetricType) String() string {
	if int(t) < len(metricTypeNames) {
		return metricTypeNames[t]
	}
	return "Unknown"
}

// TargetType is what a metric target is compared against, as
// autoscaling/v2 MetricTargetType.
type TargetType uint8

// Metric target types.
const (
	UtilizationTarget TargetType = iota + 1
	AverageValueTarget
	ValueTarget
)

var targetTypeNames = [...]string{"", "Utilization", "AverageValue", "Value"}

func (t TargetType) String() string {
	if int(t) < len(targetTypeNames) {
		return targetTypeNames[t]
	}
	return "Unknown"
}

// MetricSpec is one metric of a scaler. Values are integer milli-units, as
// the HPA controller uses them (Quantity.MilliValue()).
type MetricSpec struct {
	// Name identifies the metric in decisions; it has no effect on the
	// arithmetic.
	Name   string
	Type   MetricType
	Target TargetType
	// TargetUtilization is the averageUtilization percentage of a
	// Utilization target.
	TargetUtilization int32
	// TargetMilli is the target of an AverageValue or Value target.
	TargetMilli int64
	// Resource is the resource name of a Resource or ContainerResource
	// metric ("cpu", "memory", ...). It matters only with per-pod samples
	// (MetricValue.PodSamples): ResourceCPU turns on the readiness rules of
	// pod grouping.
	Resource string
}

// MetricValue is what was observed for one metric, by index of Spec.Metrics.
//
// A Resource, ContainerResource or Pods metric is given either as
// PodValuesMilli (and PodRequestsMilli): the pods that count, all taken as
// ready and with metrics; or as PodSamples, one per pod of Observed.Pods,
// which the engine groups as the controller does (pods that are not ready
// or have no metrics yet). PodSamples wins when it is not empty.
type MetricValue struct {
	// PodValuesMilli are per-pod usages (Resource, ContainerResource, Pods).
	PodValuesMilli []int64
	// PodRequestsMilli are per-pod requests of the resource, same order as
	// PodValuesMilli (Utilization targets only).
	PodRequestsMilli []int64
	// PodSamples are per-pod readings, PodSamples[i] for Observed.Pods[i]
	// (or Pods[i] when Pods is set); the lengths must agree.
	PodSamples []PodSample
	// UnlistedPodValuesMilli are values the metrics API returned for pods
	// that are not in the pod list (used with PodSamples). The controller
	// keeps them: they count in a Pods or AverageValue average and in the
	// pod count of a recomputed proposal; a Utilization ratio skips them,
	// as they have no request.
	UnlistedPodValuesMilli []int64
	// Pods, when set, are the pods of PodSamples instead of Observed.Pods
	// (a LastKnown value keeps the pods of its time).
	Pods []PodInfo
	// ValueMilli is the value of an Object metric.
	ValueMilli int64
	// ValuesMilli are the series of an External metric; they are summed.
	ValuesMilli []int64
	// Failed marks a metric that could not be read this time.
	Failed bool
	// Failures is the number of consecutive failures of this metric,
	// counting this one (used by Fallback).
	Failures int32
	// LastKnown is the last good observation of this metric, taken at
	// LastKnownAt (used by the lastKnownValue fallback).
	LastKnown   *MetricValue
	LastKnownAt time.Time
}

// SelectPolicy chooses among the policies of a direction.
type SelectPolicy uint8

// Select policies. SelectMax is the default.
const (
	SelectMax SelectPolicy = iota
	SelectMin
	SelectDisabled
)

var selectPolicyNames = [...]string{"Max", "Min", "Disabled"}

func (p SelectPolicy) String() string {
	if int(p) < len(selectPolicyNames) {
		return selectPolicyNames[p]
	}
	return "Unknown"
}

// PolicyType is Pods or Percent.
type PolicyType uint8

// Scaling policy types.
const (
	PodsPolicy PolicyType = iota + 1
	PercentPolicy
)

func (p PolicyType) String() string {
	switch p {
	case PodsPolicy:
		return "Pods"
	case PercentPolicy:
		return "Percent"
	}
	return "Unknown"
}

// ScalingPolicy limits the change over a period.
type ScalingPolicy struct {
	Type          PolicyType
	Value         int32
	PeriodSeconds int32
}

// ScalingRules are the fully defaulted rules of one direction.
type ScalingRules struct {
	// StabilizationWindowSeconds; for scale-down a negative value means
	// "unset": the controller's downscale stabilization window applies.
	StabilizationWindowSeconds int32
	SelectPolicy               SelectPolicy
	Policies                   []ScalingPolicy
	// Tolerance overrides the controller tolerance for this direction when
	// HasTolerance is set (HPAConfigurableTolerance).
	Tolerance    float64
	HasTolerance bool
}

// Behavior is a defaulted autoscaling/v2 HorizontalPodAutoscalerBehavior.
type Behavior struct {
	ScaleUp   ScalingRules
	ScaleDown ScalingRules
}

// DefaultScaleUpRules returns the autoscaling/v2 default scale-up rules:
// no stabilization, Max of 4 pods or 100% per 15 s.
func DefaultScaleUpRules() ScalingRules {
	return ScalingRules{
		StabilizationWindowSeconds: 0,
		SelectPolicy:               SelectMax,
		Policies: []ScalingPolicy{
			{Type: PodsPolicy, Value: 4, PeriodSeconds: 15},
			{Type: PercentPolicy, Value: 100, PeriodSeconds: 15},
		},
	}
}

// DefaultScaleDownRules returns the autoscaling/v2 default scale-down
// rules: the controller's stabilization window (unset, -1), Max of 100% per
// 15 s.
func DefaultScaleDownRules() ScalingRules {
	return ScalingRules{
		StabilizationWindowSeconds: -1,
		SelectPolicy:               SelectMax,
		Policies: []ScalingPolicy{
			{Type: PercentPolicy, Value: 100, PeriodSeconds: 15},
		},
	}
}

// DefaultBehavior is the behavior `{}` defaults to.
func DefaultBehavior() *Behavior {
	return &Behavior{ScaleUp: DefaultScaleUpRules(), ScaleDown: DefaultScaleDownRules()}
}

// ControllerConfig holds the kube-controller-manager flags that matter.
type ControllerConfig struct {
	// Tolerance is --horizontal-pod-autoscaler-tolerance (0.1).
	Tolerance float64
	// DownscaleStabilizationWindow is
	// --horizontal-pod-autoscaler-downscale-stabilization (5m).
	DownscaleStabilizationWindow time.Duration
	// CPUInitializationPeriod is
	// --horizontal-pod-autoscaler-cpu-initialization-period (5m) and
	// InitialReadinessDelay is
	// --horizontal-pod-autoscaler-initial-readiness-delay (30s): which pods
	// a CPU metric with per-pod samples sets aside (GroupPod). Zero is zero,
	// as for the flags.
	CPUInitializationPeriod time.Duration
	InitialReadinessDelay   time.Duration
}

// DefaultControllerConfig returns the kube-controller-manager defaults.
func DefaultControllerConfig() ControllerConfig {
	return ControllerConfig{
		Tolerance:                    DefaultTolerance,
		DownscaleStabilizationWindow: DefaultDownscaleStabilizationWindow,
		CPUInitializationPeriod:      DefaultCPUInitializationPeriod,
		InitialReadinessDelay:        DefaultInitialReadinessDelay,
	}
}

// FeatureGates are the Kubernetes feature gates the algorithm depends on.
type FeatureGates struct {
	// HPAScaleToZero (alpha in 1.36, off by default).
	HPAScaleToZero bool
	// HPAConfigurableTolerance (beta in 1.36, on by default).
	HPAConfigurableTolerance bool
}

// DefaultFeatureGates returns the v1.36 defaults.
func DefaultFeatureGates() FeatureGates {
	return FeatureGates{HPAScaleToZero: false, HPAConfigurableTolerance: true}
}

// Spec is what a scaler asks for: the HPA fields, plus our additions, each
// nil or zero by default.
type Spec struct {
	MinReplicas int32
	MaxReplicas int32
	Metrics     []MetricSpec
	// Behavior nil is an HPA without behavior: the legacy path.
	Behavior   *Behavior
	Controller ControllerConfig
	Features   FeatureGates

	// Activation enables KEDA's activation step (scale to and from zero or
	// idle replicas).
	Activation *Activation
	// Fallback replaces the proposal of a failing metric.
	Fallback *Fallback
	// Safety caps the change of one decision.
	Safety *Safety
	// CooldownPeriod is the minimum time between two scaling actions.
	CooldownPeriod time.Duration
	// Budget caps the replica count by cost.
	Budget *Budget
}

// Observed is the state of the target at decision time.
type Observed struct {
	// CurrentReplicas is the scale subresource's spec.replicas.
	CurrentReplicas int32
	// StatusReplicas is the scale subresource's status.replicas (the pod
	// count Object and External AverageValue targets divide by).
	StatusReplicas int32
	// ReadyPodCount is the number of running and ready pods (Object and
	// External Value targets multiply by it; CountReadyPods counts it from
	// Pods).
	ReadyPodCount int32
	// Pods are the pods the target's selector lists, as the controller's
	// pod lister returns them (including failed, pending and deleting
	// pods), for metrics given as PodSamples.
	Pods []PodInfo
	// Metrics are the observations, by index of Spec.Metrics.
	Metrics []MetricValue
	// MetricDesiredReplicas, when HasMetricDesiredReplicas, replaces the
	// metric computation with an already computed proposal.
	MetricDesiredReplicas    int32
	HasMetricDesiredReplicas bool
	// ScaledToZeroCondition is the HPA's ScaledToZero condition.
	ScaledToZeroCondition bool

	// Active and LastActive feed the activation step: whether any trigger
	// is above its activation threshold, and when one last was (zero: never).
	Active     bool
	LastActive time.Time
	// CreatedAt is the creation time of the scaler object (initial cooldown).
	CreatedAt time.Time
	// ForceActivation is KEDA's force-activation annotation.
	ForceActivation bool

	// LastScaleTime is the time of the last scaling action (zero: never),
	// for CooldownPeriod.
	LastScaleTime time.Time
	// ForecastFloor, when > 0, is the minimum replica count a forecast asks
	// for. It only ever raises the count.
	ForecastFloor int32
}

// Rule names what decided a Decision.
type Rule string

// Rules. The limit rules carry the upstream ScalingLimited reasons.
const (
	// RuleScalingDisabled: the target is at zero and may not scale from it.
	RuleScalingDisabled Rule = "ScalingDisabled"
	// RuleAboveMaxReplicas: current replicas above maxReplicas.
	RuleAboveMaxReplicas Rule = "AboveMaxReplicas"
	// RuleBelowMinReplicas: current replicas below minReplicas.
	RuleBelowMinReplicas Rule = "BelowMinReplicas"
	// RuleMetricsUnavailable: no usable metric, nothing changes.
	RuleMetricsUnavailable Rule = "MetricsUnavailable"
	// RuleWithinTolerance: every metric is within tolerance of its target.
	RuleWithinTolerance Rule = "WithinTolerance"
	// RuleMetricProposal: the metric proposal passed unchanged.
	RuleMetricProposal Rule = "MetricProposal"
	// RuleScaleUpStabilized / RuleScaleDownStabilized: a stabilization
	// window changed the proposal.
	RuleScaleUpStabilized   Rule = "ScaleUpStabilized"
	RuleScaleDownStabilized Rule = "ScaleDownStabilized"
	// Limits (ScalingLimited reasons).
	RuleScaleUpLimit    Rule = "ScaleUpLimit"
	RuleScaleDownLimit  Rule = "ScaleDownLimit"
	RuleTooManyReplicas Rule = "TooManyReplicas"
	RuleTooFewReplicas  Rule = "TooFewReplicas"
	// RuleFallback: a failing metric's proposal came from Fallback.
	RuleFallback Rule = "Fallback"
	// Activation (KEDA): scaled from zero or idle, to zero or idle, held
	// while cooling down, or restored to minReplicaCount.
	RuleActivation      Rule = "Activation"
	RuleDeactivation    Rule = "Deactivation"
	RuleMinReplicaCount Rule = "MinReplicaCount"
	// Our additions.
	RuleForecastFloor      Rule = "ForecastFloor"
	RuleBudgetCap          Rule = "BudgetCap"
	RuleSafetyScaleUpCap   Rule = "SafetyScaleUpCap"
	RuleSafetyScaleDownCap Rule = "SafetyScaleDownCap"
	RuleCooldown           Rule = "Cooldown"
)

// Upstream condition reasons.
const (
	ReasonDesiredWithinRange  = "DesiredWithinRange"
	ReasonReadyForNewScale    = "ReadyForNewScale"
	ReasonScaleUpStabilized   = "ScaleUpStabilized"
	ReasonScaleDownStabilized = "ScaleDownStabilized"
)

// MetricError says why a metric gave no proposal.
type MetricError uint8

// Metric errors, as the replica calculator reports them.
const (
	MetricOK MetricError = iota
	// MetricFailed: the source could not be read (MetricValue.Failed).
	MetricFailed
	// MetricNoPods: no pods or no pod metrics.
	MetricNoPods
	// MetricNoRequests: requests sum to zero ("no metrics returned matched
	// known pods").
	MetricNoRequests
	// MetricNoValues: an External metric returned no series.
	MetricNoValues
	// MetricOutOfRange: the arithmetic would overflow.
	MetricOutOfRange
	// MetricInvalidSpec: the spec cannot be evaluated.
	MetricInvalidSpec
)

var metricErrorNames = [...]string{"", "metric unavailable", "no pods or pod metrics", "no metrics returned matched known pods", "no metrics returned from external metrics API", "value out of range", "invalid metric spec"}

func (e MetricError) String() string {
	if int(e) < len(metricErrorNames) {
		return metricErrorNames[e]
	}
	return "unknown"
}

// MetricResult is the proposal of one metric. (Fields are ordered to pack
// the struct: it is copied once per metric and decision.)
type MetricResult struct {
	Valid bool
	Err   MetricError
	// WithinTolerance: the proposal is the current count because the ratio
	// (or the recomputed ratio) was within tolerance.
	WithinTolerance bool
	// Rebalanced: pods without metrics or not ready were assumed at 0 or at
	// the target and the ratio recomputed (RebalancedRatio).
	Rebalanced bool
	// DirectionHeld: the proposal is the current count because the
	// recomputed ratio or count would reverse the direction of the change.
	DirectionHeld bool
	// Fallback: the proposal came from Spec.Fallback; LastKnown: from the
	// last known value.
	Fallback  bool
	LastKnown bool
	Replicas  int32
	// Utilization is the current utilization percentage (Utilization).
	Utilization int32
	// UsageMilli is the usage the HPA reports in its status: the average
	// per pod for Resource/Pods and per-pod targets, the value or sum for
	// Value targets.
	UsageMilli int64
	// UsageRatio is current over target as the calculator computed it.
	UsageRatio      float64
	RebalancedRatio float64
	// Pods are the pod group sizes (per-pod samples only).
	Pods PodCounts
}

// Decision is the result of Decide, with every intermediate value.
type Decision struct {
	// DesiredReplicas is the count to set.
	DesiredReplicas int32
	CurrentReplicas int32
	// Rescale: DesiredReplicas differs from CurrentReplicas.
	Rescale bool
	// Rule is what decided DesiredReplicas.
	Rule Rule

	// HPADesiredReplicas is what Kubernetes would set, before our
	// additions (equal to DesiredReplicas when they are off).
	HPADesiredReplicas int32
	// HPARule is the rule of the HPA stage.
	HPARule Rule

	// Metrics are the per-metric proposals (when computed).
	Metrics []MetricResult
	// MetricsComputed: the metric stage ran.
	MetricsComputed bool
	// InvalidMetrics counts metrics without a proposal.
	InvalidMetrics int
	// MetricReplicas is the max of the proposals (valid when
	// MetricReplicasValid); MetricIndex is the metric that gave it (-1 for
	// a precomputed proposal).
	MetricReplicas      int32
	MetricReplicasValid bool
	MetricIndex         int

	// Normalized: normalization ran; the fields below are set.
	Normalized bool
	// Recommendation is the unstabilized recommendation the HPA stores.
	Recommendation int32
	// StabilizedReplicas is the recommendation after the stabilization
	// window(s).
	StabilizedReplicas int32
	// AbleToScaleReason is the AbleToScale condition reason
	// (ReadyForNewScale, ScaleUpStabilized, ScaleDownStabilized).
	AbleToScaleReason string
	// LimitReason is the ScalingLimited reason; ScalingLimited is true
	// when the limit changed the stabilized count.
	LimitReason    string
	ScalingLimited bool
	// ScaleUpLimit / ScaleDownLimit are the limits computed from policies
	// (behavior path) or the legacy scale-up limit.
	ScaleUpLimit      int32
	HasScaleUpLimit   bool
	ScaleDownLimit    int32
	HasScaleDownLimit bool
	// Tolerances used for the proposals.
	Tolerances Tolerances

	// SeedRecommendation: the history had never been written, so the
	// controller's initial recommendation (current replicas, now) took
	// part; Autoscaler.Commit stores it.
	SeedRecommendation bool

	// Activation is the activation step (when Spec.Activation is set).
	Activation    ActivationResult
	HasActivation bool

	// Our additions.
	Fallback          bool
	ForecastFloor     int32
	BudgetMaxReplicas int32
	HasBudgetCap      bool
	SafetyCapped      bool
	CooldownRemaining time.Duration
}

func (d *Decision) reset() {
	m := d.Metrics[:0]
	*d = Decision{Metrics: m, MetricIndex: -1}
}
