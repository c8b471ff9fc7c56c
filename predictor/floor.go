package predictor

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// FloorOptions says how a forecast becomes a lower bound on replicas.
type FloorOptions struct {
	// LookAhead is how far ahead the floor provides for (a Scaler's
	// lookAheadMinutes).
	LookAhead time.Duration
	// StartupDelay is the time a new pod takes to become ready; the window
	// is extended by it, since a pod started now serves only after it.
	StartupDelay time.Duration
	// TargetPerReplica is the metric value one replica should carry (the
	// AverageValue target; for a demand in requests per interval, the
	// capacity of one replica times the target utilization).
	TargetPerReplica float64
	// ConfidenceThreshold is the least confidence (see
	// Forecast.Confidence) the forecast needs over the window for a floor
	// to be given (0: any calibrated forecast).
	ConfidenceThreshold float64
}

// Validate reports every invalid field.
func (o FloorOptions) Validate() error {
	var errs []error
	if o.LookAhead < 0 {
		errs = append(errs, fmt.Errorf("lookAhead %v: want >= 0", o.LookAhead))
	}
	if o.StartupDelay < 0 {
		errs = append(errs, fmt.Errorf("startupDelay %v: want >= 0", o.StartupDelay))
	}
	if o.LookAhead+o.StartupDelay <= 0 {
		errs = append(errs, fmt.Errorf("lookAhead %v plus startupDelay %v: want a window longer than 0", o.LookAhead, o.StartupDelay))
	}
	if !(o.TargetPerReplica > 0) || math.IsInf(o.TargetPerReplica, 0) {
		errs = append(errs, fmt.Errorf("targetPerReplica %v: want a finite number > 0", o.TargetPerReplica))
	}
	if !(o.ConfidenceThreshold >= 0 && o.ConfidenceThreshold <= 1) {
		errs = append(errs, fmt.Errorf("confidenceThreshold %v: want 0..1", o.ConfidenceThreshold))
	}
	return errors.Join(errs...)
}

// FloorResult is the floor a forecast asks for.
type FloorResult struct {
	// Replicas is the floor; valid only when OK.
	Replicas int32
	// OK is false when the forecast gives no floor; Reason says why.
	OK     bool
	Reason string
	// Peak is the highest upper bound in the window and Confidence the
	// forecast's confidence over the window.
	Peak, Confidence float64
	// Steps is the number of forecast steps in the window.
	Steps int
}

// Floor returns the replicas needed to carry the upper bound of the
// forecast's interval at every step that overlaps the window from now to
// now + LookAhead + StartupDelay: ceil(peak upper bound /
// TargetPerReplica). The decision engine uses it as a lower bound on its
// reactive recommendation, so a forecast can only make it scale out
// earlier, never scale in. A forecast that is not calibrated, is less
// confident than the threshold over the window, or does not reach the end
// of the window gives no floor. f.Start and f.Step place the forecast in
// time.
func Floor(f Forecast, now time.Time, o FloorOptions) (FloorResult, error) {
	if err := o.Validate(); err != nil {
		return FloorResult{}, fmt.Errorf("floor options: %w", err)
	}
	return floorWindow(f, now, now.Add(o.LookAhead+o.StartupDelay), o)
}

// FloorAfter is Floor for a caller that has observed the series up to
// observed (the end of the step in progress, once a sample of it is in,
// as Stream.Floor does for its own samples): the window starts at the
// later of now and observed, since the reactive recommendation already
// serves what is observed, and still ends at now + LookAhead +
// StartupDelay. A window left empty gives no floor.
func FloorAfter(f Forecast, now, observed time.Time, o FloorOptions) (FloorResult, error) {
	if err := o.Validate(); err != nil {
		return FloorResult{}, fmt.Errorf("floor options: %w", err)
	}
	end := now.Add(o.LookAhead + o.StartupDelay)
	from := now
	if observed.After(now) {
		from = observed
		if !end.After(from) {
			return FloorResult{Reason: fmt.Sprintf("the window to %s ends within the step in progress (observed, served by the reactive value)", end.Format(time.RFC3339))}, nil
		}
	}
	return floorWindow(f, from, end, o)
}

// floorWindow is Floor over the window [from, end): the steps that end
// after from and start before end. o is valid.
func floorWindow(f Forecast, from, end time.Time, o FloorOptions) (FloorResult, error) {
	if f.Step <= 0 || f.Start.IsZero() {
		return FloorResult{}, errors.New("forecast has no time: want Start and Step")
	}
	// Steps k (0-based) span [Start+k*Step, Start+(k+1)*Step); the window
	// needs those that end after from and start before its end.
	first := 0
	if d := from.Sub(f.Start); d > 0 {
		first = int(d / f.Step)
	}
	last := -1
	if d := end.Sub(f.Start); d > 0 {
		last = int((d - 1) / f.Step)
	}
	var res FloorResult
	switch {
	case last < first:
		res.Reason = "no forecast step starts within the window"
		return res, nil
	case last >= len(f.Upper):
		res.Reason = fmt.Sprintf("forecast covers %d steps, the window needs %d", len(f.Upper), last+1)
		return res, nil
	case !f.Calibrated:
		res.Reason = "forecast has no calibrated interval yet"
		return res, nil
	}
	res.Steps = last - first + 1
	// A bound that is no finite number (a model gone wrong) would make
	// the confidence NaN, which passes any threshold, and the replicas
	// int32(NaN): give no floor instead.
	for k := first; k <= last; k++ {
		if !finite(f.Values[k]) || !finite(f.Lower[k]) || !finite(f.Upper[k]) {
			res.Reason = fmt.Sprintf("forecast step %d is not a finite number (value %v, interval %v..%v)", k, f.Values[k], f.Lower[k], f.Upper[k])
			return res, nil
		}
	}
	res.Confidence = confidence(f.Values[first:last+1], f.Lower[first:last+1], f.Upper[first:last+1])
	// Written as "not at least" so that a NaN confidence gives no floor.
	if !(res.Confidence >= o.ConfidenceThreshold) {
		res.Reason = fmt.Sprintf("confidence %.2f below the threshold %.2f", res.Confidence, o.ConfidenceThreshold)
		return res, nil
	}
	for _, u := range f.Upper[first : last+1] {
		res.Peak = max(res.Peak, u)
	}
	r := math.Ceil(res.Peak/o.TargetPerReplica - 1e-9)
	res.Replicas = int32(min(max(r, 0), math.MaxInt32))
	res.OK = true
	return res, nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
