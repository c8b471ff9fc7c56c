package kafka

import (
	"testing"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
)

// TestExampleScaledObject parses the trigger of examples/keda/kafka.yaml as
// KEDA would send it (FromEnv keys resolved to values; the caFile path
// pointed at a real file), so the example stays valid.
func TestExampleScaledObject(t *testing.T) {
	md := scalertest.KEDATrigger(t, "kafka.yaml")
	if md["scalerType"] != Type || md["scalerAddress"] == "" {
		t.Fatalf("got trigger metadata %v, want scalerType kafka and a scalerAddress", md)
	}
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
