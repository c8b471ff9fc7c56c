package custom

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
)

// kedaExample reads the trigger metadata of examples/keda/custom.yaml.
func kedaExample(tb testing.TB) map[string]string {
	tb.Helper()
	md := scalertest.KEDATrigger(tb, "custom.yaml")
	if md["scalerType"] != Type || md["scalerAddress"] == "" {
		tb.Fatalf("examples/keda/custom.yaml: scalerType %q scalerAddress %q", md["scalerType"], md["scalerAddress"])
	}
	return md
}

// scalerExample reads scalerSpec.custom of examples/scalers/custom.yaml,
// strictly: a key Spec does not know is an error.
func scalerExample(tb testing.TB) Spec {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", "scalers", "custom.yaml"))
	if err != nil {
		tb.Fatal(err)
	}
	var obj struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Spec       struct {
			ScalerSpec struct {
				Type   string         `json:"type"`
				Custom map[string]any `json:"custom"`
			} `json:"scalerSpec"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(b, &obj); err != nil {
		tb.Fatalf("examples/scalers/custom.yaml: %v", err)
	}
	if obj.APIVersion != "autoscaling.hpa-agent.io/v1" || obj.Kind != "Scaler" || obj.Spec.ScalerSpec.Type != Type {
		tb.Fatalf("examples/scalers/custom.yaml: got %s %s type %q, want a Scaler of type custom", obj.APIVersion, obj.Kind, obj.Spec.ScalerSpec.Type)
	}
	raw, err := yaml.Marshal(obj.Spec.ScalerSpec.Custom)
	if err != nil {
		tb.Fatal(err)
	}
	var spec Spec
	if err := yaml.UnmarshalStrict(raw, &spec); err != nil {
		tb.Fatalf("examples/scalers/custom.yaml: scalerSpec.custom: %v", err)
	}
	return spec
}

// TestExamplesAreTheSameScaler checks that both example files build, and
// that once the design's aliases are resolved they configure the same
// scaler.
func TestExamplesAreTheSameScaler(t *testing.T) {
	reg := newRegistry(t)
	flat, err := ParseMetadata(kedaExample(t))
	if err != nil {
		t.Fatalf("examples/keda/custom.yaml: %v", err)
	}
	crd, err := FromSpec(scalerExample(t))
	if err != nil {
		t.Fatalf("examples/scalers/custom.yaml: %v", err)
	}
	type resolved struct {
		Name, Type string
		Metadata   map[string]string
	}
	resolve := func(cfg Config) (out []resolved) {
		for _, src := range cfg.Sources {
			typ, md, err := resolveSource(reg, src)
			if err != nil {
				t.Fatalf("source %s: %v", src.Name, err)
			}
			out = append(out, resolved{src.Name, typ, md})
		}
		return out
	}
	type scaling struct {
		Expression                     string
		Threshold, ActivationThreshold float64
	}
	if diff := cmp.Diff(scaling{flat.Expression, flat.Threshold, flat.ActivationThreshold}, scaling{crd.Expression, crd.Threshold, crd.ActivationThreshold}); diff != "" {
		t.Errorf("expression and thresholds (-keda +crd):\n%s", diff)
	}
	if diff := cmp.Diff(resolve(flat), resolve(crd)); diff != "" {
		t.Errorf("resolved sources (-keda +crd):\n%s", diff)
	}

	for name, cfg := range map[string]Config{"keda": flat, "crd": crd} {
		for _, src := range cfg.Sources {
			// Keys ending in File point at paths inside the cluster.
			scalertest.StandInFiles(t, src.Metadata, "token")
		}
		s, err := New(t.Context(), cfg, Options{Registry: reg})
		if err != nil {
			t.Fatalf("%s example: build: %v", name, err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("%s example: Close: %v", name, err)
		}
	}
}

// TestExampleExpression checks that the example's expression does what its
// comments say.
func TestExampleExpression(t *testing.T) {
	cfg, err := ParseMetadata(kedaExample(t))
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, len(cfg.Sources))
	for i, s := range cfg.Sources {
		names[i] = s.Name
	}
	p, err := Compile(cfg.Expression, names, Limits{})
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	// Inputs in the order of names: active_users, cpu_usage,
	// processing_time, queue_length.
	if diff := cmp.Diff([]string{"active_users", "cpu_usage", "processing_time", "queue_length"}, p.Names()); diff != "" {
		t.Fatalf("names (-want +got):\n%s", diff)
	}
	down := Input{Err: errDown}
	tests := []struct {
		name string
		in   []Input
		want float64
	}{
		{"queue decides", []Input{{Value: 800}, {Value: 0.9}, {Value: 2}, {Value: 600}}, 4},
		{"busy users decide", []Input{{Value: 3000}, {Value: 0.9}, {Value: 2}, {Value: 600}}, 6},
		{"idle CPUs: users do not count", []Input{{Value: 3000}, {Value: 0.3}, {Value: 2}, {Value: 600}}, 4},
		{"analytics down: queue alone", []Input{down, {Value: 0.9}, {Value: 2}, {Value: 600}}, 4},
		{"nothing to do", []Input{{Value: 10}, {Value: 0.1}, {Value: 2}, {Value: 0}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := p.Eval(t.Context(), tt.in)
			if err != nil {
				t.Fatalf("Eval: %v", err)
			}
			if got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	_, err = p.Eval(t.Context(), []Input{{Value: 1}, {Value: 1}, down, {Value: 1}})
	if diff := cmp.Diff("evaluate expression: source processing_time: "+errDown.Error(), errText(err)); diff != "" {
		t.Errorf("prometheus down: error (-want +got):\n%s", diff)
	}
}
