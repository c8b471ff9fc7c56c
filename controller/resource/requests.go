package resource

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// requestMilli is a pod's request of res in milli-units, as upstream's
// calculateRequests for one pod: the named container's request
// (ContainerResource), else the pod-level request when the pod sets
// pod-level requests and podLevel (the PodLevelResources gate) is on, else
// the sum over its containers and restartable init containers.
func requestMilli(p *corev1.Pod, container string, res corev1.ResourceName, podLevel bool) (int64, error) {
	// A container named in the trigger takes precedence over pod-level
	// requests: its share of them is unknown.
	if podLevel && container == "" && podLevelRequestsSet(p) {
		return podLevelRequestMilli(p, res)
	}
	return containerRequestMilli(p, container, res)
}

// containerRequestMilli is calculatePodRequestsFromContainers: the app
// containers, then the restartable (sidecar) init containers, which run
// beside them for the pod's life and so take part in its usage; ordinary
// init containers have finished by the time there is usage to compare. Each
// request is rounded up to a milli-unit before the sum, as upstream.
func containerRequestMilli(p *corev1.Pod, container string, res corev1.ResourceName) (int64, error) {
	var sum int64
	for k, list := range [2][]corev1.Container{p.Spec.Containers, p.Spec.InitContainers} {
		for i := range list {
			c := &list[i]
			if k == 1 && !restartable(c) {
				continue
			}
			if container != "" && c.Name != container {
				continue
			}
			q, ok := c.Resources.Requests[res]
			if !ok {
				// Without a request there is no utilization: a zero
				// would make the pod's usage infinitely high.
				return 0, missingRequest("missing request for %s in container %s of Pod %s", res, c.Name, p.Name)
			}
			sum += q.MilliValue()
			if container != "" {
				// Container names are unique in a pod.
				return sum, nil
			}
		}
	}
	if container != "" {
		return 0, missingRequest("container %s not found in Pod %s", container, p.Name)
	}
	return sum, nil
}

func restartable(c *corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

// podLevelRequestsSet is IsPodLevelRequestsSet of
// k8s.io/component-helpers/resource: the pod sets a pod-level request of a
// resource pod-level resources support (cpu, memory, hugepages-*).
func podLevelRequestsSet(p *corev1.Pod) bool {
	if p.Spec.Resources == nil {
		return false
	}
	for name := range p.Spec.Resources.Requests {
		if podLevelResource(name) {
			return true
		}
	}
	return false
}

func podLevelResource(name corev1.ResourceName) bool {
	return name == corev1.ResourceCPU || name == corev1.ResourceMemory || strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix)
}

// podLevelRequestMilli is calculatePodLevelRequests: res of
// component-helpers' PodRequests(pod, PodResourcesOptions{}), the pod's
// effective request as the scheduler sees it. That is the pod-level
// request of res when the pod sets one; else the containers' aggregate
// (app and sidecar containers summed, or the largest need of an init
// container while it runs beside the sidecars started before it, whichever
// is more); plus the pod's overhead (RuntimeClass) of res in both cases.
// The sum is of Quantities, rounded up to a milli-unit once, as upstream.
func podLevelRequestMilli(p *corev1.Pod, res corev1.ResourceName) (int64, error) {
	var q resource.Quantity
	found := false
	if pq, ok := p.Spec.Resources.Requests[res]; ok && podLevelResource(res) {
		q, found = pq.DeepCopy(), true
	} else {
		q, found = aggregateContainerRequest(p, res)
	}
	if oq, ok := p.Spec.Overhead[res]; ok {
		if !found {
			q = oq.DeepCopy()
		} else {
			q.Add(oq)
		}
		found = true
	}
	if !found {
		return 0, missingRequest("missing pod-level request for %s in Pod %s", res, p.Name)
	}
	return q.MilliValue(), nil
}

// aggregateContainerRequest is res of AggregateContainerRequests (the
// sidecar containers KEP's formula), and whether any container requests
// res at all.
func aggregateContainerRequest(p *corev1.Pod, res corev1.ResourceName) (resource.Quantity, bool) {
	var sum resource.Quantity
	found := false
	for i := range p.Spec.Containers {
		if q, ok := p.Spec.Containers[i].Resources.Requests[res]; ok {
			sum.Add(q)
			found = true
		}
	}
	// InitContainerUse(i) = the sidecars before i + the i-th init
	// container; the pod needs the largest of them while it starts.
	var sidecars, initMax resource.Quantity
	sidecarsFound, initFound := false, false
	for i := range p.Spec.InitContainers {
		c := &p.Spec.InitContainers[i]
		q, ok := c.Resources.Requests[res]
		var use resource.Quantity
		useFound := false
		if restartable(c) {
			if ok {
				sum.Add(q)
				found = true
				sidecars.Add(q)
				sidecarsFound = true
			}
			use, useFound = sidecars.DeepCopy(), sidecarsFound
		} else {
			if ok {
				use.Add(q)
			}
			if sidecarsFound {
				use.Add(sidecars)
			}
			useFound = ok || sidecarsFound
		}
		if useFound && (!initFound || use.Cmp(initMax) > 0) {
			initMax, initFound = use, true
		}
	}
	if initFound && (!found || initMax.Cmp(sum) > 0) {
		sum, found = initMax, true
	}
	return sum, found
}
