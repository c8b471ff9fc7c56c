package scaling

import (
	"time"
)

// Defaults of the kube-controller-manager flags that decide which pods a
// CPU metric sets aside.
const (
	// DefaultCPUInitializationPeriod is
	// --horizontal-pod-autoscaler-cpu-initialization-period.
	DefaultCPUInitializationPeriod = 5 * time.Minute
	// DefaultInitialReadinessDelay is
	// --horizontal-pod-autoscaler-initial-readiness-delay.
	DefaultInitialReadinessDelay = 30 * time.Second
)

// ResourceCPU is the resource name whose metrics get the readiness rules of
// pod grouping (corev1.ResourceCPU).
const ResourceCPU = "cpu"

// PodPhase is a pod's status.phase, spelled as corev1.PodPhase, so that
// PodPhase(pod.Status.Phase) converts it.
type PodPhase string

// Pod phases.
const (
	PodPending   PodPhase = "Pending"
	PodRunning   PodPhase = "Running"
	PodSucceeded PodPhase = "Succeeded"
	PodFailed    PodPhase = "Failed"
	PodUnknown   PodPhase = "Unknown"
)

// ConditionStatus is the status of a pod's Ready condition, spelled as
// corev1.ConditionStatus. The empty status means the pod has no Ready
// condition.
type ConditionStatus string

// Condition statuses.
const (
	ConditionTrue    ConditionStatus = "True"
	ConditionFalse   ConditionStatus = "False"
	ConditionUnknown ConditionStatus = "Unknown"
)

// PodInfo is what the replica calculator reads of one pod that the target's
// selector lists. It is plain data: an agent fills it from a corev1.Pod.
type PodInfo struct {
	// Name identifies the pod in reports; it has no effect on the result.
	Name  string
	Phase PodPhase
	// Deleting: metadata.deletionTimestamp is set.
	Deleting bool
	// StartTime is status.startTime when HasStartTime (a pod that has not
	// started has none).
	StartTime    time.Time
	HasStartTime bool
	// Ready is the status of the Ready condition ("" without one);
	// ReadyTransition is its lastTransitionTime.
	Ready           ConditionStatus
	ReadyTransition time.Time
}

// PodSample is one pod's reading of a Resource, ContainerResource or Pods
// metric, as the metrics API returned it.
type PodSample struct {
	// Missing: the metrics API returned no value for the pod.
	Missing bool
	// ValueMilli is the pod's usage (summed over its containers, or the
	// named container's).
	ValueMilli int64
	// RequestMilli is the pod's request of the resource, summed the same
	// way (Utilization targets only). It comes from the pod spec, so it is
	// needed for a Missing sample too.
	RequestMilli int64
	// Timestamp and Window are the sample's (PodMetrics.timestamp and
	// .window). Only the readiness rules of a CPU metric read them.
	Timestamp time.Time
	Window    time.Duration
}

// PodGroup is how the replica calculator treats one pod for one metric.
type PodGroup uint8

// Pod groups, as groupPods sorts them.
const (
	// PodCounted: the pod's sample counts as it is (upstream's ready pods).
	PodCounted PodGroup = iota
	// PodUnready: the pod is pending, or (CPU only) not ready yet; its
	// sample is set aside and the pod counts at 0 on a scale-up.
	PodUnready
	// PodMissing: the pod has no sample; it counts at 0 on a scale-up and
	// at the target on a scale-down.
	PodMissing
	// PodIgnored: the pod failed or is being deleted; it takes no part.
	PodIgnored
)

var podGroupNames = [...]string{"counted", "unready", "missing", "ignored"}

func (g PodGroup) String() string {
	if int(g) < len(podGroupNames) {
		return podGroupNames[g]
	}
	return "unknown"
}

// PodCounts are the sizes of the pod groups of one metric.
type PodCounts struct {
	Counted int32
	Unready int32
	Missing int32
	Ignored int32
}

func (c *PodCounts) add(g PodGroup) {
	switch g {
	case PodCounted:
		c.Counted++
	case PodUnready:
		c.Unready++
	case PodMissing:
		c.Missing++
	case PodIgnored:
		c.Ignored++
	}
}

// GroupOptions are what pod grouping needs besides the pods and samples.
type GroupOptions struct {
	// Resource is the metric's resource name; only ResourceCPU applies the
	// readiness rules. Empty for a Pods metric.
	Resource string
	// CPUInitializationPeriod and InitialReadinessDelay are the controller
	// flags (ControllerConfig).
	CPUInitializationPeriod time.Duration
	InitialReadinessDelay   time.Duration
}

// GroupOptions returns the grouping options of a metric on resource under
// this controller configuration.
func (c *ControllerConfig) GroupOptions(resource string) GroupOptions {
	return GroupOptions{Resource: resource, CPUInitializationPeriod: c.CPUInitializationPeriod, InitialReadinessDelay: c.InitialReadinessDelay}
}

// GroupPod is groupPods of the Kubernetes replica calculator for one pod and
// its sample (nil: the metrics API returned none) at now.
func GroupPod(pod *PodInfo, sample *PodSample, opts GroupOptions, now time.Time) PodGroup {
	return groupPod(pod, sample, opts.Resource == ResourceCPU, opts.CPUInitializationPeriod, opts.InitialReadinessDelay, now)
}

// GroupPods groups pods[i] with samples[i] (a pod without a sample, i >=
// len(samples), is missing) at now. It writes the groups into groups,
// reusing its capacity, and returns it with the group sizes.
func GroupPods(pods []PodInfo, samples []PodSample, opts GroupOptions, now time.Time, groups []PodGroup) ([]PodGroup, PodCounts) {
	groups = groups[:0]
	var counts PodCounts
	cpu := opts.Resource == ResourceCPU
	for i := range pods {
		var s *PodSample
		if i < len(samples) {
			s = &samples[i]
		}
		g := groupPod(&pods[i], s, cpu, opts.CPUInitializationPeriod, opts.InitialReadinessDelay, now)
		groups = append(groups, g)
		counts.add(g)
	}
	return groups, counts
}

func groupPod(p *PodInfo, s *PodSample, cpu bool, initPeriod, readinessDelay time.Duration, now time.Time) PodGroup {
	if p.Deleting || p.Phase == PodFailed {
		// A pod on its way out says nothing about the load to come.
		return PodIgnored
	}
	if p.Phase == PodPending {
		// Not scheduled or not started: set aside, whatever the metric.
		return PodUnready
	}
	if s == nil || s.Missing {
		return PodMissing
	}
	if !cpu {
		// Only CPU usage is distorted by start-up; other resources (and
		// Pods metrics) count every running pod.
		return PodCounted
	}
	if p.Ready == "" || !p.HasStartTime {
		// Readiness cannot be told: be safe and set the sample aside.
		return PodUnready
	}
	start := p.StartTime
	if start.Add(initPeriod).After(now) {
		// Still within the initialization period: the sample counts only
		// if the pod is ready and a full metric window was collected since
		// its last readiness change (start-up CPU is not the real load).
		if p.Ready == ConditionFalse || s.Timestamp.Before(p.ReadyTransition.Add(s.Window)) {
			return PodUnready
		}
		return PodCounted
	}
	// Past the initialization period only a pod that has never been ready
	// is set aside: unready, with its last transition within the initial
	// readiness delay of its start (a pod that became unready later has
	// real load).
	if p.Ready == ConditionFalse && start.Add(readinessDelay).After(p.ReadyTransition) {
		return PodUnready
	}
	return PodCounted
}

// CountReadyPods counts the pods that are running with a True Ready
// condition: the controller's ready pod count (Observed.ReadyPodCount), by
// which Object and External Value targets multiply.
func CountReadyPods(pods []PodInfo) int32 {
	var n int32
	for i := range pods {
		if pods[i].Phase == PodRunning && pods[i].Ready == ConditionTrue {
			n++
		}
	}
	return n
}
