package resource_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	clienttesting "k8s.io/client-go/testing"
	metricsapi "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	metricsfake "k8s.io/metrics/pkg/client/clientset/versioned/fake"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
	hparesource "github.com/hpa-autoscaler/hpa-autoscaler/controller/resource"
)

// FuzzObserve feeds Observe pods and PodMetrics built from fuzzed names,
// quantities (any string ParseQuantity takes) and shape bits (sidecars,
// init containers, pod-level requests, overhead, containers without
// requests or usage, PodMetrics missing, duplicated or for unlisted pods),
// for every resource and target type. It never panics; an error is one of
// the sentinels; a result has one sample per listed pod, and a missing
// sample no value.
func FuzzObserve(f *testing.F) {
	f.Add("web-0,web-1,web-2", "500m,1,64Mi,0.5m", "app", uint32(0))
	f.Add("a,b", "1,2,3", "proxy", uint32(0x5a5a))
	f.Add("a,a,b", "9e18,1Ei,-1,0", "", uint32(0xffff))
	f.Add("p", "100m", "nope", uint32(0x1234))
	f.Fuzz(func(t *testing.T, names, quantities, container string, shape uint32) {
		var qs []resource.Quantity
		for _, s := range strings.Split(quantities, ",") {
			if q, err := resource.ParseQuantity(s); err == nil {
				qs = append(qs, q)
			}
		}
		if len(qs) == 0 {
			qs = []resource.Quantity{resource.MustParse("1")}
		}
		bit := func(i int) bool { return shape&(1<<(i%32)) != 0 }
		q := func(i int) resource.Quantity { return qs[i%len(qs)] }
		rl := func(i int) corev1.ResourceList {
			l := corev1.ResourceList{}
			if !bit(i) {
				l[corev1.ResourceCPU] = q(i)
			}
			if !bit(i + 1) {
				l[corev1.ResourceMemory] = q(i + 1)
			}
			return l
		}
		var pods corev1.PodList
		var items []metricsapi.PodMetrics
		for i, name := range strings.Split(names, ",") {
			if i >= 6 {
				break
			}
			p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}}
			p.Spec.Containers = []corev1.Container{{Name: "app", Resources: corev1.ResourceRequirements{Requests: rl(i)}}}
			if bit(i + 2) {
				always := corev1.ContainerRestartPolicyAlways
				p.Spec.InitContainers = append(p.Spec.InitContainers, corev1.Container{Name: "proxy", RestartPolicy: &always, Resources: corev1.ResourceRequirements{Requests: rl(i + 3)}})
			}
			if bit(i + 4) {
				p.Spec.InitContainers = append(p.Spec.InitContainers, corev1.Container{Name: "setup", Resources: corev1.ResourceRequirements{Requests: rl(i + 5)}})
			}
			if bit(i + 6) {
				p.Spec.Resources = &corev1.ResourceRequirements{Requests: rl(i + 7)}
			}
			if bit(i + 8) {
				p.Spec.Overhead = rl(i + 9)
			}
			if !bit(i + 10) {
				pods.Items = append(pods.Items, p)
			}
			if !bit(i + 11) {
				m := metricsapi.PodMetrics{ObjectMeta: metav1.ObjectMeta{Name: name}, Timestamp: metav1.Now(), Window: metav1.Duration{Duration: time.Duration(i) * time.Second}}
				m.Containers = append(m.Containers, metricsapi.ContainerMetrics{Name: "app", Usage: rl(i + 12)})
				if bit(i + 13) {
					m.Containers = append(m.Containers, metricsapi.ContainerMetrics{Name: "proxy", Usage: rl(i + 14)})
				}
				items = append(items, m)
			}
		}
		fake := &metricsfake.Clientset{}
		fake.AddReactor("list", "pods", func(clienttesting.Action) (bool, runtime.Object, error) {
			return true, &metricsapi.PodMetricsList{Items: items}, nil
		})
		for _, podLevelOff := range []bool{false, true} {
			m := hparesource.New(hparesource.Options{Pods: fixedReader{&pods, false}, Metrics: fake.MetricsV1beta1(), PodLevelResourcesDisabled: podLevelOff})
			for _, res := range []string{"cpu", "memory"} {
				for _, target := range []string{"Utilization", "AverageValue"} {
					trig := &v1.ResourceTrigger{ResourceName: res, TargetType: target, Container: container}
					got, err := m.Observe(context.Background(), "", labels.Everything(), trig, time.Now())
					if err != nil {
						if !errors.Is(err, hparesource.ErrMissingRequest) && !errors.Is(err, hparesource.ErrNoMetrics) && !errors.Is(err, hparesource.ErrNoPods) {
							t.Fatalf("%s %s: error %v is none of the sentinels", res, target, err)
						}
						continue
					}
					if len(got.Pods) != len(pods.Items) || len(got.PodSamples) != len(pods.Items) {
						t.Fatalf("%s %s: %d pods, %d samples for %d listed pods", res, target, len(got.Pods), len(got.PodSamples), len(pods.Items))
					}
					for i, s := range got.PodSamples {
						if s.Missing && (s.ValueMilli != 0 || !s.Timestamp.IsZero()) {
							t.Fatalf("%s %s: missing sample %d has a value: %+v", res, target, i, s)
						}
						if target == "AverageValue" && s.RequestMilli != 0 {
							t.Fatalf("%s %s: sample %d has a request: %+v", res, target, i, s)
						}
					}
					if len(got.UnlistedPodValuesMilli) > len(items) {
						t.Fatalf("%s %s: %d unlisted values of %d PodMetrics", res, target, len(got.UnlistedPodValuesMilli), len(items))
					}
				}
			}
		}
	})
}
