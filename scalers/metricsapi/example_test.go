package metricsapi

import (
	"testing"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
)

func TestExampleParses(t *testing.T) {
	md := scalertest.KEDATrigger(t, "metrics-api.yaml")
	// Keys ending in File point at paths inside the cluster.
	scalertest.StandInFiles(t, md, "x")
	if md["scalerType"] != Type {
		t.Fatalf("scalerType: got %q, want %q", md["scalerType"], Type)
	}
	if _, err := ParseMetadata(md, secretFiles(t, md)); err != nil {
		t.Fatalf("examples/keda/metrics-api.yaml: %v", err)
	}
}
