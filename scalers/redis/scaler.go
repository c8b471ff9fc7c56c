package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// errClosed is returned by Metrics after Close.
var errClosed = errors.New("redis scaler is closed")

// base is what the list and streams scalers share: the client reference,
// error wrapping and Close.
type base struct {
	clients  *Clients // nil for a dedicated client
	sc       *sharedClient
	desc     string // e.g. `redis list "jobs" at 127.0.0.1:6379`, for errors
	redactor *scalers.Redactor

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

func newBase(clients *Clients, m *connMeta, what, name string, logger *slog.Logger) (*base, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	warnIgnored(logger, m)
	sc, err := clients.acquire(m)
	if err != nil {
		return nil, err
	}
	return &base{
		clients:  clients,
		sc:       sc,
		desc:     describe(m, what, name),
		redactor: scalers.NewRedactor(m.Password, m.SentinelPassword, m.TLS.KeyPassword),
	}, nil
}

// warnIgnored logs, once per scaler, keys that KEDA accepts and ignores in
// this configuration, so a user sees why they have no effect.
func warnIgnored(logger *slog.Logger, m *connMeta) {
	if !m.useTLS && (m.TLS.CA.IsSet() || m.TLS.Cert.IsSet()) {
		logger.Warn("redis TLS certificates are set but TLS is off (set enableTLS: \"true\" or tls: enable); ignoring them")
	}
	if m.topo == cluster && m.DatabaseIndex != 0 {
		logger.Warn("databaseIndex is ignored by Redis Cluster, which has database 0 only", "databaseIndex", m.DatabaseIndex)
	}
	if m.topo == standalone && len(m.addrs) > 1 {
		logger.Warn("several Redis addresses given for a single server; using the first (use redis-cluster or redis-sentinel for several)",
			"address", m.addrs[0])
	}
}

func describe(m *connMeta, what, name string) string {
	where := strings.Join(m.addrs, ",")
	if m.topo == standalone {
		where = m.addrs[0]
	}
	if m.topo == sentinel {
		where = "master " + strconv.Quote(m.SentinelMaster) + " via " + where
	}
	if m.DatabaseIndex != 0 && m.topo != cluster {
		where += " db " + strconv.Itoa(m.DatabaseIndex)
	}
	return fmt.Sprintf("%s %s %q at %s", m.topo, what, name, where)
}

// retry reports whether a failed call is worth repeating once: only when a
// rotated sentinel password made the client be rebuilt.
func (b *base) retry() bool { return b.sc.rotateSentinelPassword() }

// wrap classifies and redacts an error of a fetch:
//   - a key of the wrong type, a missing consumer group, a Redis too old
//     for the mode: the source answered without a usable value (ErrNoData);
//   - the caller's cancellation: passed on as it is;
//   - anything else (refused, timed out, authentication, cluster down...):
//     ErrUnavailable, so it may work again later.
func (b *base) wrap(err error) error {
	switch {
	case errors.Is(err, scalers.ErrNoData):
		return b.redactor.Error(fmt.Errorf("%s: %w", b.desc, err))
	case redisReply(err, "WRONGTYPE"), redisReply(err, "NOGROUP"):
		return b.redactor.Error(fmt.Errorf("%s: %w: %v", b.desc, scalers.ErrNoData, err))
	case errors.Is(err, context.Canceled):
		return b.redactor.Error(fmt.Errorf("%s: %w", b.desc, err))
	default:
		return scalers.Unavailable(b.desc, b.redactor.Error(err))
	}
}

// Close releases the client (closing it when no other scaler shares it).
// It is idempotent.
func (b *base) Close() error {
	b.closeOnce.Do(func() {
		b.closed.Store(true)
		if err := b.clients.release(b.sc); err != nil {
			b.closeErr = b.redactor.Error(fmt.Errorf("%s: close: %w", b.desc, err))
		}
	})
	return b.closeErr
}

// noData is a usable-value problem found by this package (not a Redis error
// reply).
type noData struct{ msg string }

func (e *noData) Error() string { return e.msg }

// Is makes a noData an ErrNoData.
func (e *noData) Is(target error) bool { return target == scalers.ErrNoData }
