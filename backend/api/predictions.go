package api

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/history"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/store"
)

// Predictor forecasts a scaler's triggers from their history and gives
// the replica floor the forecast asks for (*history.Service). Recommend
// is a lookup in memory (the API calls it once per scaler of a request),
// safe for concurrent use.
type Predictor interface {
	Recommend(r history.Request) (history.Recommendation, error)
}

// ScalerRecommendations is GET /api/v1/scalers/{name}/recommendations:
// the fields of Recommendations, in its order, with the forecast filled
// when a predictor is configured.
type ScalerRecommendations struct {
	Scaler          string       `json:"scaler"`
	CurrentReplicas int32        `json:"currentReplicas"`
	DesiredReplicas int32        `json:"desiredReplicas"`
	LastDecision    *v1.Decision `json:"lastDecision"`
	LastEvent       *Event       `json:"lastEvent"`
	// Forecast is the scaler's forecast floor and each trigger's
	// forecast; null without a predictor.
	Forecast   *ForecastDetail `json:"forecast"`
	Prediction PredictionState `json:"prediction"`
}

// ForecastDetail is a scaler's forecast at one time: the floor (at,
// replicas, model, reason, as Forecast) and what it came from.
type ForecastDetail struct {
	Forecast
	// Floor says whether Replicas is a floor the scaler gets: a forecast
	// confident enough, of a scaler with predictiveScaling.enabled.
	Floor bool `json:"floor"`
	// Enabled is the scaler's predictiveScaling.enabled: when false the
	// forecast is shown and no floor applies.
	Enabled bool `json:"enabled"`
	// Trigger names the trigger whose forecast set the floor.
	Trigger string `json:"trigger,omitempty"`
	// Confidence is that trigger's forecast confidence over the window
	// (0..1).
	Confidence float64 `json:"confidence"`
	// LookAhead, StartupDelay and ConfidenceThreshold are the settings
	// the floor was computed with.
	LookAhead           string            `json:"lookAhead"`
	StartupDelay        string            `json:"startupDelay"`
	ConfidenceThreshold float64           `json:"confidenceThreshold"`
	Triggers            []TriggerForecast `json:"triggers"`
}

// TriggerForecast is one trigger's forecast over the look-ahead window.
type TriggerForecast struct {
	Trigger string `json:"trigger"`
	// Model is the forecasting model ("" without a forecast).
	Model      string  `json:"model,omitempty"`
	Confidence float64 `json:"confidence"`
	// Coverage is the probability of the intervals (0.8: 80%).
	Coverage   float64 `json:"coverage,omitempty"`
	Calibrated bool    `json:"calibrated"`
	// Target is the value per replica (the trigger's reported target).
	Target float64 `json:"target"`
	// Replicas is the floor this trigger asks for; null when none
	// (Reason says why).
	Replicas     *int32          `json:"replicas"`
	Reason       string          `json:"reason"`
	Peak         float64         `json:"peak,omitempty"`
	HistorySteps int             `json:"historySteps"`
	Points       []ForecastPoint `json:"points"`
}

// ForecastPoint is one step of a forecast: its start, the point forecast
// and the prediction interval.
type ForecastPoint struct {
	At    time.Time `json:"at"`
	Value float64   `json:"value"`
	Lower float64   `json:"lower"`
	Upper float64   `json:"upper"`
}

// ScalerPredictions is GET /api/v1/analytics/predictions: Predictions,
// one item per scaler of the page with its forecast.
type ScalerPredictions struct {
	Window
	PredictionState
	Items         []ScalerPrediction `json:"items"`
	NextPageToken string             `json:"nextPageToken,omitempty"`
}

// ScalerPrediction is Prediction (scaler, forecasts) with the scaler's
// place; Forecasts has the one forecast made now.
type ScalerPrediction struct {
	Scaler    string           `json:"scaler"`
	Namespace string           `json:"namespace"`
	Cluster   string           `json:"cluster"`
	Forecasts []ForecastDetail `json:"forecasts"`
}

var predictorOn = PredictionState{Configured: true}

func getScalerRecommendations(s *server, r *request) (int, any, error) {
	code, v, err := getRecommendations(s, r)
	if err != nil {
		return code, v, err
	}
	rec := v.(Recommendations)
	out := ScalerRecommendations{Scaler: rec.Scaler, CurrentReplicas: rec.CurrentReplicas, DesiredReplicas: rec.DesiredReplicas,
		LastDecision: rec.LastDecision, LastEvent: rec.LastEvent, Prediction: rec.Prediction}
	if s.o.Predictor == nil {
		return code, out, nil
	}
	sc, err := s.o.Store.Scaler(r.Context(), r.tenant, r.PathValue("name"))
	if err != nil {
		return 0, nil, err
	}
	d, err := s.forecastOf(r.tenant, sc)
	if err != nil {
		return 0, nil, err
	}
	out.Prediction, out.Forecast = predictorOn, &d
	return code, out, nil
}

func getScalerPredictions(s *server, r *request) (int, any, error) {
	if s.o.Predictor == nil {
		return getPredictions(s, r)
	}
	f, err := analyticsQuery(r.URL.Query(), s.o.Now())
	if err != nil {
		return 0, nil, err
	}
	var l store.List[store.Scaler]
	if f.scaler != "" {
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
	out := ScalerPredictions{Window: Window{From: f.from, To: f.to}, PredictionState: predictorOn, Items: make([]ScalerPrediction, 0, len(l.Items)), NextPageToken: l.NextPageToken}
	for _, sc := range l.Items {
		d, err := s.forecastOf(r.tenant, sc)
		if err != nil {
			return 0, nil, err
		}
		out.Items = append(out.Items, ScalerPrediction{Scaler: sc.Name, Namespace: sc.Namespace, Cluster: sc.Cluster, Forecasts: []ForecastDetail{d}})
	}
	return http.StatusOK, out, nil
}

// forecastOf asks the predictor for a stored scaler's floor now: its
// predictiveScaling settings (defaults when it has none) and, as each
// trigger's value per replica, the target its agent last reported.
func (s *server) forecastOf(tenant store.TenantID, sc store.Scaler) (ForecastDetail, error) {
	req := history.Request{Scaler: history.ScalerKey{Tenant: tenant, Cluster: sc.Cluster, Namespace: sc.Namespace, Scaler: sc.Name}, Now: s.o.Now().UTC()}
	enabled := false
	if a := sc.Spec.Advanced; a != nil && a.PredictiveScaling != nil {
		p := a.PredictiveScaling
		enabled = p.Enabled
		req.LookAhead = time.Duration(p.LookAheadMinutes) * time.Minute
		if p.ConfidenceThreshold != nil {
			// 0 asks for any calibrated forecast (the request's
			// negative); a request's 0 means the default.
			req.ConfidenceThreshold = *p.ConfidenceThreshold
			if req.ConfidenceThreshold == 0 {
				req.ConfidenceThreshold = -1
			}
		}
	}
	for _, t := range sc.Status.Triggers {
		v, err := strconv.ParseFloat(t.Target, 64)
		if err != nil || math.IsNaN(v) {
			v = 0 // Recommend says the target is not positive
		}
		req.Triggers = append(req.Triggers, history.TriggerTarget{Trigger: t.Name, PerReplica: v})
	}
	rec, err := s.o.Predictor.Recommend(req)
	if err != nil {
		return ForecastDetail{}, err
	}
	d := ForecastDetail{Forecast: Forecast{At: rec.At, Reason: rec.Reason}, Enabled: enabled, Trigger: rec.Trigger,
		LookAhead: rec.LookAhead.String(), StartupDelay: rec.StartupDelay.String(), ConfidenceThreshold: rec.ConfidenceThreshold,
		Triggers: make([]TriggerForecast, 0, len(rec.Triggers))}
	if len(req.Triggers) == 0 {
		d.Reason = "no trigger has reported a target yet"
	}
	for _, t := range rec.Triggers {
		tf := TriggerForecast{Trigger: t.Trigger, Model: t.Model, Confidence: finite(t.Confidence), Coverage: t.Coverage, Calibrated: t.Calibrated,
			Target: t.PerReplica, Reason: t.Reason, Peak: finite(t.Peak), HistorySteps: t.HistorySteps, Points: make([]ForecastPoint, 0, len(t.Points))}
		if t.OK {
			n := t.Floor
			tf.Replicas = &n
		}
		for _, p := range t.Points {
			tf.Points = append(tf.Points, ForecastPoint{At: p.Time, Value: finite(p.Value), Lower: finite(p.Lower), Upper: finite(p.Upper)})
		}
		if t.Trigger == rec.Trigger {
			d.Model, d.Confidence = t.Model, finite(t.Confidence)
		}
		d.Triggers = append(d.Triggers, tf)
	}
	if rec.OK {
		d.Replicas = rec.Floor
		d.Floor = enabled
		if !enabled {
			d.Reason = "predictiveScaling is not enabled: no floor applies (" + rec.Reason + ")"
		}
	}
	return d, nil
}

// finite is v, or 0 for what JSON cannot write.
func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

// Recorder is the optional ability of a Predictor to record metric
// values (history.Service.Observe: it never blocks). With one, each
// trigger value an agent reports in PUT .../status goes into the
// trigger's history.
type Recorder interface {
	Observe(k history.Key, t time.Time, v float64) bool
}

// putStatusRecorded is putStatus, then the reported trigger values into
// the history (when the Predictor records): each trigger's value that is
// a finite number, at its lastSuccessTime (else now).
func putStatusRecorded(s *server, r *request) (int, any, error) {
	code, v, err := putStatus(s, r)
	rec, ok := s.o.Predictor.(Recorder)
	if err != nil || !ok {
		return code, v, err
	}
	st, ok := v.(v1.ScalerStatus)
	if !ok || len(st.Triggers) == 0 {
		return code, v, err
	}
	// The series key needs the scaler's cluster and namespace.
	sc, rerr := s.o.Store.Scaler(r.Context(), r.tenant, r.PathValue("name"))
	if rerr != nil {
		s.o.Logger.Warn("api: reading a scaler to record its reported values failed; they are not recorded", "scaler", r.PathValue("name"), "err", rerr)
		return code, v, err
	}
	now := s.o.Now().UTC()
	for _, t := range st.Triggers {
		x, perr := strconv.ParseFloat(t.Value, 64)
		if perr != nil || math.IsNaN(x) || math.IsInf(x, 0) || t.Name == "" {
			continue
		}
		at := now
		if t.LastSuccessTime != nil && !t.LastSuccessTime.IsZero() {
			at = t.LastSuccessTime.UTC()
		}
		rec.Observe(history.Key{Tenant: r.tenant, Cluster: sc.Cluster, Namespace: sc.Namespace, Scaler: sc.Name, Trigger: t.Name}, at, x)
	}
	return code, v, err
}
