package custom

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
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

// TestKEDAExampleBuilds checks that examples/keda/custom.yaml builds. That
// examples/scalers/custom.yaml, the Scaler the agent maps onto these flat
// keys, configures the same scaler is checked in controller/triggers (this
// package imports neither api/v1 nor the agent).
func TestKEDAExampleBuilds(t *testing.T) {
	cfg, err := ParseMetadata(kedaExample(t))
	if err != nil {
		t.Fatalf("examples/keda/custom.yaml: %v", err)
	}
	var dirs []string
	for _, src := range cfg.Sources {
		// Keys ending in File point at paths inside the cluster; the
		// server reads them only under its --secret-file-dir.
		dirs = append(dirs, scalertest.StandInFiles(t, src.Metadata, "token"))
	}
	files, err := scalers.NewFileAccess(dirs...)
	if err != nil {
		t.Fatal(err)
	}
	reg := newRegistry(t)
	reg.SetSecretFiles(files)
	s, err := New(t.Context(), cfg, Options{Registry: reg})
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
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
