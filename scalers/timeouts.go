package scalers

import "time"

// The bounds of a call to a source. KEDA passes the operator's context
// through without a deadline of its own, so these are the only bound on a
// frozen or black-holed source; the CRD agent's reconcile loop relies on
// them too.
const (
	// DefaultSourceTimeout bounds one fetch of a trigger whose metadata
	// sets no timeout of its own (KEDA's default HTTP timeout).
	DefaultSourceTimeout = 3 * time.Second
	// DefaultMaxSourceTimeout caps a timeout a trigger's metadata sets.
	DefaultMaxSourceTimeout = 30 * time.Second
)

// Timeouts are the server's bounds on the calls a scaler makes to its
// source. Every fetch (Metrics), connection set-up and login included, must
// return within For(the trigger's own timeout) of its start, whatever the
// caller's context says; a caller's earlier deadline still wins.
type Timeouts struct {
	// Default bounds a fetch when the trigger sets no timeout (0:
	// DefaultSourceTimeout).
	Default time.Duration
	// Max caps a timeout the trigger's metadata sets: a larger one is
	// lowered to Max (0: DefaultMaxSourceTimeout). Default is capped too.
	Max time.Duration
}

// WithDefaults fills the zero fields.
func (t Timeouts) WithDefaults() Timeouts {
	if t.Default <= 0 {
		t.Default = DefaultSourceTimeout
	}
	if t.Max <= 0 {
		t.Max = DefaultMaxSourceTimeout
	}
	t.Default = min(t.Default, t.Max)
	return t
}

// For returns the bound of a fetch of a trigger whose metadata asks for
// asked (0: it asks for nothing): asked capped at Max, or Default.
func (t Timeouts) For(asked time.Duration) time.Duration {
	t = t.WithDefaults()
	if asked <= 0 {
		return t.Default
	}
	return min(asked, t.Max)
}

// Capped reports whether For(asked) lowered the asked timeout, so that the
// scaler can say so once in its log.
func (t Timeouts) Capped(asked time.Duration) bool {
	return asked > t.WithDefaults().Max
}
