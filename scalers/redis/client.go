package redis

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
	"k8s.io/utils/clock"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// DefaultMaxClients is ClientsOptions.MaxClients when it is 0.
const DefaultMaxClients = 1000

// ClientsOptions configures NewClients.
type ClientsOptions struct {
	// PoolSize is the most connections one shared client opens (per node of
	// a cluster). 0 means 10 per CPU, go-redis's default.
	PoolSize int
	// MaxClients bounds the distinct shared clients open at once, one per
	// distinct set of connection settings (0: DefaultMaxClients). Each
	// holds connections and goroutines, and the gRPC port that asks for
	// them is unauthenticated inside the cluster: a scaler that would need
	// one more is refused with an error wrapping scalers.ErrLimit, until
	// closing scalers frees a client. The server sets it with
	// --max-source-connections.
	MaxClients int
	// Clock times the backoff of a client whose server is down (nil: the
	// real clock).
	Clock clock.PassiveClock
}

// Clients builds scalers that share go-redis clients: all scalers with
// identical connection settings (topology, addresses, username, the source
// of the password, database, sentinel settings, TLS settings, the bound of
// a call) use one client and its connection pool. The client is closed
// when the last scaler using it is closed. A Clients needs no closing
// itself; it is safe for concurrent use.
type Clients struct {
	poolSize   int
	maxClients int
	clock      clock.PassiveClock

	mu     sync.Mutex
	shared map[string]*sharedClient
}

// NewClients returns an empty set of shared clients.
func NewClients(opts ClientsOptions) *Clients {
	if opts.PoolSize <= 0 {
		opts.PoolSize = 10 * runtime.GOMAXPROCS(0)
	}
	if opts.MaxClients <= 0 {
		opts.MaxClients = DefaultMaxClients
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	return &Clients{poolSize: opts.PoolSize, maxClients: opts.MaxClients, clock: opts.Clock, shared: map[string]*sharedClient{}}
}

// Stats returns the number of distinct shared clients open now and the
// most that may be open (MaxClients), for the server's metrics.
func (c *Clients) Stats() (open, max int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.shared), c.maxClients
}

// dedicatedPoolSize is the pool of a scaler built by a package-level
// factory: KEDA asks one ScaledObject for a few values at a time at most
// (GetMetrics, IsActive, a stream), so a small pool serves it, and a
// thousand of them do not open thousands of idle connections.
const dedicatedPoolSize = 4

// bufferSize is the read and write buffer of each connection. The replies
// read here are integers and small arrays, far below go-redis's 32 KiB
// default; longer replies still work (the reader grows past its buffer).
const bufferSize = 4096

// sharedClient is one go-redis client and the scalers using it.
type sharedClient struct {
	key      string
	conn     *connMeta // settings of the scaler that created it
	poolSize int
	pipeline bool
	// bound is the longest a call may take (scalers.Timeouts.For): it is
	// also every timeout of the go-redis client (dial, read, write, pool
	// wait), so that what go-redis does on its own goroutines (a pipelined
	// batch, a dial the caller stopped waiting for) ends within it too.
	bound time.Duration
	clock clock.PassiveClock
	refs  int // guarded by Clients.mu

	cur atomic.Pointer[clientHandle]
	// inflight counts calls running through run.
	inflight atomic.Int32
	// rebuildMu serializes rebuilds after a sentinel password rotation and
	// the final close.
	rebuildMu sync.Mutex
	closed    bool // guarded by rebuildMu
}

type clientHandle struct {
	c redis.UniversalClient
	// ap batches the commands of concurrent callers into pipelines (one
	// write and one read for many calls); nil for dedicated clients, whose
	// single scaler rarely has two calls in flight, and for a cluster.
	ap *redis.AutoPipeliner
	// stuck is a pipelined call whose caller stopped waiting before its
	// batch completed. Until that batch completes, the pipeline's
	// connection is taken to be stuck (a frozen server, a dead link), and
	// calls take a pooled connection of their own instead: each is then
	// bounded by its own deadline rather than queued behind the batch, and
	// each gets its answer as soon as the server answers again, without
	// waiting for the batches queued while it did not.
	stuck atomic.Pointer[redis.AutoFuture]
	// polled is an already cancelled context, for asking without waiting
	// whether the stuck call's batch has completed.
	polled context.Context
	// breaker holds calls back while the server is down; nil for a
	// cluster, whose nodes fail one by one.
	breaker *breaker
	// sentinelPassword is the value the client was built with.
	sentinelPassword string
}

// pipelineAbove is the number of calls in flight on one shared client above
// which a call joins the auto-pipeline instead of taking a connection of
// its own. A lone call on a plain connection is fastest (no hand-off to the
// pipeline's goroutine: about half the latency); with many concurrent
// callers (KEDA polling a thousand ScaledObjects) batching cuts the system
// calls and Redis's work per call several times (see BenchmarkRoundTrip).
const pipelineAbove = 4

func (sc *sharedClient) client() redis.UniversalClient { return sc.cur.Load().c }

// run executes one single-key read command, through the auto-pipeline when
// the client is busy and the pipeline is not stuck. A pipelined call stops
// waiting when ctx ends (the command itself still completes in its batch,
// harmlessly: it only reads); ctx has the call's bound as its deadline.
func (sc *sharedClient) run(ctx context.Context, cmd redis.Cmder) error {
	h := sc.cur.Load()
	n := sc.inflight.Add(1)
	defer sc.inflight.Add(-1)
	if h.ap != nil && n > pipelineAbove && h.pipelineFree() {
		f := h.ap.Submit(ctx, cmd)
		err := f.WaitContext(ctx)
		if err != nil && ctx.Err() != nil && !h.batchDone(f) {
			// The reply did not come within this call's deadline: let the
			// next calls go around the pipeline until this batch is done.
			// (A copy, so that f itself stays on the stack.)
			stuck := f
			h.stuck.CompareAndSwap(nil, &stuck)
		}
		return err
	}
	return h.c.Process(ctx, cmd)
}

// pipelineFree reports whether calls may join the pipeline: no pipelined
// call was left waiting, or its batch has completed since (then the mark is
// cleared).
func (h *clientHandle) pipelineFree() bool {
	f := h.stuck.Load()
	if f == nil {
		return true
	}
	if !h.batchDone(*f) {
		return false
	}
	h.stuck.CompareAndSwap(f, nil)
	return true
}

// batchDone reports, without waiting, whether the batch of f has
// completed: WaitContext with a cancelled context returns the command's
// own result when it has, and the context's error when it has not (a
// batch runs on go-redis's background context, so its commands never end
// with context.Canceled themselves).
func (h *clientHandle) batchDone(f redis.AutoFuture) bool {
	return !errors.Is(f.WaitContext(h.polled), context.Canceled)
}

// acquire returns the client for m's settings whose calls are bounded by
// bound, creating it if needed. A nil *Clients creates a dedicated client.
// A new shared client beyond MaxClients is refused with an error wrapping
// scalers.ErrLimit.
func (c *Clients) acquire(m *connMeta, bound time.Duration) (*sharedClient, error) {
	if c == nil {
		return newSharedClient("", m, dedicatedPoolSize, false, bound, clock.RealClock{})
	}
	key := clientKey(m, bound)
	c.mu.Lock()
	defer c.mu.Unlock()
	if sc, ok := c.shared[key]; ok {
		sc.refs++
		return sc, nil
	}
	if len(c.shared) >= c.maxClients {
		return nil, fmt.Errorf("redis: %d distinct connections open, the limit (--max-source-connections): %w",
			len(c.shared), scalers.ErrLimit)
	}
	// No auto-pipeline for a cluster: go-redis routes a batch's commands
	// to their nodes and completes the batch when every node has
	// answered, so one frozen node would fail the calls for keys on the
	// others with it. Each node has a pool of its own.
	sc, err := newSharedClient(key, m, c.poolSize, m.topo != cluster, bound, c.clock)
	if err != nil {
		return nil, err
	}
	c.shared[key] = sc
	return sc, nil
}

// release drops one reference and closes the client after the last one.
func (c *Clients) release(sc *sharedClient) error {
	if c != nil {
		c.mu.Lock()
		sc.refs--
		last := sc.refs == 0
		if last {
			delete(c.shared, sc.key)
		}
		c.mu.Unlock()
		if !last {
			return nil
		}
	}
	// Under rebuildMu, so a rebuild racing with the close cannot leave a
	// client nobody closes.
	sc.rebuildMu.Lock()
	sc.closed = true
	h := sc.cur.Load()
	sc.rebuildMu.Unlock()
	return h.c.Close()
}

func newSharedClient(key string, m *connMeta, poolSize int, pipeline bool, bound time.Duration, clk clock.PassiveClock) (*sharedClient, error) {
	sc := &sharedClient{key: key, conn: m, poolSize: poolSize, pipeline: pipeline, bound: bound, clock: clk, refs: 1}
	h, err := buildClient(m, poolSize, pipeline, bound)
	if err != nil {
		return nil, err
	}
	sc.cur.Store(h)
	return sc, nil
}

// rotateSentinelPassword rebuilds the client when the sentinel password
// (from sentinelPasswordFile) changed since the client was built, and
// reports whether it did. go-redis reads the sentinel password once, unlike
// the Redis password, which a credentials provider reads on every new
// connection; so a failed call is the moment to look for a rotation.
func (sc *sharedClient) rotateSentinelPassword() bool {
	m := sc.conn
	if m.topo != sentinel || !m.SentinelPassword.IsSet() {
		return false
	}
	sc.rebuildMu.Lock()
	defer sc.rebuildMu.Unlock()
	if sc.closed {
		return false
	}
	pw, err := m.SentinelPassword.Value()
	old := sc.cur.Load()
	if err != nil || pw == old.sentinelPassword {
		return false
	}
	h, err := buildClient(m, sc.poolSize, sc.pipeline, sc.bound)
	if err != nil {
		return false
	}
	sc.cur.Store(h)
	// Calls still running on the old client fail once; the next ones use
	// the new client.
	_ = old.c.Close()
	return true
}

// clientKey identifies the connection settings and the bound of a call.
// Secrets appear only as their Identity (a digest or a file path); the key
// is never logged.
func clientKey(m *connMeta, bound time.Duration) string {
	parts := []string{
		bound.String(),
		strconv.Itoa(int(m.topo)),
		m.Username,
		m.Password.Identity(),
		strconv.FormatBool(m.useTLS),
	}
	switch m.topo {
	case standalone:
		// Only the first address is used, as in KEDA.
		parts = append(parts, m.addrs[0], strconv.Itoa(m.DatabaseIndex))
	case cluster:
		parts = append(parts, strings.Join(m.addrs, ","))
	case sentinel:
		parts = append(parts, strings.Join(m.addrs, ","), strconv.Itoa(m.DatabaseIndex),
			m.SentinelMaster, m.SentinelUsername, m.SentinelPassword.Identity())
	}
	if m.useTLS {
		t := &m.TLS
		parts = append(parts, t.CA.Identity(), t.Cert.Identity(), t.Key.Identity(),
			t.KeyPassword.Identity(), strconv.FormatBool(t.UnsafeSsl))
	}
	return strings.Join(parts, "\x00")
}

// maxQueued bounds the commands a shared client's auto-pipeline holds
// (queued or in a batch) before it refuses more (go-redis's
// MaxQueuedCommands): callers that stopped waiting leave their commands
// behind, and a server that does not answer must not make them pile up.
// It is far above the calls in flight of a busy server (one per caller).
const maxQueued = 10000

// buildClient creates the go-redis client; it does no I/O (go-redis dials on
// first use), so a Redis that is down does not stop a scaler from being
// built: its metric spec is served and each Metrics call reports the
// outage. Every timeout of the client is bound, the bound of a call.
func buildClient(m *connMeta, poolSize int, pipeline bool, bound time.Duration) (*clientHandle, error) {
	var tlsCfg *tls.Config
	if m.useTLS {
		var err error
		if tlsCfg, err = m.TLS.Build(); err != nil {
			return nil, scalers.Invalid(err)
		}
	}
	// The password is read on every new connection, so a rotated
	// passwordFile takes effect without rebuilding anything.
	var creds func(context.Context) (string, string, error)
	if m.Username != "" || m.Password.IsSet() {
		creds = func(context.Context) (string, string, error) {
			pw, err := m.Password.Value()
			return m.Username, pw, err
		}
	}
	// One set of options for the three kinds of client; the conversion
	// below keeps those each kind has (a failover client has no
	// maintenance notifications).
	o := &redis.UniversalOptions{
		Addrs:                      m.addrs,
		DB:                         m.DatabaseIndex,
		CredentialsProviderContext: creds,
		Dialer:                     dialer(tlsCfg),
		PoolSize:                   poolSize,
		ReadBufferSize:             bufferSize,
		WriteBufferSize:            bufferSize,
		MaxRetries:                 1,
		DialerRetries:              1,
		DialTimeout:                bound,
		ReadTimeout:                bound,
		WriteTimeout:               bound,
		PoolTimeout:                bound,
		ContextTimeoutEnabled:      true,
		DisableIdentity:            true,
		MaintNotificationsConfig:   &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	}
	polled, cancel := context.WithCancel(context.Background())
	cancel()
	h := &clientHandle{polled: polled}
	if m.topo != cluster {
		h.breaker = &breaker{}
	}
	switch m.topo {
	case cluster:
		h.c = redis.NewClusterClient(o.Cluster())
	case sentinel:
		pw, err := m.SentinelPassword.Value()
		if err != nil {
			return nil, scalers.Invalid(m.SentinelPassword.ReadError("sentinelPassword", err))
		}
		h.sentinelPassword = pw
		o.MasterName, o.SentinelUsername, o.SentinelPassword = m.SentinelMaster, m.SentinelUsername, pw
		h.c = redis.NewFailoverClient(o.Failover())
	default:
		// Only the first address is used, as in KEDA.
		h.c = redis.NewClient(o.Simple())
	}
	if pipeline {
		// The deferred face: Submit plus WaitContext honours the caller's
		// context, which the blocking face does not once a command is queued.
		// Closing the client stops it.
		cfg := redis.DefaultAutoPipelineOptions()
		cfg.MaxQueuedCommands = maxQueued
		ap, err := h.c.(interface {
			AsyncAutoPipelineWithOptions(*redis.AutoPipelineOptions) (*redis.AutoPipeliner, error)
		}).AsyncAutoPipelineWithOptions(cfg)
		if err != nil {
			_ = h.c.Close()
			return nil, err
		}
		h.ap = ap
	}
	return h, nil
}

// dialer opens the connections of a client (to Redis, to a cluster node, to
// a sentinel and to the master it names), with TLS when tlsCfg is set. Both
// the TCP connect and the TLS handshake end with ctx, which carries the
// dial timeout; go-redis's own TLS dialer does not pass ctx to the
// handshake.
func dialer(tlsCfg *tls.Config) func(ctx context.Context, network, addr string) (net.Conn, error) {
	// go-redis's keep-alive policy: probe after 30 s idle, give up on a
	// peer after 3 probes 5 s apart.
	nd := &net.Dialer{KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: 30 * time.Second, Interval: 5 * time.Second, Count: 3}}
	if tlsCfg == nil {
		return nd.DialContext
	}
	td := &tls.Dialer{NetDialer: nd, Config: tlsCfg}
	return td.DialContext
}

// redisReply reports whether err is an error reply of the server starting
// with prefix (e.g. "WRONGTYPE", "NOGROUP").
func redisReply(err error, prefix string) bool {
	var re redis.Error
	return errors.As(err, &re) && strings.HasPrefix(re.Error(), prefix)
}
