package v1

import (
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Annotations the agent reads on a Scaler, as KEDA's on a ScaledObject.
const (
	// AnnotationPaused "true" stops the agent acting on the Scaler: it
	// keeps measuring and reporting, and patches nothing.
	AnnotationPaused = "autoscaling.hpa-agent.io/paused"
	// AnnotationPausedReplicas "N" scales the target to N and holds it
	// there, whatever the triggers say, until the annotation is removed.
	AnnotationPausedReplicas = "autoscaling.hpa-agent.io/paused-replicas"
)

// Scaler scales one workload with the Kubernetes HPA algorithm on the
// values of its triggers, with our additions, and explains every decision
// in its status.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,categories=autoscaling
// +kubebuilder:printcolumn:name="Target",type=string,JSONPath=`.status.target`
// +kubebuilder:printcolumn:name="Min",type=integer,JSONPath=`.spec.scaling.minReplicas`
// +kubebuilder:printcolumn:name="Max",type=integer,JSONPath=`.spec.scaling.maxReplicas`
// +kubebuilder:printcolumn:name="Current",type=integer,JSONPath=`.status.currentReplicas`
// +kubebuilder:printcolumn:name="Desired",type=integer,JSONPath=`.status.desiredReplicas`
// +kubebuilder:printcolumn:name="Active",type=string,JSONPath=`.status.conditions[?(@.type=="Active")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Scaler struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ScalerSpec   `json:"spec"`
	Status ScalerStatus `json:"status,omitempty"`
}

// ScalerList is a list of Scalers.
//
// +kubebuilder:object:root=true
type ScalerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Scaler `json:"items"`
}

// ScalerSpec is what a Scaler asks for. Triggers are given either as one
// scalerSpec (the design's shape) or as a list in triggers, not both; with
// several triggers the largest proposal wins, as in the HPA.
//
// +kubebuilder:validation:XValidation:rule="has(self.scalerSpec) != has(self.triggers)",message="exactly one of scalerSpec (one trigger) or triggers (a list) must be set"
type ScalerSpec struct {
	// TargetRef names the workload to scale: anything with a /scale
	// subresource (Deployment, StatefulSet, a custom resource).
	TargetRef TargetRef `json:"targetRef"`

	// Scaling holds the replica bounds, the cooldown and the HPA behavior.
	Scaling Scaling `json:"scaling"`

	// ScalerSpec is the Scaler's one trigger.
	// +optional
	ScalerSpec *TriggerSpec `json:"scalerSpec,omitempty"`

	// Triggers are the Scaler's triggers when there are several; each
	// needs a name unique in the list. (An atomic list with CEL rules, not
	// a map list keyed by name: the API server requires a map key to be
	// required or defaulted, and a trigger's name is optional in
	// scalerSpec, the same type.)
	// +optional
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +listType=atomic
	// +kubebuilder:validation:XValidation:rule="self.all(t, has(t.name))",message="every trigger of spec.triggers needs a name"
	// +kubebuilder:validation:XValidation:rule="self.all(a, !has(a.name) || self.exists_one(b, has(b.name) && b.name == a.name))",message="trigger names must be unique in spec.triggers"
	Triggers []TriggerSpec `json:"triggers,omitempty"`

	// Advanced holds our additions to the HPA: prediction, cost, safety,
	// fallback, dry run.
	// +optional
	Advanced *Advanced `json:"advanced,omitempty"`
}

// TargetRef names the scaled workload in the Scaler's namespace.
type TargetRef struct {
	// APIVersion of the workload, e.g. apps/v1.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	APIVersion string `json:"apiVersion"`
	// Kind of the workload, e.g. Deployment.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Kind string `json:"kind"`
	// Name of the workload.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// Scaling holds the bounds and behavior of the replica count.
//
// +kubebuilder:validation:XValidation:rule="!has(self.minReplicas) || self.minReplicas <= self.maxReplicas",message="minReplicas must not be greater than maxReplicas"
type Scaling struct {
	// MinReplicas is the lowest count (default 1). 0 scales the target to
	// zero while no trigger is active, and back up when one is (KEDA's
	// activation).
	// +optional
	// +kubebuilder:validation:Minimum=0
	MinReplicas *int32 `json:"minReplicas,omitempty"`

	// MaxReplicas is the highest count.
	// +kubebuilder:validation:Minimum=1
	MaxReplicas int32 `json:"maxReplicas"`

	// CooldownPeriod is the least time between two scaling actions (a Go
	// duration, "300s"). With minReplicas 0 it is also how long the
	// triggers must be inactive before scaling to zero, as KEDA's.
	// +optional
	CooldownPeriod *metav1.Duration `json:"cooldownPeriod,omitempty"`

	// ScaleUpPolicy is the HPA's behavior.scaleUp.
	// +optional
	ScaleUpPolicy *ScalingRules `json:"scaleUpPolicy,omitempty"`

	// ScaleDownPolicy is the HPA's behavior.scaleDown.
	// +optional
	ScaleDownPolicy *ScalingRules `json:"scaleDownPolicy,omitempty"`
}

// ScalingRules are the HPA's HPAScalingRules for one direction.
type ScalingRules struct {
	// StabilizationWindowSeconds: recommendations of this many past seconds
	// are considered (scale up: the lowest, scale down: the highest).
	// Defaults as in the HPA: 0 up, 300 down.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=3600
	StabilizationWindowSeconds *int32 `json:"stabilizationWindowSeconds,omitempty"`

	// SelectPolicy chooses among the policies: Max (default), Min or
	// Disabled (no scaling in this direction).
	// +optional
	// +kubebuilder:validation:Enum=Max;Min;Disabled
	SelectPolicy *string `json:"selectPolicy,omitempty"`

	// Policies limit the change over a period.
	// +optional
	// +kubebuilder:validation:MaxItems=10
	// +listType=atomic
	Policies []ScalingPolicy `json:"policies,omitempty"`

	// Tolerance is the HPA's per-direction tolerance
	// (HPAConfigurableTolerance): no change while the usage ratio is
	// within it of 1, a quantity such as "0.05" (default: the
	// controller's 0.1).
	// +optional
	Tolerance *resource.Quantity `json:"tolerance,omitempty"`
}

// ScalingPolicy limits the change of one direction over a period.
type ScalingPolicy struct {
	// Type is Pods (a number of replicas) or Percent (of the current count).
	// +kubebuilder:validation:Enum=Pods;Percent
	Type string `json:"type"`
	// Value is the number of pods or the percentage, > 0.
	// +kubebuilder:validation:Minimum=1
	Value int32 `json:"value"`
	// PeriodSeconds is the window of the policy, 1 to 1800 s as the HPA's.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1800
	PeriodSeconds int32 `json:"periodSeconds"`
}

// TriggerSpec is one trigger: a scaler type and exactly one block for it.
// The typed blocks (resource, kafka, prometheus, custom) are the design's;
// every registered type also works with metadata, KEDA's trigger keys as
// in a ScaledObject, with secrets by reference in secretRefs.
//
// +kubebuilder:validation:XValidation:rule="(has(self.resource) ? 1 : 0) + (has(self.kafka) ? 1 : 0) + (has(self.prometheus) ? 1 : 0) + (has(self.custom) ? 1 : 0) + (has(self.metadata) ? 1 : 0) == 1",message="exactly one of resource, kafka, prometheus, custom or metadata must be set"
// +kubebuilder:validation:XValidation:rule="!has(self.resource) || self.type == 'resource'",message="the resource block needs type resource"
// +kubebuilder:validation:XValidation:rule="self.type != 'resource' || has(self.resource)",message="type resource needs the resource block"
// +kubebuilder:validation:XValidation:rule="!has(self.kafka) || self.type == 'kafka'",message="the kafka block needs type kafka"
// +kubebuilder:validation:XValidation:rule="!has(self.prometheus) || self.type == 'prometheus'",message="the prometheus block needs type prometheus"
// +kubebuilder:validation:XValidation:rule="!has(self.custom) || self.type == 'custom'",message="the custom block needs type custom"
// +kubebuilder:validation:XValidation:rule="!has(self.secretRefs) || has(self.metadata)",message="secretRefs go with the metadata block (typed blocks name their secrets themselves)"
type TriggerSpec struct {
	// Name identifies the trigger in status, events and metrics (default:
	// the type). Required and unique in spec.triggers.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name,omitempty"`

	// Type is the scaler type: resource, or any type the agent has
	// registered (redis, redis-streams, the redis cluster and sentinel
	// variants, kafka, rabbitmq, prometheus, metrics-api, custom, ...).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z][a-z0-9-]*$`
	Type string `json:"type"`

	// MetricType is how the trigger's value is compared with its target,
	// as KEDA's trigger metricType: AverageValue (default: value per
	// replica) or Value. Not for resource triggers (their targetType says).
	// +optional
	// +kubebuilder:validation:Enum=AverageValue;Value
	MetricType string `json:"metricType,omitempty"`

	// Resource is a CPU or memory trigger on the pods of the target.
	// +optional
	Resource *ResourceTrigger `json:"resource,omitempty"`
	// Kafka is a consumer lag trigger.
	// +optional
	Kafka *KafkaTrigger `json:"kafka,omitempty"`
	// Prometheus is a PromQL trigger.
	// +optional
	Prometheus *PrometheusTrigger `json:"prometheus,omitempty"`
	// Custom is a CEL expression over named sources.
	// +optional
	Custom *CustomTrigger `json:"custom,omitempty"`

	// Metadata is the trigger's metadata with KEDA's keys, exactly as in a
	// ScaledObject trigger of the same type.
	// +optional
	// +kubebuilder:validation:MaxProperties=128
	Metadata map[string]string `json:"metadata,omitempty"`

	// SecretRefs fill metadata parameters from Secrets of the Scaler's
	// namespace, as a KEDA TriggerAuthentication's secretTargetRef.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	// +listType=map
	// +listMapKey=parameter
	SecretRefs []SecretRef `json:"secretRefs,omitempty"`
}

// SecretRef sets the metadata parameter to the value of key in the Secret
// name of the Scaler's namespace.
type SecretRef struct {
	// Parameter is the metadata key that gets the value (password, tls, ...).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Parameter string `json:"parameter"`
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// Key in the Secret's data.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Key string `json:"key"`
}

// SecretKeySelector is a key of a Secret in the Scaler's namespace.
type SecretKeySelector struct {
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// Key in the Secret's data.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Key string `json:"key"`
}

// ResourceTrigger scales on the CPU or memory of the target's pods, as the
// HPA's Resource and ContainerResource metrics.
//
// +kubebuilder:validation:XValidation:rule="self.targetType != 'Utilization' || (has(self.targetAverageUtilization) && !has(self.targetAverageValue))",message="targetType Utilization needs targetAverageUtilization (and no targetAverageValue)"
// +kubebuilder:validation:XValidation:rule="self.targetType != 'AverageValue' || (has(self.targetAverageValue) && !has(self.targetAverageUtilization))",message="targetType AverageValue needs targetAverageValue (and no targetAverageUtilization)"
type ResourceTrigger struct {
	// ResourceName is cpu or memory.
	// +kubebuilder:validation:Enum=cpu;memory
	ResourceName string `json:"resourceName"`
	// TargetType is Utilization (a percentage of the pods' requests) or
	// AverageValue (a quantity per pod).
	// +kubebuilder:validation:Enum=Utilization;AverageValue
	TargetType string `json:"targetType"`
	// TargetAverageUtilization is the target percentage of the requests.
	// +optional
	// +kubebuilder:validation:Minimum=1
	TargetAverageUtilization *int32 `json:"targetAverageUtilization,omitempty"`
	// TargetAverageValue is the target usage per pod, a quantity ("500m",
	// "512Mi").
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+|[numkMGTPE]|[KMGTPE]i)?$`
	TargetAverageValue string `json:"targetAverageValue,omitempty"`
	// Container, when set, measures only this container of each pod (the
	// HPA's ContainerResource).
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Container string `json:"container,omitempty"`
}

// KafkaTrigger is the design's kafka block: the lag of a consumer group.
//
// +kubebuilder:validation:XValidation:rule="!has(self.activationLagThreshold) || self.activationLagThreshold >= 0",message="activationLagThreshold must be >= 0"
type KafkaTrigger struct {
	// Brokers are the seed brokers, host:port.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=100
	// +listType=atomic
	Brokers []string `json:"brokers"`
	// ConsumerGroup is the group whose lag is measured.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	ConsumerGroup string `json:"consumerGroup"`
	// Topics are the measured topics (their lags add up); none: every topic
	// the group has committed offsets for.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	// +listType=atomic
	Topics []string `json:"topics,omitempty"`
	// LagThreshold is the target lag per replica (default 10).
	// +optional
	// +kubebuilder:validation:Minimum=1
	LagThreshold *int64 `json:"lagThreshold,omitempty"`
	// ActivationLagThreshold: active while the lag is above it (default 0).
	// +optional
	ActivationLagThreshold *int64 `json:"activationLagThreshold,omitempty"`
	// OffsetResetPolicy is latest (default) or earliest.
	// +optional
	// +kubebuilder:validation:Enum=latest;earliest
	OffsetResetPolicy string `json:"offsetResetPolicy,omitempty"`
	// Authentication is SASL and TLS to the brokers.
	// +optional
	Authentication *KafkaAuthentication `json:"authentication,omitempty"`
}

// KafkaAuthentication is SASL and TLS for the kafka block.
type KafkaAuthentication struct {
	// SASL login.
	// +optional
	SASL *KafkaSASL `json:"sasl,omitempty"`
	// TLS to the brokers.
	// +optional
	TLS *TLSSecrets `json:"tls,omitempty"`
}

// KafkaSASL is a SASL login. The password only by reference.
//
// +kubebuilder:validation:XValidation:rule="!has(self.password)",message="an inline password is not allowed: use passwordSecret"
// +kubebuilder:validation:XValidation:rule="has(self.username) != has(self.usernameSecret)",message="exactly one of username or usernameSecret must be set"
type KafkaSASL struct {
	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (KEDA's plaintext,
	// scram_sha256, scram_sha512 are accepted too).
	// +kubebuilder:validation:Enum=PLAIN;SCRAM-SHA-256;SCRAM-SHA-512;plaintext;scram_sha256;scram_sha512
	Mechanism string `json:"mechanism"`
	// Username of the login.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Username string `json:"username,omitempty"`
	// UsernameSecret holds the username.
	// +optional
	UsernameSecret *SecretKeySelector `json:"usernameSecret,omitempty"`
	// PasswordSecret holds the password.
	PasswordSecret SecretKeySelector `json:"passwordSecret"`
	// Password is refused: it would store a secret in the Scaler.
	// +optional
	Password string `json:"password,omitempty"`
}

// TLSSecrets is TLS with its material from Secrets.
type TLSSecrets struct {
	// CASecret holds the PEM CA of the server (default: the system roots).
	// +optional
	CASecret *SecretKeySelector `json:"caSecret,omitempty"`
	// CertSecret and KeySecret hold a PEM client certificate and key.
	// +optional
	CertSecret *SecretKeySelector `json:"certSecret,omitempty"`
	// +optional
	KeySecret *SecretKeySelector `json:"keySecret,omitempty"`
	// InsecureSkipVerify does not verify the server's certificate.
	// +optional
	InsecureSkipVerify bool `json:"insecureSkipVerify,omitempty"`
}

// PrometheusTrigger is the design's prometheus block.
type PrometheusTrigger struct {
	// ServerURL is the base URL before /api/v1/query.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	ServerURL string `json:"serverURL"`
	// Query is the PromQL expression.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=16384
	Query string `json:"query"`
	// Threshold is the target value per replica, > 0.
	// +kubebuilder:validation:ExclusiveMinimum=true
	// +kubebuilder:validation:Minimum=0
	Threshold float64 `json:"threshold"`
	// ActivationThreshold: active while the value is above it (default 0).
	// +optional
	ActivationThreshold *float64 `json:"activationThreshold,omitempty"`
	// IgnoreNullValues: an empty answer counts as 0 (default true).
	// +optional
	IgnoreNullValues *bool `json:"ignoreNullValues,omitempty"`
	// Namespace is sent as the namespace query parameter (tenancy proxies).
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Namespace string `json:"namespace,omitempty"`
	// Timeout bounds one query (a Go duration; default the agent's).
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`
	// Authentication to the server.
	// +optional
	Authentication *PrometheusAuthentication `json:"authentication,omitempty"`
}

// PrometheusAuthentication is how the prometheus block logs in.
//
// +kubebuilder:validation:XValidation:rule="!(has(self.basicAuth) && has(self.bearerTokenSecret))",message="basicAuth and bearerTokenSecret exclude each other"
type PrometheusAuthentication struct {
	// BasicAuth is HTTP basic authentication.
	// +optional
	BasicAuth *BasicAuth `json:"basicAuth,omitempty"`
	// BearerTokenSecret holds a bearer token.
	// +optional
	BearerTokenSecret *SecretKeySelector `json:"bearerTokenSecret,omitempty"`
	// TLS to the server.
	// +optional
	TLS *TLSSecrets `json:"tls,omitempty"`
}

// BasicAuth is a username and a password by reference.
//
// +kubebuilder:validation:XValidation:rule="!has(self.password)",message="an inline password is not allowed: use passwordSecret"
type BasicAuth struct {
	// Username of the login.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	Username string `json:"username"`
	// PasswordSecret holds the password.
	PasswordSecret SecretKeySelector `json:"passwordSecret"`
	// Password is refused: it would store a secret in the Scaler.
	// +optional
	Password string `json:"password,omitempty"`
}

// CustomTrigger is a CEL expression over named sources, each any other
// scaler type with its own metadata.
type CustomTrigger struct {
	// Expression is the CEL expression; each source is a double variable
	// of its name.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=10000
	Expression string `json:"expression"`
	// Threshold is the target value per replica, > 0.
	// +kubebuilder:validation:ExclusiveMinimum=true
	// +kubebuilder:validation:Minimum=0
	Threshold float64 `json:"threshold"`
	// ActivationThreshold: active while the value is above it (default 0).
	// +optional
	ActivationThreshold float64 `json:"activationThreshold,omitempty"`
	// MetricSources are the named sources.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	// +listType=map
	// +listMapKey=name
	MetricSources []MetricSource `json:"metricSources"`
}

// MetricSource is one source of a custom trigger.
type MetricSource struct {
	// Name is the CEL variable of the source.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[A-Za-z_][A-Za-z0-9_]*$`
	Name string `json:"name"`
	// Type is a scaler type other than custom, or external (metrics-api).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Type string `json:"type"`
	// Configuration is the source's metadata, KEDA's keys of its type.
	// +optional
	// +kubebuilder:validation:MaxProperties=128
	Configuration map[string]string `json:"configuration,omitempty"`
	// SecretRefs fill configuration parameters from Secrets.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	// +listType=map
	// +listMapKey=parameter
	SecretRefs []SecretRef `json:"secretRefs,omitempty"`
}

// Advanced holds our additions to the HPA.
type Advanced struct {
	// Enabled false turns every addition below off at once (default true).
	// +optional
	Enabled *bool `json:"enabled,omitempty"`
	// PredictiveScaling raises the count to a forecast's floor.
	// +optional
	PredictiveScaling *PredictiveScaling `json:"predictiveScaling,omitempty"`
	// CostOptimization caps the count by cost.
	// +optional
	CostOptimization *CostOptimization `json:"costOptimization,omitempty"`
	// Safety caps each step and guards against conflicts.
	// +optional
	Safety *Safety `json:"safety,omitempty"`
	// Fallback is what a failing trigger proposes.
	// +optional
	Fallback *Fallback `json:"fallback,omitempty"`
	// DryRun computes and reports every decision without patching.
	// +optional
	DryRun bool `json:"dryRun,omitempty"`
}

// PredictiveScaling is the forecast floor.
type PredictiveScaling struct {
	// Enabled turns prediction on.
	Enabled bool `json:"enabled"`
	// LookAheadMinutes is how far ahead the forecast looks (default 15).
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1440
	LookAheadMinutes int32 `json:"lookAheadMinutes,omitempty"`
	// ConfidenceThreshold: the floor applies only when the forecast's
	// confidence is at least this, 0 to 1 (default 0.8).
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1
	ConfidenceThreshold *float64 `json:"confidenceThreshold,omitempty"`
}

// CostOptimization caps the count by cost.
type CostOptimization struct {
	// Enabled turns the cost cap on.
	Enabled bool `json:"enabled"`
	// SpotInstancesEnabled prices the workload's pods at spot prices where
	// they run on spot nodes.
	// +optional
	SpotInstancesEnabled bool `json:"spotInstancesEnabled,omitempty"`
	// CostThresholds are the budget caps.
	// +optional
	CostThresholds *CostThresholds `json:"costThresholds,omitempty"`
}

// CostThresholds are budget caps.
type CostThresholds struct {
	// MaxCostPerHour is the most the workload may cost per hour, a decimal
	// in the currency of the price source ("50.00").
	// +optional
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^[0-9]+(\.[0-9]{1,6})?$`
	MaxCostPerHour string `json:"maxCostPerHour,omitempty"`
}

// Safety caps each step and guards against other autoscalers.
type Safety struct {
	// EnablePDBChecks: never scale below what a PodDisruptionBudget
	// selecting the target's pods requires.
	// +optional
	EnablePDBChecks bool `json:"enablePDBChecks,omitempty"`
	// EnableHPAConflictDetection: do not act while a
	// HorizontalPodAutoscaler, a KEDA ScaledObject or another Scaler
	// targets the same workload (condition Conflict).
	// +optional
	EnableHPAConflictDetection bool `json:"enableHPAConflictDetection,omitempty"`
	// MaxScaleUpPercent caps one step up, percent of the current count
	// (1 to 1000).
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	MaxScaleUpPercent *int32 `json:"maxScaleUpPercent,omitempty"`
	// MaxScaleDownPercent caps one step down, percent of the current count
	// (1 to 100).
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	MaxScaleDownPercent *int32 `json:"maxScaleDownPercent,omitempty"`
}

// Fallback is what a failing trigger proposes once it has failed
// failureThreshold times in a row.
//
// +kubebuilder:validation:XValidation:rule="!(self.behavior in ['static', 'currentReplicasIfHigher', 'currentReplicasIfLower']) || has(self.replicas)",message="behavior static, currentReplicasIfHigher and currentReplicasIfLower need replicas"
type Fallback struct {
	// FailureThreshold is the number of failures in a row before the
	// fallback applies (default 3).
	// +optional
	// +kubebuilder:validation:Minimum=1
	FailureThreshold *int32 `json:"failureThreshold,omitempty"`
	// Replicas is the count a failing trigger proposes.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Replicas *int32 `json:"replicas,omitempty"`
	// Behavior is KEDA's fallback behavior: static (default: replicas),
	// currentReplicas, currentReplicasIfHigher, currentReplicasIfLower, or
	// lastKnownValue (the trigger's last good value, for at most 5 min,
	// then replicas).
	// +optional
	// +kubebuilder:default=static
	// +kubebuilder:validation:Enum=static;currentReplicas;currentReplicasIfHigher;currentReplicasIfLower;lastKnownValue
	Behavior string `json:"behavior,omitempty"`
}
