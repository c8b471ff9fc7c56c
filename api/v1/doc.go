// Package v1 holds the types of the autoscaling.hpa-agent.io/v1 API: the
// namespaced Scaler, which names a workload with a /scale subresource, the
// triggers that measure its load, the HPA-style scaling rules and our
// additions (prediction, cost, safety, fallback), and the status in which
// the agent explains every decision.
//
// The Go types are the source of truth: the CRD YAML under config/crd/ and
// zz_generated.deepcopy.go are generated from them by controller-gen
// (make generate), and a test fails when the checked-in files are stale.
// Validation that the schema cannot say is in CEL rules
// (x-kubernetes-validations) on the types, so the API server refuses a bad
// Scaler before the agent sees it.
//
// +kubebuilder:object:generate=true
// +groupName=autoscaling.hpa-agent.io
package v1
