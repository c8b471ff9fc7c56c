package backendlink_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hpa-autoscaler/hpa-autoscaler/controller/backendlink"
	"github.com/hpa-autoscaler/hpa-autoscaler/controller/linktest"
	agentv1 "github.com/hpa-autoscaler/hpa-autoscaler/proto/agent/v1"
)

// wait bounds every wait (far above what a loaded machine needs).
const wait = 30 * time.Second

const token = "agent-token-s3cret"

func eventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s: %v", wait, what, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func startServer(t *testing.T) *linktest.Server {
	t.Helper()
	s, err := linktest.Start(linktest.Options{Token: token, Heartbeat: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

type running struct {
	link   *backendlink.Link
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan error
	logs   *logBuffer
}

type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startLink runs a link to s with inv as its inventory.
func startLink(t *testing.T, s *linktest.Server, mod func(*backendlink.Options)) *running {
	t.Helper()
	reg := prometheus.NewRegistry()
	logs := &logBuffer{}
	var w io.Writer = logs
	if os.Getenv("HPA_TEST_LOG") == "debug" {
		w = io.MultiWriter(logs, os.Stderr)
	}
	o := backendlink.Options{
		Addr: s.Addr(), ClusterID: "c1", Token: func() (string, error) { return token, nil },
		AgentVersion: "test", AgentInstance: "pod-1", MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		InventoryInterval: 50 * time.Millisecond,
		Inventory: func(context.Context) ([]backendlink.Scaler, error) {
			return []backendlink.Scaler{{Namespace: "ns", Name: "web", Generation: 1, SpecJSON: []byte(`{}`)}}, nil
		},
		Registerer: reg,
		Logger:     slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mod != nil {
		mod(&o)
	}
	l, err := backendlink.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{link: l, reg: reg, cancel: cancel, done: make(chan error, 1), logs: logs}
	go func() { r.done <- l.Run(ctx) }()
	t.Cleanup(r.stop)
	return r
}

func (r *running) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		if err != nil {
			panic(fmt.Sprintf("Run returned %v", err))
		}
	case <-time.After(wait):
		panic("the link did not stop")
	}
}

func decision(i int) backendlink.Decision {
	return backendlink.Decision{ID: fmt.Sprintf("d%03d", i), Namespace: "ns", Name: "web", Time: time.Unix(int64(1000+i), 0), Current: 1, Desired: 2, Rule: "Metric"}
}

// decisionIDs lists the decisions the server applied, in order.
func decisionIDs(got []*agentv1.AgentMessage) []string {
	var out []string
	for _, m := range got {
		if r := m.GetResult(); r != nil {
			out = append(out, r.GetDecisionId())
		}
	}
	return out
}

func kinds(got []*agentv1.AgentMessage) []string {
	var out []string
	for _, m := range got {
		switch m.GetPayload().(type) {
		case *agentv1.AgentMessage_Inventory:
			out = append(out, "inventory")
		case *agentv1.AgentMessage_Result:
			out = append(out, "decision")
		case *agentv1.AgentMessage_Metrics:
			out = append(out, "metrics")
		case *agentv1.AgentMessage_Event:
			out = append(out, "event")
		case *agentv1.AgentMessage_ConfigAck:
			out = append(out, "configAck")
		default:
			out = append(out, fmt.Sprintf("%T", m.GetPayload()))
		}
	}
	return out
}

// waitDecisions waits until the server applied the decisions 0..n-1,
// each once, in order.
func waitDecisions(t *testing.T, s *linktest.Server, n int) {
	t.Helper()
	eventually(t, fmt.Sprintf("%d decisions applied once each, in order", n), func() error {
		ids := decisionIDs(s.Got())
		if len(ids) > n {
			return fmt.Errorf("%d decisions applied: %v", len(ids), ids)
		}
		for i, id := range ids {
			if want := decision(i).ID; id != want {
				return fmt.Errorf("decision %d is %s, want %s (all: %v)", i, id, want, ids)
			}
		}
		if len(ids) < n {
			return fmt.Errorf("%d of %d applied", len(ids), n)
		}
		return nil
	})
}

func checkClean(t *testing.T, s *linktest.Server) {
	t.Helper()
	st := s.Stats()
	if len(st.Gaps) > 0 || st.Dups > 0 {
		t.Fatalf("server saw gaps %v and %d resends of applied messages", st.Gaps, st.Dups)
	}
}

func TestConnectAuthFirstAndInventory(t *testing.T) {
	s := startServer(t)
	r := startLink(t, s, nil)
	r.link.Report(decision(0))
	waitDecisions(t, s, 1)
	auths := s.Auths()
	if len(auths) != 1 {
		t.Fatalf("%d auths, want 1", len(auths))
	}
	a := auths[0]
	if a.GetClusterId() != "c1" || a.GetAgentToken() != token || a.GetAgentVersion() != "test" || a.GetAgentInstance() != "pod-1" || a.GetLastAppliedServerSeq() != 0 {
		t.Fatalf("auth %v", a)
	}
	got := s.Got()
	if k := kinds(got); k[0] != "inventory" {
		t.Fatalf("first messages %v: want the inventory first", k)
	}
	if inv := got[0].GetInventory(); len(inv.GetScalers()) != 1 || inv.GetScalers()[0].GetName() != "web" || got[0].GetSeq() != 1 {
		t.Fatalf("inventory %v seq %d", inv, got[0].GetSeq())
	}
	eventually(t, "the buffer emptied by acks", func() error {
		if n := r.link.Buffered(); n != 0 {
			return fmt.Errorf("%d buffered", n)
		}
		return nil
	})
	if metricValue(t, r.reg, "hpa_agent_backend_connected") != 1 {
		t.Fatal("hpa_agent_backend_connected is not 1")
	}
	if strings.Contains(r.logs.String(), token) {
		t.Fatal("the token is in the logs")
	}
	checkClean(t, s)
}

// metricValue is the value of a gauge or counter of reg (labels as
// name=value pairs), 0 when absent.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue metrics
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

func TestBadTokenIsRefusedAndRetried(t *testing.T) {
	s := startServer(t)
	r := startLink(t, s, func(o *backendlink.Options) {
		o.Token = func() (string, error) { return "wrong-token-value", nil }
	})
	eventually(t, "two refused connects", func() error {
		if n := len(s.Stats().Refused); n < 2 {
			return fmt.Errorf("%d refused", n)
		}
		return nil
	})
	if r.link.Connected() {
		t.Fatal("connected with a wrong token")
	}
	if strings.Contains(r.logs.String(), "wrong-token-value") {
		t.Fatal("the token is in the logs")
	}
}
