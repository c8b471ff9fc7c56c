package natsjetstream

import (
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// kedaGood is KEDA's testNATSJetStreamGoodMetadata.
var kedaGood = map[string]string{"natsServerMonitoringEndpoint": "localhost:8222", "account": "$G", "stream": "mystream",
	"consumer": "pull_consumer", "useHttps": "false", "activationLagThreshold": "10"}

func md(kv ...string) map[string]string { return scalertest.WithKeys(kedaGood, kv...) }

// TestParseMetadataKEDA is every case of KEDA's testNATSJetStreamMetadata
// with KEDA's verdict. KEDA reads natsServerMonitoringEndpoint and account
// from a TriggerAuthentication too; an external scaler gets metadata only,
// so those cases give them as metadata (merged here as KEDA's typed
// parser merges authParams and triggerMetadata).
func TestParseMetadataKEDA(t *testing.T) {
	tests := []struct {
		name       string
		md, params map[string]string
		bad        []string
	}{
		{"all good localhost", map[string]string{"natsServerMonitoringEndpoint": "localhost:8222", "account": "$G", "accountID": "$G", "stream": "mystream", "consumer": "pull_consumer", "useHttps": "false"}, nil, nil},
		{"all good url", map[string]string{"natsServerMonitoringEndpoint": "nats.nats:8222", "account": "$G", "stream": "mystream", "consumer": "pull_consumer", "useHttps": "true"}, nil, nil},
		{"accountID over name", map[string]string{"natsServerMonitoringEndpoint": "localhost:8222", "accountID": "$G", "stream": "mystream", "consumer": "pull_consumer", "useHttps": "false"}, nil, nil},
		{"nothing passed", map[string]string{}, nil, []string{"natsServerMonitoringEndpoint: required", "stream: required", "consumer: required"}},
		{"no account name or id", map[string]string{"natsServerMonitoringEndpoint": "nats.nats:8222", "stream": "mystream", "consumer": "pull_consumer"}, nil, []string{"account: required"}},
		{"no stream", map[string]string{"natsServerMonitoringEndpoint": "nats.nats:8222", "account": "$G", "consumer": "pull_consumer"}, nil, []string{"stream: required"}},
		{"no consumer", map[string]string{"natsServerMonitoringEndpoint": "nats.nats:8222", "account": "$G", "stream": "mystream"}, nil, []string{"consumer: required"}},
		{"no endpoint", map[string]string{"account": "$G", "stream": "mystream"}, nil, []string{"natsServerMonitoringEndpoint: required"}},
		{"activationLagThreshold", map[string]string{"natsServerMonitoringEndpoint": "nats.nats:8222", "account": "$G", "stream": "mystream", "consumer": "pull_consumer", "activationLagThreshold": "10"}, nil, nil},
		{"bad activationLagThreshold", map[string]string{"natsServerMonitoringEndpoint": "nats.nats:8222", "account": "$G", "stream": "mystream", "consumer": "pull_consumer", "activationLagThreshold": "Y"}, nil, []string{`activationLagThreshold "Y"`}},
		{"endpoint from authParams", map[string]string{"account": "$G", "stream": "mystream", "consumer": "pull_consumer"}, map[string]string{"natsServerMonitoringEndpoint": "nats.nats:8222"}, nil},
		{"empty endpoint from authParams", map[string]string{"account": "$G", "stream": "mystream", "consumer": "pull_consumer"}, map[string]string{"natsServerMonitoringEndpoint": ""}, []string{"natsServerMonitoringEndpoint: required"}},
		{"bad useHttps", map[string]string{"natsServerMonitoringEndpoint": "nats.nats:8222", "account": "$G", "stream": "mystream", "consumer": "pull_consumer", "useHttps": "error"}, nil, []string{`useHttps "error"`}},
		{"lagThreshold", map[string]string{"account": "$G", "stream": "mystream", "consumer": "pull_consumer", "lagThreshold": "6"}, map[string]string{"natsServerMonitoringEndpoint": "nats.nats:8222"}, nil},
		{"bad lagThreshold", map[string]string{"account": "$G", "stream": "mystream", "consumer": "pull_consumer", "lagThreshold": "Y"}, map[string]string{"natsServerMonitoringEndpoint": "nats.nats:8222"}, []string{`lagThreshold "Y"`}},
		{"account from authParams", map[string]string{"stream": "mystream", "consumer": "pull_consumer"}, map[string]string{"account": "$G", "natsServerMonitoringEndpoint": "nats.nats:8222"}, nil},
		{"no account", map[string]string{"stream": "mystream", "consumer": "pull_consumer"}, map[string]string{"natsServerMonitoringEndpoint": "nats.nats:8222"}, []string{"account: required"}},
		// KEDA's TestNewNATSJetStreamScaler's failing case.
		{"empty account", map[string]string{"natsServerMonitoringEndpoint": "localhost:8222", "account": ""}, nil, []string{"stream: required", "consumer: required"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := scalertest.WithKeys(tt.md)
			for k, v := range tt.params {
				in[k] = v
			}
			_, err := ParseMetadata(in)
			if tt.bad == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			scalertest.CheckErr(t, err, scalers.ErrInvalidConfig, tt.bad...)
		})
	}
}

// TestParseMetadata: defaults (KEDA's lagThreshold 10, activation 0,
// http, accountID from account) and our own checks.
func TestParseMetadata(t *testing.T) {
	got, err := ParseMetadata(map[string]string{"natsServerMonitoringEndpoint": "nats.nats:8222", "account": "$G", "stream": "s", "consumer": "c"})
	if err != nil {
		t.Fatal(err)
	}
	want := Metadata{Endpoint: "nats.nats:8222", Account: "$G", AccountID: "$G", Stream: "s", Consumer: "c", LagThreshold: DefaultLagThreshold}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreUnexported(Metadata{}), cmpopts.IgnoreFields(Metadata{}, "TLS")); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got.monitoring.String() != "http://nats.nats:8222/jsz?acc=%24G&config=true&consumers=true" {
		t.Errorf("monitoring URL %s", got.monitoring)
	}
	tests := []struct {
		name string
		md   map[string]string
		bad  []string
	}{
		{"lagThreshold 0", md("lagThreshold", "0"), []string{`lagThreshold "0"`}},
		{"negative timeout", md("timeout", "-1"), []string{`timeout "-1"`}},
		{"a scheme", md("natsServerMonitoringEndpoint", "http://nats:8222"), []string{`natsServerMonitoringEndpoint "http://nats:8222": expected host:port`}},
		{"a path", md("natsServerMonitoringEndpoint", "nats:8222/jsz"), []string{`natsServerMonitoringEndpoint "nats:8222/jsz"`}},
		{"a bad port", md("natsServerMonitoringEndpoint", "nats:99999"), []string{`natsServerMonitoringEndpoint "nats:99999"`}},
		{"a space", md("natsServerMonitoringEndpoint", "na ts:8222"), []string{`natsServerMonitoringEndpoint "na ts:8222"`}},
		{"password hidden", md("natsServerMonitoringEndpoint", "u:hunter2@na ts:8222"), []string{`natsServerMonitoringEndpoint "xxxxx@na ts:8222"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseMetadata(tt.md)
			scalertest.CheckErr(t, err, scalers.ErrInvalidConfig, tt.bad...)
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}

// TestMetricNameKEDA: KEDA's TestNATSJetStreamGetMetricSpecForScaling
// ("s0-nats-jetstream-mystream"; KEDA adds the "s0-").
func TestMetricNameKEDA(t *testing.T) {
	s, err := New(t.Context(), scalers.Config{Type: Type, Metadata: md()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := []scalers.MetricSpec{{Name: "nats-jetstream-mystream", Target: 10}}
	if diff := cmp.Diff(want, s.MetricSpecs()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got := MetricName("a.b/c:d"); got != "nats-jetstream-a-b-c-d" {
		t.Errorf("MetricName = %q", got)
	}
}

// TestMonitoringURLKEDA: KEDA's TestGetNATSJetStreamMonitoringURL and
// TestGetNATSJetStreamEndpointHTTP(S).
func TestMonitoringURLKEDA(t *testing.T) {
	tests := []struct {
		name     string
		https    bool
		endpoint string
		account  string
		want     string
	}{
		{"HTTP scheme", false, "nats.nats:8222", "$G", "http://nats.nats:8222/jsz?acc=%24G&config=true&consumers=true"},
		{"HTTPS scheme", true, "nats.nats:8222", "$G", "https://nats.nats:8222/jsz?acc=%24G&config=true&consumers=true"},
		{"account id cannot add parameters", false, "nats.nats:8222", "myaccount&consumers=false", "http://nats.nats:8222/jsz?acc=myaccount%26consumers%3Dfalse&config=true&consumers=true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := MonitoringURL(tt.https, tt.endpoint, tt.account)
			if got != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
			u, err := url.Parse(got)
			if err != nil {
				t.Fatal(err)
			}
			if q := u.Query(); q.Get("consumers") != "true" || q.Get("config") != "true" || q.Get("acc") != tt.account {
				t.Errorf("query %v", q)
			}
		})
	}
}

// TestNodeURLsKEDA: KEDA's TestNATSJetStreamMonitoringNodeURLEncoding and
// ...ByNodeEncoding, and the /varz URLs of its leader search.
func TestNodeURLsKEDA(t *testing.T) {
	m, err := ParseMetadata(md("natsServerMonitoringEndpoint", "u:pw@localhost:8222"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, got, want string }{
		{"node", NodeURL(m.monitoring, "leader.nats.svc"), "http://leader.nats.svc:8222/jsz?acc=%24G&config=true&consumers=true"},
		{"node by name", NodeURLByName(m.monitoring, "leader"), "http://leader.localhost:8222/jsz?acc=%24G&config=true&consumers=true"},
		{"varz of the configured node keeps its user info", VarzURL(m.monitoring, ""), "http://u:pw@localhost:8222/varz"},
		{"varz of a node", VarzURL(m.monitoring, "10.0.0.3"), "http://10.0.0.3:8222/varz"},
		{"host of an advertised URL", hostOf("nats-1.nats.svc.cluster.local:4221"), "nats-1.nats.svc.cluster.local"},
		{"node of a route", nodeOf("nats-1.nats.svc:6222"), "nats-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %s, want %s", tt.got, tt.want)
			}
		})
	}
}
