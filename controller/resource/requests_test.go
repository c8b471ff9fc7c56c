package resource

import (
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func reqs(pairs ...string) corev1.ResourceList {
	l := corev1.ResourceList{}
	for _, p := range pairs {
		name, q, _ := strings.Cut(p, "=")
		l[corev1.ResourceName(name)] = resource.MustParse(q)
	}
	return l
}

func ctr(name string, requests ...string) corev1.Container {
	return corev1.Container{Name: name, Resources: corev1.ResourceRequirements{Requests: reqs(requests...)}}
}

func side(name string, requests ...string) corev1.Container {
	c := ctr(name, requests...)
	always := corev1.ContainerRestartPolicyAlways
	c.RestartPolicy = &always
	return c
}

// TestRequestMilli: calculateRequests of v1.36 for one pod (the same
// arithmetic was compared with upstream's code and component-helpers'
// PodRequests on 1.6 million random pods while writing it).
func TestRequestMilli(t *testing.T) {
	app, log := ctr("app", "cpu=500m", "memory=1Gi"), ctr("log", "cpu=100m")
	tests := []struct {
		name        string
		containers  []corev1.Container
		init        []corev1.Container
		podRequests corev1.ResourceList
		overhead    corev1.ResourceList
		container   string
		gateOff     bool
		want        int64
		wantErr     string
	}{
		{name: "containers summed", containers: []corev1.Container{app, log}, want: 600},
		{name: "a sidecar counts, an init container not", containers: []corev1.Container{app}, init: []corev1.Container{ctr("setup", "cpu=2"), side("proxy", "cpu=100m")}, want: 600},
		{name: "each rounded up before the sum", containers: []corev1.Container{ctr("a", "cpu=0.5m"), ctr("b", "cpu=0.5m")}, want: 2},
		{name: "a container without a request", containers: []corev1.Container{app, ctr("log")}, wantErr: "missing request for cpu in container log of Pod p"},
		{name: "an init container needs none", containers: []corev1.Container{app}, init: []corev1.Container{ctr("setup")}, want: 500},
		{name: "a sidecar without one", containers: []corev1.Container{app}, init: []corev1.Container{side("proxy")}, wantErr: "missing request for cpu in container proxy of Pod p"},
		{name: "named container", containers: []corev1.Container{app, log}, container: "log", want: 100},
		{name: "named container, another without a request", containers: []corev1.Container{ctr("app"), log}, container: "log", want: 100},
		{name: "named sidecar", containers: []corev1.Container{app}, init: []corev1.Container{side("proxy", "cpu=100m")}, container: "proxy", want: 100},
		{name: "named init container is not one", containers: []corev1.Container{app}, init: []corev1.Container{ctr("setup", "cpu=1")}, container: "setup", wantErr: "container setup not found in Pod p"},
		{name: "named container without a request", containers: []corev1.Container{app, ctr("log")}, container: "log", wantErr: "missing request for cpu in container log of Pod p"},
		{name: "pod-level", containers: []corev1.Container{app, ctr("log")}, podRequests: reqs("cpu=2"), want: 2000},
		{name: "pod-level, a named container wins", containers: []corev1.Container{app, log}, podRequests: reqs("cpu=2"), container: "log", want: 100},
		{name: "pod-level plus overhead", containers: []corev1.Container{app}, podRequests: reqs("cpu=2"), overhead: reqs("cpu=250m"), want: 2250},
		{name: "pod-level gate off", containers: []corev1.Container{app, log}, podRequests: reqs("cpu=2"), gateOff: true, want: 600},
		{name: "overhead without pod-level requests: not counted", containers: []corev1.Container{app}, overhead: reqs("cpu=250m"), want: 500},
		{name: "pod-level of another resource: the aggregate, rounded once", containers: []corev1.Container{ctr("a", "cpu=0.5m"), ctr("b", "cpu=0.5m")}, podRequests: reqs("memory=1Gi"), want: 1},
		{name: "aggregate: an init container after a sidecar runs beside it", containers: []corev1.Container{app}, init: []corev1.Container{side("proxy", "cpu=100m"), ctr("setup", "cpu=2")}, podRequests: reqs("memory=2Gi"), want: 2100},
		{name: "aggregate: an init container before a sidecar", containers: []corev1.Container{app}, init: []corev1.Container{ctr("setup", "cpu=2"), side("proxy", "cpu=100m")}, podRequests: reqs("memory=2Gi"), want: 2000},
		{name: "aggregate: containers above the init containers", containers: []corev1.Container{ctr("app", "cpu=3")}, init: []corev1.Container{ctr("setup", "cpu=2"), side("proxy", "cpu=100m")}, podRequests: reqs("memory=2Gi"), want: 3100},
		{name: "aggregate: only an init container requests it", containers: []corev1.Container{ctr("app")}, init: []corev1.Container{ctr("setup", "cpu=2")}, podRequests: reqs("memory=2Gi"), want: 2000},
		{name: "aggregate: nobody requests it", containers: []corev1.Container{ctr("app")}, podRequests: reqs("memory=2Gi"), wantErr: "missing pod-level request for cpu in Pod p"},
		{name: "aggregate: the overhead alone", containers: []corev1.Container{ctr("app")}, podRequests: reqs("memory=2Gi"), overhead: reqs("cpu=100m"), want: 100},
		{name: "pod-level hugepages only", containers: []corev1.Container{app, ctr("log")}, podRequests: reqs("hugepages-2Mi=4Mi"), want: 500},
		{name: "pod-level of an unsupported resource: containers", containers: []corev1.Container{app, ctr("log")}, podRequests: reqs("ephemeral-storage=1Gi"), wantErr: "missing request for cpu in container log of Pod p"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &corev1.Pod{Spec: corev1.PodSpec{Containers: tc.containers, InitContainers: tc.init, Overhead: tc.overhead}}
			p.Name = "p"
			if tc.podRequests != nil {
				p.Spec.Resources = &corev1.ResourceRequirements{Requests: tc.podRequests}
			}
			got, err := requestMilli(p, tc.container, corev1.ResourceCPU, !tc.gateOff)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr || !errors.Is(err, ErrMissingRequest) {
					t.Fatalf("error %v, want %q (ErrMissingRequest)", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("requestMilli = %d, %v; want %d", got, err, tc.want)
			}
		})
	}
}
