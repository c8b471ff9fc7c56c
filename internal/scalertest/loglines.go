package scalertest

import (
	"context"
	"log/slog"
	"strings"
	"sync"
)

// LogLines is a slog.Handler that keeps each record as one line, "LEVEL
// message key=value ...", without the attributes a logger adds with With
// (a scaler's type and object), so tests compare what was logged whole.
// It is safe for concurrent use.
type LogLines struct {
	mu  sync.Mutex
	out []string
}

// Enabled implements slog.Handler: every level is kept.
func (l *LogLines) Enabled(context.Context, slog.Level) bool { return true }

// WithAttrs implements slog.Handler; the attributes are dropped.
func (l *LogLines) WithAttrs([]slog.Attr) slog.Handler { return l }

// WithGroup implements slog.Handler; the group is dropped.
func (l *LogLines) WithGroup(string) slog.Handler { return l }

// Handle implements slog.Handler.
func (l *LogLines) Handle(_ context.Context, r slog.Record) error {
	parts := []string{r.Level.String(), r.Message}
	r.Attrs(func(a slog.Attr) bool {
		parts = append(parts, a.Key+"="+a.Value.String())
		return true
	})
	l.mu.Lock()
	l.out = append(l.out, strings.Join(parts, " "))
	l.mu.Unlock()
	return nil
}

// Lines returns the lines kept so far.
func (l *LogLines) Lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.out...)
}
