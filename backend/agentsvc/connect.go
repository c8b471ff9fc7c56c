package agentsvc

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hpa-autoscaler/hpa-autoscaler/backend/auth"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/store"
	agentv1 "github.com/hpa-autoscaler/hpa-autoscaler/proto/agent/v1"
)

func ts(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }

// clusterState is what the service keeps of a cluster across its
// streams (not across restarts): the server's seq, the sent messages the
// agent has not acknowledged, what was pushed per Scaler, the inventory.
type clusterState struct {
	key clusterKey

	mu     sync.Mutex
	active *stream
	// fresh: no stream of this cluster since the service started, so
	// nothing of the server's side is known.
	fresh      bool
	nextSeq    uint64
	outbox     []*agentv1.ServerMessage
	lastRec    map[string]pushed
	configSent int64
	scalers    map[string]ScalerRef
}

type pushed struct {
	fp string
	at time.Time
}

func (s *Service) cluster(k clusterKey) *clusterState {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := s.clusters[k]
	if cs == nil {
		cs = &clusterState{key: k, fresh: true, nextSeq: 1, lastRec: map[string]pushed{}, scalers: map[string]ScalerRef{}}
		s.clusters[k] = cs
	}
	return cs
}

// acked drops the sent messages up to the agent's ack.
func (cs *clusterState) acked(ack uint64) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	i := 0
	for i < len(cs.outbox) && cs.outbox[i].GetSeq() <= ack {
		i++
	}
	if i > 0 {
		cs.outbox = append(cs.outbox[:0:0], cs.outbox[i:]...)
	}
}

// stream is one authenticated Connect stream.
type stream struct {
	s          *Service
	cs         *clusterState
	ss         agentv1.AgentService_ConnectServer
	tenant     store.TenantID
	cluster    string
	actor      string
	connection int64

	stop       chan struct{}
	stopOnce   sync.Once
	stopErr    error
	stopReason string
	finished   chan struct{}

	// The handler goroutine's own: the last seq applied (in memory for
	// metric reports) and the last one durable (what ack says).
	applied, durable int64
	lastFlush        time.Time
	// flushing: a flush in flight (at most one); its seq comes back on
	// flushed once durable (0: it failed).
	flushing    bool
	flushed     chan int64
	invErrs     []string
	statusJSON  json.RawMessage
	resyncAsked bool

	// The send queue, for the sender goroutine.
	qmu      sync.Mutex
	recs     map[string]*agentv1.Recommendation
	recOrder []string
	others   []*agentv1.ServerMessage
	replay   []*agentv1.ServerMessage
	hbDue    bool
	ackDirty bool
	ack      uint64
	notify   chan struct{}

	sendingSince atomic.Int64 // unix nanos of the send in progress, 0 when none
	lastSend     atomic.Int64
	lastRecv     atomic.Int64

	dmu         sync.Mutex
	dirty       map[string]ScalerRef
	dirtyNotify chan struct{}
}

// end reasons (the hpa_agent_stream_ends_total label and the offline
// reason in the store).
const (
	reasonDisconnected = "disconnected"
	reasonHeartbeats   = "missed heartbeats"
	reasonSlow         = "slow consumer"
	reasonReplaced     = "replaced"
	reasonShutdown     = "backend shutdown"
	reasonProtocol     = "protocol error"
	reasonStore        = "store error"
)

// end stops the stream with err (nil: a clean end) for reason; the first
// call wins.
func (st *stream) end(reason string, err error) {
	st.stopOnce.Do(func() {
		st.stopReason, st.stopErr = reason, err
		close(st.stop)
	})
}

type recvd struct {
	m   *agentv1.AgentMessage
	err error
}

// Connect implements agentv1.AgentServiceServer.
func (s *Service) Connect(ss agentv1.AgentService_ConnectServer) error {
	ctx := ss.Context()
	in := make(chan recvd)
	quit := make(chan struct{})
	defer close(quit)
	var lastRecv atomic.Int64
	// The only caller of Recv. After the handler returns, Recv returns
	// (the stream ends) and so does this goroutine.
	go func() {
		for {
			m, err := ss.Recv()
			lastRecv.Store(s.o.Clock.Now().UnixNano())
			select {
			case in <- recvd{m, err}:
			case <-quit:
				return
			}
			if err != nil {
				return
			}
		}
	}()

	timer := s.o.Clock.NewTimer(s.o.AuthTimeout)
	var first recvd
	select {
	case first = <-in:
		timer.Stop()
	case <-timer.C():
		return status.Errorf(codes.DeadlineExceeded, "auth: no AuthRequest within %v", s.o.AuthTimeout)
	case <-s.ctx.Done():
		timer.Stop()
		return status.Error(codes.Unavailable, "backend shutting down")
	case <-ctx.Done():
		timer.Stop()
		return status.FromContextError(ctx.Err()).Err()
	}
	if first.err != nil {
		if errors.Is(first.err, io.EOF) {
			return status.Error(codes.Unauthenticated, "auth: the stream ended before an AuthRequest")
		}
		return first.err
	}
	a := first.m.GetAuth()
	if a == nil {
		return status.Errorf(codes.FailedPrecondition, "auth: the first message must be auth, got %s", payloadKind(first.m))
	}
	st, err := s.authenticate(ctx, ss, a)
	if err != nil {
		return err
	}
	st.lastRecv.Store(lastRecv.Load())
	return st.run(ctx, in, &lastRecv)
}

// authenticate checks the AuthRequest, takes the cluster's stream over
// (ending the one before) and answers it.
func (s *Service) authenticate(ctx context.Context, ss agentv1.AgentService_ConnectServer, a *agentv1.AuthRequest) (*stream, error) {
	cluster := a.GetClusterId()
	switch {
	case cluster == "":
		return nil, invalid("auth.cluster_id", "required")
	case len(cluster) > 128:
		return nil, invalid("auth.cluster_id", "longer than 128 characters")
	case a.GetAgentToken() == "":
		return nil, status.Error(codes.Unauthenticated, "auth.agent_token: required")
	case len(a.GetAgentInstance()) > 256:
		return nil, invalid("auth.agent_instance", "longer than 256 characters")
	case len(a.GetAgentVersion()) > 128:
		return nil, invalid("auth.agent_version", "longer than 128 characters")
	}
	actx, cancel := context.WithTimeout(ctx, s.o.RPCTimeout)
	defer cancel()
	p, err := s.o.Auth.Authenticate(actx, a.GetAgentToken())
	if err != nil {
		return nil, grpcErr("auth.agent_token", err)
	}
	bound, ok := auth.BoundCluster(p)
	if !ok {
		return nil, status.Errorf(codes.PermissionDenied, "auth.agent_token: not an agent token (no %s<id> scope: hpa-autoscaler token create --cluster ID)", auth.AgentScopePrefix)
	}
	if bound != cluster {
		// The token's tenant is the only one looked at: a cluster of
		// another tenant is neither found nor named.
		return nil, status.Errorf(codes.PermissionDenied, "auth.cluster_id %q: the agent token is bound to another cluster", clip(cluster))
	}
	if err := auth.Authorize(p, auth.AgentConnect, auth.Resource{Tenant: p.Tenant, Kind: "cluster", Name: cluster}); err != nil {
		return nil, grpcErr("auth.agent_token", err)
	}
	if err := s.checkPeer(ctx, cluster); err != nil {
		return nil, err
	}

	cs := s.cluster(clusterKey{p.Tenant, cluster})
	st := &stream{s: s, cs: cs, ss: ss, tenant: p.Tenant, cluster: cluster, actor: p.Actor(),
		stop: make(chan struct{}), finished: make(chan struct{}), recs: map[string]*agentv1.Recommendation{},
		notify: make(chan struct{}, 1), flushed: make(chan int64, 1), dirty: map[string]ScalerRef{}, dirtyNotify: make(chan struct{}, 1)}
	// One stream per cluster: the newer wins, after the older finished
	// applying (so the seq read below is the last one).
	cs.mu.Lock()
	old := cs.active
	cs.active = st
	cs.mu.Unlock()
	if old != nil {
		old.end(reasonReplaced, status.Error(codes.Aborted, "replaced by a newer connection of the cluster"))
		t := s.o.Clock.NewTimer(s.o.RPCTimeout)
		select {
		case <-old.finished:
			t.Stop()
		case <-t.C():
			s.release(st)
			return nil, status.Error(codes.Unavailable, "the cluster's previous stream is still ending; retry")
		}
	}

	var ag store.Agent
	err = s.o.Store.Update(actx, p.Tenant, st.actor, func(tx store.Tx) error {
		if _, err := tx.Cluster(cluster); errors.Is(err, store.ErrNotFound) {
			// The token's binding is the admin's consent to the cluster.
			c := store.Cluster{ID: cluster, Name: cluster, Labels: a.GetClusterInfo().GetLabels()}
			if _, err := tx.CreateCluster(c); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		var err error
		ag, err = tx.ConnectAgent(store.AgentConnect{Cluster: cluster, Instance: a.GetAgentInstance(), Version: a.GetAgentVersion()})
		return err
	})
	if err != nil {
		s.release(st)
		return nil, grpcErr("auth", err)
	}
	st.connection, st.applied, st.durable, st.ack = ag.Connection, ag.LastAgentSeq, ag.LastAgentSeq, uint64(ag.LastAgentSeq)
	st.invErrs, st.statusJSON = ag.InventoryErrors, ag.Status
	st.lastFlush = s.o.Clock.Now()
	if err := st.loadScalers(actx); err != nil {
		s.release(st)
		return nil, grpcErr("auth: scalers of the cluster", err)
	}
	resync := st.resume(a.GetLastAppliedServerSeq())
	cs.mu.Lock()
	if cs.configSent == 0 && !resync {
		cs.configSent = ag.ConfigVersion // what the agent applied is not sent again
	}
	cs.mu.Unlock()
	if ag.Connection == 1 && ag.LastAgentSeq == 0 {
		st.askResync("first connection of the cluster")
	}
	now := s.o.Clock.Now()
	resp := &agentv1.ServerMessage{MessageId: fmt.Sprintf("%s/%d/auth", cluster, st.connection), Timestamp: ts(now), Ack: st.ack,
		Payload: &agentv1.ServerMessage_Auth{Auth: &agentv1.AuthResponse{Tenant: string(p.Tenant), ClusterId: cluster,
			LastAppliedAgentSeq: uint64(ag.LastAgentSeq), HeartbeatInterval: durationpb.New(s.o.HeartbeatInterval), Resync: resync}}}
	if err := ss.Send(resp); err != nil {
		s.release(st)
		return nil, err
	}
	st.lastSend.Store(now.UnixNano())
	s.m.connected.Inc()
	s.log.Info("agent connected", "tenant", p.Tenant, "cluster", cluster, "connection", st.connection, "instance", a.GetAgentInstance(),
		"version", a.GetAgentVersion(), "lastAppliedAgentSeq", ag.LastAgentSeq, "lastAppliedServerSeq", a.GetLastAppliedServerSeq(), "resync", resync)
	return st, nil
}

// release undoes the registration of a stream that did not start.
func (s *Service) release(st *stream) {
	st.cs.mu.Lock()
	if st.cs.active == st {
		st.cs.active = nil
	}
	st.cs.mu.Unlock()
	st.end(reasonProtocol, nil)
	close(st.finished)
}

// checkPeer: with a verified client certificate (mTLS), it must name
// the cluster: its subject's common name is the cluster id, or one of its
// URI SANs has a path ending in /cluster/<id>.
func (s *Service) checkPeer(ctx context.Context, cluster string) error {
	var certs []*x509.Certificate
	verified := false
	if p, ok := peer.FromContext(ctx); ok {
		if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok {
			certs = ti.State.PeerCertificates
			verified = len(ti.State.VerifiedChains) > 0
		}
	}
	if len(certs) == 0 {
		if s.o.RequireClientCert {
			return status.Error(codes.PermissionDenied, "auth: a client certificate naming the cluster is required (mTLS)")
		}
		return nil
	}
	if !verified {
		return status.Error(codes.PermissionDenied, "auth: the client certificate is not verified by the server's client CA")
	}
	if !CertNamesCluster(certs[0], cluster) {
		return status.Errorf(codes.PermissionDenied, "auth.cluster_id %q: the client certificate names another cluster (want CN %q or a URI SAN ending in /cluster/%s)", clip(cluster), clip(cluster), clip(cluster))
	}
	return nil
}

// CertNamesCluster reports whether a client certificate names cluster:
// its subject's common name is the id, or a URI SAN's path ends in
// "/cluster/<id>" (e.g. spiffe://example.org/hpa/cluster/prod).
func CertNamesCluster(c *x509.Certificate, cluster string) bool {
	if c.Subject.CommonName == cluster {
		return true
	}
	for _, u := range c.URIs {
		if strings.HasSuffix(u.Path, "/cluster/"+cluster) {
			return true
		}
	}
	return false
}

// loadScalers reads the cluster's scalers into the cluster's inventory.
func (st *stream) loadScalers(ctx context.Context) error {
	scalers := map[string]ScalerRef{}
	page := store.Page{Limit: store.MaxLimit}
	for {
		l, err := st.s.o.Store.ScalersWhere(ctx, st.tenant, store.ScalerFilter{Cluster: st.cluster}, page)
		if err != nil {
			return err
		}
		for _, sc := range l.Items {
			name, ok := strings.CutPrefix(sc.Name, sc.Namespace+".")
			if !ok {
				continue // not an agent's scaler (made through the API)
			}
			scalers[sc.Name] = ScalerRef{Tenant: st.tenant, Cluster: st.cluster, Namespace: sc.Namespace, Name: name}
		}
		if l.NextPageToken == "" {
			break
		}
		page.Token = l.NextPageToken
	}
	st.cs.mu.Lock()
	st.cs.scalers = scalers
	st.cs.mu.Unlock()
	return nil
}

// resume decides what the agent gets of the server's side: the sent
// messages after lastApplied when they are all kept, else a resync (all
// state again, numbered after anything the agent has seen).
func (st *stream) resume(lastApplied uint64) (resync bool) {
	cs := st.cs
	cs.mu.Lock()
	defer cs.mu.Unlock()
	first := cs.nextSeq
	if len(cs.outbox) > 0 {
		first = cs.outbox[0].GetSeq()
	}
	switch {
	case cs.fresh:
		// The service restarted: nothing of what it sent before is
		// known. An agent that applied some needs the whole state.
		resync = lastApplied > 0
	case lastApplied+1 >= first && lastApplied < cs.nextSeq:
		for _, m := range cs.outbox {
			if m.GetSeq() > lastApplied {
				st.replay = append(st.replay, m)
			}
		}
	default:
		resync = true
	}
	cs.fresh = false
	if resync || lastApplied >= cs.nextSeq {
		cs.nextSeq = max(cs.nextSeq, lastApplied+1)
	}
	if resync {
		cs.outbox, cs.lastRec, cs.configSent = nil, map[string]pushed{}, 0
		st.replay = nil
	}
	return resync
}

// run serves the stream until it ends.
func (st *stream) run(ctx context.Context, in <-chan recvd, lastRecv *atomic.Int64) error {
	s := st.s
	var wg sync.WaitGroup
	quit := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		st.pushLoop(quit)
	}()
	sendDone := make(chan struct{})
	go func() {
		defer close(sendDone)
		st.sendLoop(quit)
	}()
	st.kick()

	step := min(s.o.HeartbeatInterval/2, s.o.FlushInterval, s.o.SendTimeout/2)
	tick := s.o.Clock.NewTicker(step)
loop:
	for {
		select {
		case r := <-in:
			if r.err != nil {
				if errors.Is(r.err, io.EOF) {
					st.end(reasonDisconnected, nil)
				} else {
					st.end(reasonDisconnected, r.err)
				}
				continue
			}
			if err := st.apply(ctx, r.m); err != nil {
				reason := reasonProtocol
				if c := status.Code(err); c == codes.Unavailable || c == codes.Internal || c == codes.DeadlineExceeded {
					reason = reasonStore
				}
				st.end(reason, err)
			}
		case <-tick.C():
			st.tick(ctx, lastRecv)
		case seq := <-st.flushed:
			st.flushing = false
			if seq > st.durable {
				st.durable = seq
				st.setAck(uint64(seq))
			}
		case <-st.stop:
			break loop
		case <-s.ctx.Done():
			st.end(reasonShutdown, status.Error(codes.Unavailable, "backend shutting down"))
		case <-ctx.Done():
			st.end(reasonDisconnected, status.FromContextError(ctx.Err()).Err())
		}
	}
	tick.Stop()
	close(quit)
	wg.Wait()
	if st.flushing {
		if seq := <-st.flushed; seq > st.durable {
			st.durable = seq
		}
	}

	// What is left of the stream's state, with a context of its own: the
	// stream's may be gone.
	fctx, cancel := context.WithTimeout(context.Background(), s.o.RPCTimeout)
	defer cancel()
	st.flushNow(fctx)
	if st.stopReason != reasonReplaced {
		err := s.o.Store.Update(fctx, st.tenant, st.actor, func(tx store.Tx) error {
			_, err := tx.DisconnectAgent(st.cluster, st.connection, st.stopReason)
			return err
		})
		if err != nil {
			s.log.Warn("agent: marking offline", "tenant", st.tenant, "cluster", st.cluster, "err", err)
		}
	}
	st.cs.mu.Lock()
	if st.cs.active == st {
		st.cs.active = nil
	}
	st.cs.mu.Unlock()
	s.m.connected.Dec()
	s.m.ends.WithLabelValues(st.stopReason).Inc()
	s.log.Info("agent disconnected", "tenant", st.tenant, "cluster", st.cluster, "connection", st.connection, "reason", st.stopReason, "err", st.stopErr)
	close(st.finished)
	// The sender may still be blocked in Send (an agent that stopped
	// reading): it returns once the handler has returned.
	select {
	case <-sendDone:
	default:
	}
	return st.stopErr
}

// tick: liveness, a stuck send, heartbeats, the flush of metric seqs.
func (st *stream) tick(ctx context.Context, lastRecv *atomic.Int64) {
	s := st.s
	now := s.o.Clock.Now()
	if silent := now.Sub(time.Unix(0, lastRecv.Load())); silent > time.Duration(s.o.MissedHeartbeats)*s.o.HeartbeatInterval {
		st.end(reasonHeartbeats, status.Errorf(codes.DeadlineExceeded, "no message from the agent for %d heartbeat intervals (%v)", s.o.MissedHeartbeats, silent.Round(time.Millisecond)))
		return
	}
	if since := st.sendingSince.Load(); since != 0 && now.Sub(time.Unix(0, since)) > s.o.SendTimeout {
		st.end(reasonSlow, status.Errorf(codes.ResourceExhausted, "the agent has not read for %v: a send is blocked", s.o.SendTimeout))
		return
	}
	if now.Sub(time.Unix(0, st.lastSend.Load())) >= s.o.HeartbeatInterval {
		st.qmu.Lock()
		st.hbDue = true
		st.qmu.Unlock()
		st.kick()
	}
	if st.applied > st.durable && !st.flushing && now.Sub(st.lastFlush) >= s.o.FlushInterval {
		// In the background: the stream goes on applying while the
		// store commits.
		st.flushing, st.lastFlush = true, now
		seq := st.applied
		go func() {
			if st.advance(ctx, seq) {
				st.flushed <- seq
			} else {
				st.flushed <- 0
			}
		}()
	}
}

// flushNow makes the seq of the metric reports applied in memory
// durable, at the stream's end.
func (st *stream) flushNow(ctx context.Context) {
	if st.applied > st.durable && st.advance(ctx, st.applied) {
		st.durable = st.applied
	}
}

// advance makes seq durable (a seq stored already is as good).
func (st *stream) advance(ctx context.Context, seq int64) bool {
	err := st.s.o.Store.Update(ctx, st.tenant, st.actor, func(tx store.Tx) error { return tx.AdvanceAgentSeq(st.cluster, seq) })
	if err != nil && !errors.Is(err, store.ErrConflict) {
		st.s.log.Warn("agent: flushing the seq of metric reports", "tenant", st.tenant, "cluster", st.cluster, "err", err)
		return false
	}
	return true
}

// setAck sets the ack the next message carries.
func (st *stream) setAck(ack uint64) {
	st.qmu.Lock()
	if ack > st.ack {
		st.ack, st.ackDirty = ack, true
	}
	st.qmu.Unlock()
	st.kick()
}

func (st *stream) kick() {
	select {
	case st.notify <- struct{}{}:
	default:
	}
}

// enqueue adds a message to send in order (config, resync); past
// SendQueue the stream ends.
func (st *stream) enqueue(m *agentv1.ServerMessage) {
	st.qmu.Lock()
	full := len(st.others) >= st.s.o.SendQueue
	if !full {
		st.others = append(st.others, m)
	}
	st.qmu.Unlock()
	if full {
		st.end(reasonSlow, status.Errorf(codes.ResourceExhausted, "the agent is not reading: %d messages wait to be sent", st.s.o.SendQueue))
		return
	}
	st.kick()
}

// enqueueRec keeps the latest recommendation of a Scaler to send.
func (st *stream) enqueueRec(key string, r *agentv1.Recommendation) {
	st.qmu.Lock()
	if _, ok := st.recs[key]; !ok {
		st.recOrder = append(st.recOrder, key)
	}
	st.recs[key] = r
	st.qmu.Unlock()
	st.kick()
}

// QueuedRecommendations is, for tests, the recommendations a stream of
// cluster has not sent yet (-1: no stream).
func (s *Service) QueuedRecommendations(tenant store.TenantID, cluster string) int {
	s.mu.Lock()
	cs := s.clusters[clusterKey{tenant, cluster}]
	s.mu.Unlock()
	if cs == nil {
		return -1
	}
	cs.mu.Lock()
	st := cs.active
	cs.mu.Unlock()
	if st == nil {
		return -1
	}
	st.qmu.Lock()
	defer st.qmu.Unlock()
	return len(st.recs)
}

const takeBatch = 64

// take numbers and returns the next messages to send.
func (st *stream) take() []*agentv1.ServerMessage {
	st.qmu.Lock()
	defer st.qmu.Unlock()
	now := ts(st.s.o.Clock.Now())
	var out []*agentv1.ServerMessage
	for len(st.replay) > 0 && len(out) < takeBatch {
		// Shared with the outbox (and other streams' replays): a copy
		// carries this stream's ack. Nothing in the outbox changes.
		m := proto.Clone(st.replay[0]).(*agentv1.ServerMessage)
		m.Ack = st.ack
		out = append(out, m)
		st.replay = st.replay[1:]
	}
	var fresh []*agentv1.ServerMessage
	for len(st.others) > 0 && len(out)+len(fresh) < takeBatch {
		fresh = append(fresh, st.others[0])
		st.others = st.others[1:]
	}
	for len(st.recOrder) > 0 && len(out)+len(fresh) < takeBatch {
		k := st.recOrder[0]
		st.recOrder = st.recOrder[1:]
		r := st.recs[k]
		delete(st.recs, k)
		fresh = append(fresh, &agentv1.ServerMessage{Payload: &agentv1.ServerMessage_Recommendation{Recommendation: r}})
	}
	if len(fresh) > 0 {
		cs := st.cs
		cs.mu.Lock()
		for _, m := range fresh {
			m.Seq = cs.nextSeq
			cs.nextSeq++
			m.MessageId = fmt.Sprintf("%s/%d", st.cluster, m.Seq)
			m.Timestamp = now
			m.Ack = st.ack
			cs.outbox = append(cs.outbox, m)
		}
		if over := len(cs.outbox) - st.s.o.Outbox; over > 0 {
			cs.outbox = append(cs.outbox[:0:0], cs.outbox[over:]...)
		}
		cs.mu.Unlock()
		out = append(out, fresh...)
	}
	if len(out) == 0 && (st.hbDue || st.ackDirty) {
		out = append(out, &agentv1.ServerMessage{MessageId: fmt.Sprintf("%s/hb", st.cluster), Timestamp: now, Ack: st.ack,
			Payload: &agentv1.ServerMessage_Heartbeat{Heartbeat: &agentv1.Heartbeat{}}})
	}
	if len(out) > 0 {
		st.hbDue, st.ackDirty = false, false
	}
	return out
}

// sendLoop is the only caller of Send once the stream runs.
func (st *stream) sendLoop(quit <-chan struct{}) {
	for {
		select {
		case <-st.notify:
		case <-quit:
			return
		}
		for {
			msgs := st.take()
			if len(msgs) == 0 {
				break
			}
			for _, m := range msgs {
				st.sendingSince.Store(st.s.o.Clock.Now().UnixNano())
				err := st.ss.Send(m)
				st.sendingSince.Store(0)
				if err != nil {
					st.end(reasonDisconnected, err)
					return
				}
				st.lastSend.Store(st.s.o.Clock.Now().UnixNano())
			}
			select {
			case <-quit:
				return
			default:
			}
		}
	}
}

// markDirty asks for ref's recommendation now.
func (st *stream) markDirty(ref ScalerRef) {
	st.dmu.Lock()
	st.dirty[ref.StoreName()] = ref
	st.dmu.Unlock()
	select {
	case st.dirtyNotify <- struct{}{}:
	default:
	}
}

// pushLoop computes recommendations and the config: every Scaler each
// RecommendInterval, a Scaler at once after its metric report.
func (st *stream) pushLoop(quit <-chan struct{}) {
	s := st.s
	if s.o.Recommender == nil && s.o.Budgets == nil && s.o.Config == nil {
		return
	}
	t := s.o.Clock.NewTicker(s.o.RecommendInterval)
	defer t.Stop()
	st.pushAll(quit)
	for {
		select {
		case <-quit:
			return
		case <-t.C():
			st.pushAll(quit)
		case <-st.dirtyNotify:
			st.dmu.Lock()
			refs := st.dirty
			st.dirty = map[string]ScalerRef{}
			st.dmu.Unlock()
			for _, ref := range refs {
				st.push(ref, false)
			}
		}
	}
}

func (st *stream) pushAll(quit <-chan struct{}) {
	st.pushConfig()
	st.cs.mu.Lock()
	refs := make([]ScalerRef, 0, len(st.cs.scalers))
	for _, r := range st.cs.scalers {
		refs = append(refs, r)
	}
	st.cs.mu.Unlock()
	for _, r := range refs {
		select {
		case <-quit:
			return
		default:
		}
		st.push(r, true)
	}
}

// refreshAfter: an unchanged recommendation is sent again after this
// many periods (so that its expiry moves on).
const refreshAfter = 4

func (st *stream) push(ref ScalerRef, periodic bool) {
	s := st.s
	if s.o.Recommender == nil && s.o.Budgets == nil {
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.o.RPCTimeout)
	defer cancel()
	now := s.o.Clock.Now()
	r, err := s.recommendation(ctx, ref, now)
	if err != nil {
		s.log.Warn("agent: recommendation", "tenant", st.tenant, "cluster", st.cluster, "err", err)
		return
	}
	fp := fingerprint(r)
	key := ref.StoreName()
	st.cs.mu.Lock()
	last, ok := st.cs.lastRec[key]
	send := !ok || last.fp != fp || periodic && now.Sub(last.at) >= refreshAfter*s.o.RecommendInterval
	if send {
		st.cs.lastRec[key] = pushed{fp: fp, at: now}
	}
	st.cs.mu.Unlock()
	if send {
		st.enqueueRec(key, r)
	}
}

func fingerprint(r *agentv1.Recommendation) string {
	return fmt.Sprintf("%v|%v|%v|%v|%s|%d|%s|%d|%d|%s|%s", r.GetForecast(), r.GetForecastLower(), r.GetForecastUpper(), r.GetConfidence(), r.GetModel(),
		r.GetFloor(), r.GetFloorReason(), r.GetBudgetMaxReplicas(), r.GetPricePerReplicaHourMicros(), r.GetPriceTableHash(), r.GetCurrency())
}

func (st *stream) pushConfig() {
	s := st.s
	if s.o.Config == nil {
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.o.RPCTimeout)
	defer cancel()
	c, err := s.o.Config.AgentConfig(ctx, st.tenant, st.cluster)
	if err != nil {
		s.log.Warn("agent: config", "tenant", st.tenant, "cluster", st.cluster, "err", err)
		return
	}
	if c.Version == 0 {
		return
	}
	st.cs.mu.Lock()
	send := st.cs.configSent != c.Version
	st.cs.configSent = c.Version
	st.cs.mu.Unlock()
	if send {
		st.enqueue(&agentv1.ServerMessage{Payload: &agentv1.ServerMessage_Config{Config: &agentv1.ConfigUpdate{Version: c.Version, Settings: c.Settings}}})
	}
}

// askResync asks the agent for its full inventory, once per stream.
func (st *stream) askResync(reason string) {
	if st.resyncAsked {
		return
	}
	st.resyncAsked = true
	st.enqueue(&agentv1.ServerMessage{Payload: &agentv1.ServerMessage_Resync{Resync: &agentv1.ResyncRequest{Reason: reason}}})
}
