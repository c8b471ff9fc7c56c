package scalertest

import (
	"testing"
	"time"
)

// Eventually polls cond until it returns nil and fails the test when limit
// passes first, naming what was awaited and cond's last error. It waits for
// a condition that other goroutines or processes bring about (a broker that
// has recovered its queues, a scrape that shows a value); it asserts
// nothing about how long that takes, so limit should be far above what an
// idle machine needs. Polls start at 10ms apart and back off to 250ms.
func Eventually(tb testing.TB, limit time.Duration, what string, cond func() error) {
	tb.Helper()
	deadline := time.Now().Add(limit)
	pause := 10 * time.Millisecond
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("waited %s for %s; last: %v", limit, what, err)
		}
		select {
		case <-tb.Context().Done():
			tb.Fatalf("test ended while waiting for %s; last: %v", what, err)
		case <-time.After(pause):
		}
		pause = min(2*pause, 250*time.Millisecond)
	}
}
