package triggers_test

import (
	stdcmp "cmp"
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"sigs.k8s.io/yaml"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
	"github.com/hpa-autoscaler/hpa-autoscaler/controller/triggers"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/custom"
)

// example is one trigger of a Scaler of examples/scalers/.
type example struct {
	file string // relative to examples/scalers/
	path string // spec.scalerSpec or spec.triggers[i]
	ns   string
	spec v1.TriggerSpec
}

// loadExamples decodes every Scaler under examples/scalers/ (the design's
// included) and returns their triggers.
func loadExamples(tb testing.TB) []example {
	tb.Helper()
	dir := filepath.Join("..", "..", "examples", "scalers")
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		tb.Fatal(err)
	}
	design, err := filepath.Glob(filepath.Join(dir, "design", "*.yaml"))
	if err != nil {
		tb.Fatal(err)
	}
	var out []example
	for _, f := range append(files, design...) {
		raw, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		var s v1.Scaler
		if err := yaml.UnmarshalStrict(raw, &s); err != nil {
			tb.Fatalf("%s: %v", f, err)
		}
		rel, _ := filepath.Rel(dir, f)
		if s.Spec.ScalerSpec != nil {
			out = append(out, example{file: rel, path: "spec.scalerSpec", ns: s.Namespace, spec: *s.Spec.ScalerSpec})
		}
		for i, tr := range s.Spec.Triggers {
			out = append(out, example{file: rel, path: "spec.triggers[" + strconv.Itoa(i) + "]", ns: s.Namespace, spec: tr})
		}
	}
	if len(out) < 21 {
		tb.Fatalf("%d example triggers, expected the design's 5 and one per scaler type", len(out))
	}
	return out
}

// refusedFiles are the examples that read a file of the agent's pod
// (<key>File), which Resolve refuses: the field paths it must name. The
// shipped examples use secretRefs instead (the refusal itself is in the
// error table of resolve_test.go); an example added with a <key>File key
// must be listed here, or it fails below.
var refusedFiles = map[string][]string{}

// invalidForScalers are the examples our scalers refuse, and what the
// error must name: the design's custom expression reads cpu_usage, a
// source it never declares (and its external source's header holds a
// ${ANALYTICS_TOKEN} that nothing expands, which the scaler refuses too).
var invalidForScalers = map[string][]string{
	"design/custom.yaml": {"undeclared reference to 'cpu_usage'", "source.active_users.headers"},
}

// wantType is the scaler type of the examples whose type is not their
// spec's: the design's kafka example measures two topics.
var wantType = map[string]string{
	"design/kafka.yaml": "custom",
}

// withoutFiles turns every <key>File of spec into a secretRef for <key>
// (Secret agent-files, key <key> without a source prefix): what the
// examples above become to pass.
func withoutFiles(spec v1.TriggerSpec) v1.TriggerSpec {
	ref := func(param string) v1.SecretRef {
		key := param
		if i := strings.LastIndexByte(param, '.'); i >= 0 {
			key = param[i+1:]
		}
		return v1.SecretRef{Parameter: param, Name: "agent-files", Key: key}
	}
	move := func(md map[string]string, refs []v1.SecretRef) (map[string]string, []v1.SecretRef) {
		out := map[string]string{}
		for _, k := range slices.Sorted(maps.Keys(md)) {
			if p, ok := strings.CutSuffix(k, "File"); ok {
				refs = append(refs, ref(p))
				continue
			}
			out[k] = md[k]
		}
		return out, refs
	}
	if spec.Metadata != nil {
		spec.Metadata, spec.SecretRefs = move(spec.Metadata, slices.Clone(spec.SecretRefs))
	}
	if spec.Custom != nil {
		c := spec.Custom.DeepCopy()
		for i := range c.MetricSources {
			c.MetricSources[i].Configuration, c.MetricSources[i].SecretRefs = move(c.MetricSources[i].Configuration, c.MetricSources[i].SecretRefs)
		}
		spec.Custom = c
	}
	return spec
}

// TestExamplesResolveAndBuild: every trigger of every example resolves
// (the <key>File ones are refused, naming each such key, and resolve once
// the keys are secretRefs) and the result is accepted by the real scaler
// parsers through a registry with every type, but where the example is
// known to be invalid for our scalers.
func TestExamplesResolveAndBuild(t *testing.T) {
	reg := newRegistry()
	secrets := anySecret{pem: newPEM(t)}
	for _, ex := range loadExamples(t) {
		t.Run(ex.file+"/"+ex.path, func(t *testing.T) {
			in := triggers.Input{Namespace: ex.ns, Path: ex.path, Spec: ex.spec, Secrets: secrets}
			got, err := triggers.Resolve(context.Background(), in)
			checkNoMarker(t, err)
			if want, ok := refusedFiles[ex.file]; ok {
				if !errors.Is(err, triggers.ErrInvalid) || errors.Is(err, triggers.ErrSecret) {
					t.Fatalf("want ErrInvalid alone, got %v", err)
				}
				var paths []string
				for _, m := range messages(err) {
					p, _, _ := strings.Cut(m, " ")
					paths = append(paths, p)
					if !strings.Contains(m, "reads a file of the agent's pod: not allowed in a Scaler; use secretRefs") {
						t.Errorf("message %q does not say why", m)
					}
				}
				if diff := cmp.Diff(want, paths); diff != "" {
					t.Errorf("refused keys (-want +got):\n%s", diff)
				}
				in.Spec = withoutFiles(ex.spec)
				got, err = triggers.Resolve(context.Background(), in)
			}
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if want := stdcmp.Or(wantType[ex.file], ex.spec.Type); got.Type != want {
				t.Errorf("type %q, want %q", got.Type, want)
			}
			if got.Type == triggers.TypeResource {
				if got.Resource == nil || got.Metadata != nil || got.MetricType != "" {
					t.Errorf("resource trigger %+v", got)
				}
				return
			}
			if got.MetricType != "AverageValue" {
				t.Errorf("metricType %q", got.MetricType)
			}
			err = build(t, reg, got)
			checkNoMarker(t, err)
			if words, ok := invalidForScalers[ex.file]; ok {
				if !errors.Is(err, scalers.ErrInvalidConfig) {
					t.Fatalf("build: want an ErrInvalidConfig, got %v", err)
				}
				for _, w := range words {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("build: the error does not name %s: %v", w, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("build: %v", err)
			}
		})
	}
}

// TestExamplesDesign: the design's typed blocks resolve to these keys.
func TestExamplesDesign(t *testing.T) {
	pw := "pw-" + marker
	want := map[string]*triggers.Trigger{
		"design/cpu.yaml": {Name: "resource", Type: "resource",
			Resource: &v1.ResourceTrigger{ResourceName: "cpu", TargetType: "Utilization", TargetAverageUtilization: ptr(int32(70))}},
		"design/advanced.yaml": {Name: "resource", Type: "resource",
			Resource: &v1.ResourceTrigger{ResourceName: "cpu", TargetType: "Utilization", TargetAverageUtilization: ptr(int32(70))}},
		"design/kafka.yaml": {Name: "kafka", Type: "custom", MetricType: "AverageValue", Metadata: map[string]string{
			"expression": "t0 + t1", "threshold": "1000",
			"source.t0.type": "kafka", "source.t0.topic": "user-events",
			"source.t0.bootstrapServers": "kafka-1.kafka.svc.cluster.local:9092,kafka-2.kafka.svc.cluster.local:9092",
			"source.t0.consumerGroup":    "message-processors", "source.t0.lagThreshold": "1000",
			"source.t0.sasl": "scram_sha256", "source.t0.username": "consumer-user", "source.t0.password": pw,
			"source.t1.type": "kafka", "source.t1.topic": "order-events",
			"source.t1.bootstrapServers": "kafka-1.kafka.svc.cluster.local:9092,kafka-2.kafka.svc.cluster.local:9092",
			"source.t1.consumerGroup":    "message-processors", "source.t1.lagThreshold": "1000",
			"source.t1.sasl": "scram_sha256", "source.t1.username": "consumer-user", "source.t1.password": pw,
		}, SecretKeys: []string{"source.t0.password", "source.t1.password"},
			Secrets: []triggers.SecretVersion{{Name: "kafka-credentials", ResourceVersion: "rv-kafka-credentials"}}},
		"design/prometheus.yaml": {Name: "prometheus", Type: "prometheus", MetricType: "AverageValue", Metadata: map[string]string{
			"serverAddress": "http://prometheus.monitoring.svc.cluster.local:9090",
			"query":         `avg(http_request_duration_seconds{job="api-service"})`, "threshold": "0.5",
			"authModes": "basic", "username": "monitoring", "password": pw,
		}, SecretKeys: []string{"password"},
			Secrets: []triggers.SecretVersion{{Name: "prometheus-credentials", ResourceVersion: "rv-prometheus-credentials"}}},
		"design/custom.yaml": {Name: "custom", Type: "custom", MetricType: "AverageValue", Metadata: map[string]string{
			"expression": "(queue_length * processing_time > 300) || \n(active_users > 1000 && cpu_usage > 0.6)\n", "threshold": "1",
			"source.queue_length.type": "prometheus", "source.queue_length.query": "sum(rabbitmq_queue_messages_ready)",
			"source.queue_length.url":     "http://prometheus:9090",
			"source.processing_time.type": "prometheus", "source.processing_time.query": "avg(order_processing_duration_seconds)",
			"source.processing_time.url": "http://prometheus:9090",
			"source.active_users.type":   "external", "source.active_users.url": "https://api.analytics.company.com/metrics/active-users",
			"source.active_users.headers": "Authorization: Bearer ${ANALYTICS_TOKEN}",
		}},
	}
	secrets := anySecret{pem: newPEM(t)}
	seen := 0
	for _, ex := range loadExamples(t) {
		w, ok := want[ex.file]
		if !ok {
			continue
		}
		seen++
		t.Run(ex.file, func(t *testing.T) {
			got, err := triggers.Resolve(context.Background(), triggers.Input{Namespace: ex.ns, Path: ex.path, Spec: ex.spec, Secrets: secrets})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(w, got); diff != "" {
				t.Errorf("Resolve (-want +got):\n%s", diff)
			}
		})
	}
	if seen != len(want) {
		t.Errorf("%d of the design's %d examples found", seen, len(want))
	}
}

// TestCustomBlockFlatKeys: Resolve maps a custom block onto exactly these
// flat keys (values as written, secretRefs filled in), and
// custom.ParseMetadata reads them into exactly this Config.
func TestCustomBlockFlatKeys(t *testing.T) {
	secrets := secretsOf(ns, secret("s", "1", map[string]string{"token": "tok-" + marker, "odd": " a=b, c \n"}))
	tests := []struct {
		name  string
		block *v1.CustomTrigger
		want  *triggers.Trigger
		cfg   custom.Config
	}{
		{
			name: "activation, spaces, keys with dots, secretRefs",
			block: &v1.CustomTrigger{
				Expression: "  a + b\n", Threshold: 1.0 / 3, ActivationThreshold: 0.25,
				MetricSources: []v1.MetricSource{
					{Name: "b", Type: " metrics-api ", Configuration: map[string]string{"url": "http://x/y", "a.b": "c", "authModes": "bearer"},
						SecretRefs: []v1.SecretRef{{Parameter: "bearerToken", Name: "s", Key: "token"}}},
					{Name: "a", Type: "prometheus", Configuration: map[string]string{"serverAddress": "http://p", "query": " q ",
						"customHeaders": "X=1"}, SecretRefs: []v1.SecretRef{{Parameter: "queryParameters", Name: "s", Key: "odd"}}},
				},
			},
			want: &triggers.Trigger{Name: "custom", Type: "custom", MetricType: "AverageValue", Metadata: map[string]string{
				"expression": "  a + b\n", "threshold": "0.3333333333333333", "activationThreshold": "0.25",
				"source.b.type": " metrics-api ", "source.b.url": "http://x/y", "source.b.a.b": "c",
				"source.b.authModes": "bearer", "source.b.bearerToken": "tok-" + marker,
				"source.a.type": "prometheus", "source.a.serverAddress": "http://p", "source.a.query": " q ",
				"source.a.customHeaders": "X=1", "source.a.queryParameters": " a=b, c \n",
			}, SecretKeys: []string{"source.a.queryParameters", "source.b.bearerToken"},
				Secrets: []triggers.SecretVersion{{Name: "s", ResourceVersion: "1"}}},
			cfg: custom.Config{Expression: "a + b", Threshold: 1.0 / 3, ActivationThreshold: 0.25, Sources: []custom.Source{
				{Name: "a", Type: "prometheus", Metadata: map[string]string{"serverAddress": "http://p", "query": " q ",
					"customHeaders": "X=1", "queryParameters": " a=b, c \n"}},
				{Name: "b", Type: "metrics-api", Metadata: map[string]string{"url": "http://x/y", "a.b": "c",
					"authModes": "bearer", "bearerToken": "tok-" + marker}},
			}},
		},
		{
			name:  "no configuration",
			block: &v1.CustomTrigger{Expression: "x", Threshold: 5, MetricSources: []v1.MetricSource{{Name: "x", Type: "redis"}}},
			want: &triggers.Trigger{Name: "custom", Type: "custom", MetricType: "AverageValue", Metadata: map[string]string{
				"expression": "x", "threshold": "5", "source.x.type": "redis",
			}},
			cfg: custom.Config{Expression: "x", Threshold: 5, Sources: []custom.Source{
				{Name: "x", Type: "redis", Metadata: map[string]string{}},
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := triggers.Resolve(context.Background(), triggers.Input{Namespace: ns, Path: path,
				Spec: v1.TriggerSpec{Type: "custom", Custom: tt.block}, Secrets: secrets})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Resolve (-want +got):\n%s", diff)
			}
			cfg, err := custom.ParseMetadata(got.Metadata)
			if err != nil {
				t.Fatalf("ParseMetadata: %v", err)
			}
			if diff := cmp.Diff(tt.cfg, cfg); diff != "" {
				t.Errorf("ParseMetadata of the flat keys (-want +got):\n%s", diff)
			}
		})
	}
}

// TestExamplesAreTheSameScaler: examples/scalers/custom.yaml, resolved by
// the agent, and examples/keda/custom.yaml configure the same scaler once
// the design's aliases are resolved (url for serverAddress, external for
// metrics-api, ...), but for the analytics source's credential: the
// ScaledObject reads it from a file (bearerTokenFile), the Scaler from a
// Secret (bearerToken). Both build.
func TestExamplesAreTheSameScaler(t *testing.T) {
	var crdMD map[string]string
	for _, ex := range loadExamples(t) {
		if ex.file != "custom.yaml" {
			continue
		}
		got, err := triggers.Resolve(context.Background(), triggers.Input{Namespace: ex.ns, Path: ex.path, Spec: ex.spec, Secrets: anySecret{}})
		if err != nil {
			t.Fatalf("examples/scalers/custom.yaml: Resolve: %v", err)
		}
		if got.Type != custom.Type {
			t.Fatalf("examples/scalers/custom.yaml: type %q, want %q", got.Type, custom.Type)
		}
		crdMD = got.Metadata
	}
	if crdMD == nil {
		t.Fatal("examples/scalers/custom.yaml: no custom trigger")
	}
	crd, err := custom.ParseMetadata(crdMD)
	if err != nil {
		t.Fatalf("examples/scalers/custom.yaml: ParseMetadata: %v", err)
	}

	kedaMD := scalertest.KEDATrigger(t, "custom.yaml")
	if kedaMD["scalerType"] != custom.Type || kedaMD["scalerAddress"] == "" {
		t.Fatalf("examples/keda/custom.yaml: scalerType %q scalerAddress %q", kedaMD["scalerType"], kedaMD["scalerAddress"])
	}
	delete(kedaMD, "scalerType")
	delete(kedaMD, "scalerAddress")
	keda, err := custom.ParseMetadata(kedaMD)
	if err != nil {
		t.Fatalf("examples/keda/custom.yaml: ParseMetadata: %v", err)
	}
	var fileDirs []string
	for _, src := range keda.Sources {
		// Keys ending in File point at paths inside the cluster; the
		// server reads them only under its --secret-file-dir.
		fileDirs = append(fileDirs, scalertest.StandInFiles(t, src.Metadata, "token"))
	}

	type scaling struct {
		Expression                     string
		Threshold, ActivationThreshold float64
	}
	if diff := cmp.Diff(scaling{keda.Expression, keda.Threshold, keda.ActivationThreshold},
		scaling{crd.Expression, crd.Threshold, crd.ActivationThreshold}); diff != "" {
		t.Errorf("expression and thresholds (-keda +crd):\n%s", diff)
	}

	reg := newRegistry()
	files, err := scalers.NewFileAccess(fileDirs...)
	if err != nil {
		t.Fatal(err)
	}
	reg.SetSecretFiles(files)
	kedaSources := resolvedSources(t, reg, keda)
	crdSources := resolvedSources(t, reg, crd)
	// The one difference: where the analytics token comes from. Both must
	// give it; the rest must be equal.
	const analytics = "active_users"
	for _, c := range []struct {
		name       string
		sources    map[string]scalers.Config
		has, hasNo string
	}{
		{"keda", kedaSources, "bearerTokenFile", "bearerToken"},
		{"crd", crdSources, "bearerToken", "bearerTokenFile"},
	} {
		md := c.sources[analytics].Metadata
		if md[c.has] == "" {
			t.Errorf("%s example: source %s has no %s", c.name, analytics, c.has)
		}
		if _, ok := md[c.hasNo]; ok {
			t.Errorf("%s example: source %s has %s too", c.name, analytics, c.hasNo)
		}
		delete(md, c.has)
	}
	// Both were built by one registry, so they share its FileAccess.
	if diff := cmp.Diff(kedaSources, crdSources, cmpopts.IgnoreFields(scalers.Config{}, "SecretFiles")); diff != "" {
		t.Errorf("resolved sources (-keda +crd):\n%s", diff)
	}

	for name, cfg := range map[string]custom.Config{"keda": keda, "crd": crd} {
		s, err := custom.New(context.Background(), cfg, custom.Options{Registry: reg})
		if err != nil {
			t.Fatalf("%s example: build: %v", name, err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("%s example: Close: %v", name, err)
		}
	}
}

// resolvedSources returns, by source name, the type and metadata each
// source of cfg is built with by the custom scaler (aliases translated,
// default targets filled): it builds one custom scaler per source through
// a registry that records what it is asked to build.
func resolvedSources(tb testing.TB, reg *scalers.Registry, cfg custom.Config) map[string]scalers.Config {
	tb.Helper()
	out := map[string]scalers.Config{}
	for _, src := range cfg.Sources {
		rec := &recordingRegistry{Registry: reg}
		one := custom.Config{Expression: src.Name, Threshold: 1, Sources: []custom.Source{src}}
		s, err := custom.New(context.Background(), one, custom.Options{Registry: rec})
		if err != nil {
			tb.Fatalf("source %s: %v", src.Name, err)
		}
		if err := s.Close(); err != nil {
			tb.Errorf("source %s: Close: %v", src.Name, err)
		}
		if len(rec.built) != 1 {
			tb.Fatalf("source %s: %d scalers built, want 1", src.Name, len(rec.built))
		}
		out[src.Name] = scalers.Config{Type: rec.built[0].Type, Metadata: rec.built[0].Metadata}
	}
	return out
}

// recordingRegistry is a registry (custom.SourceRegistry) that records the
// configuration of every scaler it builds.
type recordingRegistry struct {
	*scalers.Registry

	mu    sync.Mutex
	built []scalers.Config
}

func (r *recordingRegistry) New(ctx context.Context, cfg scalers.Config) (scalers.Scaler, error) {
	r.mu.Lock()
	r.built = append(r.built, scalers.Config{Type: cfg.Type, Metadata: maps.Clone(cfg.Metadata)})
	r.mu.Unlock()
	return r.Registry.New(ctx, cfg)
}
