package redis

import (
	"sync"
	"sync/atomic"
	"time"
)

// The backoff of a client whose server does not answer: the first retry
// after breakerFirst, each next one after twice as long, at most
// breakerMax. The cap stays well under KEDA's polling interval (30 s) and
// HPA sync (15 s), so a server that is back is read again within a few
// seconds.
const (
	breakerFirst = 250 * time.Millisecond
	breakerMax   = 5 * time.Second
)

// outcome is what a call learned about its server.
type outcome int

const (
	// answered: the server answered (a value, or an error reply about the
	// key or the configuration).
	answered outcome = iota
	// failed: the server did not answer, refused the connection or the
	// login: it is down for this client.
	failed
	// unknown: the caller gave up first (canceled, or its own earlier
	// deadline); nothing was learned.
	unknown
)

// breaker stops a client from sending every call to a server that is down
// (each would open a connection, log in, and wait its whole bound): after
// a failed call, calls fail at once with that call's error until the
// backoff passes; then one call at a time tries the server, and the first
// that gets an answer lets every call through again. A client of a
// cluster has none: one node's outage would stop calls for keys on the
// others.
//
// Its methods are safe for concurrent use; they take now from the caller
// (the client's clock) and do no I/O.
type breaker struct {
	// open is failures > 0, read without the lock: while the server
	// answers, a call costs two atomic loads and no lock shared by every
	// caller of the client.
	open atomic.Bool
	// gen counts state changes: a call admitted in one generation changes
	// the state only if it is still the current one, so the 64 calls
	// that fail together at the end of one freeze count as one failure.
	// Written under mu.
	gen atomic.Uint64

	mu       sync.Mutex
	failures int       // consecutive failed tries, 0 when closed
	retryAt  time.Time // when failures > 0: the next try is allowed then
	probing  bool      // a try is under way
	lastErr  error     // the cause of the last failure, as wrap made it
	lastAt   time.Time
}

// rejection is why a call was not sent: the last failure, when it
// happened and when the next try is allowed.
type rejection struct {
	err            error
	failedAt, next time.Time
}

// admit decides whether a call starting at now may go to the server. It
// returns a token for done, or the rejection.
func (b *breaker) admit(now time.Time) (token uint64, rej *rejection) {
	if !b.open.Load() {
		return b.gen.Load(), nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.failures == 0:
		return b.gen.Load(), nil
	case b.probing || now.Before(b.retryAt):
		return 0, &rejection{err: b.lastErr, failedAt: b.lastAt, next: b.retryAt}
	default:
		// The backoff has passed: this call is the one try.
		b.probing = true
		return b.gen.Load(), nil
	}
}

// done records the outcome of an admitted call at now; cause is the
// failure's cause (for failed).
func (b *breaker) done(token uint64, now time.Time, o outcome, cause error) {
	if o == answered && !b.open.Load() {
		return // closed, and it stays so
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if token != b.gen.Load() {
		// Another call of the same generation already changed the state.
		return
	}
	switch o {
	case answered:
		if b.failures > 0 {
			b.failures, b.probing = 0, false
			b.open.Store(false)
			b.gen.Add(1)
		}
	case failed:
		b.failures++
		b.retryAt = now.Add(backoff(b.failures))
		b.lastErr, b.lastAt, b.probing = cause, now, false
		b.open.Store(true)
		b.gen.Add(1)
	case unknown:
		// A try that ended without an answer either way: let the next
		// call try.
		b.probing = false
	}
}

// backoff is the wait after the n-th consecutive failure (n >= 1).
func backoff(n int) time.Duration {
	d := breakerFirst
	for i := 1; i < n && d < breakerMax; i++ {
		d *= 2
	}
	return min(d, breakerMax)
}
