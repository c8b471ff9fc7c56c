package agentsvc

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/timestamppb"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/auth"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/store"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
	agentv1 "github.com/hpa-autoscaler/hpa-autoscaler/proto/agent/v1"
)

var pg testenv.SharedPostgres

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(pg.Wrap(m),
		goleak.IgnoreTopFunction("database/sql.(*DB).connectionOpener"))
}

type dbKind struct {
	name string
	url  func(t testing.TB) string
}

var dbs = []dbKind{
	{"sqlite", func(t testing.TB) string { return "sqlite:" + filepath.Join(t.TempDir(), "store.db") }},
	{"postgres", func(t testing.TB) string { return pg.Get(t).NewDatabase(t) }},
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// env is a backend: a store, the service on a real gRPC server on
// loopback, and tokens of two tenants.
type env struct {
	t     testing.TB
	url   string
	store store.Store
	svc   *Service
	srv   *grpc.Server
	addr  string
	pki   *testenv.PKI
	opts  Options
	// tokens by name: "a" (tenant ta, bound to cluster a1), "b" (tenant
	// tb, bound to b1), "a-op" (ta, operator, unbound), "a-view" (ta,
	// viewer, bound to a1).
	tokens map[string]string
	done   chan struct{}
}

type envOpts struct {
	mtls bool
	pki  *testenv.PKI
}

func newEnv(t testing.TB, url string, o Options, eo envOpts) *env {
	t.Helper()
	e := &env{t: t, url: url, opts: o, tokens: map[string]string{}, pki: eo.pki}
	e.openStore()
	e.makeTokens()
	if eo.mtls && e.pki == nil {
		e.pki = testenv.NewPKI(t)
	}
	e.start(eo.mtls)
	t.Cleanup(e.stop)
	return e
}

func (e *env) openStore() {
	s, err := store.Open(testCtx(e.t), e.url, store.Options{})
	if err != nil {
		e.t.Fatalf("store.Open: %v", err)
	}
	e.store = s
}

func (e *env) makeTokens() {
	ctx := testCtx(e.t)
	for _, tn := range []store.TenantID{"ta", "tb"} {
		if _, err := e.store.Tenant(ctx, tn); err == nil {
			continue
		}
		if err := e.store.Update(ctx, tn, "test", func(tx store.Tx) error {
			_, err := tx.CreateTenant(string(tn))
			return err
		}); err != nil {
			e.t.Fatal(err)
		}
	}
	add := func(name string, tenant store.TenantID, role store.Role, scopes ...string) {
		g, err := auth.Generate(tenant)
		if err != nil {
			e.t.Fatal(err)
		}
		if err := e.store.Update(ctx, tenant, "test", func(tx store.Tx) error {
			_, err := tx.CreateToken(store.Token{ID: g.ID, Name: name, Role: role, Scopes: scopes, SecretHash: g.SecretHash})
			return err
		}); err != nil {
			e.t.Fatal(err)
		}
		e.tokens[name] = g.Token
	}
	add("a", "ta", store.RoleOperator, auth.AgentScope("a1"))
	add("a2", "ta", store.RoleOperator, auth.AgentScope("a2"))
	add("b", "tb", store.RoleOperator, auth.AgentScope("b1"))
	add("a-op", "ta", store.RoleOperator)
	add("a-view", "ta", store.RoleViewer, auth.AgentScope("a1"))
}

func (e *env) start(mtls bool) {
	o := e.opts
	o.Store = e.store
	svc, err := New(o)
	if err != nil {
		e.t.Fatal(err)
	}
	gopts := ServerOptions()
	if mtls {
		gopts = append(gopts, grpc.Creds(credentials.NewTLS(e.pki.MTLSServerConfig(e.t))))
	}
	srv := grpc.NewServer(gopts...)
	svc.Register(srv)
	addr := e.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		e.t.Fatal(err)
	}
	e.addr = lis.Addr().String()
	e.svc, e.srv, e.done = svc, srv, make(chan struct{})
	go func() {
		defer close(e.done)
		_ = srv.Serve(lis)
	}()
}

// stop ends the service, the server and the store (a backend's stop).
func (e *env) stop() {
	if e.srv == nil {
		return
	}
	e.svc.Close()
	e.srv.Stop()
	<-e.done
	_ = e.store.Close()
	e.srv = nil
}

// restart stops the backend and starts another on the same database and
// address.
func (e *env) restart(mtls bool) {
	e.stop()
	e.openStore()
	e.start(mtls)
}

func (e *env) dial(creds credentials.TransportCredentials, extra ...grpc.DialOption) agentv1.AgentServiceClient {
	e.t.Helper()
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	cc, err := grpc.NewClient(e.addr, append([]grpc.DialOption{grpc.WithTransportCredentials(creds)}, extra...)...)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = cc.Close() })
	return agentv1.NewAgentServiceClient(cc)
}

func (e *env) mtlsCreds(cn string) credentials.TransportCredentials {
	c := e.pki.ClientCert(e.t, cn)
	cfg := e.pki.ClientConfig(c)
	cfg.ServerName = "127.0.0.1"
	return credentials.NewTLS(cfg.Clone())
}

// agent is a test agent's side of one stream.
type agent struct {
	t       testing.TB
	stream  agentv1.AgentService_ConnectClient
	cancel  context.CancelFunc
	auth    *agentv1.AuthResponse
	seq     uint64 // the last seq sent
	mu      sync.Mutex
	got     []*agentv1.ServerMessage
	ack     uint64 // the server's latest ack
	applied uint64 // the highest server seq received
	recvErr error
	recvd   chan struct{}
	// tolerant: a failed send is kept for a resend (the backend went
	// away), not a test failure.
	tolerant bool
}

func authMsg(cluster, token string, lastServer uint64) *agentv1.AgentMessage {
	return &agentv1.AgentMessage{MessageId: "auth", Timestamp: timestamppb.Now(), Payload: &agentv1.AgentMessage_Auth{Auth: &agentv1.AuthRequest{
		ClusterId: cluster, AgentToken: token, AgentVersion: "test", AgentInstance: "pod-1", LastAppliedServerSeq: lastServer,
		ClusterInfo: &agentv1.ClusterInfo{KubernetesVersion: "v1.34.0", Labels: map[string]string{"env": "test"}}}}}
}

// connect opens a stream and authenticates; read false: the agent does
// not read after the AuthResponse (a slow consumer).
func connect(t testing.TB, c agentv1.AgentServiceClient, cluster, token string, lastServer uint64, read bool) (*agent, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := c.Connect(ctx)
	if err != nil {
		cancel()
		return nil, err
	}
	if err := st.Send(authMsg(cluster, token, lastServer)); err != nil {
		cancel()
		return nil, err
	}
	first, err := st.Recv()
	if err != nil {
		cancel()
		return nil, err
	}
	a := &agent{t: t, stream: st, cancel: cancel, auth: first.GetAuth(), recvd: make(chan struct{}, 1)}
	if a.auth == nil {
		cancel()
		return nil, fmt.Errorf("first server message: %v, want auth", first)
	}
	a.seq = a.auth.GetLastAppliedAgentSeq()
	a.ack = first.GetAck()
	t.Cleanup(a.close)
	if read {
		go a.readLoop()
	}
	return a, nil
}

func mustConnect(t testing.TB, c agentv1.AgentServiceClient, cluster, token string, lastServer uint64) *agent {
	t.Helper()
	a, err := connect(t, c, cluster, token, lastServer, true)
	if err != nil {
		t.Fatalf("connect %s: %v", cluster, err)
	}
	return a
}

func (a *agent) close() {
	a.cancel()
}

func (a *agent) readLoop() {
	for {
		m, err := a.stream.Recv()
		a.mu.Lock()
		if err != nil {
			a.recvErr = err
			a.mu.Unlock()
			a.signal()
			return
		}
		a.got = append(a.got, m)
		if m.GetAck() > a.ack {
			a.ack = m.GetAck()
		}
		if m.GetSeq() > a.applied {
			a.applied = m.GetSeq()
		}
		a.mu.Unlock()
		a.signal()
	}
}

func (a *agent) signal() {
	select {
	case a.recvd <- struct{}{}:
	default:
	}
}

// send sends a payload with the next seq (or seq 0 for a heartbeat).
func (a *agent) send(p any) uint64 {
	a.t.Helper()
	m := &agentv1.AgentMessage{Timestamp: timestamppb.Now()}
	switch p := p.(type) {
	case *agentv1.Inventory:
		m.Payload = &agentv1.AgentMessage_Inventory{Inventory: p}
	case *agentv1.ScalingResult:
		m.Payload = &agentv1.AgentMessage_Result{Result: p}
	case *agentv1.ScalingEvent:
		m.Payload = &agentv1.AgentMessage_Event{Event: p}
	case *agentv1.MetricReport:
		m.Payload = &agentv1.AgentMessage_Metrics{Metrics: p}
	case *agentv1.StatusUpdate:
		m.Payload = &agentv1.AgentMessage_Status{Status: p}
	case *agentv1.ConfigAck:
		m.Payload = &agentv1.AgentMessage_ConfigAck{ConfigAck: p}
	case *agentv1.Heartbeat:
		m.Payload = &agentv1.AgentMessage_Heartbeat{Heartbeat: p}
	default:
		a.t.Fatalf("send %T", p)
	}
	if _, hb := p.(*agentv1.Heartbeat); !hb {
		a.seq++
		m.Seq = a.seq
	}
	a.mu.Lock()
	m.Ack = a.applied
	a.mu.Unlock()
	m.MessageId = fmt.Sprint("m", m.Seq)
	if err := a.stream.Send(m); err != nil && !a.tolerant {
		a.t.Fatalf("send seq %d: %v", m.Seq, err)
	}
	return m.Seq
}

// sendAt sends a payload with a given seq (a replay).
func (a *agent) sendAt(seq uint64, m *agentv1.AgentMessage) error {
	m.Seq = seq
	return a.stream.Send(m)
}

// waitAck waits for the server's ack of seq.
func (a *agent) waitAck(seq uint64) {
	a.t.Helper()
	a.waitFor(fmt.Sprintf("the server's ack of seq %d", seq), func() bool { return a.ack >= seq })
}

// waitFor waits until cond (called with a.mu held) holds.
func (a *agent) waitFor(what string, cond func() bool) {
	a.t.Helper()
	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	for {
		a.mu.Lock()
		ok, err := cond(), a.recvErr
		a.mu.Unlock()
		if ok {
			return
		}
		if err != nil {
			a.t.Fatalf("waiting for %s: the stream ended: %v", what, err)
		}
		select {
		case <-a.recvd:
		case <-deadline.C:
			a.t.Fatalf("waited 20s for %s", what)
		}
	}
}

// waitEnd waits for the stream's end and returns its error.
func (a *agent) waitEnd() error {
	a.t.Helper()
	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	for {
		a.mu.Lock()
		err := a.recvErr
		a.mu.Unlock()
		if err != nil {
			return err
		}
		select {
		case <-a.recvd:
		case <-deadline.C:
			a.t.Fatalf("waited 20s for the stream to end")
		}
	}
}

func specJSON(t testing.TB, triggers int) []byte {
	t.Helper()
	spec := v1.ScalerSpec{
		TargetRef: v1.TargetRef{Kind: "Deployment", Name: "web"},
		Scaling:   v1.Scaling{MaxReplicas: 10},
	}
	for i := range max(triggers, 1) {
		spec.Triggers = append(spec.Triggers, v1.TriggerSpec{Name: fmt.Sprint("t", i), Type: "redis",
			Metadata: map[string]string{"address": "redis:6379", "listName": fmt.Sprint("jobs", i), "listLength": "5"}})
	}
	b, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func inventory(t testing.TB, names ...string) *agentv1.Inventory {
	inv := &agentv1.Inventory{}
	for _, n := range names {
		inv.Scalers = append(inv.Scalers, &agentv1.ScalerInfo{Namespace: "shop", Name: n, SpecJson: specJSON(t, 1), CurrentReplicas: 2})
	}
	return inv
}

func decision(id, scaler string, desired int32) *agentv1.ScalingResult {
	return &agentv1.ScalingResult{DecisionId: id, Namespace: "shop", ScalerName: scaler, Time: timestamppb.Now(),
		CurrentReplicas: 2, DesiredReplicas: desired, Rule: "Metric", Reason: "queue above target",
		Inputs: []*agentv1.MetricValue{{Trigger: "t0", Value: 12.5, Target: 5, MetricType: "AverageValue"}}, Applied: true}
}

// auditKinds counts a tenant's audit records by kind, and decisions by
// subject.
func auditKinds(t testing.TB, s store.Store, tenant store.TenantID) (kinds map[string]int, subjects map[string]int) {
	t.Helper()
	kinds, subjects = map[string]int{}, map[string]int{}
	p := store.Page{Limit: store.MaxLimit}
	for {
		l, err := s.AuditRecords(testCtx(t), tenant, p)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range l.Items {
			kinds[r.Kind]++
			subjects[r.Subject]++
		}
		if l.NextPageToken == "" {
			return kinds, subjects
		}
		p.Token = l.NextPageToken
	}
}

func bearer(ctx context.Context, token string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
}
