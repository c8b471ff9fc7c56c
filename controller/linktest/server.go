// Package linktest is an AgentService server for tests of the agent's
// backend link: a real gRPC server on loopback that applies the agent's
// messages in seq order (each at most once), acknowledges them, keeps
// what it sent for replay, and can drop its streams, stop and start again
// on the same address (keeping what it applied, as a durable backend
// does), or stop reading (a slow backend). It is not the backend
// (backend/agentsvc): it holds no tenants and no store.
package linktest

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	agentv1 "github.com/hpa-autoscaler/hpa-autoscaler/proto/agent/v1"
)

// Options of a Server.
type Options struct {
	// Token is the agent token accepted (required).
	Token string
	// Heartbeat is the interval the AuthResponse gives (0: 200ms).
	Heartbeat time.Duration
	// TLS, when set, is the server's TLS configuration (with ClientCAs
	// and ClientAuth for mTLS).
	TLS *tls.Config
}

// Server is the test's AgentService.
type Server struct {
	agentv1.UnimplementedAgentServiceServer
	o Options

	mu sync.Mutex
	// applied is the highest contiguous agent seq applied.
	applied uint64
	got     []*agentv1.AgentMessage
	dups    int
	gaps    []string
	auths   []*agentv1.AuthRequest
	refused []string
	// peers are the client certificates' common names, by stream.
	peers []string
	// seq numbers the server's messages; out keeps every one for replay.
	seq          uint64
	out          []*agentv1.ServerMessage
	resyncNext   bool
	noAck        bool
	silent       bool
	paused       bool
	resume       chan struct{}
	streams      map[*stream]struct{}
	streamCount  int
	lastAgentAck uint64

	addr string
	srv  *grpc.Server
	done chan struct{}
}

type stream struct {
	out  chan *agentv1.ServerMessage
	drop chan struct{}
	once sync.Once
}

func (st *stream) close() { st.once.Do(func() { close(st.drop) }) }

// Start listens on a free loopback port and serves.
func Start(o Options) (*Server, error) {
	if o.Token == "" {
		return nil, errors.New("linktest: Options.Token is required")
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = 200 * time.Millisecond
	}
	s := &Server{o: o, streams: map[*stream]struct{}{}, resume: make(chan struct{})}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.addr = lis.Addr().String()
	s.serve(lis)
	return s, nil
}

func (s *Server) serve(lis net.Listener) {
	var opts []grpc.ServerOption
	if s.o.TLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(s.o.TLS)))
	}
	srv := grpc.NewServer(opts...)
	agentv1.RegisterAgentServiceServer(srv, s)
	done := make(chan struct{})
	s.mu.Lock()
	s.srv, s.done = srv, done
	s.mu.Unlock()
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.addr }

// Stop stops serving (every stream breaks); what was applied is kept.
func (s *Server) Stop() {
	s.mu.Lock()
	srv, done := s.srv, s.done
	s.srv = nil
	for st := range s.streams {
		st.close()
	}
	if s.paused {
		s.paused = false
		close(s.resume)
		s.resume = make(chan struct{})
	}
	s.mu.Unlock()
	if srv == nil {
		return
	}
	srv.Stop()
	<-done
}

// Restart serves again on the same address.
func (s *Server) Restart() error {
	var lis net.Listener
	var err error
	// The port was just released; another process may take it between
	// (then the test fails with this error).
	for range 50 {
		if lis, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("linktest: listen again on %s: %w", s.addr, err)
	}
	s.serve(lis)
	return nil
}

// Drop ends every stream (the agent reconnects).
func (s *Server) Drop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for st := range s.streams {
		st.close()
	}
}

// PauseReading stops (true) or resumes (false) reading the agent's
// messages; heartbeats go on.
func (s *Server) PauseReading(p bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p == s.paused {
		return
	}
	s.paused = p
	if !p {
		close(s.resume)
		s.resume = make(chan struct{})
	}
}

// NoAck: apply and do not acknowledge (acks lost), until false.
func (s *Server) NoAck(v bool) {
	s.mu.Lock()
	s.noAck = v
	s.mu.Unlock()
}

// Silence stops (true) or resumes (false) every heartbeat and ack: a
// backend that holds the stream and says nothing.
func (s *Server) Silence(v bool) {
	s.mu.Lock()
	s.silent = v
	s.mu.Unlock()
}

// ForgetAgentState makes the server hold only the agent's messages up to
// seq n (a backend restored from an older state): the next
// AuthResponse says n.
func (s *Server) ForgetAgentState(n uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.applied = n
	s.got = slices.DeleteFunc(s.got, func(m *agentv1.AgentMessage) bool { return m.GetSeq() > n })
}

// ResyncNext makes the next AuthResponse say resync.
func (s *Server) ResyncNext() {
	s.mu.Lock()
	s.resyncNext = true
	s.mu.Unlock()
}

// Send numbers a server message (recommendation, config or resync),
// keeps it for replay and sends it on every stream.
func (s *Server) Send(m *agentv1.ServerMessage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	m.Seq = s.seq
	m.Timestamp = timestamppb.Now()
	s.out = append(s.out, m)
	for st := range s.streams {
		select {
		case st.out <- m:
		default:
			st.close() // too slow: it gets the replay on reconnect
		}
	}
}

// Recommend sends a recommendation.
func (s *Server) Recommend(r *agentv1.Recommendation) {
	s.Send(&agentv1.ServerMessage{Payload: &agentv1.ServerMessage_Recommendation{Recommendation: r}})
}

// Got returns the agent's messages applied, in seq order.
func (s *Server) Got() []*agentv1.AgentMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*agentv1.AgentMessage, len(s.got))
	for i, m := range s.got {
		out[i] = proto.Clone(m).(*agentv1.AgentMessage)
	}
	return out
}

// Stats: the highest contiguous seq applied, the resends received of
// messages applied before, the gaps seen (a seq past applied+1 on
// anything but an inventory), the streams opened, and the agent's last
// ack of the server's messages.
type Stats struct {
	Applied      uint64
	Dups         int
	Gaps         []string
	Streams      int
	LastAgentAck uint64
	Refused      []string
}

// Stats returns the server's counts.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Applied: s.applied, Dups: s.dups, Gaps: slices.Clone(s.gaps), Streams: s.streamCount, LastAgentAck: s.lastAgentAck, Refused: slices.Clone(s.refused)}
}

// Peers returns the common name of each authenticated stream's client
// certificate ("" without one).
func (s *Server) Peers() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.peers)
}

// Auths returns the AuthRequests received (tokens included).
func (s *Server) Auths() []*agentv1.AuthRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.auths)
}

// Connect implements the stream.
func (s *Server) Connect(cs agentv1.AgentService_ConnectServer) error {
	first, err := cs.Recv()
	if err != nil {
		return err
	}
	auth := first.GetAuth()
	if auth == nil {
		s.mu.Lock()
		s.refused = append(s.refused, fmt.Sprintf("first message %T", first.GetPayload()))
		s.mu.Unlock()
		return status.Error(codes.FailedPrecondition, "the first message must be auth")
	}
	if auth.GetAgentToken() != s.o.Token {
		s.mu.Lock()
		s.refused = append(s.refused, "bad token")
		s.mu.Unlock()
		return status.Error(codes.Unauthenticated, "agent token refused")
	}
	st := &stream{out: make(chan *agentv1.ServerMessage, 4096), drop: make(chan struct{})}
	cn := ""
	if p, ok := peer.FromContext(cs.Context()); ok {
		if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(ti.State.PeerCertificates) > 0 {
			cn = ti.State.PeerCertificates[0].Subject.CommonName
		}
	}
	s.mu.Lock()
	s.peers = append(s.peers, cn)
	s.auths = append(s.auths, proto.Clone(auth).(*agentv1.AuthRequest))
	s.streamCount++
	resync := s.resyncNext
	s.resyncNext = false
	var replay []*agentv1.ServerMessage
	for _, m := range s.out {
		if resync || m.GetSeq() > auth.GetLastAppliedServerSeq() {
			replay = append(replay, m)
		}
	}
	resp := &agentv1.ServerMessage{Ack: s.applied, Payload: &agentv1.ServerMessage_Auth{Auth: &agentv1.AuthResponse{
		Tenant: "t", ClusterId: auth.GetClusterId(), LastAppliedAgentSeq: s.applied,
		HeartbeatInterval: durationpb.New(s.o.Heartbeat), Resync: resync,
	}}}
	s.streams[st] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.streams, st)
		s.mu.Unlock()
		st.close()
	}()
	if err := cs.Send(resp); err != nil {
		return err
	}
	ctx := cs.Context()
	sendDone := make(chan error, 1)
	go func() {
		t := time.NewTicker(s.o.Heartbeat)
		defer t.Stop()
		for _, m := range replay {
			if err := cs.Send(m); err != nil {
				sendDone <- err
				return
			}
		}
		for {
			select {
			case <-ctx.Done():
				sendDone <- ctx.Err()
				return
			case <-st.drop:
				sendDone <- nil
				return
			case m := <-st.out:
				if err := cs.Send(m); err != nil {
					sendDone <- err
					return
				}
			case <-t.C:
				s.mu.Lock()
				ack, silent := s.applied, s.silent
				if s.noAck {
					ack = 0
				}
				s.mu.Unlock()
				if silent {
					continue
				}
				if err := cs.Send(&agentv1.ServerMessage{Ack: ack, Payload: &agentv1.ServerMessage_Heartbeat{Heartbeat: &agentv1.Heartbeat{}}}); err != nil {
					sendDone <- err
					return
				}
			}
		}
	}()
	recvDone := make(chan error, 1)
	go func() {
		for {
			s.mu.Lock()
			paused, resume := s.paused, s.resume
			s.mu.Unlock()
			if paused {
				select {
				case <-resume:
				case <-st.drop:
					recvDone <- nil
					return
				case <-ctx.Done():
					recvDone <- ctx.Err()
					return
				}
				continue
			}
			m, err := cs.Recv()
			if err != nil {
				recvDone <- err
				return
			}
			if ack, ok := s.apply(m); ok {
				select {
				case st.out <- &agentv1.ServerMessage{Ack: ack, Payload: &agentv1.ServerMessage_Heartbeat{Heartbeat: &agentv1.Heartbeat{}}}:
				default:
				}
			}
		}
	}()
	select {
	case err = <-sendDone:
	case err = <-recvDone:
	case <-st.drop:
	}
	st.close()
	if err == nil {
		err = status.Error(codes.Unavailable, "stream dropped by the test")
	}
	// The handler's return ends the stream; the goroutines see its
	// context end.
	return err
}

// apply applies one message in seq order; it returns the ack to send.
func (s *Server) apply(m *agentv1.AgentMessage) (uint64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.GetAck() > s.lastAgentAck {
		s.lastAgentAck = m.GetAck()
	}
	seq := m.GetSeq()
	switch {
	case m.GetAuth() != nil:
		s.gaps = append(s.gaps, "auth after the first message")
		return 0, false
	case seq == 0:
		return 0, false // heartbeat
	case seq <= s.applied:
		s.dups++
		return 0, false
	case seq > s.applied+1 && m.GetInventory() == nil:
		s.gaps = append(s.gaps, fmt.Sprintf("seq %d after %d (%T)", seq, s.applied, m.GetPayload()))
		return 0, false
	}
	s.applied = seq
	s.got = append(s.got, proto.Clone(m).(*agentv1.AgentMessage))
	if s.noAck || s.silent {
		return 0, false
	}
	return s.applied, true
}
