package kafka

import (
	"os"
	"path/filepath"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
)

// TestExampleScaledObject parses the trigger of examples/keda/kafka.yaml as
// KEDA would send it (FromEnv keys resolved to values; the caFile path
// pointed at a real file), so the example stays valid.
func TestExampleScaledObject(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "examples", "keda", "kafka.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var so struct {
		Spec struct {
			Triggers []struct {
				Type     string            `json:"type"`
				Metadata map[string]string `json:"metadata"`
			} `json:"triggers"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(raw, &so); err != nil {
		t.Fatal(err)
	}
	if len(so.Spec.Triggers) != 1 {
		t.Fatalf("got %d triggers, want 1", len(so.Spec.Triggers))
	}
	tr := so.Spec.Triggers[0]
	if tr.Type != "external" || tr.Metadata["scalerType"] != Type || tr.Metadata["scalerAddress"] == "" {
		t.Fatalf("got trigger %+v, want an external trigger with scalerType kafka", tr)
	}
	md := tr.Metadata
	md["usernameFromEnv"], md["passwordFromEnv"] = "order-worker", "resolved-password"
	md["caFile"] = testenv.NewPKI(t).WriteCA(t, t.TempDir())
	m, err := ParseMetadata(md)
	if err != nil {
		t.Fatalf("example metadata: %v", err)
	}
	if m.Topic != "orders" || m.LagThreshold != 50 || m.SASL != SASLScramSHA512 || m.tlsConfig == nil {
		t.Errorf("got %+v, want topic orders, lagThreshold 50, scram_sha512 and TLS", summarize(m))
	}
}
