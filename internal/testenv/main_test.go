package testenv

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

// kube is the API server the Kubernetes tests of this package share
// (kube_test.go); TestMain gives it KEDA's ScaledObject CRD and stops it
// after the last test.
var kube SharedKube

func TestMain(m *testing.M) {
	// envtest logs through controller-runtime's logger, which prints a
	// warning with a stack trace when it is used 30 s into the process and
	// was never set. Its output is not what these tests check.
	ctrllog.SetLogger(ctrllog.Log.WithSink(ctrllog.NullLogSink{}))
	crd, err := KEDAScaledObjectCRD()
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		os.Exit(1)
	}
	kube.Options = KubeOptions{CRDPaths: []string{crd}}
	goleak.VerifyTestMain(kube.Wrap(m))
}
