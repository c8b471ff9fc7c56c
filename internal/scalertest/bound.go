package scalertest

import (
	"testing"
	"time"
)

// BoundGrace is what ReturnsWithin allows beyond a call's bound: far more
// than a loaded 2-core machine needs to notice a deadline and word the
// error, so the check is a condition (the call does not hang), not a
// timing benchmark.
const BoundGrace = 4 * time.Second

// ReturnsWithin runs call and fails the test, naming what, unless it
// returns before bound+BoundGrace; it returns call's error. A call that
// never returns is left running (the test fails at once rather than at
// the go test timeout). The time taken is logged (go test -v shows it).
func ReturnsWithin(tb testing.TB, bound time.Duration, what string, call func() error) error {
	tb.Helper()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- call() }()
	limit := bound + BoundGrace
	select {
	case err := <-done:
		tb.Logf("%s returned after %v (bound %v)", what, time.Since(start).Round(time.Millisecond), bound)
		return err
	case <-time.After(limit):
		tb.Fatalf("%s: no return within %v (bound %v + grace %v)", what, limit, bound, BoundGrace)
		return nil
	}
}
