package scaling

import (
	"time"
)

// Recommendation is a stored, unstabilized recommendation.
type Recommendation struct {
	Replicas int32
	Time     time.Time
}

// ScaleEvent is a stored scaling action: Change is the positive number of
// replicas added (scale-up) or removed (scale-down). Outdated marks an event
// older than the longest policy period, free to be reused.
type ScaleEvent struct {
	Change   int32
	Time     time.Time
	Outdated bool
}

type recEntry struct {
	replicas int32
	at       int64 // Unix nanoseconds
}

type eventEntry struct {
	change   int32
	outdated bool
	at       int64 // Unix nanoseconds
}

// History is what the HPA controller keeps per autoscaler: the latest
// unstabilized recommendations and the scale-up and scale-down events. The
// zero value is an empty history that was never written (the controller
// then records an initial recommendation of the current replica count).
// Times are kept as Unix nanoseconds so window checks are integer
// comparisons. A History is not safe for concurrent use.
type History struct {
	recs   []recEntry
	up     []eventEntry
	down   []eventEntry
	seeded bool
}

// AddRecommendation appends a recommendation made at t. It marks the
// history as written.
func (h *History) AddRecommendation(replicas int32, t time.Time) {
	h.recs = append(h.recs, recEntry{replicas: replicas, at: t.UnixNano()})
	h.seeded = true
}

// AddScaleEvent appends a scale-up (up) or scale-down event at t; change
// is the positive magnitude.
func (h *History) AddScaleEvent(up bool, change int32, t time.Time) {
	e := eventEntry{change: change, at: t.UnixNano()}
	if up {
		h.up = append(h.up, e)
	} else {
		h.down = append(h.down, e)
	}
}

// MarkWritten declares the recommendations complete as given (even if
// empty), so no initial recommendation is seeded.
func (h *History) MarkWritten() { h.seeded = true }

// Written reports whether the recommendations were ever written.
func (h *History) Written() bool { return h.seeded }

// Reset empties the history, keeping its buffers.
func (h *History) Reset() {
	h.recs = h.recs[:0]
	h.up = h.up[:0]
	h.down = h.down[:0]
	h.seeded = false
}

// Recommendations returns a copy of the stored recommendations, in storage
// order.
func (h *History) Recommendations() []Recommendation {
	out := make([]Recommendation, len(h.recs))
	for i, r := range h.recs {
		out[i] = Recommendation{Replicas: r.replicas, Time: time.Unix(0, r.at).UTC()}
	}
	return out
}

// ScaleEvents returns a copy of the scale-up (up) or scale-down events, in
// storage order.
func (h *History) ScaleEvents(up bool) []ScaleEvent {
	src := h.down
	if up {
		src = h.up
	}
	out := make([]ScaleEvent, len(src))
	for i, e := range src {
		out[i] = ScaleEvent{Change: e.change, Time: time.Unix(0, e.at).UTC(), Outdated: e.outdated}
	}
	return out
}

// Len returns the number of stored recommendations, scale-up events and
// scale-down events.
func (h *History) Len() (recs, up, down int) { return len(h.recs), len(h.up), len(h.down) }

// storeRecommendationLegacy is stabilizeRecommendation's bookkeeping:
// replace the last sample older than the window, or append.
func (h *History) storeRecommendationLegacy(rec int32, now int64, window time.Duration) {
	cutoff := now - int64(window)
	idx := -1
	for i, r := range h.recs {
		if r.at < cutoff {
			idx = i
		}
	}
	h.put(idx, rec, now)
}

// storeRecommendationBehavior is stabilizeRecommendationWithBehaviors'
// bookkeeping: replace the last sample older than both windows, or append.
func (h *History) storeRecommendationBehavior(rec int32, now int64, upWindow, downWindow int64) {
	upCutoff := now - upWindow
	downCutoff := now - downWindow
	idx := -1
	for i, r := range h.recs {
		if r.at < upCutoff && r.at < downCutoff {
			idx = i
		}
	}
	h.put(idx, rec, now)
}

func (h *History) put(idx int, rec int32, now int64) {
	if idx >= 0 {
		h.recs[idx] = recEntry{replicas: rec, at: now}
	} else {
		h.recs = append(h.recs, recEntry{replicas: rec, at: now})
	}
	h.seeded = true
}

// storeScaleEvent is storeScaleEvent: mark events older than the longest
// policy period as outdated, then replace the last outdated one or append.
func (h *History) storeScaleEvent(up bool, change int32, longestPeriodSeconds int32, now int64) {
	events := &h.down
	if up {
		events = &h.up
	}
	cutoff := now - int64(longestPeriodSeconds)*int64(time.Second)
	idx := -1
	for i := range *events {
		e := &(*events)[i]
		if e.at < cutoff {
			e.outdated = true
		}
		if e.outdated {
			idx = i
		}
	}
	e := eventEntry{change: change, at: now}
	if idx >= 0 {
		(*events)[idx] = e
	} else {
		*events = append(*events, e)
	}
}

// changeInPeriod is getReplicasChangePerPeriod: the sum of changes of the
// events strictly younger than the period.
func changeInPeriod(events []eventEntry, now int64, periodSeconds int32) int32 {
	cutoff := now - int64(periodSeconds)*int64(time.Second)
	var sum int32
	for i := range events {
		if events[i].at > cutoff {
			sum += events[i].change
		}
	}
	return sum
}
