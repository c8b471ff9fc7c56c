package history

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/hpa-autoscaler/hpa-autoscaler/backend/store"
	"github.com/hpa-autoscaler/hpa-autoscaler/predictor"
)

// ScalerKey names a scaler of a tenant's cluster and namespace: the
// series of its triggers share it.
type ScalerKey struct {
	Tenant    store.TenantID
	Cluster   string
	Namespace string
	Scaler    string
}

// Trigger returns the key of one trigger's series.
func (k ScalerKey) Trigger(name string) Key {
	return Key{Tenant: k.Tenant, Cluster: k.Cluster, Namespace: k.Namespace, Scaler: k.Scaler, Trigger: name}
}

// TriggerTarget is one trigger's target value per replica.
type TriggerTarget struct {
	Trigger    string
	PerReplica float64
}

// Request asks Recommend for a scaler's forecast floor.
type Request struct {
	Scaler   ScalerKey
	Triggers []TriggerTarget
	// LookAhead (default 15m), StartupDelay and ConfidenceThreshold
	// (default 0.8; < 0 means 0, any calibrated forecast) are the
	// scaler's predictiveScaling settings and its pods' start-up time.
	LookAhead           time.Duration
	StartupDelay        time.Duration
	ConfidenceThreshold float64
	// Now is the time the floor is for.
	Now time.Time
}

// Validate reports every invalid field.
func (r Request) Validate() error {
	var errs []error
	if err := r.Scaler.Tenant.Validate(); err != nil {
		errs = append(errs, err)
	}
	if r.Scaler.Scaler == "" {
		errs = append(errs, errors.New("scaler: required"))
	}
	if r.LookAhead < 0 {
		errs = append(errs, fmt.Errorf("lookAhead %v: want >= 0", r.LookAhead))
	}
	if r.StartupDelay < 0 {
		errs = append(errs, fmt.Errorf("startupDelay %v: want >= 0", r.StartupDelay))
	}
	if r.ConfidenceThreshold > 1 || math.IsNaN(r.ConfidenceThreshold) {
		errs = append(errs, fmt.Errorf("confidenceThreshold %v: want 0..1", r.ConfidenceThreshold))
	}
	if r.Now.IsZero() {
		errs = append(errs, errors.New("now: required"))
	}
	return errors.Join(errs...)
}

// Point is one step of a forecast: its start, the point forecast and the
// prediction interval.
type Point struct {
	Time                time.Time
	Value, Lower, Upper float64
}

// TriggerForecast is one trigger's forecast over the window and the floor
// it asks for.
type TriggerForecast struct {
	Trigger string
	// Model names the forecasting model (empty without a forecast).
	Model string
	// Confidence is the forecast's over the window (0..1), Coverage the
	// probability of its intervals, Calibrated whether the intervals come
	// from enough of the model's own recent errors.
	Confidence float64
	Coverage   float64
	Calibrated bool
	// Points are the forecast's steps up to the end of the window.
	Points []Point
	// Floor is the replicas the upper bounds in the window need at
	// PerReplica each; valid only when OK. Reason says why not.
	Floor      int32
	OK         bool
	Reason     string
	PerReplica float64
	// Peak is the highest upper bound in the window.
	Peak float64
	// HistorySteps is how many steps the tracker has seen.
	HistorySteps int
}

// Recommendation is a scaler's forecast floor at one time.
type Recommendation struct {
	At time.Time
	// Floor is the highest floor of the triggers; valid only when OK.
	// Trigger names the trigger that set it.
	Floor   int32
	OK      bool
	Trigger string
	// Reason says why the floor is what it is, or why there is none
	// (not enough history, low confidence, ...).
	Reason string
	// Triggers has each trigger's forecast, in the request's order.
	Triggers            []TriggerForecast
	LookAhead           time.Duration
	StartupDelay        time.Duration
	ConfidenceThreshold float64
}

// Recommend computes the scaler's forecast floor from the trackers in
// memory: a lookup and a forecast per trigger, no database read. A
// trigger without a series in memory, whose tracker is still being
// loaded, whose forecast is not calibrated (too little history) or less
// confident than the threshold gives no floor and says why; the floor is
// the highest of the others (the HPA takes the highest proposal).
func (s *Service) Recommend(r Request) (Recommendation, error) {
	if err := r.Validate(); err != nil {
		return Recommendation{}, fmt.Errorf("history: recommend: %w", err)
	}
	if r.LookAhead == 0 {
		r.LookAhead = predictor.DefaultLookAhead
	}
	if r.ConfidenceThreshold == 0 {
		r.ConfidenceThreshold = predictor.DefaultConfidenceThreshold
	}
	r.ConfidenceThreshold = max(r.ConfidenceThreshold, 0)
	out := Recommendation{At: r.Now, LookAhead: r.LookAhead, StartupDelay: r.StartupDelay, ConfidenceThreshold: r.ConfidenceThreshold}
	for _, t := range r.Triggers {
		tf := s.forecastTrigger(r, t)
		if tf.OK && (!out.OK || tf.Floor > out.Floor) {
			out.Floor, out.OK, out.Trigger = tf.Floor, true, tf.Trigger
		}
		out.Triggers = append(out.Triggers, tf)
	}
	switch {
	case len(r.Triggers) == 0:
		out.Reason = "no triggers with a target"
	case out.OK:
		out.Reason = fmt.Sprintf("trigger %s: forecast peak needs %d replicas within %v", out.Trigger, out.Floor, r.LookAhead+r.StartupDelay)
	default:
		var why []string
		for _, t := range out.Triggers {
			why = append(why, t.Trigger+": "+t.Reason)
		}
		out.Reason = "no floor: " + strings.Join(why, "; ")
	}
	return out, nil
}

func (s *Service) forecastTrigger(r Request, t TriggerTarget) TriggerForecast {
	tf := TriggerForecast{Trigger: t.Trigger, PerReplica: t.PerReplica}
	s.mu.RLock()
	ser := s.series[r.Scaler.Trigger(t.Trigger)]
	s.mu.RUnlock()
	if ser == nil {
		tf.Reason = "not enough history: no values recorded"
		return tf
	}
	if !ser.tracked {
		tf.Reason = fmt.Sprintf("not enough history in memory: the series is recorded without a tracker (%d series have one, maxSeries)", s.o.MaxSeries)
		return tf
	}
	ser.mu.Lock()
	defer ser.mu.Unlock()
	if !ser.built {
		if ser.load || ser.stale {
			tf.Reason = "not enough history: the tracker is being loaded"
		} else {
			tf.Reason = "not enough history: no values recorded"
		}
		return tf
	}
	cur := ser.cur
	tf.HistorySteps = cur.tr.Len()
	step := s.o.Step
	next := s.stepTime(cur.last + 1)
	end := r.Now.Add(r.LookAhead + r.StartupDelay)
	h := max(1, int((end.Sub(next)+step-1)/step))
	if hmax := cur.tr.Options().Horizon; h > hmax {
		tf.Reason = fmt.Sprintf("the window to %s needs %d steps of forecast, the trackers make %d (horizon %v)", end.Format(time.RFC3339), h, hmax, s.o.Horizon)
		return tf
	}
	f, err := cur.tr.Forecast(h)
	if err != nil {
		tf.Reason = "not enough history: " + err.Error()
		return tf
	}
	f.Start, f.Step = next, step
	tf.Model, tf.Coverage, tf.Calibrated = f.Model, f.Coverage, f.Calibrated
	tf.Confidence = f.Confidence()
	tf.Points = make([]Point, len(f.Values))
	for i := range f.Values {
		tf.Points[i] = Point{Time: next.Add(time.Duration(i) * step), Value: f.Values[i], Lower: f.Lower[i], Upper: f.Upper[i]}
	}
	if !(t.PerReplica > 0) || math.IsInf(t.PerReplica, 0) {
		tf.Reason = fmt.Sprintf("target %v: want a positive value per replica", t.PerReplica)
		return tf
	}
	// The step in progress, once sampled, is observed: the reactive
	// recommendation serves it, and its forecast's upper bound would
	// only raise the count (predictor.FloorAfter, as Stream.Floor does
	// on the KEDA path and in simulate).
	var observed time.Time
	if idx, ok := s.stepIndex(r.Now); ok && ser.sampled.Load() == idx+1 {
		observed = s.stepTime(idx + 1)
	}
	res, err := predictor.FloorAfter(f, r.Now, observed, predictor.FloorOptions{LookAhead: r.LookAhead, StartupDelay: r.StartupDelay, TargetPerReplica: t.PerReplica, ConfidenceThreshold: r.ConfidenceThreshold})
	if err != nil {
		tf.Reason = err.Error()
		return tf
	}
	tf.Floor, tf.OK, tf.Reason, tf.Peak = res.Replicas, res.OK, res.Reason, res.Peak
	switch {
	case res.OK:
		tf.Reason = fmt.Sprintf("peak upper bound %.4g at %.4g per replica", res.Peak, t.PerReplica)
	case !f.Calibrated:
		tf.Reason = "not enough history: " + res.Reason
	case res.Confidence < r.ConfidenceThreshold:
		tf.Reason = "low confidence: " + res.Reason
	}
	if res.Confidence > 0 {
		tf.Confidence = res.Confidence
	}
	return tf
}
