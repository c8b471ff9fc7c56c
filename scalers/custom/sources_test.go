package custom

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/metricsapi"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/prometheus"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/rabbitmq"
)

func TestResolveSource(t *testing.T) {
	// resolveSource only asks the registry which types exist.
	never := func(context.Context, scalers.Config) (scalers.Scaler, error) {
		t.Fatal("resolveSource built a scaler")
		return nil, nil
	}
	// The default targets are the source types' own, as cmd registers
	// them.
	reg := scalers.NewRegistry()
	reg.MustRegister(prometheus.Type, never, scalers.WithDefaultTarget(prometheus.DefaultTarget))
	reg.MustRegister(metricsapi.Type, never, scalers.WithDefaultTarget(metricsapi.DefaultTarget))
	reg.MustRegister("rabbitmq", never, scalers.WithDefaultTarget(rabbitmq.DefaultTarget))
	reg.MustRegister("redis", never)
	reg.MustRegister(Type, never)
	tests := []struct {
		name     string
		src      Source
		wantType string
		wantMD   map[string]string
		wantErr  string // the one error, whole
	}{
		{
			name:     "prometheus url is serverAddress, threshold defaults to 1",
			src:      Source{Name: "q", Type: "prometheus", Metadata: map[string]string{"url": "http://p:9090", "query": "up"}},
			wantType: "prometheus",
			wantMD:   map[string]string{"serverAddress": "http://p:9090", "query": "up", "threshold": "1"},
		},
		{
			name:     "prometheus keys as KEDA spells them are untouched",
			src:      Source{Name: "q", Type: "prometheus", Metadata: map[string]string{"serverAddress": "http://p:9090", "query": "up", "threshold": "50"}},
			wantType: "prometheus",
			wantMD:   map[string]string{"serverAddress": "http://p:9090", "query": "up", "threshold": "50"},
		},
		{
			name:    "prometheus url and serverAddress",
			src:     Source{Name: "q", Type: "prometheus", Metadata: map[string]string{"url": "http://a", "serverAddress": "http://b"}},
			wantErr: `source.q.url "http://a": give serverAddress or url (an alias of it), not both`,
		},
		{
			name:    "prometheus url and serverAddress, the url's user info hidden",
			src:     Source{Name: "q", Type: "prometheus", Metadata: map[string]string{"url": "http://u:S3CR3T@[a", "serverAddress": "http://b"}},
			wantErr: `source.q.url "http://xxxxx@[a": give serverAddress or url (an alias of it), not both`,
		},
		{
			name:     "external is metrics-api with a header and a bare number",
			src:      Source{Name: "u", Type: "external", Metadata: map[string]string{"url": "https://api/x", "headers": " Authorization:  Bearer abc \n"}},
			wantType: "metrics-api",
			wantMD: map[string]string{"url": "https://api/x", "valueLocation": "@this", "targetValue": "1",
				"authModes": "custom", "customAuthHeader": "Authorization", "customAuthValue": "Bearer abc"},
		},
		{
			name:     "external with its own valueLocation and no header",
			src:      Source{Name: "u", Type: "external", Metadata: map[string]string{"url": "https://api/x", "valueLocation": "data.n"}},
			wantType: "metrics-api",
			wantMD:   map[string]string{"url": "https://api/x", "valueLocation": "data.n", "targetValue": "1"},
		},
		{
			name:     "metrics-api keeps its targetValue",
			src:      Source{Name: "u", Type: "metrics-api", Metadata: map[string]string{"url": "https://api/x", "valueLocation": "n", "targetValue": "3"}},
			wantType: "metrics-api",
			wantMD:   map[string]string{"url": "https://api/x", "valueLocation": "n", "targetValue": "3"},
		},
		{
			name:     "metrics-api headers are not translated",
			src:      Source{Name: "u", Type: "metrics-api", Metadata: map[string]string{"headers": "A: b"}},
			wantType: "metrics-api",
			wantMD:   map[string]string{"headers": "A: b", "targetValue": "1"},
		},
		{
			name:     "rabbitmq with a mode gets a value",
			src:      Source{Name: "r", Type: "rabbitmq", Metadata: map[string]string{"mode": "MessageRate"}},
			wantType: "rabbitmq",
			wantMD:   map[string]string{"mode": "MessageRate", "value": "1"},
		},
		{
			name:     "rabbitmq without a mode keeps its defaults",
			src:      Source{Name: "r", Type: "rabbitmq", Metadata: map[string]string{"queueLength": "5"}},
			wantType: "rabbitmq",
			wantMD:   map[string]string{"queueLength": "5"},
		},
		{
			name:     "other types pass through",
			src:      Source{Name: "j", Type: "redis", Metadata: map[string]string{"listName": "jobs", "passwordFromEnv": "x"}},
			wantType: "redis",
			wantMD:   map[string]string{"listName": "jobs", "passwordFromEnv": "x"},
		},
		{
			name:    "unknown type",
			src:     Source{Name: "k", Type: "kafka"},
			wantErr: `source.k.type "kafka": unknown scaler type, expected one of: metrics-api, prometheus, rabbitmq, redis, external (= metrics-api)`,
		},
		{
			name:    "custom is not a source",
			src:     Source{Name: "c", Type: Type},
			wantErr: `source.c.type "custom": unknown scaler type, expected one of: metrics-api, prometheus, rabbitmq, redis, external (= metrics-api)`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := cloneMap(tt.src.Metadata)
			typ, md, err := resolveSource(reg, tt.src)
			if tt.wantErr != "" {
				checkErrs(t, err, []string{tt.wantErr})
				return
			}
			if err != nil {
				t.Fatalf("resolveSource: %v", err)
			}
			if typ != tt.wantType {
				t.Errorf("type: got %q, want %q", typ, tt.wantType)
			}
			if diff := cmp.Diff(tt.wantMD, md); diff != "" {
				t.Errorf("metadata (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(before, tt.src.Metadata); diff != "" {
				t.Errorf("the Config's metadata was modified (-before +after):\n%s", diff)
			}
		})
	}
}
