package hpa

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/hpa-autoscaler/hpa-autoscaler/scaling"
)

func TestBehaviorDefaults(t *testing.T) {
	minPolicy := autoscalingv2.MinChangePolicySelect
	window := int32(60)
	tol := resource.MustParse("0.05")
	tests := []struct {
		name string
		in   *autoscalingv2.HorizontalPodAutoscalerBehavior
		want *scaling.Behavior
	}{
		{name: "nil is the legacy path", in: nil, want: nil},
		{name: "empty is all defaults", in: &autoscalingv2.HorizontalPodAutoscalerBehavior{}, want: scaling.DefaultBehavior()},
		{
			name: "set fields replace defaults, others stay",
			in: &autoscalingv2.HorizontalPodAutoscalerBehavior{
				ScaleUp: &autoscalingv2.HPAScalingRules{SelectPolicy: &minPolicy, Tolerance: &tol},
				ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: &window, Policies: []autoscalingv2.HPAScalingPolicy{
					{Type: autoscalingv2.PodsScalingPolicy, Value: 2, PeriodSeconds: 30},
				}},
			},
			want: &scaling.Behavior{
				ScaleUp: func() scaling.ScalingRules {
					r := scaling.DefaultScaleUpRules()
					r.SelectPolicy, r.Tolerance, r.HasTolerance = scaling.SelectMin, 0.05, true
					return r
				}(),
				ScaleDown: scaling.ScalingRules{StabilizationWindowSeconds: 60, SelectPolicy: scaling.SelectMax, Policies: []scaling.ScalingPolicy{
					{Type: scaling.PodsPolicy, Value: 2, PeriodSeconds: 30},
				}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Behavior("behavior", tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("behavior (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMetric(t *testing.T) {
	util := int32(70)
	q := resource.MustParse("1500m")
	milli := int64(1500)
	tests := []struct {
		name    string
		in      autoscalingv2.MetricSpec
		milli   *int64
		want    scaling.MetricSpec
		wantErr string // the whole message
	}{
		{name: "resource utilization", in: autoscalingv2.MetricSpec{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{Name: "cpu", Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: &util}}},
			want: scaling.MetricSpec{Name: "cpu", Resource: "cpu", Type: scaling.ResourceMetric, Target: scaling.UtilizationTarget, TargetUtilization: 70}},
		{name: "external quantity", in: autoscalingv2.MetricSpec{Type: autoscalingv2.ExternalMetricSourceType, External: &autoscalingv2.ExternalMetricSource{Metric: autoscalingv2.MetricIdentifier{Name: "lag"}, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: &q}}},
			want: scaling.MetricSpec{Name: "lag", Type: scaling.ExternalMetric, Target: scaling.AverageValueTarget, TargetMilli: 1500}},
		{name: "object targetMilli", in: autoscalingv2.MetricSpec{Type: autoscalingv2.ObjectMetricSourceType, Object: &autoscalingv2.ObjectMetricSource{Metric: autoscalingv2.MetricIdentifier{Name: "rps"}, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.ValueMetricType}}}, milli: &milli,
			want: scaling.MetricSpec{Name: "rps", Type: scaling.ObjectMetric, Target: scaling.ValueTarget, TargetMilli: 1500}},
		{name: "missing source", in: autoscalingv2.MetricSpec{Type: autoscalingv2.PodsMetricSourceType}, wantErr: "m.pods: missing: required for type Pods"},
		{name: "wrong target type", in: autoscalingv2.MetricSpec{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricSource{Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType}}}, wantErr: `m.pods.target.type: "Utilization": expected AverageValue for type Pods`},
		{name: "missing value", in: autoscalingv2.MetricSpec{Type: autoscalingv2.ExternalMetricSourceType, External: &autoscalingv2.ExternalMetricSource{Target: autoscalingv2.MetricTarget{Type: autoscalingv2.ValueMetricType}}}, wantErr: "m.external.target.value: missing: required (or targetMilli)"},
		{name: "zero utilization", in: autoscalingv2.MetricSpec{Type: autoscalingv2.ContainerResourceMetricSourceType, ContainerResource: &autoscalingv2.ContainerResourceMetricSource{Name: "cpu", Container: "app", Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: new(int32)}}}, wantErr: "m.containerResource.target.averageUtilization: 0: expected a percentage greater than 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Metric("m", &tt.in, tt.milli)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("got %+v and no error, want %q", got, tt.wantErr)
				}
				if diff := cmp.Diff(tt.wantErr, err.Error()); diff != "" {
					t.Errorf("error (-want +got):\n%s", diff)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("metric (-want +got):\n%s", diff)
			}
		})
	}
}
