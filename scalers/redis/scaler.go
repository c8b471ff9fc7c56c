package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// errClosed is returned by Metrics after Close ("redis scaler: closed",
// wrapping scalers.ErrClosed).
var errClosed = scalers.Closed("redis")

// base is what the list and streams scalers share: the client reference,
// the bound of a call, error wrapping and Close.
type base struct {
	clients  *Clients // nil for a dedicated client
	sc       *sharedClient
	desc     string // e.g. `redis list "jobs" at 127.0.0.1:6379`, for errors
	redactor *scalers.Redactor
	// bound is the longest a Metrics call takes, whatever its caller's
	// context: scalers.Timeouts.For(0), as KEDA's Redis scalers have no
	// timeout key.
	bound    time.Duration
	who      string // what answers a call, for errors (whoAnswers)
	noAnswer error  // the cause of a call that reached bound

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

func newBase(clients *Clients, m *connMeta, what, name string, cfg scalers.Config) (*base, error) {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	bound := cfg.Timeouts.For(0)
	sc, err := clients.acquire(m, bound)
	if err != nil {
		return nil, err
	}
	warnIgnored(logger, m)
	return &base{
		clients:  clients,
		sc:       sc,
		desc:     describe(m, what, name),
		redactor: scalers.NewRedactor(m.Password, m.SentinelPassword, m.TLS.KeyPassword),
		bound:    bound,
		who:      whoAnswers(m),
		noAnswer: fmt.Errorf("%s did not answer within %s", whoAnswers(m), bound),
	}, nil
}

// whoAnswers names the servers a call waits for, for the error of a call
// that reached its bound.
func whoAnswers(m *connMeta) string {
	switch m.topo {
	case cluster:
		return "the Redis Cluster"
	case sentinel:
		return "the sentinels or the master they name"
	default:
		return "Redis"
	}
}

// Bound returns the most a Metrics call takes: scalers.Timeouts.For(0) of
// the scaler's configuration (the server gives a call that much before it
// gives up on it itself).
func (b *base) Bound() time.Duration { return b.bound }

// bounded returns ctx with the call's bound as its deadline (an earlier
// deadline of the caller's stays), so every step of the call (waiting for
// a pooled connection, dialling, TLS, login, the command, a pipelined
// batch) ends by then.
func (b *base) bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(ctx, b.bound, b.noAnswer)
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

// fetch runs measure, the round trips of one Metrics call, within the
// call's bound and past the client's breaker, once more after a sentinel
// password rotation, and returns its number or its error wrapped.
func (b *base) fetch(ctx context.Context, measure func(context.Context) (int64, error)) (int64, error) {
	ctx, cancel := b.bounded(ctx)
	defer cancel()
	n, err := b.try(ctx, measure)
	if err != nil && b.retry() {
		n, err = b.try(ctx, measure)
	}
	return n, err
}

// try is one attempt of fetch: refused at once while the client's server
// is known to be down (the error of the call that found it down, saying
// when the next try is), else sent, its outcome told to the breaker.
func (b *base) try(ctx context.Context, measure func(context.Context) (int64, error)) (int64, error) {
	br := b.sc.cur.Load().breaker
	if br == nil {
		n, err := measure(ctx)
		if err != nil {
			return 0, b.wrap(ctx, err)
		}
		return n, nil
	}
	token, rej := br.admit(b.sc.clock.Now())
	if rej != nil {
		now := b.sc.clock.Now()
		return 0, scalers.Unavailable(b.desc, fmt.Errorf("%w (the last try, %s ago; the next in %s)", rej.err,
			now.Sub(rej.failedAt).Round(10*time.Millisecond), max(rej.next.Sub(now), 0).Round(10*time.Millisecond)))
	}
	n, err := measure(ctx)
	if err == nil {
		br.done(token, b.sc.clock.Now(), answered, nil)
		return n, nil
	}
	werr := b.wrap(ctx, err)
	o, cause := answered, error(nil)
	switch {
	case errors.Is(err, context.Canceled), ctx.Err() != nil && context.Cause(ctx) != b.noAnswer:
		// The caller gave up first.
		o = unknown
	case errors.Is(werr, scalers.ErrUnavailable) && serverDown(err):
		o, cause = failed, b.outage(ctx, err)
	}
	br.done(token, b.sc.clock.Now(), o, cause)
	return 0, werr
}

// serverDown reports whether a call's error (an ErrUnavailable one) means
// the server cannot serve this client at all, for any key: it did not
// answer, refused the connection or the login, spoke another protocol, or
// is loading its data. Other error replies (an ACL refusing one key, say)
// concern one scaler, and must not hold back the others on the client.
func serverDown(err error) bool {
	var re redis.Error
	if !errors.As(err, &re) {
		return true
	}
	return loginRefused(err) || sentinelLookup(err) || redisReply(err, "LOADING") || redisReply(err, "MASTERDOWN")
}

// wrap classifies and redacts an error of a fetch whose context was ctx
// (from bounded):
//   - a key of the wrong type, a missing consumer group, a Redis too old
//     for the mode: the source answered without a usable value (ErrNoData);
//   - the caller's cancellation: passed on as it is;
//   - a database the server does not have: the configuration (ErrInvalidConfig);
//   - anything else: ErrUnavailable, so it may work again later, with the
//     cause outage finds.
func (b *base) wrap(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, scalers.ErrNoData):
		return b.redactor.Error(fmt.Errorf("%s: %w", b.desc, err))
	case redisReply(err, "WRONGTYPE"), redisReply(err, "NOGROUP"):
		return b.redactor.Error(fmt.Errorf("%s: %w: %v", b.desc, scalers.ErrNoData, err))
	case errors.Is(err, context.Canceled):
		return b.redactor.Error(fmt.Errorf("%s: %w", b.desc, err))
	case redisReply(err, "ERR DB index is out of range"):
		fe := scalers.NewFieldError("databaseIndex", strconv.Itoa(b.sc.conn.DatabaseIndex), "the server has no such database ("+err.Error()+")")
		return fmt.Errorf("%s: %w", b.desc, fe)
	default:
		return scalers.Unavailable(b.desc, b.outage(ctx, err))
	}
}

// outage is the cause of an ErrUnavailable error, redacted:
//   - the bound reached, by this call or by a dial: what did not answer;
//   - a refused login: that it is a login failure, to Redis or to the
//     sentinels (the password may be rotated; it may work again later);
//   - sentinels that know no such master: that;
//   - anything else (refused, reset, cluster down...): go-redis's error.
func (b *base) outage(ctx context.Context, err error) error {
	switch {
	case ctx.Err() != nil && context.Cause(ctx) == b.noAnswer,
		ctx.Err() == nil && netTimeout(err):
		// This call's bound, or a read, write or dial timeout of
		// go-redis's (they are the bound too) whose timer fired first.
		return b.redactor.Error(fmt.Errorf("%w: %w", b.noAnswer, err))
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		// A dial's deadline (the dial timeout is the bound too), not this
		// call's: the dial of this call, which runs on a goroutine of
		// go-redis's and whose timer fired first, or an earlier one: after
		// as many failed dials as its pool has connections, go-redis
		// fails calls at once with the last dial's error, and dials again
		// in the background once a second until one succeeds.
		return b.redactor.Error(fmt.Errorf("%s did not answer within %s while connecting: %w", b.who, b.bound, err))
	case loginRefused(err):
		what := "login failed"
		if sentinelLookup(err) {
			what = "sentinel login failed"
		}
		return b.redactor.Error(fmt.Errorf("%s: %w", what, err))
	case b.sc.conn.topo == sentinel && sentinelLookup(err) && errors.Is(err, redis.Nil):
		// The sentinels answered, without an address: they monitor no
		// master of that name (yet).
		return b.redactor.Error(fmt.Errorf("no sentinel knows master %q: %w", b.sc.conn.SentinelMaster, err))
	default:
		return b.redactor.Error(err)
	}
}

// netTimeout reports whether err is a network timeout (a read, write or
// dial deadline passed).
func netTimeout(err error) bool {
	var ne net.Error
	// context.DeadlineExceeded is a net.Error too: it is not a socket's.
	return errors.As(err, &ne) && ne.Timeout() && !errors.Is(err, context.DeadlineExceeded)
}

// sentinelLookup reports whether err is go-redis's error of a master lookup
// that no sentinel answered with an address.
func sentinelLookup(err error) bool {
	return strings.Contains(err.Error(), "all sentinels specified in configuration are unreachable")
}

// loginRefused reports whether err is Redis (or a sentinel) refusing the
// credentials: a wrong password or user, or none given to a server that
// wants one.
func loginRefused(err error) bool {
	return redisReply(err, "WRONGPASS") || redisReply(err, "NOAUTH") ||
		redisReply(err, "ERR invalid password") || redisReply(err, "ERR AUTH")
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
