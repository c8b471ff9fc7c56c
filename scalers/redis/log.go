package redis

import (
	"context"
	"fmt"
	"log/slog"
)

// GoRedisLogger adapts l to go-redis's process-wide logger, which go-redis
// writes to stderr by default (for example "failed to dial" on every
// attempt while Redis is down, an outage each Metrics call already reports
// as an error). The binary installs it once at start-up:
//
//	goredis.SetLogger(redis.GoRedisLogger(logger))
//
// Messages are logged at Debug level. A nil l discards them.
func GoRedisLogger(l *slog.Logger) interface {
	Printf(ctx context.Context, format string, v ...any)
} {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return goRedisLogger{l: l.With("component", "go-redis")}
}

type goRedisLogger struct{ l *slog.Logger }

func (g goRedisLogger) Printf(ctx context.Context, format string, v ...any) {
	if g.l.Enabled(ctx, slog.LevelDebug) {
		g.l.DebugContext(ctx, fmt.Sprintf(format, v...))
	}
}
