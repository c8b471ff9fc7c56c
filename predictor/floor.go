package predictor

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// FloorOptions says how a forecast becomes a lower bound on replicas.
type FloorOptions struct {
	// Step is the forecast's step.
	Step time.Duration
	// LookAhead is how far ahead the floor provides for (a Scaler's
	// lookAheadMinutes).
	LookAhead time.Duration
	// StartupDelay is the time a new pod takes to become ready; the window
	// is extended by it, since a pod started now serves only after it.
	StartupDelay time.Duration
	// TargetPerReplica is the metric value one replica should carry (the
	// AverageValue target; for a demand of requests per interval, the
	// capacity of one replica times the target utilization).
	TargetPerReplica float64
	// ConfidenceThreshold is the least Forecast.Confidence for which a
	// floor is given (0: any calibrated forecast).
	ConfidenceThreshold float64
}

// Validate reports every invalid field.
func (o FloorOptions) Validate() error {
	var errs []error
	if o.Step <= 0 {
		errs = append(errs, fmt.Errorf("step %v: want a positive duration", o.Step))
	}
	if o.LookAhead <= 0 {
		errs = append(errs, fmt.Errorf("lookAhead %v: want a positive duration", o.LookAhead))
	}
	if o.StartupDelay < 0 {
		errs = append(errs, fmt.Errorf("startupDelay %v: want >= 0", o.StartupDelay))
	}
	if !(o.TargetPerReplica > 0) || math.IsInf(o.TargetPerReplica, 0) {
		errs = append(errs, fmt.Errorf("targetPerReplica %v: want a finite number > 0", o.TargetPerReplica))
	}
	if !(o.ConfidenceThreshold >= 0 && o.ConfidenceThreshold <= 1) {
		errs = append(errs, fmt.Errorf("confidenceThreshold %v: want 0..1", o.ConfidenceThreshold))
	}
	return errors.Join(errs...)
}

// Steps is the number of forecast steps the floor looks at: the look-ahead
// plus the start-up delay, rounded up to whole steps.
func (o FloorOptions) Steps() int {
	if o.Step <= 0 {
		return 0
	}
	return int((o.LookAhead + o.StartupDelay + o.Step - 1) / o.Step)
}

// FloorResult is the floor a forecast asks for.
type FloorResult struct {
	// Replicas is the floor; valid only when OK.
	Replicas int32
	// OK is false when the forecast gives no floor; Reason says why.
	OK     bool
	Reason string
	// Peak is the highest upper bound in the window, and Confidence the
	// forecast's confidence.
	Peak, Confidence float64
}

// Floor returns the replicas needed to carry the upper bound of the
// forecast's interval at every step of the window: ceil(peak upper bound /
// TargetPerReplica). The decision engine uses it as a lower bound on its
// reactive recommendation, so a forecast can only make it scale out
// earlier, never scale in. A forecast that is not calibrated, is less
// confident than the threshold, or is shorter than the window gives no
// floor.
func Floor(f Forecast, o FloorOptions) (FloorResult, error) {
	if err := o.Validate(); err != nil {
		return FloorResult{}, fmt.Errorf("floor options: %w", err)
	}
	n := o.Steps()
	res := FloorResult{Confidence: f.Confidence()}
	switch {
	case !f.Calibrated:
		res.Reason = "forecast has no calibrated interval yet"
		return res, nil
	case len(f.Upper) < n:
		res.Reason = fmt.Sprintf("forecast covers %d steps, the window needs %d", len(f.Upper), n)
		return res, nil
	case res.Confidence < o.ConfidenceThreshold:
		res.Reason = fmt.Sprintf("confidence %.2f below the threshold %.2f", res.Confidence, o.ConfidenceThreshold)
		return res, nil
	}
	for _, u := range f.Upper[:n] {
		res.Peak = max(res.Peak, u)
	}
	r := math.Ceil(res.Peak/o.TargetPerReplica - 1e-9)
	res.Replicas = int32(min(max(r, 0), math.MaxInt32))
	res.OK = true
	return res, nil
}
