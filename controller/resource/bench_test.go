package resource_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	clienttesting "k8s.io/client-go/testing"
	metricsfake "k8s.io/metrics/pkg/client/clientset/versioned/fake"
	"sigs.k8s.io/controller-runtime/pkg/client"

	hparesource "github.com/hpa-autoscaler/hpa-autoscaler/controller/resource"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/cputime"
)

// BenchmarkObserve100Pods measures one Observe of a CPU Utilization
// trigger on 100 ready pods (an app container and a sidecar each):
//
//   - apiserver-json, apiserver-protobuf: through the real API server,
//     PodMetrics as JSON or protobuf (pods are protobuf: controller-runtime's
//     default for built-in types). The process's CPU time and allocations
//     include the test's metrics.k8s.io server, which runs in this process
//     (it lists the pods from the API server and encodes 100 PodMetrics
//     per call), so they are an upper bound of the agent's.
//   - in-memory: the same objects from memory, copied per call as a cache
//     and a decoder would hand them over; in-memory-shared: not copied,
//     Observe's own work (and the fake clientset's).
func BenchmarkObserve100Pods(b *testing.B) {
	e := newEnv(b)
	now := time.Now().Truncate(time.Second)
	start := now.Add(-time.Hour)
	for i := range 100 {
		p := ready(fmt.Sprintf("web-%03d", i), start, container(b, "app", "cpu=500m", "memory=256Mi"))
		p.init = []corev1.Container{sidecar(b, "proxy", "cpu=100m", "memory=64Mi")}
		e.create(b, p)
		e.pm.Set(e.ns, p.name, map[string]corev1.ResourceList{
			"app":   list(b, fmt.Sprintf("cpu=%dm", 100+i), "memory=128Mi"),
			"proxy": list(b, "cpu=20m", "memory=16Mi"),
		}, now, window)
	}
	sel, trig := selector(b, "app=web"), cpuUtilization(50)
	run := func(b *testing.B, m *hparesource.Metrics) {
		ctx := context.Background()
		got, err := m.Observe(ctx, e.ns, sel, trig, now)
		if err != nil || len(got.PodSamples) != 100 || got.PodSamples[99].ValueMilli != 219 {
			b.Fatalf("Observe: %d samples, %v", len(got.PodSamples), err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		cpu := cputime.Now(b)
		for b.Loop() {
			if _, err := m.Observe(ctx, e.ns, sel, trig, now); err != nil {
				b.Fatal(err)
			}
		}
		cputime.Report(b, cpu, time.Microsecond)
	}

	b.Run("apiserver-json", func(b *testing.B) {
		run(b, e.m)
	})
	b.Run("apiserver-protobuf", func(b *testing.B) {
		cfg := rest.CopyConfig(e.k.Config)
		cfg.ContentType = runtime.ContentTypeProtobuf
		cfg.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
		run(b, hparesource.New(hparesource.Options{Pods: e.k.Client, Metrics: metricsClient(b, cfg)}))
	})
	ctx := testContext(b)
	var pods corev1.PodList
	if err := e.k.Client.List(ctx, &pods, client.InNamespace(e.ns)); err != nil {
		b.Fatal(err)
	}
	metrics, err := e.mc.PodMetricses(e.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	for _, deep := range []bool{true, false} {
		name := "in-memory"
		if !deep {
			name = "in-memory-shared"
		}
		b.Run(name, func(b *testing.B) {
			fake := &metricsfake.Clientset{}
			fake.AddReactor("list", "pods", func(clienttesting.Action) (bool, runtime.Object, error) {
				if deep {
					return true, metrics.DeepCopy(), nil
				}
				return true, metrics, nil
			})
			run(b, hparesource.New(hparesource.Options{Pods: fixedReader{&pods, deep}, Metrics: fake.MetricsV1beta1()}))
		})
	}
}

// fixedReader lists a fixed PodList (the selector was applied when it was
// read), deep-copied as controller-runtime's cache does by default, or
// shared (a cache with UnsafeDisableDeepCopy): Observe does not modify it.
type fixedReader struct {
	pods *corev1.PodList
	deep bool
}

func (r fixedReader) Get(context.Context, client.ObjectKey, client.Object, ...client.GetOption) error {
	return fmt.Errorf("fixedReader: no Get")
}

func (r fixedReader) List(_ context.Context, list client.ObjectList, _ ...client.ListOption) error {
	if r.deep {
		r.pods.DeepCopyInto(list.(*corev1.PodList))
	} else {
		*list.(*corev1.PodList) = *r.pods
	}
	return nil
}
