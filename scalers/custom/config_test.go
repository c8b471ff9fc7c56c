package custom

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// designFlat is scalerSpec.custom of Example 4 of the original design (with
// the cpu_usage source its expression reads but forgot to declare), spelled
// as flat KEDA metadata with the keys KEDA adds for an external scaler,
// which must be ignored.
var designFlat = map[string]string{
	"scalerAddress":                "hpa-autoscaler.hpa-system:9443",
	"scalerType":                   "custom",
	"expression":                   "(queue_length * processing_time > 300) ||\n(active_users > 1000 && cpu_usage > 0.6)\n",
	"threshold":                    "1.0",
	"source.queue_length.type":     "prometheus",
	"source.queue_length.query":    "sum(rabbitmq_queue_messages_ready)",
	"source.queue_length.url":      "http://prometheus:9090",
	"source.processing_time.type":  "prometheus",
	"source.processing_time.query": "avg(order_processing_duration_seconds)",
	"source.processing_time.url":   "http://prometheus:9090",
	"source.active_users.type":     "external",
	"source.active_users.url":      "https://api.analytics.company.com/metrics/active-users",
	"source.active_users.headers":  "Authorization: Bearer abc",
	"source.cpu_usage.type":        "prometheus",
	"source.cpu_usage.query":       "avg(rate(container_cpu_usage_seconds_total[5m]))",
	"source.cpu_usage.url":         "http://prometheus:9090",
}

var designConfig = Config{
	Expression: "(queue_length * processing_time > 300) ||\n(active_users > 1000 && cpu_usage > 0.6)",
	Threshold:  1,
	Sources: []Source{
		{Name: "active_users", Type: "external", Metadata: map[string]string{
			"url":     "https://api.analytics.company.com/metrics/active-users",
			"headers": "Authorization: Bearer abc",
		}},
		{Name: "cpu_usage", Type: "prometheus", Metadata: map[string]string{
			"query": "avg(rate(container_cpu_usage_seconds_total[5m]))",
			"url":   "http://prometheus:9090",
		}},
		{Name: "processing_time", Type: "prometheus", Metadata: map[string]string{
			"query": "avg(order_processing_duration_seconds)",
			"url":   "http://prometheus:9090",
		}},
		{Name: "queue_length", Type: "prometheus", Metadata: map[string]string{
			"query": "sum(rabbitmq_queue_messages_ready)",
			"url":   "http://prometheus:9090",
		}},
	},
}

func TestParseMetadataOfTheDesignExample(t *testing.T) {
	got, err := ParseMetadata(designFlat)
	if err != nil {
		t.Fatalf("ParseMetadata: %v", err)
	}
	if diff := cmp.Diff(designConfig, got); diff != "" {
		t.Errorf("ParseMetadata (-want +got):\n%s", diff)
	}
}

func TestConfigRoundTrips(t *testing.T) {
	cfg := designConfig
	cfg.ActivationThreshold = 0.5
	again, err := ParseMetadata(cfg.Metadata())
	if err != nil {
		t.Fatalf("ParseMetadata(Metadata()): %v", err)
	}
	if diff := cmp.Diff(cfg, again); diff != "" {
		t.Errorf("flat round trip (-want +got):\n%s", diff)
	}
}

func TestParseMetadata(t *testing.T) {
	tests := []struct {
		name    string
		md      map[string]string
		want    Config
		wantErr []string // the whole message of each expected error, in order
	}{
		{
			name: "minimal",
			md:   map[string]string{"expression": "q", "threshold": "5", "source.q.type": "redis", "source.q.listName": "jobs"},
			want: Config{Expression: "q", Threshold: 5, Sources: []Source{
				{Name: "q", Type: "redis", Metadata: map[string]string{"listName": "jobs"}},
			}},
		},
		{
			name: "secret keys and dotted keys pass through to the source",
			md: map[string]string{
				"expression": "a + b", "threshold": "2.5", "activationThreshold": "-1",
				"source.a.type": " prometheus ", "source.a.passwordFromEnv": "s3cret", "source.a.passwordFile": "/run/p",
				"source.b.type": "metrics-api", "source.b.valueLocation": "data.items.0.count",
				"source.b.some.dotted.key": "v",
			},
			want: Config{Expression: "a + b", Threshold: 2.5, ActivationThreshold: -1, Sources: []Source{
				{Name: "a", Type: "prometheus", Metadata: map[string]string{"passwordFromEnv": "s3cret", "passwordFile": "/run/p"}},
				{Name: "b", Type: "metrics-api", Metadata: map[string]string{"valueLocation": "data.items.0.count", "some.dotted.key": "v"}},
			}},
		},
		{
			name:    "nothing given",
			md:      map[string]string{"scalerAddress": "x:9443"},
			wantErr: []string{"expression: required key is missing", "threshold: required key is missing", "source.<name>.type: at least one source is required"},
		},
		{
			name: "every error at once",
			md: map[string]string{
				"expression": "x", "threshold": "0", "activationThreshold": "lots",
				"source.9lives.type":      "redis",
				"source.sources.type":     "redis",
				"source.in.type":          "redis",
				"source.untyped.listName": "jobs",
				"source.nested.type":      "custom",
				"source.x":                "no key",
				"source..type":            "redis",
				"source.y.":               "no key",
				"source.a-b.type":         "redis",
			},
			wantErr: []string{
				`threshold "0": must be > 0`,
				`activationThreshold "lots": not a number`,
				`source..type: malformed key, expected source.<name>.<key>`,
				`source.x: malformed key, expected source.<name>.<key>`,
				`source.y.: malformed key, expected source.<name>.<key>`,
				`source.9lives "9lives": not a valid CEL identifier: a letter or '_' followed by letters, digits or '_'`,
				`source.a-b "a-b": not a valid CEL identifier: a letter or '_' followed by letters, digits or '_'`,
				`source.in "in": reserved word in CEL expressions, choose another name`,
				`source.nested.type "custom": a source cannot be a custom scaler: combine the expressions into one`,
				`source.sources "sources": reserved word in CEL expressions, choose another name`,
				`source.untyped.type: required key is missing (the scaler type of the source)`,
			},
		},
		{
			name: "too many sources",
			md: func() map[string]string {
				md := map[string]string{"expression": "s0", "threshold": "1"}
				for i := range MaxSources + 1 {
					md["source.s"+strconv.Itoa(i)+".type"] = "redis"
				}
				return md
			}(),
			wantErr: []string{`source.<name>.type "33": too many sources, at most 32`},
		},
		{
			name:    "long name",
			md:      map[string]string{"expression": "x", "threshold": "1", "source." + strings.Repeat("n", 64) + ".type": "redis"},
			wantErr: []string{"source." + strings.Repeat("n", 64) + ` "` + strings.Repeat("n", 64) + `": source name is longer than 63 characters`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseMetadata(tt.md)
			checkErrs(t, err, tt.wantErr)
			if len(tt.wantErr) == 0 {
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("config (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// TestValidateNamesTheFlatKeys: a Config built in code can hold what the
// flat spelling cannot say (an empty source name, duplicates, the metadata
// keys "" and type); Validate reports each under its flat key.
func TestValidateNamesTheFlatKeys(t *testing.T) {
	cfg := Config{
		Expression: " ",
		Threshold:  -1,
		Sources: []Source{
			{Name: "ok", Type: "redis"},
			{Name: "", Type: "redis"},
			{Name: "ok", Type: ""},
			{Name: "2x", Type: "custom"},
			{Name: "z", Type: "redis", Metadata: map[string]string{"": "x", "type": "list"}},
		},
	}
	checkErrs(t, cfg.Validate(), []string{
		"expression: required key is missing",
		`threshold "-1": must be > 0`,
		`source. "": source name is empty`,
		`source.ok "ok": duplicate source name`,
		`source.ok.type: required key is missing (the scaler type of the source)`,
		`source.2x "2x": not a valid CEL identifier: a letter or '_' followed by letters, digits or '_'`,
		`source.2x.type "custom": a source cannot be a custom scaler: combine the expressions into one`,
		`source.z. (secret, not shown): empty key`,
		`source.z.type (secret, not shown): type is the scaler type of the source, not a key of its metadata`,
	})
	checkErrs(t, Config{Expression: "x", Threshold: 1}.Validate(), []string{"source.<name>.type: at least one source is required"})
}

// checkErrs asserts that err is an ErrInvalidConfig *MetadataError whose
// errors are exactly want, each message whole and in order (or nil when
// want is empty), and that its message joins them.
func checkErrs(tb testing.TB, err error, want []string) {
	tb.Helper()
	if len(want) == 0 {
		if err != nil {
			tb.Fatalf("got error %v, want none", err)
		}
		return
	}
	if err == nil {
		tb.Fatalf("got no error, want %d: %q", len(want), want)
	}
	if !errors.Is(err, scalers.ErrInvalidConfig) {
		tb.Errorf("errors.Is(err, ErrInvalidConfig) = false for %v", err)
	}
	var me *scalers.MetadataError
	if !errors.As(err, &me) {
		tb.Fatalf("got %T (%v), want a *scalers.MetadataError", err, err)
	}
	var got []string
	for _, e := range me.Unwrap() {
		got = append(got, e.Error())
	}
	if diff := cmp.Diff(want, got); diff != "" {
		tb.Errorf("errors (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff("invalid metadata: "+strings.Join(want, "; "), err.Error()); diff != "" {
		tb.Errorf("message (-want +got):\n%s", diff)
	}
}

func TestCustomSourceReportedOnce(t *testing.T) {
	reg := scalers.NewRegistry()
	reg.MustRegister(Type, NewFactory(reg))
	_, err := reg.New(t.Context(), scalers.Config{Type: Type, Metadata: map[string]string{
		"expression": "nested", "threshold": "1", "source.nested.type": "custom",
	}})
	var me *scalers.MetadataError
	if !errors.As(err, &me) {
		t.Fatalf("got %v, want a *scalers.MetadataError", err)
	}
	n := 0
	for _, fe := range me.Errs {
		if fe.Key == "source.nested.type" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("source.nested.type reported %d times, want once: %v", n, err)
	}
}
