package backendlink

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	agentv1 "github.com/hpa-autoscaler/hpa-autoscaler/proto/agent/v1"
)

// Scaler is one Scaler of the inventory.
type Scaler struct {
	Namespace, Name string
	Generation      int64
	// SpecJSON and StatusJSON are the Scaler's spec and status as JSON.
	SpecJSON, StatusJSON []byte
	CurrentReplicas      int32
	DesiredReplicas      int32
	// PodRequests are one pod's requests (zero: not known).
	PodRequests Requests
}

// Requests of one pod: CPU in millicores, memory in bytes, GPUs.
type Requests struct {
	CPUMillis, MemoryBytes, GPUs int64
}

// MetricValue is one trigger's value.
type MetricValue struct {
	// Trigger is the trigger's name (with /metric when it has several).
	Trigger string
	Value   float64
	// Target is the trigger's target (per pod for AverageValue).
	Target     float64
	MetricType string
	// Error is why the read failed (Value is then meaningless).
	Error string
}

// Metrics are the values of one Scaler's triggers at one time.
type Metrics struct {
	Namespace, Name string
	Time            time.Time
	Values          []MetricValue
}

// Decision is one decision of the engine: its inputs, rule and result.
type Decision struct {
	// ID is stable across resends: the backend records one audit record
	// per ID.
	ID              string
	Namespace, Name string
	Time            time.Time
	Current         int32
	Desired         int32
	Rule, Reason    string
	Inputs          []MetricValue
	ForecastFloor   int32
	// BudgetMaxReplicas is the budget cap applied (0: none), from the
	// price table PriceTableHash names.
	BudgetMaxReplicas int32
	PriceTableHash    string
	DryRun, Applied   bool
}

// Event is one change of a target's replicas.
type Event struct {
	// ID is unique in the tenant (the backend's idempotency key).
	ID              string
	Namespace, Name string
	Time            time.Time
	From, To        int32
	Rule, Reason    string
}

// Advice is what the backend last said about one Scaler.
type Advice struct {
	// Known: the backend sent a recommendation for the Scaler.
	Known bool
	// FloorValid: the recommendation's forecast holds at the time asked
	// (before ExpiresAt); Floor is then the backend's floor (0: none).
	FloorValid  bool
	Floor       int32
	FloorReason string
	ExpiresAt   time.Time
	Forecast    float64
	Confidence  float64
	Model       string
	// BudgetMaxReplicas is the budget cap (0: none); it holds until the
	// backend sends another (a cost limit does not expire with a
	// forecast). PricePerReplicaHourMicros is the price of a replica-hour
	// in micro-units of Currency.
	BudgetMaxReplicas         int32
	PricePerReplicaHourMicros int64
	PriceTableHash            string
	Currency                  string
}

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func metricValues(vs []MetricValue) []*agentv1.MetricValue {
	out := make([]*agentv1.MetricValue, 0, len(vs))
	for _, v := range vs {
		out = append(out, &agentv1.MetricValue{Trigger: v.Trigger, Value: v.Value, Target: v.Target, MetricType: v.MetricType, Error: v.Error})
	}
	return out
}

func (s *Scaler) proto() *agentv1.ScalerInfo {
	return &agentv1.ScalerInfo{
		Namespace: s.Namespace, Name: s.Name, SpecJson: s.SpecJSON, StatusJson: s.StatusJSON,
		PodRequests:     &agentv1.ResourceRequests{CpuMillis: s.PodRequests.CPUMillis, MemoryBytes: s.PodRequests.MemoryBytes, Gpus: s.PodRequests.GPUs},
		CurrentReplicas: s.CurrentReplicas, DesiredReplicas: s.DesiredReplicas, Generation: s.Generation,
	}
}

func (m *Metrics) proto() *agentv1.MetricReport {
	return &agentv1.MetricReport{ScalerName: m.Name, Namespace: m.Namespace, Metrics: metricValues(m.Values), Timestamp: ts(m.Time)}
}

func (d *Decision) proto() *agentv1.ScalingResult {
	return &agentv1.ScalingResult{
		DecisionId: d.ID, Namespace: d.Namespace, ScalerName: d.Name, Time: ts(d.Time),
		CurrentReplicas: d.Current, DesiredReplicas: d.Desired, Rule: d.Rule, Reason: d.Reason,
		Inputs: metricValues(d.Inputs), ForecastFloor: d.ForecastFloor, BudgetMaxReplicas: d.BudgetMaxReplicas,
		PriceTableHash: d.PriceTableHash, DryRun: d.DryRun, Applied: d.Applied,
	}
}

func (e *Event) proto() *agentv1.ScalingEvent {
	return &agentv1.ScalingEvent{
		Id: e.ID, Namespace: e.Namespace, ScalerName: e.Name, Time: ts(e.Time),
		FromReplicas: e.From, ToReplicas: e.To, Rule: e.Rule, Reason: e.Reason,
	}
}
