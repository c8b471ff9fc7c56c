package rabbitmq

import (
	"fmt"
	"time"

	"k8s.io/utils/clock"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// Backoff is the wait between failed attempts to reach the source: after
// the n-th failure in a row, Initial doubled n-1 times, at most Max.
type Backoff struct {
	Initial, Max time.Duration
}

// DefaultBackoff waits 1 s after a first failure, then 2, 4, 8, 16 and at
// most 30 s (KEDA's default polling interval), so a source that is down is
// tried about twice a minute rather than at every call.
var DefaultBackoff = Backoff{Initial: time.Second, Max: 30 * time.Second}

// after returns the wait after the n-th failure in a row (n >= 1).
func (b Backoff) after(n int) time.Duration {
	d := b.Initial
	for i := 1; i < n && d < b.Max; i++ {
		d *= 2
	}
	return min(d, b.Max)
}

// retry remembers the last failed attempt to reach the source, so that
// calls during the backoff that follows answer at once with it instead of
// trying again. It is not safe for concurrent use: its owner's mutex
// guards it.
type retry struct {
	clock   clock.PassiveClock
	backoff Backoff

	failures int       // failed attempts in a row; 0 after a success
	what     string    // what failed ("rabbitmq: connect")
	cause    error     // why (the scaler's Redactor is applied when it leaves the scaler)
	key      string    // the connection parameters of the failed attempt
	next     time.Time // no attempt before this
}

// failed records a failed attempt made with the parameters key; the
// first failure with new parameters (a rotated host or password) starts
// the backoff afresh.
func (r *retry) failed(what string, cause error, key string) {
	if key != r.key {
		r.failures = 0
	}
	r.failures++
	r.what, r.cause, r.key = what, cause, key
	r.next = r.clock.Now().Add(r.backoff.after(r.failures))
}

// succeeded forgets the failures.
func (r *retry) succeeded() { r.failures, r.cause = 0, nil }

// pending returns the last failure while its backoff lasts and the
// connection parameters are still key (a rotated password or host is
// tried at once), or nil when an attempt may be made now.
func (r *retry) pending(key string) error {
	if r.failures == 0 || key != r.key || !r.clock.Now().Before(r.next) {
		return nil
	}
	return r.err()
}

// err is the last failure, wrapping scalers.ErrUnavailable, with when the
// next attempt is: "rabbitmq: connect: ... (next attempt in 2s)".
func (r *retry) err() error {
	if r.failures == 0 {
		return nil
	}
	return scalers.Unavailable(r.what, fmt.Errorf("%w (next attempt in %s)", r.cause, roundWait(r.next.Sub(r.clock.Now()))))
}

// roundWait rounds a wait for a message: to 100 ms, and never "0s".
func roundWait(d time.Duration) time.Duration {
	return max(d.Round(100*time.Millisecond), 100*time.Millisecond)
}
