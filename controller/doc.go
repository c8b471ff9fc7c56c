// Package controller is the in-cluster agent (hpa-autoscaler agent): it
// reconciles the Scaler CRD (api/v1). For each Scaler, every sync period
// and whenever its spec or annotations change, it
//
//   - resolves the triggers (controller/triggers; each referenced Secret
//     read with a get at every sync: Secrets are never listed or watched,
//     and a rotation is picked up within one sync period by its
//     resourceVersion) and builds one scaler per trigger from the registry
//     `serve` uses, rebuilt when the spec generation or a Secret version
//     changes, closed when the Scaler goes or is rebuilt;
//   - reads the target's /scale (any kind with a /scale subresource,
//     mapped from targetRef's apiVersion and kind) and, for resource
//     triggers and PDB checks, its pod selector from /scale's status;
//   - measures every trigger at once, each bounded by the source timeout;
//   - asks the decision engine (scaling.Autoscaler over scaling.Decide)
//     with the history it keeps per Scaler, restored from status.history
//     after a restart (see history.go for why a restart neither resets
//     nor shortens a stabilization window although a steady state writes
//     no status);
//   - applies the agent's own limits (the PodDisruptionBudget floor) and
//     holds (pause annotations, conflicts with an HPA, a KEDA ScaledObject
//     or an older Scaler on the same workload, dry run);
//   - patches /scale, records the Events (Scaled for every scaling
//     action, Warnings once per problem) and writes status through the
//     status subresource, only when something other than times moved.
//
// A non-resource trigger's metrics are External metrics in the engine's
// terms: metricType AverageValue (the default, KEDA's) is a target per
// replica, Value a target for the whole workload; its scaler's Active is
// KEDA's activation, used with minReplicas 0 (scaling.Spec.Activation,
// cooldownPeriod the scale-to-zero delay).
//
// Resource (CPU and memory) triggers are measured through the
// ResourceMetrics interface (declared here, where it is consumed):
//
//	type ResourceMetrics interface {
//		Observe(ctx context.Context, namespace string, selector labels.Selector,
//			trig *v1.ResourceTrigger, now time.Time) (scaling.MetricValue, error)
//	}
//
// Observe returns the engine's observation of the trigger's one metric
// (whose spec the reconciler derives from trig: Resource, or
// ContainerResource with a container; Utilization or AverageValue):
// PodSamples with their pods (MetricValue.Pods), so that the engine
// groups unready pods and pods without metrics as the HPA does, or
// PodValuesMilli (and PodRequestsMilli for Utilization) for pods that all
// count. It is called concurrently, with a context bounded by the source
// timeout. Without one (Options.ResourceMetrics nil) a resource trigger
// fails with "resource triggers need metrics.k8s.io (not configured)".
//
// The Reconciler does the work and is driven by a controller-runtime
// manager (Agent: the manager with leader election on a Lease, health
// probes, the metrics server), so several agent replicas are safe. It
// never panics on a bad Scaler: an invalid spec is reported in status
// (Ready False, reason InvalidSpec) and as a Warning event. Time comes
// from an injected clock (Options.Clock), so tests move windows and
// cooldowns with a fake one.
//
// Kubebuilder RBAC markers in rbac.go are the agent's least-privilege
// role; make generate writes config/rbac/ from them.
package controller
