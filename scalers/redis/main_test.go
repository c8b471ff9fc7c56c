package redis

import (
	"log/slog"
	"os"
	"testing"

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
	goleak.VerifyTestMain(m)
}
