package redis

import (
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// go-redis logs every failed dial of the outage tests to stderr; the
	// tests check the errors Metrics returns instead. REDIS_DEBUG=1 shows
	// the log.
	var l *slog.Logger
	if os.Getenv("REDIS_DEBUG") != "" {
		l = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	goredis.SetLogger(GoRedisLogger(l))
	code := m.Run()
	if code == 0 {
		if err := noGoroutinesLeft(waitLimit); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: after the tests: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// noGoroutinesLeft waits until no goroutine but the test's own is left,
// for at most limit. A pool that gave up dialling probes the address from
// a goroutine of its own, once a second, and that goroutine notices that
// its client was closed only at its next probe: a second and a dial
// timeout after the test that closed it, longer than goleak waits.
func noGoroutinesLeft(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		err := goleak.Find()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		<-time.After(100 * time.Millisecond)
	}
}
