// Package cputime reports a benchmark's CPU time per operation next to the
// wall time, which a busy machine inflates. It is a test helper: only
// _test.go files import it.
package cputime

import (
	"syscall"
	"testing"
	"time"
)

// Now is the process's user+system CPU time so far.
func Now(tb testing.TB) time.Duration {
	tb.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Report adds the CPU time used since start, per operation, to b's
// results in unit ("cpu-ns/op", "cpu-ms/op" or "cpu-s/op").
func Report(b *testing.B, start time.Duration, unit time.Duration) {
	b.Helper()
	name := "cpu-ns/op"
	switch unit {
	case time.Microsecond:
		name = "cpu-us/op"
	case time.Millisecond:
		name = "cpu-ms/op"
	case time.Second:
		name = "cpu-s/op"
	default:
		unit = time.Nanosecond
	}
	b.ReportMetric(float64(Now(b)-start)/float64(b.N)/float64(unit), name)
}
