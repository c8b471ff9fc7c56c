package triggers_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
	"github.com/hpa-autoscaler/hpa-autoscaler/controller/triggers"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/custom"
)

func ptr[T any](v T) *T { return &v }

const (
	ns   = "shop"
	path = "spec.scalerSpec"
)

func sel(name, key string) v1.SecretKeySelector { return v1.SecretKeySelector{Name: name, Key: key} }

// shopSecrets are the Secrets of the mapping tests; every value holds the
// marker.
func shopSecrets() *fakeSecrets {
	return secretsOf(ns,
		secret("kafka", "11", map[string]string{"user": "user-" + marker, "password": "pw-" + marker}),
		secret("tls", "12", map[string]string{"ca.crt": "CA-" + marker, "tls.crt": "CERT-" + marker, "tls.key": "KEY-" + marker}),
		secret("prom", "13", map[string]string{"password": "ppw-" + marker, "token": "tok-" + marker}),
		secret("redis", "14", map[string]string{"password": "rpw-" + marker}),
		secret("exact", "15", map[string]string{"v": "  spaced " + marker + "\n"}),
		secret("empty", "16", map[string]string{"v": ""}),
	)
}

func TestResolveMapping(t *testing.T) {
	tlsBlock := &v1.TLSSecrets{CASecret: ptr(sel("tls", "ca.crt")), CertSecret: ptr(sel("tls", "tls.crt")),
		KeySecret: ptr(sel("tls", "tls.key")), InsecureSkipVerify: true}
	tests := []struct {
		name string
		spec v1.TriggerSpec
		want *triggers.Trigger
	}{
		{
			name: "kafka one topic, every field",
			spec: v1.TriggerSpec{Type: "kafka", Kafka: &v1.KafkaTrigger{
				Brokers:       []string{"kafka-0:9093", "kafka-1:9093"},
				ConsumerGroup: "workers", Topics: []string{"orders"},
				LagThreshold: ptr(int64(50)), ActivationLagThreshold: ptr(int64(5)), OffsetResetPolicy: "earliest",
				Authentication: &v1.KafkaAuthentication{
					SASL: &v1.KafkaSASL{Mechanism: "SCRAM-SHA-512", Username: "consumer", PasswordSecret: sel("kafka", "password")},
					TLS:  tlsBlock,
				},
			}},
			want: &triggers.Trigger{Name: "kafka", Type: "kafka", MetricType: "AverageValue", Metadata: map[string]string{
				"bootstrapServers": "kafka-0:9093,kafka-1:9093", "consumerGroup": "workers", "topic": "orders",
				"lagThreshold": "50", "activationLagThreshold": "5", "offsetResetPolicy": "earliest",
				"sasl": "scram_sha512", "username": "consumer", "password": "pw-" + marker,
				"tls": "enable", "ca": "CA-" + marker, "cert": "CERT-" + marker, "key": "KEY-" + marker, "unsafeSsl": "true",
			}, SecretKeys: []string{"ca", "cert", "key", "password"},
				Secrets: []triggers.SecretVersion{{Name: "kafka", ResourceVersion: "11"}, {Name: "tls", ResourceVersion: "12"}}},
		},
		{
			name: "kafka without topics: every topic of the group",
			spec: v1.TriggerSpec{Type: "kafka", Kafka: &v1.KafkaTrigger{Brokers: []string{"k:9092"}, ConsumerGroup: "g"}},
			want: &triggers.Trigger{Name: "kafka", Type: "kafka", MetricType: "AverageValue", Metadata: map[string]string{
				"bootstrapServers": "k:9092", "consumerGroup": "g",
			}},
		},
		{
			name: "kafka tls without material, username from a Secret",
			spec: v1.TriggerSpec{Type: "kafka", Kafka: &v1.KafkaTrigger{Brokers: []string{"k:9092"}, ConsumerGroup: "g",
				Authentication: &v1.KafkaAuthentication{
					SASL: &v1.KafkaSASL{Mechanism: "PLAIN", UsernameSecret: ptr(sel("kafka", "user")), PasswordSecret: sel("kafka", "password")},
					TLS:  &v1.TLSSecrets{},
				}}},
			want: &triggers.Trigger{Name: "kafka", Type: "kafka", MetricType: "AverageValue", Metadata: map[string]string{
				"bootstrapServers": "k:9092", "consumerGroup": "g", "tls": "enable",
				"sasl": "plaintext", "username": "user-" + marker, "password": "pw-" + marker,
			}, SecretKeys: []string{"password", "username"}, Secrets: []triggers.SecretVersion{{Name: "kafka", ResourceVersion: "11"}}},
		},
		{
			name: "kafka several topics: a custom sum of one kafka source per topic",
			spec: v1.TriggerSpec{Name: "lag", Type: "kafka", MetricType: "Value", Kafka: &v1.KafkaTrigger{
				Brokers: []string{"k1:9092", "k2:9092"}, ConsumerGroup: "g", Topics: []string{"user-events", "order-events", "audit"},
				LagThreshold: ptr(int64(1000)), ActivationLagThreshold: ptr(int64(3)), OffsetResetPolicy: "latest",
				Authentication: &v1.KafkaAuthentication{SASL: &v1.KafkaSASL{Mechanism: "SCRAM-SHA-256", Username: "u", PasswordSecret: sel("kafka", "password")}},
			}},
			want: &triggers.Trigger{Name: "lag", Type: "custom", MetricType: "Value", Metadata: map[string]string{
				"expression": "t0 + t1 + t2", "threshold": "1000", "activationThreshold": "3",
				"source.t0.type": "kafka", "source.t0.topic": "user-events",
				"source.t0.bootstrapServers": "k1:9092,k2:9092", "source.t0.consumerGroup": "g", "source.t0.lagThreshold": "1000",
				"source.t0.offsetResetPolicy": "latest", "source.t0.sasl": "scram_sha256", "source.t0.username": "u", "source.t0.password": "pw-" + marker,
				"source.t1.type": "kafka", "source.t1.topic": "order-events",
				"source.t1.bootstrapServers": "k1:9092,k2:9092", "source.t1.consumerGroup": "g", "source.t1.lagThreshold": "1000",
				"source.t1.offsetResetPolicy": "latest", "source.t1.sasl": "scram_sha256", "source.t1.username": "u", "source.t1.password": "pw-" + marker,
				"source.t2.type": "kafka", "source.t2.topic": "audit",
				"source.t2.bootstrapServers": "k1:9092,k2:9092", "source.t2.consumerGroup": "g", "source.t2.lagThreshold": "1000",
				"source.t2.offsetResetPolicy": "latest", "source.t2.sasl": "scram_sha256", "source.t2.username": "u", "source.t2.password": "pw-" + marker,
			}, SecretKeys: []string{"source.t0.password", "source.t1.password", "source.t2.password"}, Secrets: []triggers.SecretVersion{{Name: "kafka", ResourceVersion: "11"}}},
		},
		{
			name: "kafka several topics without lagThreshold: the kafka default 10",
			spec: v1.TriggerSpec{Type: "kafka", Kafka: &v1.KafkaTrigger{Brokers: []string{"k:9092"}, ConsumerGroup: "g", Topics: []string{"a", "b"}}},
			want: &triggers.Trigger{Name: "kafka", Type: "custom", MetricType: "AverageValue", Metadata: map[string]string{
				"expression": "t0 + t1", "threshold": "10",
				"source.t0.type": "kafka", "source.t0.topic": "a", "source.t0.bootstrapServers": "k:9092", "source.t0.consumerGroup": "g",
				"source.t1.type": "kafka", "source.t1.topic": "b", "source.t1.bootstrapServers": "k:9092", "source.t1.consumerGroup": "g",
			}},
		},
		{
			name: "prometheus, every field, basic auth and a CA",
			spec: v1.TriggerSpec{Type: "prometheus", Prometheus: &v1.PrometheusTrigger{
				ServerURL: "https://prom:9090", Query: "sum(up)", Threshold: 0.1, ActivationThreshold: ptr(1e-7),
				IgnoreNullValues: ptr(false), Namespace: "shop", Timeout: &metav1.Duration{Duration: 2500 * time.Millisecond},
				Authentication: &v1.PrometheusAuthentication{
					BasicAuth: &v1.BasicAuth{Username: "monitoring", PasswordSecret: sel("prom", "password")},
					TLS:       &v1.TLSSecrets{CASecret: ptr(sel("tls", "ca.crt")), InsecureSkipVerify: true},
				},
			}},
			want: &triggers.Trigger{Name: "prometheus", Type: "prometheus", MetricType: "AverageValue", Metadata: map[string]string{
				"serverAddress": "https://prom:9090", "query": "sum(up)", "threshold": "0.1", "activationThreshold": "1e-07",
				"ignoreNullValues": "false", "namespace": "shop", "timeout": "2500",
				"authModes": "basic", "username": "monitoring", "password": "ppw-" + marker, "ca": "CA-" + marker, "unsafeSsl": "true",
			}, SecretKeys: []string{"ca", "password"}, Secrets: []triggers.SecretVersion{{Name: "prom", ResourceVersion: "13"}, {Name: "tls", ResourceVersion: "12"}}},
		},
		{
			name: "prometheus bearer and a client certificate",
			spec: v1.TriggerSpec{Type: "prometheus", Prometheus: &v1.PrometheusTrigger{
				ServerURL: "https://prom:9090", Query: "q", Threshold: 100, ActivationThreshold: ptr(0.0),
				Timeout: &metav1.Duration{},
				Authentication: &v1.PrometheusAuthentication{
					BearerTokenSecret: ptr(sel("prom", "token")),
					TLS:               &v1.TLSSecrets{CertSecret: ptr(sel("tls", "tls.crt")), KeySecret: ptr(sel("tls", "tls.key"))},
				},
			}},
			want: &triggers.Trigger{Name: "prometheus", Type: "prometheus", MetricType: "AverageValue", Metadata: map[string]string{
				"serverAddress": "https://prom:9090", "query": "q", "threshold": "100", "activationThreshold": "0", "timeout": "0",
				"authModes": "bearer,tls", "bearerToken": "tok-" + marker, "cert": "CERT-" + marker, "key": "KEY-" + marker,
			}, SecretKeys: []string{"bearerToken", "cert", "key"}, Secrets: []triggers.SecretVersion{{Name: "prom", ResourceVersion: "13"}, {Name: "tls", ResourceVersion: "12"}}},
		},
		{
			name: "prometheus, required fields only",
			spec: v1.TriggerSpec{Type: "prometheus", Prometheus: &v1.PrometheusTrigger{ServerURL: "http://p:9090", Query: "q", Threshold: 0.30000000000000004}},
			want: &triggers.Trigger{Name: "prometheus", Type: "prometheus", MetricType: "AverageValue", Metadata: map[string]string{
				"serverAddress": "http://p:9090", "query": "q", "threshold": "0.30000000000000004",
			}},
		},
		{
			name: "custom with configuration and a source's secretRefs",
			spec: v1.TriggerSpec{Type: "custom", Custom: &v1.CustomTrigger{
				Expression: "a + b", Threshold: 2.5, ActivationThreshold: 1,
				MetricSources: []v1.MetricSource{
					{Name: "a", Type: "prometheus", Configuration: map[string]string{"url": "http://p:9090", "query": "q"}},
					{Name: "b", Type: "metrics-api", Configuration: map[string]string{"url": "https://api/x", "authModes": "bearer"},
						SecretRefs: []v1.SecretRef{{Parameter: "bearerToken", Name: "prom", Key: "token"}}},
				},
			}},
			want: &triggers.Trigger{Name: "custom", Type: "custom", MetricType: "AverageValue", Metadata: map[string]string{
				"expression": "a + b", "threshold": "2.5", "activationThreshold": "1",
				"source.a.type": "prometheus", "source.a.url": "http://p:9090", "source.a.query": "q",
				"source.b.type": "metrics-api", "source.b.url": "https://api/x", "source.b.authModes": "bearer", "source.b.bearerToken": "tok-" + marker,
			}, SecretKeys: []string{"source.b.bearerToken"}, Secrets: []triggers.SecretVersion{{Name: "prom", ResourceVersion: "13"}}},
		},
		{
			name: "generic block: metadata as is, secretRefs filled",
			spec: v1.TriggerSpec{Name: "jobs", Type: "redis", MetricType: "Value",
				Metadata:   map[string]string{"address": "redis:6379", "listName": "jobs", "listLength": " 20 ", "custom.anything": "kept"},
				SecretRefs: []v1.SecretRef{{Parameter: "password", Name: "redis", Key: "password"}}},
			want: &triggers.Trigger{Name: "jobs", Type: "redis", MetricType: "Value", Metadata: map[string]string{
				"address": "redis:6379", "listName": "jobs", "listLength": " 20 ", "custom.anything": "kept", "password": "rpw-" + marker,
			}, SecretKeys: []string{"password"}, Secrets: []triggers.SecretVersion{{Name: "redis", ResourceVersion: "14"}}},
		},
		{
			name: "generic custom block: a source's secret by its flat key",
			spec: v1.TriggerSpec{Type: "custom",
				Metadata:   map[string]string{"expression": "x", "threshold": "1", "source.x.type": "metrics-api", "source.x.url": "http://a/b"},
				SecretRefs: []v1.SecretRef{{Parameter: "source.x.bearerToken", Name: "prom", Key: "token"}}},
			want: &triggers.Trigger{Name: "custom", Type: "custom", MetricType: "AverageValue", Metadata: map[string]string{
				"expression": "x", "threshold": "1", "source.x.type": "metrics-api", "source.x.url": "http://a/b", "source.x.bearerToken": "tok-" + marker,
			}, SecretKeys: []string{"source.x.bearerToken"}, Secrets: []triggers.SecretVersion{{Name: "prom", ResourceVersion: "13"}}},
		},
		{
			name: "generic block: empty metadata, every value from Secrets, the bytes exactly",
			spec: v1.TriggerSpec{Type: "redis", Metadata: map[string]string{},
				SecretRefs: []v1.SecretRef{{Parameter: "password", Name: "exact", Key: "v"}, {Parameter: "username", Name: "empty", Key: "v"}}},
			want: &triggers.Trigger{Name: "redis", Type: "redis", MetricType: "AverageValue", Metadata: map[string]string{
				"password": "  spaced " + marker + "\n", "username": "",
			}, SecretKeys: []string{"password", "username"}, Secrets: []triggers.SecretVersion{{Name: "empty", ResourceVersion: "16"}, {Name: "exact", ResourceVersion: "15"}}},
		},
		{
			name: "resource",
			spec: v1.TriggerSpec{Type: "resource", Resource: &v1.ResourceTrigger{ResourceName: "cpu", TargetType: "Utilization", TargetAverageUtilization: ptr(int32(70))}},
			want: &triggers.Trigger{Name: "resource", Type: "resource",
				Resource: &v1.ResourceTrigger{ResourceName: "cpu", TargetType: "Utilization", TargetAverageUtilization: ptr(int32(70))}},
		},
		{
			name: "resource memory by average value, named",
			spec: v1.TriggerSpec{Name: "mem", Type: "resource", Resource: &v1.ResourceTrigger{ResourceName: "memory", TargetType: "AverageValue", TargetAverageValue: "512Mi", Container: "app"}},
			want: &triggers.Trigger{Name: "mem", Type: "resource",
				Resource: &v1.ResourceTrigger{ResourceName: "memory", TargetType: "AverageValue", TargetAverageValue: "512Mi", Container: "app"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := triggers.Resolve(context.Background(), triggers.Input{Namespace: ns, Path: path, Spec: tc.spec, Secrets: shopSecrets()})
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Resolve (-want +got):\n%s", diff)
			}
		})
	}
}

func TestResolveKafkaMechanisms(t *testing.T) {
	tests := []struct{ mechanism, sasl string }{
		{"PLAIN", "plaintext"},
		{"SCRAM-SHA-256", "scram_sha256"},
		{"SCRAM-SHA-512", "scram_sha512"},
		{"plaintext", "plaintext"},
		{"scram_sha256", "scram_sha256"},
		{"scram_sha512", "scram_sha512"},
	}
	for _, tc := range tests {
		t.Run(tc.mechanism, func(t *testing.T) {
			got, err := triggers.Resolve(context.Background(), triggers.Input{Namespace: ns, Path: path, Secrets: shopSecrets(),
				Spec: v1.TriggerSpec{Type: "kafka", Kafka: &v1.KafkaTrigger{Brokers: []string{"k:9092"}, ConsumerGroup: "g",
					Authentication: &v1.KafkaAuthentication{SASL: &v1.KafkaSASL{Mechanism: tc.mechanism, Username: "u", PasswordSecret: sel("kafka", "password")}}}}})
			if err != nil {
				t.Fatal(err)
			}
			if got.Metadata["sasl"] != tc.sasl {
				t.Errorf("sasl = %q, want %q", got.Metadata["sasl"], tc.sasl)
			}
		})
	}
}

// TestResolveNumbersRoundTrip: every float is written so that it parses
// back to the same number.
func TestResolveNumbersRoundTrip(t *testing.T) {
	for _, f := range []float64{0.5, 0.1, 1.0 / 3, 1e-300, 123456789.123456789, 5e21, 1} {
		t.Run(strconv.FormatFloat(f, 'g', -1, 64), func(t *testing.T) {
			got, err := triggers.Resolve(context.Background(), triggers.Input{Namespace: ns, Path: path,
				Spec: v1.TriggerSpec{Type: "prometheus", Prometheus: &v1.PrometheusTrigger{ServerURL: "http://p", Query: "q", Threshold: f, ActivationThreshold: ptr(f)}}})
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"threshold", "activationThreshold"} {
				back, err := strconv.ParseFloat(got.Metadata[k], 64)
				if err != nil || back != f {
					t.Errorf("%s = %q parses back to %v (%v), want %v", k, got.Metadata[k], back, err, f)
				}
			}
		})
	}
}

// TestResolveReadsEachSecretOnce: a Secret referenced several times is read
// once, listed once, and the list is sorted by name.
func TestResolveReadsEachSecretOnce(t *testing.T) {
	fs := secretsOf(ns,
		secret("b", "2", map[string]string{"x": "1", "y": "2"}),
		secret("a", "1", map[string]string{"z": "3"}))
	got, err := triggers.Resolve(context.Background(), triggers.Input{Namespace: ns, Path: path, Secrets: fs,
		Spec: v1.TriggerSpec{Type: "redis", Metadata: map[string]string{}, SecretRefs: []v1.SecretRef{
			{Parameter: "password", Name: "b", Key: "x"},
			{Parameter: "username", Name: "a", Key: "z"},
			{Parameter: "sentinelPassword", Name: "b", Key: "y"},
		}}})
	if err != nil {
		t.Fatal(err)
	}
	want := []triggers.SecretVersion{{Name: "a", ResourceVersion: "1"}, {Name: "b", ResourceVersion: "2"}}
	if diff := cmp.Diff(want, got.Secrets); diff != "" {
		t.Errorf("Secrets (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]int{"a": 1, "b": 1}, fs.reads); diff != "" {
		t.Errorf("reads per Secret (-want +got):\n%s", diff)
	}
}

// TestResolveCopies: the Trigger shares nothing with the spec.
func TestResolveCopies(t *testing.T) {
	spec := v1.TriggerSpec{Type: "resource", Resource: &v1.ResourceTrigger{ResourceName: "cpu", TargetType: "Utilization", TargetAverageUtilization: ptr(int32(70))}}
	got, err := triggers.Resolve(context.Background(), triggers.Input{Namespace: ns, Path: path, Spec: spec})
	if err != nil {
		t.Fatal(err)
	}
	*spec.Resource.TargetAverageUtilization = 10
	if *got.Resource.TargetAverageUtilization != 70 {
		t.Error("the Trigger's resource block is the spec's")
	}
	md := map[string]string{"address": "r:6379"}
	got, err = triggers.Resolve(context.Background(), triggers.Input{Namespace: ns, Path: path, Spec: v1.TriggerSpec{Type: "redis", Metadata: md}})
	if err != nil {
		t.Fatal(err)
	}
	md["address"] = "changed"
	if got.Metadata["address"] != "r:6379" {
		t.Error("the Trigger's metadata is the spec's map")
	}
}

// TestResolveErrors: each rule's error, with its exact message (field
// path, value when not secret, what was expected) and sentinel; every
// Secret holds the marker, which no message may show.
func TestResolveErrors(t *testing.T) {
	kafkaOK := func(mut func(*v1.KafkaTrigger)) v1.TriggerSpec {
		k := &v1.KafkaTrigger{Brokers: []string{"k:9092"}, ConsumerGroup: "g"}
		mut(k)
		return v1.TriggerSpec{Type: "kafka", Kafka: k}
	}
	promOK := func(mut func(*v1.PrometheusTrigger)) v1.TriggerSpec {
		p := &v1.PrometheusTrigger{ServerURL: "http://p:9090", Query: "q", Threshold: 1}
		mut(p)
		return v1.TriggerSpec{Type: "prometheus", Prometheus: p}
	}
	customOK := func(mut func(*v1.CustomTrigger)) v1.TriggerSpec {
		c := &v1.CustomTrigger{Expression: "a", Threshold: 1, MetricSources: []v1.MetricSource{{Name: "a", Type: "prometheus",
			Configuration: map[string]string{"serverAddress": "http://p", "query": "q"}}}}
		mut(c)
		return v1.TriggerSpec{Type: "custom", Custom: c}
	}
	sasl := func(s *v1.KafkaSASL) func(*v1.KafkaTrigger) {
		return func(k *v1.KafkaTrigger) { k.Authentication = &v1.KafkaAuthentication{SASL: s} }
	}
	const (
		fileWhy = ": a Scaler must not make the agent send its own files, such as its service account token, to a host the Scaler names"
		keda    = " is KEDA's key for its external scaler and means nothing to the agent, which builds the trigger's type itself; remove it"
	)
	tests := []struct {
		name    string
		spec    v1.TriggerSpec
		secrets triggers.SecretReader // default shopSecrets()
		// noReader passes a nil Input.Secrets.
		noReader bool
		kind     string
		want     []string
	}{
		// Generic block.
		{
			name: "FromEnv key",
			spec: v1.TriggerSpec{Type: "kafka", Metadata: map[string]string{"passwordFromEnv": "KAFKA_PASSWORD", "topic": "t"}},
			kind: "invalid",
			want: []string{`spec.scalerSpec.metadata.passwordFromEnv "KAFKA_PASSWORD": passwordFromEnv: the agent has no container environment to read; use secretRefs (parameter "password")`},
		},
		{
			name: "File key",
			spec: v1.TriggerSpec{Type: "kafka", Metadata: map[string]string{"caFile": "/etc/kafka-ca/ca.crt"}},
			kind: "invalid",
			want: []string{`spec.scalerSpec.metadata.caFile "/etc/kafka-ca/ca.crt": caFile reads a file of the agent's pod: not allowed in a Scaler; use secretRefs (parameter "ca")` + fileWhy},
		},
		{
			name: "KEDA's external scaler keys",
			spec: v1.TriggerSpec{Type: "redis", Metadata: map[string]string{"scalerAddress": "keda:9443", "scalerType": "redis", "address": "r:6379"}},
			kind: "invalid",
			want: []string{
				`spec.scalerSpec.metadata.scalerAddress "keda:9443": scalerAddress` + keda,
				`spec.scalerSpec.metadata.scalerType "redis": scalerType` + keda,
			},
		},
		{
			name: "custom sources in the generic block: the same rules",
			spec: v1.TriggerSpec{Type: "custom", Metadata: map[string]string{
				"expression": "x", "threshold": "1", "source.x.type": "metrics-api",
				"source.x.bearerTokenFile": "/var/run/secrets/kubernetes.io/serviceaccount/token",
				"source.x.apiKeyFromEnv":   "KEY", "source.x.scalerAddress": "a:1",
			}},
			kind: "invalid",
			want: []string{
				`spec.scalerSpec.metadata.source.x.apiKeyFromEnv "KEY": source.x.apiKeyFromEnv: the agent has no container environment to read; use secretRefs (parameter "source.x.apiKey")`,
				`spec.scalerSpec.metadata.source.x.bearerTokenFile "/var/run/secrets/kubernetes.io/serviceaccount/token": source.x.bearerTokenFile reads a file of the agent's pod: not allowed in a Scaler; use secretRefs (parameter "source.x.bearerToken")` + fileWhy,
				`spec.scalerSpec.metadata.source.x.scalerAddress "a:1": scalerAddress` + keda,
			},
		},
		{
			name: "secretRef parameter already in metadata",
			spec: v1.TriggerSpec{Type: "redis", Metadata: map[string]string{"password": "inline"},
				SecretRefs: []v1.SecretRef{{Parameter: "password", Name: "redis", Key: "password"}}},
			kind: "invalid",
			want: []string{`spec.scalerSpec.secretRefs[0].parameter "password": also set in the block itself: ambiguous, give it in one place`},
		},
		{
			name: "secretRef parameter twice",
			spec: v1.TriggerSpec{Type: "redis", Metadata: map[string]string{},
				SecretRefs: []v1.SecretRef{{Parameter: "password", Name: "redis", Key: "password"}, {Parameter: "password", Name: "kafka", Key: "password"}}},
			kind: "invalid",
			want: []string{`spec.scalerSpec.secretRefs[1].parameter "password": given by two secretRefs; give each parameter once`},
		},
		{
			name: "secretRef parameters the agent refuses",
			spec: v1.TriggerSpec{Type: "redis", Metadata: map[string]string{}, SecretRefs: []v1.SecretRef{
				{Parameter: "caFile", Name: "redis", Key: "password"},
				{Parameter: "passwordFromEnv", Name: "redis", Key: "password"},
				{Parameter: "scalerType", Name: "redis", Key: "password"},
			}},
			kind: "invalid",
			want: []string{
				`spec.scalerSpec.secretRefs[0].parameter "caFile": caFile reads a file of the agent's pod: not allowed in a Scaler; use secretRefs (parameter "ca")` + fileWhy,
				`spec.scalerSpec.secretRefs[1].parameter "passwordFromEnv": passwordFromEnv: the agent has no container environment to read; use secretRefs (parameter "password")`,
				`spec.scalerSpec.secretRefs[2].parameter "scalerType": scalerType` + keda,
			},
		},
		{
			name: "secretRef without parameter, name or key",
			spec: v1.TriggerSpec{Type: "redis", Metadata: map[string]string{}, SecretRefs: []v1.SecretRef{{}}},
			kind: "invalid",
			want: []string{
				`spec.scalerSpec.secretRefs[0].parameter: required: the metadata key the Secret's value goes to`,
				`spec.scalerSpec.secretRefs[0].name: required: the name of a Secret in the Scaler's namespace`,
				`spec.scalerSpec.secretRefs[0].key: required: a key of the Secret's data`,
			},
		},
		{
			name: "missing Secret",
			spec: v1.TriggerSpec{Type: "redis", Metadata: map[string]string{}, SecretRefs: []v1.SecretRef{{Parameter: "password", Name: "nope", Key: "password"}}},
			kind: "secret",
			want: []string{`spec.scalerSpec.secretRefs[0]: Secret "nope" not found in namespace "shop"`},
		},
		{
			name: "missing key",
			spec: v1.TriggerSpec{Type: "redis", Metadata: map[string]string{}, SecretRefs: []v1.SecretRef{{Parameter: "password", Name: "redis", Key: "pass"}}},
			kind: "secret",
			want: []string{`spec.scalerSpec.secretRefs[0]: Secret "redis" has no key "pass"`},
		},
		{
			name:    "unreadable Secret, reported at each reference",
			spec:    v1.TriggerSpec{Type: "redis", Metadata: map[string]string{}, SecretRefs: []v1.SecretRef{{Parameter: "password", Name: "redis", Key: "password"}, {Parameter: "username", Name: "redis", Key: "user"}}},
			secrets: &fakeSecrets{namespace: ns, fail: map[string]error{"redis": errors.New(`secrets "redis" is forbidden`)}},
			kind:    "secret",
			want: []string{
				`spec.scalerSpec.secretRefs[0]: reading Secret "redis" of namespace "shop": secrets "redis" is forbidden`,
				`spec.scalerSpec.secretRefs[1]: reading Secret "redis" of namespace "shop": secrets "redis" is forbidden`,
			},
		},
		{
			name:     "no SecretReader",
			spec:     v1.TriggerSpec{Type: "redis", Metadata: map[string]string{}, SecretRefs: []v1.SecretRef{{Parameter: "password", Name: "redis", Key: "password"}}},
			noReader: true,
			kind:     "secret",
			want:     []string{`spec.scalerSpec.secretRefs[0]: reading Secret "redis" of namespace "shop": no SecretReader given (Input.Secrets is nil)`},
		},

		// The trigger's shape.
		{
			name: "no block",
			spec: v1.TriggerSpec{Type: "redis"},
			kind: "invalid",
			want: []string{`spec.scalerSpec: exactly one of resource, kafka, prometheus, custom or metadata must be set, got none`},
		},
		{
			name: "two blocks, no type",
			spec: v1.TriggerSpec{Metadata: map[string]string{}, Prometheus: &v1.PrometheusTrigger{}},
			kind: "invalid",
			want: []string{
				`spec.scalerSpec.type: required: the scaler type (resource, kafka, prometheus, custom or any registered type)`,
				`spec.scalerSpec: exactly one of resource, kafka, prometheus, custom or metadata must be set, got prometheus, metadata`,
			},
		},
		{
			name: "typed block of another type",
			spec: v1.TriggerSpec{Type: "redis", Prometheus: &v1.PrometheusTrigger{ServerURL: "http://p", Query: "q", Threshold: 1}},
			kind: "invalid",
			want: []string{`spec.scalerSpec.type "redis": the prometheus block needs type prometheus`},
		},
		{
			name: "type resource with metadata",
			spec: v1.TriggerSpec{Type: "resource", Metadata: map[string]string{"value": "70"}},
			kind: "invalid",
			want: []string{`spec.scalerSpec.type "resource": type resource needs the resource block, not metadata`},
		},
		{
			name: "secretRefs with a typed block",
			spec: v1.TriggerSpec{Type: "prometheus", Prometheus: &v1.PrometheusTrigger{ServerURL: "http://p", Query: "q", Threshold: 1},
				SecretRefs: []v1.SecretRef{{Parameter: "bearerToken", Name: "prom", Key: "token"}}},
			kind: "invalid",
			want: []string{`spec.scalerSpec.secretRefs: secretRefs go with the metadata block (the prometheus block names its Secrets itself)`},
		},
		{
			name: "metricType unknown",
			spec: v1.TriggerSpec{Type: "redis", MetricType: "Utilization", Metadata: map[string]string{}},
			kind: "invalid",
			want: []string{`spec.scalerSpec.metricType "Utilization": expected AverageValue or Value`},
		},

		// resource.
		{
			name: "resource with metricType",
			spec: v1.TriggerSpec{Type: "resource", MetricType: "Value", Resource: &v1.ResourceTrigger{ResourceName: "cpu", TargetType: "Utilization", TargetAverageUtilization: ptr(int32(70))}},
			kind: "invalid",
			want: []string{`spec.scalerSpec.metricType "Value": not for a resource trigger: its targetType says how the value is compared`},
		},
		{
			name: "resource fields",
			spec: v1.TriggerSpec{Type: "resource", Resource: &v1.ResourceTrigger{ResourceName: "gpu", TargetType: "Utilization", TargetAverageUtilization: ptr(int32(0)), TargetAverageValue: "1"}},
			kind: "invalid",
			want: []string{
				`spec.scalerSpec.resource.resourceName "gpu": expected cpu or memory`,
				`spec.scalerSpec.resource.targetAverageUtilization "0": expected a percentage >= 1`,
				`spec.scalerSpec.resource.targetAverageValue "1": not with targetType Utilization (use targetType AverageValue)`,
			},
		},
		{
			name: "resource average value",
			spec: v1.TriggerSpec{Type: "resource", Resource: &v1.ResourceTrigger{ResourceName: "memory", TargetType: "AverageValue", TargetAverageValue: "lots", TargetAverageUtilization: ptr(int32(5))}},
			kind: "invalid",
			want: []string{
				`spec.scalerSpec.resource.targetAverageValue "lots": not a quantity ("500m", "512Mi")`,
				`spec.scalerSpec.resource.targetAverageUtilization: not with targetType AverageValue (use targetType Utilization)`,
			},
		},
		{
			name: "resource without target",
			spec: v1.TriggerSpec{Type: "resource", Resource: &v1.ResourceTrigger{ResourceName: "cpu", TargetType: "Percent"}},
			kind: "invalid",
			want: []string{`spec.scalerSpec.resource.targetType "Percent": expected Utilization or AverageValue`},
		},

		// kafka.
		{
			name: "kafka brokers and group",
			spec: v1.TriggerSpec{Type: "kafka", Kafka: &v1.KafkaTrigger{Brokers: []string{"k:9092", " ", "a:1,b:2"}}},
			kind: "invalid",
			want: []string{
				`spec.scalerSpec.kafka.brokers[1] " ": empty, expected host:port`,
				`spec.scalerSpec.kafka.brokers[2] "a:1,b:2": expected one host:port per item (no commas)`,
				`spec.scalerSpec.kafka.consumerGroup: required: the consumer group whose lag is measured`,
			},
		},
		{
			name: "kafka no brokers",
			spec: kafkaOK(func(k *v1.KafkaTrigger) { k.Brokers = nil }),
			kind: "invalid",
			want: []string{`spec.scalerSpec.kafka.brokers: required: at least one broker, host:port`},
		},
		{
			name: "kafka thresholds and policy",
			spec: kafkaOK(func(k *v1.KafkaTrigger) {
				k.LagThreshold, k.ActivationLagThreshold, k.OffsetResetPolicy = ptr(int64(0)), ptr(int64(-1)), "newest"
			}),
			kind: "invalid",
			want: []string{
				`spec.scalerSpec.kafka.lagThreshold "0": expected an integer >= 1 (lag per replica)`,
				`spec.scalerSpec.kafka.activationLagThreshold "-1": expected an integer >= 0`,
				`spec.scalerSpec.kafka.offsetResetPolicy "newest": expected latest or earliest`,
			},
		},
		{
			name: "kafka topics",
			spec: kafkaOK(func(k *v1.KafkaTrigger) { k.Topics = []string{"a", "", "a"} }),
			kind: "invalid",
			want: []string{
				`spec.scalerSpec.kafka.topics[1] "": empty, expected a topic name`,
				`spec.scalerSpec.kafka.topics[2] "a": also topics[0]: give each topic once`,
			},
		},
		{
			name: "kafka too many topics",
			spec: kafkaOK(func(k *v1.KafkaTrigger) {
				for i := range 33 {
					k.Topics = append(k.Topics, "t"+strconv.Itoa(i))
				}
			}),
			kind: "invalid",
			want: []string{`spec.scalerSpec.kafka.topics: 33 topics, at most 32`},
		},
		{
			name: "kafka sasl mechanism, inline password, no username",
			spec: kafkaOK(sasl(&v1.KafkaSASL{Mechanism: "GSSAPI", Password: marker, PasswordSecret: sel("kafka", "password")})),
			kind: "invalid",
			want: []string{
				`spec.scalerSpec.kafka.authentication.sasl.mechanism "GSSAPI": expected PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (or KEDA's plaintext, scram_sha256, scram_sha512)`,
				`spec.scalerSpec.kafka.authentication.sasl: one of username or usernameSecret is required`,
				`spec.scalerSpec.kafka.authentication.sasl.password: an inline password is not allowed (it would store a secret in the Scaler): use passwordSecret`,
			},
		},
		{
			name: "kafka sasl username twice, password Secret missing",
			spec: kafkaOK(sasl(&v1.KafkaSASL{Mechanism: "PLAIN", Username: "u", UsernameSecret: ptr(sel("kafka", "user")), PasswordSecret: sel("gone", "password")})),
			kind: "invalid+secret",
			want: []string{
				`spec.scalerSpec.kafka.authentication.sasl: username and usernameSecret exclude each other: give one`,
				`spec.scalerSpec.kafka.authentication.sasl.passwordSecret: Secret "gone" not found in namespace "shop"`,
			},
		},
		{
			name: "kafka sasl empty selectors",
			spec: kafkaOK(sasl(&v1.KafkaSASL{Mechanism: "PLAIN", UsernameSecret: &v1.SecretKeySelector{}})),
			kind: "invalid",
			want: []string{
				`spec.scalerSpec.kafka.authentication.sasl.usernameSecret.name: required: the name of a Secret in the Scaler's namespace`,
				`spec.scalerSpec.kafka.authentication.sasl.usernameSecret.key: required: a key of the Secret's data`,
				`spec.scalerSpec.kafka.authentication.sasl.passwordSecret.name: required: the name of a Secret in the Scaler's namespace`,
				`spec.scalerSpec.kafka.authentication.sasl.passwordSecret.key: required: a key of the Secret's data`,
			},
		},
		{
			name: "kafka tls certificate without key, CA key missing",
			spec: kafkaOK(func(k *v1.KafkaTrigger) {
				k.Authentication = &v1.KafkaAuthentication{TLS: &v1.TLSSecrets{CASecret: ptr(sel("tls", "ca.pem")), CertSecret: ptr(sel("tls", "tls.crt"))}}
			}),
			kind: "invalid+secret",
			want: []string{
				`spec.scalerSpec.kafka.authentication.tls.caSecret: Secret "tls" has no key "ca.pem"`,
				`spec.scalerSpec.kafka.authentication.tls.keySecret: required with certSecret: a client certificate needs its key`,
			},
		},

		// prometheus.
		{
			name: "prometheus required fields",
			spec: v1.TriggerSpec{Type: "prometheus", Prometheus: &v1.PrometheusTrigger{ActivationThreshold: ptr(posInf())}},
			kind: "invalid",
			want: []string{
				`spec.scalerSpec.prometheus.serverURL: required: the base URL before /api/v1/query`,
				`spec.scalerSpec.prometheus.query: required: the PromQL expression`,
				`spec.scalerSpec.prometheus.threshold "0": expected a number > 0 (target value per replica)`,
				`spec.scalerSpec.prometheus.activationThreshold "+Inf": expected a finite number`,
			},
		},
		{
			name: "prometheus timeout below a millisecond",
			spec: promOK(func(p *v1.PrometheusTrigger) { p.Timeout = &metav1.Duration{Duration: 1500 * time.Microsecond} }),
			kind: "invalid",
			want: []string{`spec.scalerSpec.prometheus.timeout "1.5ms": expected whole milliseconds`},
		},
		{
			name: "prometheus negative timeout",
			spec: promOK(func(p *v1.PrometheusTrigger) { p.Timeout = &metav1.Duration{Duration: -time.Second} }),
			kind: "invalid",
			want: []string{`spec.scalerSpec.prometheus.timeout "-1s": expected a duration >= 0`},
		},
		{
			name: "prometheus basic and bearer, inline password, missing token",
			spec: promOK(func(p *v1.PrometheusTrigger) {
				p.Authentication = &v1.PrometheusAuthentication{
					BasicAuth:         &v1.BasicAuth{Password: marker, PasswordSecret: sel("prom", "password")},
					BearerTokenSecret: ptr(sel("prom", "bearer")),
				}
			}),
			kind: "invalid+secret",
			want: []string{
				`spec.scalerSpec.prometheus.authentication: basicAuth and bearerTokenSecret exclude each other: give one`,
				`spec.scalerSpec.prometheus.authentication.basicAuth.username: required`,
				`spec.scalerSpec.prometheus.authentication.basicAuth.password: an inline password is not allowed (it would store a secret in the Scaler): use passwordSecret`,
				`spec.scalerSpec.prometheus.authentication.bearerTokenSecret: Secret "prom" has no key "bearer"`,
			},
		},
		{
			name: "prometheus tls key without certificate",
			spec: promOK(func(p *v1.PrometheusTrigger) {
				p.Authentication = &v1.PrometheusAuthentication{TLS: &v1.TLSSecrets{KeySecret: ptr(sel("tls", "tls.key"))}}
			}),
			kind: "invalid",
			want: []string{`spec.scalerSpec.prometheus.authentication.tls.certSecret: required with keySecret: a client key needs its certificate`},
		},

		// custom.
		{
			name: "custom required fields",
			spec: v1.TriggerSpec{Type: "custom", Custom: &v1.CustomTrigger{Expression: " \n", Threshold: -1, ActivationThreshold: posInf()}},
			kind: "invalid",
			want: []string{
				`spec.scalerSpec.custom.expression: required: the CEL expression over the sources`,
				`spec.scalerSpec.custom.threshold "-1": expected a number > 0 (target value per replica)`,
				`spec.scalerSpec.custom.activationThreshold "+Inf": expected a finite number`,
				`spec.scalerSpec.custom.metricSources: required: at least one source`,
			},
		},
		{
			name: "custom source names and types",
			spec: customOK(func(c *v1.CustomTrigger) {
				c.MetricSources = append(c.MetricSources,
					v1.MetricSource{Name: "a", Type: "redis"},
					v1.MetricSource{Name: "b.c", Type: "redis", SecretRefs: []v1.SecretRef{{Parameter: "password", Name: "nope", Key: "k"}}},
					v1.MetricSource{Name: "d"})
			}),
			kind: "invalid+secret",
			want: []string{
				`spec.scalerSpec.custom.metricSources[1].name "a": also metricSources[0].name: names must be unique`,
				`spec.scalerSpec.custom.metricSources[2].name "b.c": not a CEL identifier: a letter or '_', then letters, digits or '_', at most 63 characters`,
				`spec.scalerSpec.custom.metricSources[2].secretRefs[0]: Secret "nope" not found in namespace "shop"`,
				`spec.scalerSpec.custom.metricSources[3].type: required: the scaler type of the source`,
			},
		},
		{
			name: "custom configuration keys",
			spec: customOK(func(c *v1.CustomTrigger) {
				c.MetricSources[0].Configuration = map[string]string{
					"": "x", "type": "redis", "passwordFromEnv": "PW", "bearerTokenFile": "/token", "scalerType": "prometheus",
				}
			}),
			kind: "invalid",
			want: []string{
				`spec.scalerSpec.custom.metricSources[0].configuration.: empty key`,
				`spec.scalerSpec.custom.metricSources[0].configuration.bearerTokenFile "/token": bearerTokenFile reads a file of the agent's pod: not allowed in a Scaler; use secretRefs (parameter "bearerToken")` + fileWhy,
				`spec.scalerSpec.custom.metricSources[0].configuration.passwordFromEnv "PW": passwordFromEnv: the agent has no container environment to read; use secretRefs (parameter "password")`,
				`spec.scalerSpec.custom.metricSources[0].configuration.scalerType "prometheus": scalerType` + keda,
				`spec.scalerSpec.custom.metricSources[0].configuration.type: type is the source's scaler type (metricSources[].type), not a key of its configuration`,
			},
		},
		{
			name: "custom source secretRefs",
			spec: customOK(func(c *v1.CustomTrigger) {
				c.MetricSources[0].SecretRefs = []v1.SecretRef{
					{Parameter: "query", Name: "prom", Key: "token"},
					{Parameter: "type", Name: "prom", Key: "token"},
					{Parameter: "keyFile", Name: "prom", Key: "token"},
				}
			}),
			kind: "invalid",
			want: []string{
				`spec.scalerSpec.custom.metricSources[0].secretRefs[0].parameter "query": also set in the block itself: ambiguous, give it in one place`,
				`spec.scalerSpec.custom.metricSources[0].secretRefs[1].parameter "type": also set in the block itself: ambiguous, give it in one place`,
				`spec.scalerSpec.custom.metricSources[0].secretRefs[2].parameter "keyFile": keyFile reads a file of the agent's pod: not allowed in a Scaler; use secretRefs (parameter "key")` + fileWhy,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sr := tc.secrets
			if sr == nil {
				sr = shopSecrets()
			}
			if tc.noReader {
				sr = nil
			}
			got, err := triggers.Resolve(context.Background(), triggers.Input{Namespace: ns, Path: path, Spec: tc.spec, Secrets: sr})
			if err == nil {
				t.Fatalf("no error, got %+v", got)
			}
			if got != nil {
				t.Errorf("a Trigger with the error: %+v", got)
			}
			checkNoMarker(t, err)
			if k := kind(err); k != tc.kind {
				t.Errorf("sentinels %q, want %q: %v", k, tc.kind, err)
			}
			if diff := cmp.Diff(tc.want, messages(err)); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			// Each problem is its own error, with the one sentinel of its kind.
			for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
				if errors.Is(e, triggers.ErrInvalid) == errors.Is(e, triggers.ErrSecret) {
					t.Errorf("%q wraps both sentinels or neither", e)
				}
			}
		})
	}
}

func posInf() float64 { f, _ := strconv.ParseFloat("+Inf", 64); return f }

// TestResolveEmptyPath: without a Path the field paths start at the
// trigger's own fields.
func TestResolveEmptyPath(t *testing.T) {
	_, err := triggers.Resolve(context.Background(), triggers.Input{Namespace: ns,
		Spec: v1.TriggerSpec{Type: "redis", Metadata: map[string]string{"passwordFromEnv": "X"}}})
	if got := err.Error(); !strings.HasPrefix(got, `metadata.passwordFromEnv "X": `) {
		t.Errorf("error %q, want it to start with the field", got)
	}
}

// TestResolveAllProblemsAtOnce: one spec with a problem in every part is
// reported whole.
func TestResolveAllProblemsAtOnce(t *testing.T) {
	spec := v1.TriggerSpec{Type: "custom", MetricType: "Sum", Custom: &v1.CustomTrigger{
		Expression: "a", Threshold: 0, MetricSources: []v1.MetricSource{
			{Name: "a", Type: "prometheus", Configuration: map[string]string{"caFile": "/ca", "tokenFromEnv": "T"},
				SecretRefs: []v1.SecretRef{{Parameter: "bearerToken", Name: "missing", Key: "k"}}},
			{Name: "1b", Type: "redis"},
		}}}
	_, err := triggers.Resolve(context.Background(), triggers.Input{Namespace: ns, Path: "spec.triggers[3]", Spec: spec, Secrets: shopSecrets()})
	got := messages(err)
	if len(got) != 6 {
		t.Fatalf("%d errors, want 6:\n%s", len(got), strings.Join(got, "\n"))
	}
	for _, m := range got {
		if !strings.HasPrefix(m, "spec.triggers[3].") {
			t.Errorf("%q does not start with the trigger's path", m)
		}
	}
	if kind(err) != "invalid+secret" {
		t.Errorf("sentinels %q", kind(err))
	}
}

// TestCustomSourceLimit: the kafka block's topic limit is the custom
// scaler's source limit.
func TestCustomSourceLimit(t *testing.T) {
	topics := make([]string, custom.MaxSources)
	for i := range topics {
		topics[i] = "topic" + strconv.Itoa(i)
	}
	got, err := triggers.Resolve(context.Background(), triggers.Input{Namespace: ns, Path: path,
		Spec: v1.TriggerSpec{Type: "kafka", Kafka: &v1.KafkaTrigger{Brokers: []string{"k:9092"}, ConsumerGroup: "g", Topics: topics}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := build(t, newRegistry(), got); err != nil {
		t.Errorf("%d topics: %v", len(topics), err)
	}
}
