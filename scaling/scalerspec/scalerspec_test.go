package scalerspec_test

import (
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
	"github.com/hpa-autoscaler/hpa-autoscaler/scaling"
	"github.com/hpa-autoscaler/hpa-autoscaler/scaling/scalerspec"
)

func parse(t *testing.T, doc string) *v1.ScalerSpec {
	t.Helper()
	var s v1.Scaler
	if err := yaml.UnmarshalStrict([]byte(doc), &s); err != nil {
		t.Fatal(err)
	}
	return &s.Spec
}

func ptr[T any](v T) *T { return &v }

// TestDesignAdvancedExample: the design's "Advanced Features" Scaler
// becomes the HPA behavior it spells, with its safety caps; the budget
// needs a price.
func TestDesignAdvancedExample(t *testing.T) {
	raw, err := os.ReadFile("../../examples/scalers/design/advanced.yaml")
	if err != nil {
		t.Fatal(err)
	}
	spec := parse(t, string(raw))
	res, err := scalerspec.Convert(spec, scalerspec.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := &scaling.Spec{
		MinReplicas:    3,
		MaxReplicas:    100,
		CooldownPeriod: 180 * time.Second,
		Controller:     scaling.DefaultControllerConfig(),
		Features:       scaling.DefaultFeatureGates(),
		Behavior: &scaling.Behavior{
			ScaleUp: scaling.ScalingRules{StabilizationWindowSeconds: 60, SelectPolicy: scaling.SelectMax, Policies: []scaling.ScalingPolicy{
				{Type: scaling.PercentPolicy, Value: 50, PeriodSeconds: 60}, {Type: scaling.PodsPolicy, Value: 5, PeriodSeconds: 60}}},
			ScaleDown: scaling.ScalingRules{StabilizationWindowSeconds: 300, SelectPolicy: scaling.SelectMin, Policies: []scaling.ScalingPolicy{
				{Type: scaling.PercentPolicy, Value: 10, PeriodSeconds: 60}}},
		},
		Safety: &scaling.Safety{MaxScaleUpPercent: 100, MaxScaleDownPercent: 25},
	}
	if diff := cmp.Diff(want, res.Spec); diff != "" {
		t.Errorf("spec (-want +got):\n%s", diff)
	}
	if !res.BudgetUnpriced {
		t.Error("maxCostPerHour without a price: BudgetUnpriced not set")
	}
	priced, err := scalerspec.Convert(spec, scalerspec.Options{PricePerReplicaHour: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&scaling.Budget{MaxCostPerHour: 50, PricePerReplicaHour: 0.5}, priced.Spec.Budget); diff != "" {
		t.Errorf("budget (-want +got):\n%s", diff)
	}
}

func TestConvert(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want func(s *scaling.Spec)
	}{
		{name: "defaults: min 1, no behavior (the legacy path)", doc: "spec:\n  scaling:\n    maxReplicas: 5\n", want: func(s *scaling.Spec) {
			s.MinReplicas, s.MaxReplicas = 1, 5
		}},
		{name: "one direction given: the other gets the HPA defaults", doc: "spec:\n  scaling:\n    minReplicas: 0\n    maxReplicas: 5\n    scaleDownPolicy:\n      stabilizationWindowSeconds: 30\n      tolerance: \"0.05\"\n", want: func(s *scaling.Spec) {
			s.MinReplicas, s.MaxReplicas = 0, 5
			down := scaling.DefaultScaleDownRules()
			down.StabilizationWindowSeconds, down.Tolerance, down.HasTolerance = 30, 0.05, true
			s.Behavior = &scaling.Behavior{ScaleUp: scaling.DefaultScaleUpRules(), ScaleDown: down}
		}},
		{name: "fallback lastKnownValue needs no replicas", doc: "spec:\n  scaling:\n    maxReplicas: 5\n  advanced:\n    fallback:\n      behavior: lastKnownValue\n", want: func(s *scaling.Spec) {
			s.MinReplicas, s.MaxReplicas = 1, 5
			s.Fallback = &scaling.Fallback{FailureThreshold: 3, Behavior: scaling.FallbackLastKnownValue, LastKnownMaxAge: scaling.DefaultLastKnownMaxAge}
		}},
		{name: "advanced.enabled false turns the additions off", doc: "spec:\n  scaling:\n    maxReplicas: 5\n  advanced:\n    enabled: false\n    safety:\n      maxScaleUpPercent: 10\n", want: func(s *scaling.Spec) {
			s.MinReplicas, s.MaxReplicas = 1, 5
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := scalerspec.Convert(parse(t, tt.doc), scalerspec.Options{})
			if err != nil {
				t.Fatal(err)
			}
			want := &scaling.Spec{Controller: scaling.DefaultControllerConfig(), Features: scaling.DefaultFeatureGates()}
			tt.want(want)
			if diff := cmp.Diff(want, res.Spec); diff != "" {
				t.Errorf("spec (-want +got):\n%s", diff)
			}
		})
	}
}

func TestConvertErrors(t *testing.T) {
	spec := &v1.ScalerSpec{Scaling: v1.Scaling{
		MinReplicas:   ptr(int32(-1)),
		ScaleUpPolicy: &v1.ScalingRules{Policies: []v1.ScalingPolicy{{Type: "Pods", Value: 0, PeriodSeconds: 4000}}},
	}, Advanced: &v1.Advanced{
		Safety:           &v1.Safety{MaxScaleDownPercent: ptr(int32(101))},
		Fallback:         &v1.Fallback{Behavior: "sometimes"},
		CostOptimization: &v1.CostOptimization{Enabled: true, CostThresholds: &v1.CostThresholds{MaxCostPerHour: "lots"}},
	}}
	_, err := scalerspec.Convert(spec, scalerspec.Options{})
	want := `spec.scaling.minReplicas: -1: expected 0 or more
spec.scaling.maxReplicas: missing: required
spec.scaling.scaleUpPolicy.policies[0].value: 0: expected a value greater than 0
spec.scaling.scaleUpPolicy.policies[0].periodSeconds: 4000: expected 1 to 1800
spec.advanced.safety.maxScaleDownPercent: 101: expected 1 to 100
spec.advanced.fallback.behavior: "sometimes": expected static, currentReplicas, currentReplicasIfHigher, currentReplicasIfLower or lastKnownValue
spec.advanced.fallback.replicas: missing: behavior static needs replicas
spec.advanced.costOptimization.costThresholds.maxCostPerHour: "lots": expected a cost such as "50.00"`
	if err == nil {
		t.Fatal("no error")
	}
	if diff := cmp.Diff(want, err.Error()); diff != "" {
		t.Errorf("error (-want +got):\n%s", diff)
	}
}
