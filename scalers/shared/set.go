package shared

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// Set is a bounded set of shared clients of type T (connection pools),
// one per key (the connection settings and bound of a call, secrets only
// as their scalers.Secret.Identity). It is safe for concurrent use.
type Set[T any] struct {
	source string
	max    int

	mu    sync.Mutex
	items map[string]*item[T]
}

type item[T any] struct {
	v    T
	refs int
}

// NewSet returns an empty set for clients of source (a scaler type, for
// the error at the limit) holding at most max distinct clients.
func NewSet[T any](source string, max int) *Set[T] {
	return &Set[T]{source: source, max: max, items: map[string]*item[T]{}}
}

// Acquire returns the client of key, opening it with open when there is
// none, and counts one more user of it. A new client beyond the limit is
// refused with an error wrapping scalers.ErrLimit: each holds connections,
// and the gRPC port that asks for them is unauthenticated inside the
// cluster.
func (s *Set[T]) Acquire(key string, open func() (T, error)) (T, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if it, ok := s.items[key]; ok {
		it.refs++
		return it.v, nil
	}
	var zero T
	if len(s.items) >= s.max {
		return zero, fmt.Errorf("%s: %d distinct connection pools open, the limit (--max-source-connections): %w",
			s.source, len(s.items), scalers.ErrLimit)
	}
	v, err := open()
	if err != nil {
		return zero, err
	}
	s.items[key] = &item[T]{v: v, refs: 1}
	return v, nil
}

// Release counts one user less of key's client and, after the last,
// forgets it and calls close on it (outside the lock).
func (s *Set[T]) Release(key string, close func(T)) {
	s.mu.Lock()
	it, ok := s.items[key]
	if !ok {
		s.mu.Unlock()
		return
	}
	it.refs--
	last := it.refs == 0
	if last {
		delete(s.items, key)
	}
	s.mu.Unlock()
	if last {
		close(it.v)
	}
}

// Stats returns the distinct clients open now and the most that may be,
// for the server's metrics.
func (s *Set[T]) Stats() (open, limit int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.items), s.max
}

// Bound is the bound of a call of a trigger whose timeout key asks for
// asked (0: def, the type's default), capped by the server's maximum;
// when it is lowered, log says so once.
func Bound(cfg scalers.Config, log *slog.Logger, asked, def time.Duration) time.Duration {
	if asked == 0 {
		asked = def
	}
	if cfg.Timeouts.Capped(asked) {
		log.Info("timeout above the server's maximum, lowered to it",
			"key", "timeout", "asked", asked, "max", cfg.Timeouts.WithDefaults().Max)
	}
	return cfg.Timeouts.For(asked)
}
