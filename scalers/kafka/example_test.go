package kafka

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
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
	m, err := ParseMetadata(md, scalers.Limits{}, secretFiles(t, md))
	if err != nil {
		t.Fatalf("example metadata: %v", err)
	}
	want := defaults(func(p *parsed) {
		p.Brokers = []string{"kafka-0.kafka.shop:9093", "kafka-1.kafka.shop:9093"}
		p.Group, p.Topic, p.LagThreshold = "order-worker", "orders", 50
		p.SASL, p.TLS = SASLScramSHA512, true
	})
	if diff := cmp.Diff(want, summarize(m)); diff != "" {
		t.Errorf("example (-want +got):\n%s", diff)
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
	m, err := ParseMetadata(md, scalers.Limits{})
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
