package api

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/store"
)

// Metrics is each trigger's last reported reading of a scaler, from the
// status its agent last put (PUT .../status).
type Metrics struct {
	Scaler          string `json:"scaler"`
	CurrentReplicas int32  `json:"currentReplicas"`
	DesiredReplicas int32  `json:"desiredReplicas"`
	// UpdatedAt is when the scaler was last written (its status or its
	// spec); each trigger's LastSuccessTime is when its value was read.
	UpdatedAt      time.Time       `json:"updatedAt"`
	LastActiveTime *time.Time      `json:"lastActiveTime,omitempty"`
	Triggers       []TriggerMetric `json:"triggers"`
}

// TriggerMetric is one trigger's last reading.
type TriggerMetric struct {
	Name   string `json:"name"`
	Type   string `json:"type"`
	Metric string `json:"metric,omitempty"`
	// Value and Target are the decimals the agent reported.
	Value  string `json:"value,omitempty"`
	Target string `json:"target,omitempty"`
	// Utilization is Value / Target, null when either is not a number
	// or the target is not positive.
	Utilization         *float64   `json:"utilization"`
	Active              bool       `json:"active"`
	Healthy             bool       `json:"healthy"`
	ConsecutiveFailures int32      `json:"consecutiveFailures,omitempty"`
	LastSuccessTime     *time.Time `json:"lastSuccessTime,omitempty"`
}

func metaTime(t *metav1.Time) *time.Time {
	if t == nil || t.IsZero() {
		return nil
	}
	v := t.UTC()
	return &v
}

// utilization is value/target of two reported decimals, or nil.
func utilization(value, target string) *float64 {
	v, err1 := strconv.ParseFloat(value, 64)
	t, err2 := strconv.ParseFloat(target, 64)
	if err1 != nil || err2 != nil || t <= 0 || math.IsInf(t, 0) || math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	u := v / t
	if math.IsInf(u, 0) {
		return nil // JSON has no infinity
	}
	return &u
}

func triggerMetrics(st v1.ScalerStatus) []TriggerMetric {
	out := make([]TriggerMetric, 0, len(st.Triggers))
	for _, t := range st.Triggers {
		m := TriggerMetric{Name: t.Name, Type: t.Type, Metric: t.Metric, Value: t.Value, Target: t.Target,
			Utilization: utilization(t.Value, t.Target), Active: t.Active, Healthy: t.Healthy, ConsecutiveFailures: t.ConsecutiveFailures,
			LastSuccessTime: metaTime(t.LastSuccessTime)}
		out = append(out, m)
	}
	return out
}

func getMetrics(s *server, r *request) (int, any, error) {
	sc, err := s.o.Store.Scaler(r.Context(), r.tenant, r.PathValue("name"))
	if err != nil {
		return 0, nil, err
	}
	st := sc.Status
	out := Metrics{Scaler: sc.Name, CurrentReplicas: st.CurrentReplicas, DesiredReplicas: st.DesiredReplicas, UpdatedAt: sc.UpdatedAt,
		LastActiveTime: metaTime(st.LastActiveTime), Triggers: triggerMetrics(st)}
	return http.StatusOK, out, nil
}

// Recommendations is what the stored data says a scaler should run: its
// agent's last decision and last scaling event. Forecast is null until a
// predictor is configured (Prediction says so).
type Recommendations struct {
	Scaler          string `json:"scaler"`
	CurrentReplicas int32  `json:"currentReplicas"`
	// DesiredReplicas is the count of the last decision the agent
	// reported.
	DesiredReplicas int32 `json:"desiredReplicas"`
	// LastDecision is the agent's explanation of it (rule, reason, each
	// trigger's proposal, the limits that applied); null before the
	// first.
	LastDecision *v1.Decision `json:"lastDecision"`
	// LastEvent is the scaler's last recorded scaling event; null when
	// none.
	LastEvent *Event `json:"lastEvent"`
	// Forecast is the predicted floor; always null today.
	Forecast   *Forecast       `json:"forecast"`
	Prediction PredictionState `json:"prediction"`
}

// Forecast is a predicted replica floor (the shape prediction fills).
type Forecast struct {
	At       time.Time `json:"at"`
	Replicas int32     `json:"replicas"`
	Model    string    `json:"model"`
	Reason   string    `json:"reason"`
}

// PredictionState says whether forecasts are made.
type PredictionState struct {
	Configured bool   `json:"configured"`
	Reason     string `json:"reason,omitempty"`
}

// noPredictor is PredictionState until the backend runs a predictor.
var noPredictor = PredictionState{Configured: false, Reason: "no predictor is configured on this server"}

func eventOut(e store.ScalingEvent) Event {
	return Event{EventBody: EventBody{ID: e.ID, Time: e.Time, FromReplicas: e.FromReplicas, ToReplicas: e.ToReplicas, Rule: e.Rule, Reason: e.Reason},
		Scaler: e.Scaler, Seq: e.AuditSeq}
}

func getRecommendations(s *server, r *request) (int, any, error) {
	sc, err := s.o.Store.Scaler(r.Context(), r.tenant, r.PathValue("name"))
	if err != nil {
		return 0, nil, err
	}
	out := Recommendations{Scaler: sc.Name, CurrentReplicas: sc.Status.CurrentReplicas, DesiredReplicas: sc.Status.DesiredReplicas,
		LastDecision: sc.Status.LastDecision, Prediction: noPredictor}
	ev, err := s.o.Store.LatestEvent(r.Context(), r.tenant, sc.Name)
	switch {
	case err == nil:
		e := eventOut(ev)
		out.LastEvent = &e
	case !errors.Is(err, store.ErrNotFound):
		return 0, nil, err
	}
	return http.StatusOK, out, nil
}
