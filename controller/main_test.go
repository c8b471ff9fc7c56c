package controller_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/go-logr/logr"
	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/klog/v2"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/redis"
)

// kube is the API server of the package's tests: the Scaler CRD and KEDA's
// ScaledObject CRD installed; each test works in a namespace of its own
// with an agent limited to it.
var kube testenv.SharedKube

func TestMain(m *testing.M) {
	keda, err := testenv.KEDAScaledObjectCRD()
	if err != nil {
		fmt.Fprintln(os.Stderr, "controller tests:", err)
		os.Exit(1)
	}
	kube.Options = testenv.KubeOptions{
		CRDPaths:    []string{"../config/crd", keda},
		AddToScheme: []func(*runtime.Scheme) error{v1.AddToScheme},
	}
	// controller-runtime and client-go log through these globals; the
	// agent's own logger is per test.
	ctrllog.SetLogger(logr.Discard())
	klog.SetLogger(logr.Discard())
	goredis.SetLogger(redis.GoRedisLogger(nil))
	goleak.VerifyTestMain(kube.Wrap(m),
		// client-go's and controller-runtime's process-wide goroutines,
		// started once and never stopped (by top function only).
		goleak.IgnoreTopFunction("k8s.io/klog/v2.(*flushDaemon).run.func1"),
	)
}
