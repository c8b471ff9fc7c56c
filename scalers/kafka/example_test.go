package kafka

import (
	"testing"

	"github.com/google/go-cmp/cmp"

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

// TestExampleOAuthBearer parses examples/keda/kafka-oauthbearer.yaml the
// same way.
func TestExampleOAuthBearer(t *testing.T) {
	md := scalertest.KEDATrigger(t, "kafka-oauthbearer.yaml")
	if md["scalerType"] != Type || md["scalerAddress"] == "" {
		t.Fatalf("got trigger metadata %v, want scalerType kafka and a scalerAddress", md)
	}
	md["usernameFromEnv"], md["passwordFromEnv"] = "order-worker", "resolved-secret"
	m, err := ParseMetadata(md)
	if err != nil {
		t.Fatalf("example metadata: %v", err)
	}
	type oauthSummary struct {
		SASL, Endpoint string
		Scopes         []string
		Extensions     map[string]string
		TLS            bool
	}
	want := oauthSummary{SASL: SASLOAuthBearer, Endpoint: "https://idp.example.com/oauth2/token", Scopes: []string{"kafka"},
		Extensions: map[string]string{"logicalCluster": "lkc-1", "identityPoolId": "pool-2"}, TLS: true}
	got := oauthSummary{SASL: m.SASL, Endpoint: m.OAuthTokenEndpointURI, Scopes: m.Scopes, Extensions: m.extensions, TLS: m.tlsConfig != nil}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("example (-want +got):\n%s", diff)
	}
}
