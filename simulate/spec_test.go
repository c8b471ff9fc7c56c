package simulate

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/hpa-autoscaler/hpa-autoscaler/scaling"
)

func TestLoadExampleSpecs(t *testing.T) {
	dir := filepath.Join("..", "examples", "simulate")
	// bounds is a spec with the controller's defaults and nothing else.
	bounds := func(lo, hi int32) scaling.Spec {
		return scaling.Spec{MinReplicas: lo, MaxReplicas: hi, Controller: scaling.DefaultControllerConfig(), Features: scaling.DefaultFeatureGates()}
	}
	tests := []struct {
		file string
		want func() *scaling.Spec
	}{
		{file: "hpa-legacy.yaml", want: func() *scaling.Spec {
			s := bounds(2, 150)
			return &s
		}},
		// The design's up/down policies, a cooldown, safety caps and a
		// budget of 6.00 per hour.
		{file: "fast-up-slow-down.yaml", want: func() *scaling.Spec {
			s := bounds(3, 150)
			s.Behavior = &scaling.Behavior{
				ScaleUp: scaling.ScalingRules{StabilizationWindowSeconds: 60, SelectPolicy: scaling.SelectMax, Policies: []scaling.ScalingPolicy{
					{Type: scaling.PercentPolicy, Value: 50, PeriodSeconds: 60},
					{Type: scaling.PodsPolicy, Value: 5, PeriodSeconds: 60},
				}},
				ScaleDown: scaling.ScalingRules{StabilizationWindowSeconds: 300, SelectPolicy: scaling.SelectMin, Policies: []scaling.ScalingPolicy{
					{Type: scaling.PercentPolicy, Value: 10, PeriodSeconds: 60},
				}},
			}
			s.CooldownPeriod = 180 * time.Second
			s.Safety = &scaling.Safety{MaxScaleUpPercent: 100, MaxScaleDownPercent: 25}
			s.Budget = &scaling.Budget{MaxCostPerHour: 6, PricePerReplicaHour: 0.05}
			return &s
		}},
		// An autoscaling/v2 behavior with tolerances; the scale-down select
		// policy is defaulted to Max.
		{file: "hpa-v2-behavior.yaml", want: func() *scaling.Spec {
			s := bounds(2, 150)
			s.Behavior = &scaling.Behavior{
				ScaleUp: scaling.ScalingRules{SelectPolicy: scaling.SelectMax, Tolerance: 0.03, HasTolerance: true, Policies: []scaling.ScalingPolicy{
					{Type: scaling.PodsPolicy, Value: 4, PeriodSeconds: 15},
					{Type: scaling.PercentPolicy, Value: 100, PeriodSeconds: 15},
				}},
				ScaleDown: scaling.ScalingRules{StabilizationWindowSeconds: 600, SelectPolicy: scaling.SelectMax, Tolerance: 0.15, HasTolerance: true, Policies: []scaling.ScalingPolicy{
					{Type: scaling.PercentPolicy, Value: 20, PeriodSeconds: 60},
				}},
			}
			return &s
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
			// A spec file names no metrics: nil and empty both mean none.
			if diff := cmp.Diff(tt.want(), ns.Spec, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("spec (-want +got):\n%s", diff)
			}
		})
	}
	// 6.00 per hour at 0.05 a replica-hour.
	ns, err := LoadSpecFile(filepath.Join(dir, "fast-up-slow-down.yaml"), SpecOptions{PricePerReplicaHour: 0.05})
	if err != nil {
		t.Fatal(err)
	}
	if got := ns.Spec.Budget.MaxReplicas(); got != 120 {
		t.Errorf("budget cap: got %d replicas, want 120", got)
	}
}

func TestParseSpecErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		opts SpecOptions
		want string // the whole message, every problem at once
	}{
		{name: "missing max", yaml: "spec:\n  scaling:\n    minReplicas: 2\n", want: "spec.scaling.maxReplicas: missing: required"},
		{name: "bad values", yaml: "kind: Deployment\nspec:\n  scaling:\n    minReplicas: -1\n    maxReplicas: 5\n    cooldownPeriod: soon\n  advanced:\n    safety:\n      maxScaleDownPercent: 120\n",
			want: "spec.scaling.cooldownPeriod: \"soon\": expected a duration such as 300s\nkind: \"Deployment\": expected Scaler\nspec.scaling.minReplicas: -1: expected 0 or more\nspec.advanced.safety.maxScaleDownPercent: 120: expected 1 to 100"},
		{name: "bad policy", yaml: "spec:\n  scaling:\n    maxReplicas: 5\n    scaleUpPolicy:\n      policies:\n        - type: Pods\n          value: 0\n          periodSeconds: 60\n",
			want: "spec.scaling.scaleUpPolicy.policies[0].value: 0: expected a value greater than 0"},
		{name: "both forms", yaml: "spec:\n  scaling:\n    maxReplicas: 5\n    scaleUpPolicy: {}\n  behavior: {}\n", want: "unknown field \"behavior\": a Scaler has no behavior block; its rules go in spec.scaling.scaleUpPolicy and scaleDownPolicy"},
		{name: "budget needs a price", yaml: "spec:\n  scaling:\n    maxReplicas: 5\n  advanced:\n    costOptimization:\n      enabled: true\n      costThresholds:\n        maxCostPerHour: \"5\"\n", want: "spec.advanced.costOptimization.costThresholds.maxCostPerHour: needs --price-per-replica-hour to become a replica cap"},
		{name: "wrong type", yaml: "spec:\n  scaling:\n    maxReplicas: many\n", want: "spec.scaling.maxReplicas: string is not a valid int32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSpec([]byte(tt.yaml), tt.opts)
			if err == nil {
				t.Fatal("got no error")
			}
			if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
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
	_, err = PlotFormat("out.pdf")
	if err == nil {
		t.Fatal("PlotFormat(out.pdf): got no error")
	}
	if diff := cmp.Diff(`plot file "out.pdf": expected a .svg or .png name`, err.Error()); diff != "" {
		t.Errorf("PlotFormat(out.pdf): error (-want +got):\n%s", diff)
	}
}
