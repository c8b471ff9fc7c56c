// Package hpa converts autoscaling/v2 objects (MetricSpec,
// HorizontalPodAutoscalerBehavior) into the decision engine's types, with
// the defaulting of pkg/apis/autoscaling/v2 and the validation rules of the
// API server, so that the engine itself knows nothing of Kubernetes types.
// Every error names the field path, the value and what was expected.
package hpa
