package backendlink

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/protobuf/types/known/timestamppb"

	agentv1 "github.com/hpa-autoscaler/hpa-autoscaler/proto/agent/v1"
)

// Defaults of Options.
const (
	DefaultBufferSize = 10000
	// DefaultHardLimitFactor: HardLimit is this many times BufferSize.
	DefaultHardLimitFactor = 10
	DefaultWindow          = 1000
	DefaultMinBackoff      = 500 * time.Millisecond
	DefaultMaxBackoff      = 30 * time.Second
	// DefaultHeartbeatInterval is used when the AuthResponse gives none.
	DefaultHeartbeatInterval = 10 * time.Second
	// DefaultKeepaliveTime is the gRPC ping interval: above the 10 s the
	// backend's server enforces (backend/agentsvc.MinClientPing, its
	// keepalive.EnforcementPolicy.MinTime), so that it never answers
	// GOAWAY too_many_pings. grpc-go pings only after this long without
	// receiving anything, so while the backend's heartbeats flow (every
	// 10 s by default) no ping is sent at all, and a server with grpc-go's
	// default policy (5 min) is safe too. The heartbeats keep proxies
	// from closing an idle stream.
	DefaultKeepaliveTime    = 30 * time.Second
	DefaultKeepaliveTimeout = 20 * time.Second
	// DefaultInventoryInterval is the least time between two inventories
	// sent for a mere change of status.
	DefaultInventoryInterval = 10 * time.Second
	// DefaultAuthTimeout bounds the wait for the AuthResponse.
	DefaultAuthTimeout = 15 * time.Second
)

// Config keys the link applies from a ConfigUpdate (the agent
// configuration's keys).
const (
	// ConfigQueueSize sets BufferSize (agent.performance.queueSize).
	ConfigQueueSize = "agent.performance.queueSize"
)

// InventoryFunc lists the cluster's Scalers (the whole inventory).
type InventoryFunc func(ctx context.Context) ([]Scaler, error)

// ConfigFunc applies the settings of a ConfigUpdate the link does not
// apply itself; it returns the keys it does not know (nothing applied
// then) or an error.
type ConfigFunc func(version int64, settings map[string]string) error

// Options configure a Link.
type Options struct {
	// Addr is the backend's gRPC address, host:port (required).
	Addr string
	// ClusterID names the cluster (required).
	ClusterID string
	// Token returns the agent token; it is called at every connect (a
	// rotated token file is read again) and never logged (required).
	Token func() (string, error)
	// TLS returns the TLS configuration of a connect (nil func:
	// plaintext); called at every connect, so rotated files are read.
	TLS func() (*tls.Config, error)
	// AgentVersion, AgentInstance and ClusterInfo go in the AuthRequest.
	AgentVersion  string
	AgentInstance string
	ClusterInfo   *agentv1.ClusterInfo
	// BufferSize bounds the unacknowledged messages before metric
	// reports are shed (0: DefaultBufferSize); HardLimit bounds them
	// before decisions and events are dropped (0: 10 × BufferSize).
	BufferSize, HardLimit int
	// Window bounds the messages sent and not yet acknowledged (0:
	// DefaultWindow, at most BufferSize).
	Window int
	// MinBackoff and MaxBackoff bound the wait between two connects
	// (doubled each failure, full jitter between half and all of it).
	MinBackoff, MaxBackoff time.Duration
	// KeepaliveTime and KeepaliveTimeout are gRPC's client keepalive.
	KeepaliveTime, KeepaliveTimeout time.Duration
	// InventoryInterval is the least time between inventories sent for a
	// change of status (a new or deleted Scaler is sent at once).
	InventoryInterval time.Duration
	// Inventory lists the Scalers; SetInventory sets it later (a Link
	// without one sends no inventory).
	Inventory InventoryFunc
	// Config applies the ConfigUpdate keys the link does not know (nil:
	// they are refused).
	Config ConfigFunc
	// Now is the time (nil: time.Now).
	Now func() time.Time
	// Registerer receives the link's metrics (nil: none).
	Registerer prometheus.Registerer
	// Logger (nil: discard).
	Logger *slog.Logger
}

func (o *Options) withDefaults() error {
	var errs []error
	if o.Addr == "" {
		errs = append(errs, errors.New("backendlink: Options.Addr is required"))
	}
	if o.ClusterID == "" {
		errs = append(errs, errors.New("backendlink: Options.ClusterID is required"))
	}
	if o.Token == nil {
		errs = append(errs, errors.New("backendlink: Options.Token is required"))
	}
	if o.BufferSize < 0 || o.HardLimit < 0 || o.Window < 0 {
		errs = append(errs, fmt.Errorf("backendlink: BufferSize %d, HardLimit %d, Window %d: must be >= 0", o.BufferSize, o.HardLimit, o.Window))
	}
	if o.BufferSize == 0 {
		o.BufferSize = DefaultBufferSize
	}
	if o.HardLimit == 0 {
		o.HardLimit = DefaultHardLimitFactor * o.BufferSize
	}
	if o.HardLimit < o.BufferSize {
		errs = append(errs, fmt.Errorf("backendlink: HardLimit %d: below BufferSize %d", o.HardLimit, o.BufferSize))
	}
	if o.Window == 0 {
		o.Window = min(DefaultWindow, o.BufferSize)
	}
	set := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	set(&o.MinBackoff, DefaultMinBackoff)
	set(&o.MaxBackoff, DefaultMaxBackoff)
	set(&o.KeepaliveTime, DefaultKeepaliveTime)
	set(&o.KeepaliveTimeout, DefaultKeepaliveTimeout)
	set(&o.InventoryInterval, DefaultInventoryInterval)
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = o.MinBackoff
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return errors.Join(errs...)
}

// Link is the agent's link to the backend. Build it with New, run it with
// Run (or Start, as a controller-runtime Runnable).
type Link struct {
	o       Options
	metrics *linkMetrics

	mu  sync.Mutex
	buf *buffer
	// wake is signalled when there is something to send.
	wake chan struct{}
	// lastApplied is the highest ServerMessage seq applied.
	lastApplied uint64
	ackDirty    bool
	recs        map[key]*agentv1.Recommendation
	inventory   InventoryFunc
	// invDue: a change asks for an inventory at invAt (zero: none due).
	invAt       time.Time
	lastInvSent time.Time
	known       map[key]int64 // Scalers of the last inventory, by generation
	connected   bool
	// configVersion is the last ConfigUpdate version applied.
	configVersion int64
	sentFirst     bool
}

type key struct{ ns, name string }

// New checks o and registers the link's metrics.
func New(o Options) (*Link, error) {
	if err := o.withDefaults(); err != nil {
		return nil, err
	}
	l := &Link{o: o, wake: make(chan struct{}, 1), recs: map[key]*agentv1.Recommendation{}, inventory: o.Inventory, known: map[key]int64{}}
	m, err := newLinkMetrics(o.Registerer, l)
	if err != nil {
		return nil, fmt.Errorf("backendlink: metrics: %w", err)
	}
	l.metrics = m
	l.buf = newBuffer(o.BufferSize, o.HardLimit, func(k kind) { m.shed.WithLabelValues(k.String()).Inc() })
	return l, nil
}

// SetInventory sets the function that lists the Scalers.
func (l *Link) SetInventory(f InventoryFunc) {
	l.mu.Lock()
	l.inventory = f
	l.mu.Unlock()
}

func (l *Link) signal() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

func (l *Link) message(now time.Time) *agentv1.AgentMessage {
	return &agentv1.AgentMessage{MessageId: newID(), Timestamp: timestamppb.New(now)}
}

func (l *Link) enqueue(k kind, msg *agentv1.AgentMessage) {
	l.mu.Lock()
	l.buf.add(k, msg)
	l.mu.Unlock()
	l.signal()
}

// Report queues a decision.
func (l *Link) Report(d Decision) {
	m := l.message(l.o.Now())
	m.Payload = &agentv1.AgentMessage_Result{Result: d.proto()}
	l.enqueue(kindDecision, m)
}

// Event queues a scaling event.
func (l *Link) Event(e Event) {
	m := l.message(l.o.Now())
	m.Payload = &agentv1.AgentMessage_Event{Event: e.proto()}
	l.enqueue(kindEvent, m)
}

// Metrics queues a metric report.
func (l *Link) Metrics(r Metrics) {
	m := l.message(l.o.Now())
	m.Payload = &agentv1.AgentMessage_Metrics{Metrics: r.proto()}
	l.enqueue(kindMetrics, m)
}

// Changed says that a Scaler changed: a new Scaler, a new generation, or
// gone (deleted) asks for an inventory at once, anything else within
// InventoryInterval.
func (l *Link) Changed(namespace, name string, generation int64, deleted bool) {
	k := key{namespace, name}
	now := l.o.Now()
	l.mu.Lock()
	g, ok := l.known[k]
	at := now
	immediate := !ok && !deleted || ok && deleted || ok && g != generation
	if !immediate {
		// A change of status only: at most one inventory per interval.
		at = maxTime(now, l.lastInvSent.Add(l.o.InventoryInterval))
	}
	if l.invAt.IsZero() || at.Before(l.invAt) {
		l.invAt = at
	}
	l.mu.Unlock()
	l.signal()
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Advice returns what the backend last said about a Scaler, as of now.
func (l *Link) Advice(namespace, name string, now time.Time) Advice {
	l.mu.Lock()
	r := l.recs[key{namespace, name}]
	l.mu.Unlock()
	if r == nil {
		return Advice{}
	}
	a := Advice{
		Known: true, Floor: r.GetFloor(), FloorReason: r.GetFloorReason(), Forecast: r.GetForecast(), Confidence: r.GetConfidence(), Model: r.GetModel(),
		BudgetMaxReplicas: r.GetBudgetMaxReplicas(), PricePerReplicaHourMicros: r.GetPricePerReplicaHourMicros(), PriceTableHash: r.GetPriceTableHash(), Currency: r.GetCurrency(),
	}
	if e := r.GetExpiresAt(); e != nil {
		a.ExpiresAt = e.AsTime()
		a.FloorValid = now.Before(a.ExpiresAt)
	}
	return a
}

// Forget drops what the backend said about a Scaler that is gone.
func (l *Link) Forget(namespace, name string) {
	l.mu.Lock()
	delete(l.recs, key{namespace, name})
	l.mu.Unlock()
}

// Connected reports whether the link holds an authenticated stream.
func (l *Link) Connected() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.connected
}

// Buffered is the number of messages not yet acknowledged.
func (l *Link) Buffered() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.len()
}

// Shed is how many messages of each kind were shed (metrics) or dropped
// (decision, event) since the link started.
func (l *Link) Shed() map[string]int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]int64{}
	for k, n := range l.buf.shed {
		if n > 0 {
			out[kind(k).String()] = n
		}
	}
	return out
}

// LastAppliedServerSeq is the highest ServerMessage seq applied.
func (l *Link) LastAppliedServerSeq() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastApplied
}

// Start runs the link until ctx ends (controller-runtime's Runnable; it
// needs leader election: only the leading agent holds the stream).
func (l *Link) Start(ctx context.Context) error { return l.Run(ctx) }

// Run connects, streams, and reconnects with backoff until ctx ends; it
// returns nil then.
func (l *Link) Run(ctx context.Context) error {
	failures := 0
	for {
		start := time.Now()
		err := l.session(ctx)
		l.setConnected(false)
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(start) > l.o.MaxBackoff {
			// A stream that lasted is not a failure in a row.
			failures = 0
		}
		l.metrics.reconnects.Inc()
		wait := backoff(l.o.MinBackoff, l.o.MaxBackoff, failures)
		failures++
		l.o.Logger.Warn("backend link: stream ended; reconnecting", "backend", l.o.Addr, "err", err, "in", wait.Round(time.Millisecond))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// backoff is min × 2^failures capped at max, with full jitter over its
// upper half (so that agents restarted together spread out).
func backoff(lo, hi time.Duration, failures int) time.Duration {
	d := lo
	for i := 0; i < failures && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	return d/2 + rand.N(d/2+1)
}

func (l *Link) setConnected(v bool) {
	l.mu.Lock()
	l.connected = v
	l.mu.Unlock()
	if v {
		l.metrics.connected.Set(1)
	} else {
		l.metrics.connected.Set(0)
	}
}

// errSilent: no message from the backend for three heartbeats.
var errSilent = errors.New("no message from the backend for 3 heartbeat intervals")

// session is one connection: dial, authenticate, stream.
func (l *Link) session(ctx context.Context) error {
	creds := insecure.NewCredentials()
	if l.o.TLS != nil {
		tc, err := l.o.TLS()
		if err != nil {
			return fmt.Errorf("tls: %w", err)
		}
		creds = credentials.NewTLS(tc)
	}
	conn, err := grpc.NewClient(l.o.Addr,
		grpc.WithTransportCredentials(creds),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: l.o.KeepaliveTime, Timeout: l.o.KeepaliveTimeout}),
	)
	if err != nil {
		return fmt.Errorf("dial %s: %w", l.o.Addr, err)
	}
	defer conn.Close()
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stream, err := agentv1.NewAgentServiceClient(conn).Connect(sctx)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	token, err := l.o.Token()
	if err != nil {
		return fmt.Errorf("agent token: %w", err)
	}
	l.mu.Lock()
	auth := &agentv1.AuthRequest{
		ClusterId: l.o.ClusterID, AgentToken: token, AgentVersion: l.o.AgentVersion, ClusterInfo: l.o.ClusterInfo,
		LastAppliedServerSeq: l.lastApplied, AgentInstance: l.o.AgentInstance,
	}
	l.mu.Unlock()
	first := l.message(l.o.Now())
	first.Payload = &agentv1.AgentMessage_Auth{Auth: auth}
	if err := stream.Send(first); err != nil {
		return fmt.Errorf("send auth: %w", recvErr(stream, err))
	}
	authTimer := time.AfterFunc(DefaultAuthTimeout, func() { cancel(errors.New("no AuthResponse within " + DefaultAuthTimeout.String())) })
	resp, err := stream.Recv()
	authTimer.Stop()
	if err != nil {
		if c := context.Cause(sctx); c != nil && ctx.Err() == nil {
			err = c
		}
		return fmt.Errorf("auth: %w", err)
	}
	ar := resp.GetAuth()
	if ar == nil {
		return fmt.Errorf("auth: the backend's first message is not an AuthResponse (%T)", resp.GetPayload())
	}
	hb := DefaultHeartbeatInterval
	if d := ar.GetHeartbeatInterval(); d != nil && d.AsDuration() > 0 {
		hb = d.AsDuration()
	}
	l.mu.Lock()
	gap := l.buf.onAuth(ar.GetLastAppliedAgentSeq())
	if gap || !l.sentFirst {
		// The backend misses what it acknowledged (or this process has
		// never told it its Scalers): the full state first.
		l.buf.addInventory(true)
	}
	if ar.GetResync() {
		// The backend sends its whole state anew, numbered on from where
		// it is: take it whatever seq it starts at.
		l.lastApplied = 0
	}
	l.applyAck(resp.GetAck())
	l.mu.Unlock()
	l.setConnected(true)
	l.o.Logger.Info("backend link: connected", "backend", l.o.Addr, "tenant", ar.GetTenant(), "cluster", ar.GetClusterId(),
		"lastAppliedAgentSeq", ar.GetLastAppliedAgentSeq(), "gap", gap, "resync", ar.GetResync(), "heartbeat", hb)

	watchdog := time.AfterFunc(3*hb, func() { cancel(errSilent) })
	defer watchdog.Stop()
	recvDone := make(chan error, 1)
	go func() {
		for {
			m, err := stream.Recv()
			if err != nil {
				recvDone <- err
				return
			}
			watchdog.Reset(3 * hb)
			l.receive(sctx, m)
		}
	}()
	err = l.sendLoop(sctx, stream, hb, recvDone)
	cancel(nil)
	if err == nil || errors.Is(err, context.Canceled) {
		if c := context.Cause(sctx); c != nil && !errors.Is(c, context.Canceled) {
			err = c
		}
	}
	// Wait for the receiver: the stream's context is cancelled, so its
	// Recv returns.
	if rerr := <-recvDone; err == nil {
		err = rerr
	}
	return err
}

// recvErr is the stream's status when a Send failed with io.EOF.
func recvErr(stream agentv1.AgentService_ConnectClient, err error) error {
	if _, rerr := stream.Recv(); rerr != nil {
		return rerr
	}
	return err
}

// sendLoop sends what is buffered, and heartbeats, until the stream
// ends.
func (l *Link) sendLoop(ctx context.Context, stream agentv1.AgentService_ConnectClient, hb time.Duration, recvDone chan error) error {
	hbTimer := time.NewTimer(hb)
	defer hbTimer.Stop()
	invTimer := time.NewTimer(time.Hour)
	defer invTimer.Stop()
	for {
		sent, err := l.sendAll(ctx, stream)
		if err != nil {
			return err
		}
		l.mu.Lock()
		ackDirty := l.ackDirty
		l.mu.Unlock()
		if !sent && ackDirty {
			if err := l.sendHeartbeat(stream); err != nil {
				return err
			}
			sent = true
		}
		if sent {
			hbTimer.Reset(hb)
		}
		if d, ok := l.inventoryDue(); ok {
			invTimer.Reset(max(d, time.Millisecond))
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case err := <-recvDone:
			recvDone <- err // for session's wait
			if err == nil {
				return errors.New("stream ended")
			}
			return err
		case <-l.wake:
		case <-invTimer.C:
		case <-hbTimer.C:
			if err := l.sendHeartbeat(stream); err != nil {
				return err
			}
			hbTimer.Reset(hb)
		}
	}
}

// inventoryDue queues a due inventory, or says in how long one is due.
func (l *Link) inventoryDue() (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.invAt.IsZero() {
		return 0, false
	}
	if d := l.invAt.Sub(l.o.Now()); d > 0 {
		return d, true
	}
	l.invAt = time.Time{}
	l.buf.addInventory(false)
	l.signal()
	return 0, false
}

func (l *Link) sendHeartbeat(stream agentv1.AgentService_ConnectClient) error {
	m := l.message(l.o.Now())
	m.Payload = &agentv1.AgentMessage_Heartbeat{Heartbeat: &agentv1.Heartbeat{}}
	l.mu.Lock()
	m.Ack, l.ackDirty = l.lastApplied, false
	l.mu.Unlock()
	return stream.Send(m)
}

// sendAll sends what the buffer and window allow.
func (l *Link) sendAll(ctx context.Context, stream agentv1.AgentService_ConnectClient) (bool, error) {
	sent := false
	for {
		l.mu.Lock()
		inv := l.inventory
		e, _ := l.buf.next(l.o.Window, inv != nil)
		if e == nil {
			l.mu.Unlock()
			return sent, nil
		}
		seq := e.seq
		l.mu.Unlock()
		if e.kind == kindInventory && e.msg == nil {
			// Built outside the lock: it lists the cluster's Scalers.
			msg, known, err := l.buildInventory(ctx, inv)
			if err != nil {
				return sent, fmt.Errorf("inventory: %w", err)
			}
			l.mu.Lock()
			msg.Seq = seq
			e.msg = msg
			l.known, l.lastInvSent = known, l.o.Now()
			l.sentFirst = true
			l.mu.Unlock()
		}
		l.mu.Lock()
		e.msg.Ack, l.ackDirty = l.lastApplied, false
		l.mu.Unlock()
		if err := stream.Send(e.msg); err != nil {
			return sent, err
		}
		l.metrics.sent.WithLabelValues(e.kind.String()).Inc()
		sent = true
	}
}

func (l *Link) buildInventory(ctx context.Context, f InventoryFunc) (*agentv1.AgentMessage, map[key]int64, error) {
	inv := &agentv1.Inventory{}
	known := map[key]int64{}
	if f == nil {
		// Sent before SetInventory and resent now: nothing lists yet.
		return nil, nil, errors.New("no inventory source yet")
	}
	ictx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	list, err := f(ictx)
	if err != nil {
		return nil, nil, err
	}
	for i := range list {
		inv.Scalers = append(inv.Scalers, list[i].proto())
		known[key{list[i].Namespace, list[i].Name}] = list[i].Generation
	}
	m := l.message(l.o.Now())
	m.Payload = &agentv1.AgentMessage_Inventory{Inventory: inv}
	return m, known, nil
}

// applyAck drops what the backend acknowledged. l.mu is held.
func (l *Link) applyAck(n uint64) {
	if n > 0 {
		l.buf.ack(n)
	}
}

// receive applies one ServerMessage: its ack, and its payload at most
// once (a seq at or below the last applied is a resend).
func (l *Link) receive(ctx context.Context, m *agentv1.ServerMessage) {
	l.mu.Lock()
	l.applyAck(m.GetAck())
	seq := m.GetSeq()
	if seq != 0 && seq <= l.lastApplied {
		l.mu.Unlock()
		l.signal()
		return
	}
	var cfg *agentv1.ConfigUpdate
	switch p := m.GetPayload().(type) {
	case *agentv1.ServerMessage_Recommendation:
		r := p.Recommendation
		l.recs[key{r.GetNamespace(), r.GetScalerName()}] = r
	case *agentv1.ServerMessage_Config:
		cfg = p.Config
	case *agentv1.ServerMessage_Resync:
		l.buf.addInventory(true)
		l.o.Logger.Info("backend link: resync asked", "reason", p.Resync.GetReason())
	}
	if seq != 0 {
		l.lastApplied, l.ackDirty = seq, true
	}
	l.mu.Unlock()
	if cfg != nil {
		l.applyConfig(cfg)
	}
	l.signal()
}

// applyConfig applies a ConfigUpdate (all its keys or none) and queues
// its ConfigAck.
func (l *Link) applyConfig(c *agentv1.ConfigUpdate) {
	ack := &agentv1.ConfigAck{Version: c.GetVersion()}
	if err := l.configure(c); err != nil {
		ack.Error = err.Error()
		l.o.Logger.Warn("backend link: config not applied", "version", c.GetVersion(), "err", err)
	}
	m := l.message(l.o.Now())
	m.Payload = &agentv1.AgentMessage_ConfigAck{ConfigAck: ack}
	l.enqueue(kindControl, m)
}

func (l *Link) configure(c *agentv1.ConfigUpdate) error {
	l.mu.Lock()
	if c.GetVersion() <= l.configVersion {
		// An older version than the one applied: acknowledged, not
		// applied again.
		l.mu.Unlock()
		return nil
	}
	l.mu.Unlock()
	settings := maps.Clone(c.GetSettings())
	queueSize := 0
	if v, ok := settings[ConfigQueueSize]; ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 1 {
			return fmt.Errorf("%s %q: expected a count >= 1", ConfigQueueSize, v)
		}
		queueSize = n
		delete(settings, ConfigQueueSize)
	}
	if len(settings) > 0 {
		if l.o.Config == nil {
			return fmt.Errorf("unsupported keys %s (the agent applies %s)", strings.Join(slices.Sorted(maps.Keys(settings)), ", "), ConfigQueueSize)
		}
		if err := l.o.Config(c.GetVersion(), settings); err != nil {
			return err
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if queueSize > 0 {
		l.buf.soft = queueSize
		l.buf.hard = max(l.buf.hard, queueSize)
		l.buf.enforce()
	}
	l.configVersion = c.GetVersion()
	return nil
}
