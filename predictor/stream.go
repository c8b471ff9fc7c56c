package predictor

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// StreamOptions configures a Stream.
type StreamOptions struct {
	// Step is the length of one point of the series (required).
	Step time.Duration
	// Tracker configures the tracker behind the stream; its Step is set
	// from Step.
	Tracker TrackerOptions
	// MaxGap is the longest run of missing steps filled by linear
	// interpolation (default 5); after a longer gap the stream starts
	// afresh, since the models' state no longer lines up with the data.
	MaxGap int
}

// Validate reports every invalid field.
func (o StreamOptions) Validate() error {
	var errs []error
	if o.Step <= 0 {
		errs = append(errs, fmt.Errorf("step %v: want a positive duration", o.Step))
	}
	if o.MaxGap < 0 {
		errs = append(errs, fmt.Errorf("maxGap %d: want >= 0", o.MaxGap))
	}
	t := o.Tracker
	t.Step = max(o.Step, 0)
	if err := t.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Stream puts timestamped values on a regular grid and feeds them to a
// Tracker: either whole steps (AddStep, when each value already stands for
// one step, as in a demand trace) or raw samples (Observe, as a scaler's
// metric is polled: the samples within a step are averaged, and the step
// is added once a sample of a later step arrives). Short gaps are filled
// by linear interpolation. Its forecasts carry their times, so Floor can
// pick the steps of a window.
//
// A Stream is not safe for concurrent use.
type Stream struct {
	o  StreamOptions
	tr *Tracker

	// lastStart is the start of the last step added (zero: none yet) and
	// last its value.
	lastStart time.Time
	last      float64
	// The step being sampled by Observe.
	bucket      time.Time
	sum         float64
	samples     int
	restarts    int
	cached      Forecast
	cachedSteps int
	cachedN     int
}

// NewStream returns an empty stream.
func NewStream(o StreamOptions) (*Stream, error) {
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("stream options: %w", err)
	}
	if o.MaxGap == 0 {
		o.MaxGap = 5
	}
	o.Tracker.Step = o.Step
	tr, err := NewTracker(o.Tracker)
	if err != nil {
		return nil, err
	}
	return &Stream{o: o, tr: tr, cachedN: -1}, nil
}

// Tracker returns the tracker behind the stream (replaced after a long
// gap).
func (s *Stream) Tracker() *Tracker { return s.tr }

// Restarts counts the fresh starts after long gaps.
func (s *Stream) Restarts() int { return s.restarts }

// LastStep returns the start of the last step added and its value.
func (s *Stream) LastStep() (time.Time, float64) { return s.lastStart, s.last }

// AddStep adds the value of the step that starts at start. Steps must come
// in order; a start between grid points counts for the nearest one.
func (s *Stream) AddStep(start time.Time, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Errorf("step at %s: value %v: want a finite number", start.Format(time.RFC3339), v)
	}
	if s.lastStart.IsZero() {
		return s.add(start, v)
	}
	k := int(math.Round(float64(start.Sub(s.lastStart)) / float64(s.o.Step)))
	switch {
	case k <= 0:
		return fmt.Errorf("step at %s: not after the last step at %s", start.Format(time.RFC3339), s.lastStart.Format(time.RFC3339))
	case k-1 > s.o.MaxGap:
		// Too long a gap: the seasonal states would be out of phase.
		tr, err := NewTracker(s.o.Tracker)
		if err != nil {
			return err
		}
		s.tr = tr
		s.restarts++
		return s.add(start, v)
	}
	prev := s.last
	for j := 1; j < k; j++ {
		if err := s.add(s.lastStart.Add(s.o.Step), prev+(v-prev)*float64(j)/float64(k)); err != nil {
			return err
		}
	}
	return s.add(s.lastStart.Add(s.o.Step), v)
}

func (s *Stream) add(start time.Time, v float64) error {
	if err := s.tr.Add(v); err != nil {
		return err
	}
	s.lastStart, s.last = start, v
	return nil
}

// Observe adds a sample taken at t. Samples must come in time order.
func (s *Stream) Observe(t time.Time, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Errorf("sample at %s: value %v: want a finite number", t.Format(time.RFC3339), v)
	}
	b := t.Truncate(s.o.Step)
	switch {
	case s.samples == 0:
		s.bucket = b
	case b.Before(s.bucket):
		return fmt.Errorf("sample at %s: before the step being sampled (%s)", t.Format(time.RFC3339), s.bucket.Format(time.RFC3339))
	case b.After(s.bucket):
		if err := s.AddStep(s.bucket, s.sum/float64(s.samples)); err != nil {
			return err
		}
		s.bucket, s.sum, s.samples = b, 0, 0
	}
	s.sum += v
	s.samples++
	return nil
}

// Forecast forecasts h steps after the last step added (see
// Tracker.Forecast), with the forecast's times set.
func (s *Stream) Forecast(h int) (Forecast, error) {
	if s.cachedN == s.tr.Len() && s.cachedSteps == h {
		return s.cached, nil
	}
	f, err := s.tr.Forecast(h)
	if err != nil {
		return f, err
	}
	f.Start, f.Step = s.lastStart.Add(s.o.Step), s.o.Step
	s.cached, s.cachedSteps, s.cachedN = f, h, s.tr.Len()
	return f, nil
}

// Floor is the replica floor for now (see Floor), from a forecast long
// enough for the window. The forecast is computed once per step added.
//
// When Observe has a sample of the step containing now (the step in
// progress, not yet added), the window starts at that step's end instead
// of at now: the step's demand is observed, and the reactive
// recommendation already serves it, so its forecast (an upper bound on
// what is being measured) would only raise the count above what the
// observed value asks. The window still ends at now + LookAhead +
// StartupDelay. Without a sample of the step containing now (AddStep
// feeding, or no poll yet in this step), the window starts at now, as
// Floor's.
func (s *Stream) Floor(now time.Time, o FloorOptions) (FloorResult, error) {
	if err := o.Validate(); err != nil {
		return FloorResult{}, fmt.Errorf("floor options: %w", err)
	}
	if s.tr.Len() == 0 {
		return FloorResult{Reason: "no data yet"}, nil
	}
	end := now.Add(o.LookAhead + o.StartupDelay)
	var observed time.Time
	if s.samples > 0 && s.bucket.Equal(now.Truncate(s.o.Step)) {
		observed = s.bucket.Add(s.o.Step)
		if !end.After(observed) {
			return FloorResult{Reason: fmt.Sprintf("the window to %s ends within the step in progress (observed, served by the reactive value)", end.Format(time.RFC3339))}, nil
		}
	}
	next := s.lastStart.Add(s.o.Step)
	h := max(1, int((end.Sub(next)+s.o.Step-1)/s.o.Step))
	if h > s.tr.Options().Horizon {
		return FloorResult{Reason: fmt.Sprintf("the window needs %d steps, the tracker forecasts %d", h, s.tr.Options().Horizon)}, nil
	}
	f, err := s.Forecast(h)
	if err != nil {
		return FloorResult{}, err
	}
	return FloorAfter(f, now, observed, o)
}
