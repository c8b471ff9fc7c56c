package agentsvc

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hpa-autoscaler/hpa-autoscaler/backend/store"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	agentv1 "github.com/hpa-autoscaler/hpa-autoscaler/proto/agent/v1"
)

// recorder is the in-test history and forecast service: it keeps the
// last value observed per scaler and recommends it as the forecast, so
// each report changes the recommendation.
type recorder struct {
	mu        sync.Mutex
	last      map[string]float64
	observed  atomic.Int64
	calls     atomic.Int64
	workloads map[string]Workload
	// bump: every Recommend call changes the answer (a slow consumer
	// is flooded).
	bump bool
}

func newRecorder() *recorder {
	return &recorder{last: map[string]float64{}, workloads: map[string]Workload{}}
}

func (r *recorder) ObserveWorkload(ref ScalerRef, _ time.Time, w Workload) {
	r.mu.Lock()
	r.workloads[ref.StoreName()] = w
	r.mu.Unlock()
}

func (r *recorder) Observe(k SeriesKey, _ time.Time, v float64) {
	r.mu.Lock()
	r.last[string(k.Tenant)+"/"+k.Cluster+"/"+k.StoreName()] = v
	r.mu.Unlock()
	r.observed.Add(1)
}

func (r *recorder) Recommend(_ context.Context, ref ScalerRef, now time.Time) (Forecast, error) {
	n := r.calls.Add(1)
	r.mu.Lock()
	v, ok := r.last[string(ref.Tenant)+"/"+ref.Cluster+"/"+ref.StoreName()]
	r.mu.Unlock()
	if r.bump {
		v, ok = float64(n), true
	}
	if !ok {
		return Forecast{FloorReason: "no history"}, nil
	}
	return Forecast{Valid: true, ComputedAt: now, ExpiresAt: now.Add(15 * time.Minute), Value: v, Lower: v, Upper: v, Confidence: 0.9, Model: "test", Floor: int32(v) / 5, FloorReason: "forecast"}, nil
}

func (r *recorder) BudgetCap(context.Context, ScalerRef, time.Time) (Cap, error) {
	return Cap{MaxReplicas: 8, PricePerReplicaHourMicros: 31611, PriceTableHash: "abc", Currency: "USD"}, nil
}

func TestConnectInventoryDecisionsEvents(t *testing.T) {
	for _, db := range dbs {
		t.Run(db.name, func(t *testing.T) {
			t.Parallel()
			rec := newRecorder()
			e := newEnv(t, db.url(t), Options{Observer: rec, Recommender: rec, Budgets: rec, Workloads: rec}, envOpts{})
			ctx := testCtx(t)
			a := mustConnect(t, e.dial(nil), "a1", e.tokens["a"], 0)
			if a.auth.GetTenant() != "ta" || a.auth.GetLastAppliedAgentSeq() != 0 || a.auth.GetHeartbeatInterval().AsDuration() != 10*time.Second {
				t.Fatalf("AuthResponse: %v", a.auth)
			}
			// The first connection asks for the inventory.
			a.waitFor("a ResyncRequest", func() bool {
				for _, m := range a.got {
					if m.GetResync() != nil {
						return true
					}
				}
				return false
			})
			inv := inventory(t, "web", "worker")
			inv.Scalers[0].PodRequests = &agentv1.ResourceRequests{CpuMillis: 250, MemoryBytes: 512 << 20}
			inv.Scalers = append(inv.Scalers, &agentv1.ScalerInfo{Namespace: "shop", Name: "broken", SpecJson: []byte(`{"targetRef":{"kind":"Deployment","name":"x"},"scaling":{"maxReplicas":-1}}`)},
				&agentv1.ScalerInfo{Namespace: "shop", Name: "unknown-field", SpecJson: []byte(`{"bogus":1}`)},
				// A secret written into the spec is never stored.
				&agentv1.ScalerInfo{Namespace: "shop", Name: "inline", SpecJson: []byte(`{"targetRef":{"apiVersion":"apps/v1","kind":"Deployment","name":"x"},"scaling":{"maxReplicas":3},` +
					`"triggers":[{"type":"redis","metadata":{"listName":"q","password":"hunter2-inline"}}]}`)})
			a.send(inv)
			a.send(decision("d1", "web", 3))
			a.send(decision("d1", "web", 3)) // the same decision id again: no second record
			evSeq := a.send(&agentv1.ScalingEvent{Id: "ev1", Namespace: "shop", ScalerName: "web", Time: timestamppb.Now(), FromReplicas: 2, ToReplicas: 3, Rule: "Metric"})
			a.waitAck(evSeq)

			rec.mu.Lock()
			if w := rec.workloads["shop.web"]; w.CPUMillis != 250 || w.MemoryBytes != 512<<20 || w.CurrentReplicas != 2 || len(rec.workloads) != 2 {
				t.Errorf("workloads: %+v", rec.workloads)
			}
			rec.mu.Unlock()
			for _, name := range []string{"shop.web", "shop.worker"} {
				sc, err := e.store.Scaler(ctx, "ta", name)
				if err != nil {
					t.Fatalf("scaler %s: %v", name, err)
				}
				if sc.Cluster != "a1" || sc.Namespace != "shop" {
					t.Errorf("scaler %s: cluster %q namespace %q", name, sc.Cluster, sc.Namespace)
				}
			}
			for _, name := range []string{"shop.broken", "shop.inline"} {
				if _, err := e.store.Scaler(ctx, "ta", name); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("an invalid scaler %s was stored: %v", name, err)
				}
			}

			ag, err := e.store.Agent(ctx, "ta", "a1")
			if err != nil {
				t.Fatal(err)
			}
			if !ag.Online || ag.LastAgentSeq != int64(evSeq) || len(ag.InventoryErrors) != 3 {
				t.Fatalf("agent: %+v", ag)
			}
			for _, want := range []string{"inventory.scalers[2] (shop/broken): spec_json: ", "inventory.scalers[3] (shop/unknown-field): spec_json: json: unknown field \"bogus\"",
				"inventory.scalers[4] (shop/inline): spec_json: spec.triggers[0].metadata.password: inline secret: use secretRefs"} {
				if !strings.Contains(strings.Join(ag.InventoryErrors, "\n"), want) {
					t.Errorf("inventory errors %q: want one with %q", ag.InventoryErrors, want)
				}
			}
			if strings.Contains(strings.Join(ag.InventoryErrors, "\n"), "hunter2") {
				t.Errorf("an inventory error shows the secret: %q", ag.InventoryErrors)
			}
			kinds, subjects := auditKinds(t, e.store, "ta")
			if kinds["decision"] != 1 || subjects["decisions/d1"] != 1 || kinds["event"] != 1 || kinds["scaler.create"] != 2 {
				t.Errorf("audit records: %v", kinds)
			}
			if _, err := e.store.Event(ctx, "ta", "ev1"); err != nil {
				t.Errorf("event ev1: %v", err)
			}
			// A replay of an applied seq is acknowledged, not applied.
			if err := a.sendAt(2, &agentv1.AgentMessage{Payload: &agentv1.AgentMessage_Result{Result: decision("d-replayed", "web", 4)}}); err != nil {
				t.Fatal(err)
			}
			hb := a.send(&agentv1.Heartbeat{})
			_ = hb
			// Metrics flow to the Observer and a recommendation comes back
			// (forecast: the value reported).
			mseq := a.send(&agentv1.MetricReport{Namespace: "shop", ScalerName: "web", Metrics: []*agentv1.MetricValue{{Trigger: "t0", Value: 42, Target: 5}}})
			a.waitFor("a recommendation with forecast 42", func() bool {
				for _, m := range a.got {
					if r := m.GetRecommendation(); r != nil && r.GetScalerName() == "web" && r.GetForecast() == 42 && r.GetBudgetMaxReplicas() == 8 {
						return true
					}
				}
				return false
			})
			a.waitAck(mseq) // made durable by the flush
			if _, err := e.store.Decision(ctx, "ta", "d-replayed"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("a replayed seq was applied: %v", err)
			}
			// A full inventory without worker deletes it.
			s := a.send(inventory(t, "web"))
			a.waitAck(s)
			if _, err := e.store.Scaler(ctx, "ta", "shop.worker"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("shop.worker after an inventory without it: %v", err)
			}
		})
	}
}

// TestBackendRestartMidStream: decisions sent while the backend stops
// and starts again on the same database: every acknowledged one is
// kept, none is recorded twice, the agent resends only the gap.
func TestBackendRestartMidStream(t *testing.T) {
	for _, db := range dbs {
		t.Run(db.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, db.url(t), Options{}, envOpts{})
			c := e.dial(nil)
			a := mustConnect(t, c, "a1", e.tokens["a"], 0)
			a.tolerant = true
			// The agent's buffer: every message by seq until acked.
			buffer := map[uint64]any{}
			inv := inventory(t, "web")
			buffer[a.send(inv)] = inv
			const n = 60
			for i := range n {
				d := decision(fmt.Sprint("d", i), "web", int32(i%5+1))
				buffer[a.send(d)] = d
				if i == n/3 {
					a.waitAck(a.seq) // some acknowledged for sure
				}
				if i == n/2 {
					// The backend goes away with messages in flight.
					e.restart(false)
				}
			}
			_ = a.waitEnd()
			a.mu.Lock()
			acked := a.ack
			a.mu.Unlock()

			b := mustConnect(t, c, "a1", e.tokens["a"], 0)
			last := b.auth.GetLastAppliedAgentSeq()
			if last < acked {
				t.Fatalf("after the restart last_applied_agent_seq %d < %d acknowledged before: an acknowledged message was lost", last, acked)
			}
			// Only the gap is resent.
			b.seq = last
			for seq := last + 1; seq <= a.seq; seq++ {
				if got := b.send(buffer[seq]); got != seq {
					t.Fatalf("resent seq %d as %d", seq, got)
				}
			}
			b.waitAck(a.seq)
			_, subjects := auditKinds(t, e.store, "ta")
			for i := range n {
				if got := subjects[fmt.Sprint("decisions/d", i)]; got != 1 {
					t.Errorf("decision d%d: %d audit records, want 1", i, got)
				}
			}
			t.Logf("acknowledged before the restart: %d of %d; resent after it: %d", acked, a.seq, a.seq-last)
		})
	}
}

func TestAuthRefused(t *testing.T) {
	// 1s: the refused connects send their auth at once, and a busy machine
	// must not make them miss it; "no auth in time" waits it out.
	e := newEnv(t, dbs[0].url(t), Options{AuthTimeout: time.Second}, envOpts{})
	c := e.dial(nil)
	// tenant b's cluster exists, with an agent of its own.
	mustConnect(t, c, "b1", e.tokens["b"], 0).close()
	tests := []struct {
		name, cluster, token string
		code                 codes.Code
		msg                  string
	}{
		{"tenant A's token for tenant B's cluster", "b1", e.tokens["a"], codes.PermissionDenied, "bound to another cluster"},
		{"token bound to another cluster", "a2", e.tokens["a"], codes.PermissionDenied, "bound to another cluster"},
		{"unbound token", "a1", e.tokens["a-op"], codes.PermissionDenied, "not an agent token"},
		{"viewer", "a1", e.tokens["a-view"], codes.PermissionDenied, "may not"},
		{"bad token", "a1", "hpa_ta_x_y_z", codes.Unauthenticated, "auth.agent_token"},
		{"no token", "a1", "", codes.Unauthenticated, "auth.agent_token: required"},
		{"no cluster", "", e.tokens["a"], codes.InvalidArgument, "auth.cluster_id: required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := connect(t, c, tc.cluster, tc.token, 0, true)
			if status.Code(err) != tc.code || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want %s with %q", err, tc.code, tc.msg)
			}
			if tc.token != "" && strings.Contains(err.Error(), tc.token) {
				t.Fatalf("the error shows the token: %v", err)
			}
		})
	}
	// Tenant B's cluster got nothing of tenant A.
	if ag, err := e.store.Agent(testCtx(t), "tb", "b1"); err != nil || ag.Connection != 1 {
		t.Errorf("tenant b's agent: %+v %v", ag, err)
	}
	t.Run("anything before auth", func(t *testing.T) {
		st, err := c.Connect(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		_ = st.Send(&agentv1.AgentMessage{Seq: 1, Payload: &agentv1.AgentMessage_Result{Result: decision("x", "web", 1)}})
		_, err = st.Recv()
		if status.Code(err) != codes.FailedPrecondition {
			t.Fatalf("got %v, want FailedPrecondition", err)
		}
	})
	t.Run("no auth in time", func(t *testing.T) {
		st, err := c.Connect(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		_, err = st.Recv()
		if status.Code(err) != codes.DeadlineExceeded {
			t.Fatalf("got %v, want DeadlineExceeded", err)
		}
	})
}

func TestMTLSIdentity(t *testing.T) {
	e := newEnv(t, dbs[0].url(t), Options{RequireClientCert: true}, envOpts{mtls: true})
	// A certificate for a1, as a1.
	a := mustConnect(t, e.dial(e.mtlsCreds("a1")), "a1", e.tokens["a"], 0)
	a.close()
	// A certificate for cluster a1 used as a2 (with a2's token).
	_, err := connect(t, e.dial(e.mtlsCreds("a1")), "a2", e.tokens["a2"], 0, true)
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "client certificate names another cluster") {
		t.Fatalf("certificate of a1 as a2: %v, want PermissionDenied", err)
	}
}

// TestSlowConsumer: an agent that stops reading fills its stream's
// window; its recommendations are coalesced (one per scaler), the
// stream is ended after SendTimeout, and another agent is served all
// along.
func TestSlowConsumer(t *testing.T) {
	rec := newRecorder()
	rec.bump = true
	e := newEnv(t, dbs[0].url(t), Options{Observer: rec, Recommender: rec, RecommendInterval: 5 * time.Millisecond,
		SendTimeout: 500 * time.Millisecond, HeartbeatInterval: 10 * time.Second}, envOpts{})
	names := make([]string, 300)
	for i := range names {
		names[i] = fmt.Sprint("s", i)
	}
	// The slow agent: a small window, and it never reads.
	slowConn := e.dial(nil, grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	slow, err := connect(t, slowConn, "a1", e.tokens["a"], 0, false)
	if err != nil {
		t.Fatal(err)
	}
	slow.send(inventory(t, names...))

	fast := mustConnect(t, e.dial(nil), "b1", e.tokens["b"], 0)
	fast.send(inventory(t, "web"))
	maxQueued := 0
	for i := range 20 {
		before := func() int { fast.mu.Lock(); defer fast.mu.Unlock(); return len(fast.got) }()
		fast.send(&agentv1.MetricReport{Namespace: "shop", ScalerName: "web", Metrics: []*agentv1.MetricValue{{Trigger: "t0", Value: float64(i)}}})
		fast.waitFor("a recommendation for the fast agent", func() bool {
			for _, m := range fast.got[before:] {
				if m.GetRecommendation() != nil {
					return true
				}
			}
			return false
		})
		if q := e.svc.QueuedRecommendations("ta", "a1"); q > maxQueued {
			maxQueued = q
		}
	}
	if maxQueued > len(names) {
		t.Errorf("the slow stream queued %d recommendations, more than its %d scalers", maxQueued, len(names))
	}
	scalertest.Eventually(t, 20*time.Second, "the slow agent marked offline as a slow consumer", func() error {
		ag, err := e.store.Agent(testCtx(t), "ta", "a1")
		if err != nil {
			return err
		}
		if ag.Online || ag.OfflineReason != reasonSlow {
			return fmt.Errorf("online %v reason %q", ag.Online, ag.OfflineReason)
		}
		return nil
	})
	t.Logf("queued recommendations of the slow stream: at most %d (of %d scalers)", maxQueued, len(names))
}

func TestHeartbeatsMissed(t *testing.T) {
	// 250ms: offline after 750ms of silence, long enough that the agent
	// below, which sends every 50ms, is not taken for a silent one on a
	// busy machine.
	e := newEnv(t, dbs[0].url(t), Options{HeartbeatInterval: 250 * time.Millisecond}, envOpts{})
	a := mustConnect(t, e.dial(nil), "a1", e.tokens["a"], 0)
	err := a.waitEnd()
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("stream end: %v, want DeadlineExceeded", err)
	}
	scalertest.Eventually(t, 10*time.Second, "the agent marked offline for missed heartbeats", func() error {
		ag, err := e.store.Agent(testCtx(t), "ta", "a1")
		if err != nil {
			return err
		}
		if ag.Online || ag.OfflineReason != reasonHeartbeats {
			return fmt.Errorf("online %v reason %q", ag.Online, ag.OfflineReason)
		}
		return nil
	})
	// An agent that keeps sending heartbeats stays, and gets the
	// server's.
	b := mustConnect(t, e.dial(nil), "b1", e.tokens["b"], 0)
	serverBeats := func() int {
		b.mu.Lock()
		defer b.mu.Unlock()
		n := 0
		for _, m := range b.got {
			if m.GetHeartbeat() != nil {
				n++
			}
		}
		return n
	}
	deadline := time.Now().Add(20 * time.Second)
	for serverBeats() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d heartbeats from the server within 20s, want 3", serverBeats())
		}
		b.send(&agentv1.Heartbeat{})
		time.Sleep(50 * time.Millisecond) // the agent's heartbeat period, not a wait for a condition
	}
	if ag, err := e.store.Agent(testCtx(t), "tb", "b1"); err != nil || !ag.Online {
		t.Errorf("an agent sending heartbeats: %+v %v", ag, err)
	}
}

// TestServerReplay: what the server sent and the agent did not
// acknowledge is replayed on reconnect; after a backend restart the
// agent is resynced.
func TestServerReplay(t *testing.T) {
	rec := newRecorder()
	e := newEnv(t, dbs[0].url(t), Options{Observer: rec, Recommender: rec}, envOpts{})
	c := e.dial(nil)
	a := mustConnect(t, c, "a1", e.tokens["a"], 0)
	a.send(inventory(t, "web", "worker"))
	a.send(&agentv1.MetricReport{Namespace: "shop", ScalerName: "web", Metrics: []*agentv1.MetricValue{{Trigger: "t0", Value: 7}}})
	a.waitFor("two sequenced server messages", func() bool { return a.applied >= 2 })
	a.close()
	_ = a.waitEnd()
	// Reconnect having applied only seq 1: the rest comes again, no
	// resync.
	b := mustConnect(t, c, "a1", e.tokens["a"], 1)
	if b.auth.GetResync() {
		t.Fatal("resync on a reconnect whose gap is kept")
	}
	b.waitFor("the replay of seq 2", func() bool {
		for _, m := range b.got {
			if m.GetSeq() == 2 {
				return true
			}
		}
		return false
	})
	b.close()
	_ = b.waitEnd()
	e.restart(false)
	c2 := e.dial(nil)
	d := mustConnect(t, c2, "a1", e.tokens["a"], 2)
	if !d.auth.GetResync() {
		t.Fatal("no resync after a backend restart")
	}
	d.waitFor("recommendations numbered after seq 2", func() bool {
		for _, m := range d.got {
			if m.GetRecommendation() != nil && m.GetSeq() > 2 {
				return true
			}
		}
		return false
	})
}

func TestProtocolErrors(t *testing.T) {
	e := newEnv(t, dbs[0].url(t), Options{}, envOpts{})
	c := e.dial(nil)
	tests := []struct {
		name string
		m    *agentv1.AgentMessage
		msg  string
	}{
		{"no seq", &agentv1.AgentMessage{Payload: &agentv1.AgentMessage_Result{Result: decision("x", "web", 1)}}, "seq: required on result"},
		{"no payload", &agentv1.AgentMessage{Seq: 1}, "payload: required"},
		{"no decision id", &agentv1.AgentMessage{Seq: 1, Payload: &agentv1.AgentMessage_Result{Result: decision("", "web", 1)}}, "result.decision_id: required"},
		{"dot in namespace", &agentv1.AgentMessage{Seq: 1, Payload: &agentv1.AgentMessage_Metrics{Metrics: &agentv1.MetricReport{Namespace: "a.b", ScalerName: "x"}}}, "metrics.namespace"},
		{"event without time", &agentv1.AgentMessage{Seq: 1, Payload: &agentv1.AgentMessage_Event{Event: &agentv1.ScalingEvent{Id: "e", Namespace: "shop", ScalerName: "web"}}}, "event.time: required"},
		{"auth again", authMsg("a1", e.tokens["a"], 0), "authenticated already"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := mustConnect(t, c, "a1", e.tokens["a"], 0)
			if err := a.stream.Send(tc.m); err != nil {
				t.Fatal(err)
			}
			err := a.waitEnd()
			if c := status.Code(err); (c != codes.InvalidArgument && c != codes.FailedPrecondition) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want InvalidArgument with %q", err, tc.msg)
			}
		})
	}
}

type fixedConfig struct{ version atomic.Int64 }

func (c *fixedConfig) AgentConfig(context.Context, store.TenantID, string) (AgentConfig, error) {
	return AgentConfig{Version: c.version.Load(), Settings: map[string]string{"logLevel": "debug"}}, nil
}

// TestConfigUpdates: a config version is sent, acknowledged, kept in the
// store, and not sent again on reconnect; a new version is.
func TestConfigUpdates(t *testing.T) {
	cfg := &fixedConfig{}
	cfg.version.Store(3)
	e := newEnv(t, dbs[0].url(t), Options{Config: cfg, RecommendInterval: 20 * time.Millisecond}, envOpts{})
	c := e.dial(nil)
	configs := func(a *agent) (versions []int64) {
		for _, m := range a.got {
			if u := m.GetConfig(); u != nil {
				versions = append(versions, u.GetVersion())
			}
		}
		return versions
	}
	a := mustConnect(t, c, "a1", e.tokens["a"], 0)
	a.waitFor("config version 3", func() bool { return len(configs(a)) > 0 })
	if got := configs(a); got[0] != 3 || got[0] == 0 {
		t.Fatalf("configs: %v", got)
	}
	a.waitAck(a.send(&agentv1.ConfigAck{Version: 3}))
	ag, err := e.store.Agent(testCtx(t), "ta", "a1")
	if err != nil || ag.ConfigVersion != 3 {
		t.Fatalf("agent after the ack: %+v %v", ag, err)
	}
	a.mu.Lock()
	applied := a.applied
	a.mu.Unlock()
	a.close()
	_ = a.waitEnd()
	b := mustConnect(t, c, "a1", e.tokens["a"], applied)
	cfg.version.Store(4)
	b.waitFor("config version 4", func() bool { return len(configs(b)) > 0 })
	if got := configs(b); len(got) != 1 || got[0] != 4 {
		t.Fatalf("configs after the reconnect: %v, want only version 4", got)
	}
}

func TestCertNamesCluster(t *testing.T) {
	u := func(s string) *url.URL {
		v, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name string
		cert *x509.Certificate
		want bool
	}{
		{"CN", &x509.Certificate{Subject: pkix.Name{CommonName: "prod"}}, true},
		{"other CN", &x509.Certificate{Subject: pkix.Name{CommonName: "dev"}}, false},
		{"URI SAN", &x509.Certificate{Subject: pkix.Name{CommonName: "agent"}, URIs: []*url.URL{u("spiffe://example.org/hpa/cluster/prod")}}, true},
		{"URI SAN of another cluster", &x509.Certificate{URIs: []*url.URL{u("spiffe://example.org/hpa/cluster/prod-2")}}, false},
		{"URI SAN with a longer id", &x509.Certificate{URIs: []*url.URL{u("spiffe://example.org/cluster/xprod")}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := CertNamesCluster(tc.cert, "prod"); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
