package resource_test

import (
	"testing"

	"github.com/go-logr/logr"
	"go.uber.org/goleak"
	"k8s.io/klog/v2"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
)

// kube is the API server of the package's tests (with metrics.k8s.io
// served by testenv.StartPodMetrics); each test works in a namespace of
// its own. TestMetricsAPIDown is the one test that changes what others
// see (it takes metrics.k8s.io away for a while), so it is the one test
// that does not run in parallel: Go runs it before any parallel test
// resumes.
var kube testenv.SharedKube

func TestMain(m *testing.M) {
	// client-go logs through klog's global logger.
	klog.SetLogger(logr.Discard())
	goleak.VerifyTestMain(kube.Wrap(m),
		// klog's flush daemon, started once per process and never stopped.
		goleak.IgnoreTopFunction("k8s.io/klog/v2.(*flushDaemon).run.func1"),
	)
}
