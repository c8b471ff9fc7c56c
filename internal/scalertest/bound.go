package scalertest

import (
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
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

// TimeoutCase is a trigger's timeout key and the server's bounds, with the
// bound a scaler must take from them (scalers.Timeouts.For) and what it
// must log (LogLines).
type TimeoutCase struct {
	Name string
	// Timeout is the trigger's timeout key; "" leaves it out.
	Timeout string
	// Default and Max are the server's bounds (0: its defaults, 3s and
	// 30s).
	Default, Max time.Duration
	Want         time.Duration
	WantLog      []string
}

// MillisecondTimeoutCases are the cases of the shared rule for a timeout
// key whose plain numbers are milliseconds, as in KEDA's HTTP scalers.
func MillisecondTimeoutCases() []TimeoutCase {
	return []TimeoutCase{
		{Name: "KEDA's default", Want: 3 * time.Second},
		{Name: "0 is the default", Timeout: "0", Want: 3 * time.Second},
		{Name: "the server's default", Default: 5 * time.Second, Want: 5 * time.Second},
		{Name: "milliseconds", Timeout: "1500", Want: 1500 * time.Millisecond},
		{Name: "above the maximum", Timeout: "1h", Want: 30 * time.Second,
			WantLog: []string{"INFO timeout above the server's maximum, lowered to it key=timeout asked=1h0m0s max=30s"}},
		{Name: "above a lower maximum", Timeout: "20s", Max: 10 * time.Second, Want: 10 * time.Second,
			WantLog: []string{"INFO timeout above the server's maximum, lowered to it key=timeout asked=20s max=10s"}},
	}
}

// CheckTimeouts builds a scaler for each case with build (which logs to
// log and returns the scaler's bound) and compares the bound and the log.
func CheckTimeouts(t *testing.T, cases []TimeoutCase, build func(tb testing.TB, c TimeoutCase, log *slog.Logger) time.Duration) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			logs := &LogLines{}
			if got := build(t, tc, slog.New(logs)); got != tc.Want {
				t.Errorf("bound: got %v, want %v", got, tc.Want)
			}
			if diff := cmp.Diff(tc.WantLog, logs.Lines()); diff != "" {
				t.Errorf("log (-want +got):\n%s", diff)
			}
		})
	}
}
