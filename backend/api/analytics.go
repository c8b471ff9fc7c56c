package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/hpa-autoscaler/hpa-autoscaler/backend/cost"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/store"
)

// The analytics answer from what the store holds for the request's
// tenant: scaling events (trends) and the stored status (efficiency);
// cost (cost.go) from the stored cost samples. Predictions have no
// source yet: they answer configured false and no items, never invented
// figures.

// Window is the analytics' time window: [from, to).
type Window struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// Trends is a page of scaling events summed per scaler in the window.
type Trends struct {
	Window
	Items         []ScalerTrend `json:"items"`
	NextPageToken string        `json:"nextPageToken,omitempty"`
}

// ScalerTrend is one scaler's scaling events in the window, or in one
// bucket of it (interval=).
type ScalerTrend struct {
	Scaler string `json:"scaler"`
	// Start is the start of the bucket (from without an interval).
	Start      time.Time `json:"start"`
	Events     int64     `json:"events"`
	ScaleUps   int64     `json:"scaleUps"`
	ScaleDowns int64     `json:"scaleDowns"`
	// MinReplicas and MaxReplicas bound the counts the events set;
	// LastReplicas is the latest event's (by time, then seq).
	MinReplicas  int32     `json:"minReplicas"`
	MaxReplicas  int32     `json:"maxReplicas"`
	LastReplicas int32     `json:"lastReplicas"`
	FirstEventAt time.Time `json:"firstEventAt"`
	LastEventAt  time.Time `json:"lastEventAt"`
}

func getTrends(s *server, r *request) (int, any, error) {
	q := r.URL.Query()
	f, err := analyticsQuery(q, s.o.Now())
	if err != nil {
		return 0, nil, err
	}
	interval, err := intervalParam(q, f)
	if err != nil {
		return 0, nil, err
	}
	l, err := s.o.Store.EventTrends(r.Context(), r.tenant, store.TrendFilter{From: f.from, To: f.to, Namespace: f.namespace, Cluster: f.cluster, Scaler: f.scaler,
		Interval: interval}, f.page)
	if err != nil {
		return 0, nil, err
	}
	out := Trends{Window: Window{From: f.from, To: f.to}, Items: make([]ScalerTrend, 0, len(l.Items)), NextPageToken: l.NextPageToken}
	for _, t := range l.Items {
		out.Items = append(out.Items, ScalerTrend{Scaler: t.Scaler, Start: t.Start, Events: t.Events, ScaleUps: t.ScaleUps, ScaleDowns: t.ScaleDowns,
			MinReplicas: t.MinReplicas, MaxReplicas: t.MaxReplicas, LastReplicas: t.LastReplicas, FirstEventAt: t.FirstAt, LastEventAt: t.LastAt})
	}
	return http.StatusOK, out, nil
}

// Efficiency is a page of scalers with their replicas against their
// bounds and their triggers' utilisation, from the stored status (the
// latest the agents put: no history of statuses is kept, so from and to
// only bound the answer's window, they select nothing).
type Efficiency struct {
	Window
	Items         []ScalerEfficiency `json:"items"`
	NextPageToken string             `json:"nextPageToken,omitempty"`
}

// ScalerEfficiency is one scaler's replicas and trigger utilisation.
type ScalerEfficiency struct {
	Scaler          string `json:"scaler"`
	Namespace       string `json:"namespace"`
	Cluster         string `json:"cluster"`
	CurrentReplicas int32  `json:"currentReplicas"`
	DesiredReplicas int32  `json:"desiredReplicas"`
	MinReplicas     int32  `json:"minReplicas"`
	MaxReplicas     int32  `json:"maxReplicas"`
	// AtMaxReplicas: the current count is the spec's maximum (the scaler
	// may want more); AtMinReplicas: its minimum.
	AtMaxReplicas bool `json:"atMaxReplicas"`
	AtMinReplicas bool `json:"atMinReplicas"`
	// ReplicaUtilization is current / max replicas (null when max is 0).
	ReplicaUtilization *float64 `json:"replicaUtilization"`
	// Triggers: each trigger's value / target.
	Triggers []TriggerUtilization `json:"triggers"`
	// StatusUpdatedAt is when the scaler was last written.
	StatusUpdatedAt time.Time `json:"statusUpdatedAt"`
	// Cost is the scaler's cost in the window (cost.go; null without a
	// price table).
	Cost *EfficiencyCost `json:"cost"`

	// ActualReplicaHours: the stored cost samples' replicas × their
	// steps in the window (0 without samples).
	ActualReplicaHours float64 `json:"actualReplicaHours"`
	// ReactiveReplicaHours: a reactive-only replay of the triggers'
	// stored history through the engine (the spec without forecast
	// floor and budget cap, from the first actual count, one-minute
	// steps), from the first to the last stored step of the window; null
	// when nothing could be replayed (ReactiveNote says why).
	ReactiveReplicaHours *float64 `json:"reactiveReplicaHours"`
	// ReplicaHoursRatio is the actual replica-hours of the replayed span
	// over the reactive ones: above 1, prediction, caps or manual
	// changes ran more capacity than a reactive autoscaler would have.
	ReplicaHoursRatio *float64 `json:"replicaHoursRatio"`
	ReactiveNote      string   `json:"reactiveNote,omitempty"`
	// ReplayTruncated: the window held more than 31 days of minutes;
	// the replay and the samples stop there.
	ReplayTruncated bool `json:"replayTruncated,omitempty"`
	// Requested: replicas × one pod's requests, from the cost samples.
	RequestedCPUCoreHours    float64 `json:"requestedCpuCoreHours"`
	RequestedMemoryByteHours float64 `json:"requestedMemoryByteHours"`
	// Used: from a cpu (memory) resource trigger's stored values; null
	// without one, or without its history (other triggers say nothing
	// of usage).
	UsedCPUCoreHours    *float64 `json:"usedCpuCoreHours"`
	UsedMemoryByteHours *float64 `json:"usedMemoryByteHours"`
	// CPUUtilization, MemoryUtilization: used over requested, on the
	// steps with a usage value.
	CPUUtilization    *float64 `json:"cpuUtilization"`
	MemoryUtilization *float64 `json:"memoryUtilization"`
	// EfficiencyScore is hpa_efficiency_score over the window: the
	// utilisations (each capped at 1) weighted by their cost.
	EfficiencyScore *float64 `json:"efficiencyScore"`
}

// efficiencyPageSteps bounds the minutes one page replays (ten scalers
// of 31 days); the scalers past it get no usage or replay and a note. A
// variable for the tests.
var efficiencyPageSteps = 10 * cost.MaxReplaySteps

// efficiencyUsage fills the items' requested vs used resources and
// their replay (cost.ComputeEfficiency).
func (s *server) efficiencyUsage(r *request, f analyticsFilter, scalers []store.Scaler, items []ScalerEfficiency) error {
	perScaler := int(min(f.to.Sub(f.from)/time.Minute, cost.MaxReplaySteps))
	if perScaler <= 0 {
		return nil
	}
	budget := efficiencyPageSteps
	for i := range items {
		if budget < perScaler {
			items[i].ReactiveNote = "the page's replay budget is spent: ask a smaller page or a shorter window"
			continue
		}
		budget -= perScaler
		rep, err := cost.ComputeEfficiency(r.Context(), s.o.Store, r.tenant, scalers[i], f.from, f.to, perScaler)
		if err != nil {
			return err
		}
		it := &items[i]
		it.ActualReplicaHours = rep.ActualReplicaHours
		it.RequestedCPUCoreHours, it.RequestedMemoryByteHours = rep.RequestedCPUCoreHours, rep.RequestedMemoryByteHours
		it.UsedCPUCoreHours, it.UsedMemoryByteHours = rep.UsedCPUCoreHours, rep.UsedMemoryByteHours
		it.CPUUtilization, it.MemoryUtilization, it.EfficiencyScore = rep.CPUUtilization(), rep.MemoryUtilization(), rep.Score()
		it.ReactiveNote = rep.ReactiveNote
		it.ReplayTruncated = f.to.Sub(f.from) > cost.MaxReplaySteps*time.Minute
		if rep.Reactive != nil {
			h := rep.Reactive.ReplicaHours
			it.ReactiveReplicaHours, it.ReplicaHoursRatio = &h, rep.Ratio()
		}
	}
	return nil
}

// TriggerUtilization is a trigger's last value against its target.
type TriggerUtilization struct {
	Name        string   `json:"name"`
	Value       string   `json:"value,omitempty"`
	Target      string   `json:"target,omitempty"`
	Utilization *float64 `json:"utilization"`
}

func efficiencyOf(sc store.Scaler) ScalerEfficiency {
	minR := int32(1) // the spec's default
	if sc.Spec.Scaling.MinReplicas != nil {
		minR = *sc.Spec.Scaling.MinReplicas
	}
	st := sc.Status
	e := ScalerEfficiency{Scaler: sc.Name, Namespace: sc.Namespace, Cluster: sc.Cluster,
		CurrentReplicas: st.CurrentReplicas, DesiredReplicas: st.DesiredReplicas, MinReplicas: minR, MaxReplicas: sc.Spec.Scaling.MaxReplicas,
		AtMaxReplicas: sc.Spec.Scaling.MaxReplicas > 0 && st.CurrentReplicas >= sc.Spec.Scaling.MaxReplicas,
		AtMinReplicas: st.CurrentReplicas <= minR,
		Triggers:      make([]TriggerUtilization, 0, len(st.Triggers)), StatusUpdatedAt: sc.UpdatedAt}
	if sc.Spec.Scaling.MaxReplicas > 0 {
		u := float64(st.CurrentReplicas) / float64(sc.Spec.Scaling.MaxReplicas)
		e.ReplicaUtilization = &u
	}
	for _, t := range st.Triggers {
		e.Triggers = append(e.Triggers, TriggerUtilization{Name: t.Name, Value: t.Value, Target: t.Target, Utilization: utilization(t.Value, t.Target)})
	}
	return e
}

func getEfficiency(s *server, r *request) (int, any, error) {
	f, err := analyticsQuery(r.URL.Query(), s.o.Now())
	if err != nil {
		return 0, nil, err
	}
	var l store.List[store.Scaler]
	if f.scaler != "" {
		// One scaler: read it, and filter it as the list would.
		sc, err := s.o.Store.Scaler(r.Context(), r.tenant, f.scaler)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return 0, nil, err
		case (f.namespace == "" || sc.Namespace == f.namespace) && (f.cluster == "" || sc.Cluster == f.cluster):
			l.Items = []store.Scaler{sc}
		}
	} else if l, err = s.o.Store.ScalersWhere(r.Context(), r.tenant, store.ScalerFilter{Namespace: f.namespace, Cluster: f.cluster}, f.page); err != nil {
		return 0, nil, err
	}
	out := Efficiency{Window: Window{From: f.from, To: f.to}, Items: make([]ScalerEfficiency, 0, len(l.Items)), NextPageToken: l.NextPageToken}
	for _, sc := range l.Items {
		out.Items = append(out.Items, efficiencyOf(sc))
	}
	if err := s.efficiencyCost(r, f, out.Items); err != nil {
		return 0, nil, err
	}
	if err := s.efficiencyUsage(r, f, l.Items, out.Items); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, out, nil
}

// Predictions are the forecasts of the window: none until a predictor
// is configured.
type Predictions struct {
	Window
	PredictionState
	Items []Prediction `json:"items"`
}

// Prediction is one scaler's forecast (the shape the predictor fills).
type Prediction struct {
	Scaler    string     `json:"scaler"`
	Forecasts []Forecast `json:"forecasts"`
}

func getPredictions(s *server, r *request) (int, any, error) {
	f, err := analyticsQuery(r.URL.Query(), s.o.Now())
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, Predictions{Window: Window{From: f.from, To: f.to}, PredictionState: noPredictor, Items: []Prediction{}}, nil
}
