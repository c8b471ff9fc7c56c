package externalscaler

import (
	"context"
	"fmt"
	"log/slog"
)

// BoundedLogger returns a logger that writes through l's handler with the
// message and every attribute value cut to maxValueBytes (see truncate):
// errors and values of a log line can carry client input of any length (a
// 1 MiB metadata value echoed by an error), and a log line must stay
// bounded. New applies it to Options.Logger; the binary also gives it to
// go-redis. A nil l discards.
func BoundedLogger(l *slog.Logger, maxValueBytes int) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	if maxValueBytes <= 0 {
		maxValueBytes = DefaultMaxMessageBytes
	}
	if b, ok := l.Handler().(boundedHandler); ok && b.n == maxValueBytes {
		return l
	}
	return slog.New(boundedHandler{h: l.Handler(), n: maxValueBytes})
}

type boundedHandler struct {
	h slog.Handler
	n int
}

func (b boundedHandler) Enabled(ctx context.Context, l slog.Level) bool { return b.h.Enabled(ctx, l) }

func (b boundedHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, truncate(r.Message, b.n), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(b.attr(a))
		return true
	})
	return b.h.Handle(ctx, out)
}

func (b boundedHandler) WithAttrs(as []slog.Attr) slog.Handler {
	out := make([]slog.Attr, len(as))
	for i, a := range as {
		out[i] = b.attr(a)
	}
	return boundedHandler{h: b.h.WithAttrs(out), n: b.n}
}

func (b boundedHandler) WithGroup(name string) slog.Handler {
	return boundedHandler{h: b.h.WithGroup(name), n: b.n}
}

// attr bounds one attribute's value. Only a value too long is replaced
// (by its cut text), so short values keep their kind.
func (b boundedHandler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		if s := v.String(); len(s) > b.n {
			return slog.String(a.Key, truncate(s, b.n))
		}
	case slog.KindGroup:
		g := v.Group()
		out := make([]slog.Attr, len(g))
		for i, ga := range g {
			out[i] = b.attr(ga)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(out...)}
	case slog.KindAny:
		var s string
		switch x := v.Any().(type) {
		case error:
			s = x.Error()
		case fmt.Stringer:
			s = x.String()
		case []byte:
			if len(x) > b.n {
				return slog.String(a.Key, truncate(string(x), b.n))
			}
			return slog.Attr{Key: a.Key, Value: v}
		default:
			s = fmt.Sprintf("%+v", x)
		}
		if len(s) > b.n {
			return slog.String(a.Key, truncate(s, b.n))
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}
