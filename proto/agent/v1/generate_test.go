package agentv1_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	agentv1 "github.com/hpa-autoscaler/hpa-autoscaler/proto/agent/v1"
)

// TestGeneratedCodeIsCurrent regenerates the Go code from agent.proto
// with the pinned plugins (hack/protogen.sh into a temporary directory)
// and fails when the checked-in files differ: run `make generate`.
func TestGeneratedCodeIsCurrent(t *testing.T) {
	out := t.TempDir()
	cmd := exec.Command("../../../hack/protogen.sh", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("hack/protogen.sh: %v\n%s", err, b)
	}
	for _, f := range []string{"agent.pb.go", "agent_grpc.pb.go"} {
		want, err := os.ReadFile(filepath.Join(out, "proto", "agent", "v1", f))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("proto/agent/v1/%s is stale: run make generate", f)
		}
	}
}

// TestServiceShape: the four methods of the design, with Connect a
// bidirectional stream.
func TestServiceShape(t *testing.T) {
	sd := agentv1.AgentService_ServiceDesc
	if sd.ServiceName != "hpaautoscaler.agent.v1.AgentService" {
		t.Errorf("service name %q", sd.ServiceName)
	}
	var unary []string
	for _, m := range sd.Methods {
		unary = append(unary, m.MethodName)
	}
	if want := []string{"GetScalingRecommendation", "ReportScalingEvent", "HealthCheck"}; len(unary) != 3 || unary[0] != want[0] || unary[1] != want[1] || unary[2] != want[2] {
		t.Errorf("unary methods %v, want %v", unary, want)
	}
	if len(sd.Streams) != 1 || sd.Streams[0].StreamName != "Connect" || !sd.Streams[0].ClientStreams || !sd.Streams[0].ServerStreams {
		t.Errorf("streams %+v, want Connect, bidirectional", sd.Streams)
	}
}
