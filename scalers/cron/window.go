package cron

import "time"

// Window is a parsed trigger: the zone and the two schedules. Its methods
// are pure: now is an argument.
type Window struct {
	m Metadata
}

// NewWindow returns the window of validated metadata (from ParseMetadata).
func NewWindow(m Metadata) Window { return Window{m: m} }

// Open reports whether the window is open at now.
//
// As in KEDA, the answer is read off the next events, not the last ones:
// the window is open when the next end comes no later than the next start.
// A window that crosses midnight ("0 22 * * *" to "0 6 * * *") needs no
// case of its own, and neither does a day whose clock skips or repeats an
// hour: robfig/cron finds each schedule's next firing in the zone. It
// skips a local time that does not exist that day and fires twice at one
// that occurs twice, and the window follows, as KEDA's does: a start at
// 02:30 that Europe/Berlin's spring-forward day skips leaves the next
// start a day later than the next end, so the window counts as open from
// the end before (see TestWindowDST for each such case).
func (w Window) Open(now time.Time) bool {
	now = now.In(w.m.loc)
	nextStart, nextEnd := w.m.start.Next(now), w.m.end.Next(now)
	if nextStart.IsZero() || nextEnd.IsZero() {
		// A schedule that no longer fires (robfig/cron searches five
		// years): KEDA's comparison then says closed either way.
		// Validate refuses schedules that never fire at all.
		return false
	}
	// Equal times (two schedules that fire together) count as open, as
	// in KEDA: the end is not before the start.
	return !nextStart.Before(nextEnd)
}

// Replicas is the metric's value at now: desiredReplicas while the window
// is open, 0 otherwise.
func (w Window) Replicas(now time.Time) int64 {
	if w.Open(now) {
		return w.m.DesiredReplicas
	}
	return 0
}
