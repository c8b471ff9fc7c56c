package simulate

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hpa-autoscaler/hpa-autoscaler/scaling"
)

func TestLoadExampleSpecs(t *testing.T) {
	dir := filepath.Join("..", "examples", "simulate")
	tests := []struct {
		file  string
		check func(t *testing.T, s *scaling.Spec)
	}{
		{file: "hpa-legacy.yaml", check: func(t *testing.T, s *scaling.Spec) {
			if s.MinReplicas != 2 || s.MaxReplicas != 150 || s.Behavior != nil || s.Safety != nil || s.Budget != nil || s.CooldownPeriod != 0 {
				t.Errorf("got %+v, want bounds 2..150 and nothing else", s)
			}
		}},
		{file: "fast-up-slow-down.yaml", check: func(t *testing.T, s *scaling.Spec) {
			b := s.Behavior
			if b == nil || b.ScaleUp.StabilizationWindowSeconds != 60 || len(b.ScaleUp.Policies) != 2 || b.ScaleDown.SelectPolicy != scaling.SelectMin {
				t.Fatalf("behavior %+v: want the design's up/down policies", b)
			}
			if got := b.ScaleUp.Policies[1]; got != (scaling.ScalingPolicy{Type: scaling.PodsPolicy, Value: 5, PeriodSeconds: 60}) {
				t.Errorf("second scale-up policy: got %+v", got)
			}
			if s.CooldownPeriod != 180*time.Second || s.Safety == nil || s.Safety.MaxScaleDownPercent != 25 {
				t.Errorf("cooldown %v safety %+v: want 180s and 100/25", s.CooldownPeriod, s.Safety)
			}
			if s.Budget == nil || s.Budget.MaxReplicas() != 120 {
				t.Errorf("budget %+v: want 6.00 per hour at 0.05 = 120 replicas", s.Budget)
			}
		}},
		{file: "hpa-v2-behavior.yaml", check: func(t *testing.T, s *scaling.Spec) {
			b := s.Behavior
			if b == nil || !b.ScaleUp.HasTolerance || b.ScaleUp.Tolerance != 0.03 || b.ScaleDown.Tolerance != 0.15 || b.ScaleDown.SelectPolicy != scaling.SelectMax {
				t.Errorf("behavior %+v: want tolerances 0.03/0.15 and a defaulted Max select policy", b)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			ns, err := LoadSpecFile(filepath.Join(dir, tt.file), SpecOptions{PricePerReplicaHour: 0.05})
			if err != nil {
				t.Fatal(err)
			}
			if want := strings.TrimSuffix(tt.file, ".yaml"); ns.Name != want {
				t.Errorf("name: got %q, want %q", ns.Name, want)
			}
			tt.check(t, ns.Spec)
		})
	}
}

func TestParseSpecErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		opts SpecOptions
		want []string
	}{
		{name: "missing max", yaml: "spec:\n  scaling:\n    minReplicas: 2\n", want: []string{"spec.scaling.maxReplicas: missing"}},
		{name: "bad values", yaml: "kind: Deployment\nspec:\n  scaling:\n    minReplicas: -1\n    maxReplicas: 5\n    cooldownPeriod: soon\n  advanced:\n    safety:\n      maxScaleDownPercent: 120\n",
			want: []string{`kind: "Deployment": expected Scaler`, "spec.scaling.minReplicas: -1", `spec.scaling.cooldownPeriod: "soon"`, "spec.advanced.safety.maxScaleDownPercent: 120"}},
		{name: "bad policy", yaml: "spec:\n  scaling:\n    maxReplicas: 5\n    scaleUpPolicy:\n      policies:\n        - type: Pods\n          value: 0\n          periodSeconds: 60\n",
			want: []string{"spec.scaling.scaleUpPolicy.policies[0].value: 0"}},
		{name: "both forms", yaml: "spec:\n  scaling:\n    maxReplicas: 5\n    scaleUpPolicy: {}\n  behavior: {}\n", want: []string{"spec.behavior: given together with spec.scaling.scaleUpPolicy"}},
		{name: "budget needs a price", yaml: "spec:\n  scaling:\n    maxReplicas: 5\n  advanced:\n    costOptimization:\n      costThresholds:\n        maxCostPerHour: \"5\"\n", want: []string{"needs --price-per-replica-hour"}},
		{name: "wrong type", yaml: "spec:\n  scaling:\n    maxReplicas: many\n", want: []string{"spec.scaling.maxReplicas: string is not a valid int32"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSpec([]byte(tt.yaml), tt.opts)
			if err == nil {
				t.Fatal("got no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestWritePlot(t *testing.T) {
	s := series(time.Minute, 100, 300, 100)
	cfg := Config{CapacityPerReplica: 100, TargetUtilization: 1, StartupDelay: 30 * time.Second, TimelinePoints: 100}
	res, err := Simulate(t.Context(), s, cfg, []Run{{Name: "reactive", Spec: DefaultSpec().Spec, Policy: Reactive{}}})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(res[0].Timeline); n != 12 {
		t.Fatalf("timeline has %d samples, want one per decision (12)", n)
	}
	for _, format := range []string{"svg", "png"} {
		var buf strings.Builder
		if err := WritePlot(&buf, format, "steps", res); err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		if buf.Len() < 1000 {
			t.Errorf("%s: only %d bytes", format, buf.Len())
		}
	}
	if _, err := PlotFormat("out.pdf"); err == nil {
		t.Error("PlotFormat(out.pdf): got no error")
	}
}
