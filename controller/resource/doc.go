// Package resource measures the agent's resource triggers (CPU and memory,
// api/v1 ResourceTrigger) as the HPA controller measures its Resource and
// ContainerResource metrics: it reads metrics.k8s.io PodMetrics and the
// Pods of the target's selector and turns them into the decision engine's
// per-pod observation (scaling.MetricValue with PodSamples and Pods), so
// that the engine treats pods that are not ready or have no metrics yet as
// the replica calculator does (scaling.GroupPods).
//
// It fetches and does no arithmetic of its own beyond what upstream's
// metrics client and calculateRequests do before the replica calculator's
// grouping (pkg/controller/podautoscaler/metrics/client.go and
// replica_calculator.go of Kubernetes v1.36): a pod's usage is the sum of
// its containers' usages (or the named container's), its request the sum
// of its containers' and restartable init containers' requests (or its
// pod-level request when it has one), each as Quantity.MilliValue().
//
// *Metrics satisfies controller.ResourceMetrics; it is safe for concurrent
// use and keeps no state between calls. docs/agent-resource.md says what it
// reads (and the RBAC that needs), how each pod is counted and where it
// differs from the HPA.
package resource
