package backendlink_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hpa-autoscaler/hpa-autoscaler/controller/backendlink"
	agentv1 "github.com/hpa-autoscaler/hpa-autoscaler/proto/agent/v1"
)

// The backend applied 1..11 but its acks were lost, and it holds only up
// to 6 durably when the stream breaks: exactly 7..11 are resent.
func TestReconnectReplaysExactlyTheGap(t *testing.T) {
	s := startServer(t)
	s.NoAck(true)
	r := startLink(t, s, nil)
	for i := range 10 {
		r.link.Report(decision(i))
	}
	waitDecisions(t, s, 10) // seq 1 is the inventory
	if n := r.link.Buffered(); n != 11 {
		t.Fatalf("%d buffered without acks, want 11", n)
	}
	s.ForgetAgentState(6)
	s.NoAck(false)
	s.Drop()
	waitDecisions(t, s, 10)
	eventually(t, "all acknowledged", func() error {
		if n := r.link.Buffered(); n != 0 {
			return fmt.Errorf("%d buffered", n)
		}
		return nil
	})
	checkClean(t, s)
	st := s.Stats()
	if st.Applied != 11 || st.Streams != 2 {
		t.Fatalf("applied %d on %d streams, want 11 on 2", st.Applied, st.Streams)
	}
	// Then the numbering goes on.
	r.link.Report(decision(10))
	waitDecisions(t, s, 11)
	if got := s.Got(); got[len(got)-1].GetSeq() != 12 {
		t.Fatalf("next seq %d, want 12", got[len(got)-1].GetSeq())
	}
	checkClean(t, s)
}

// The backend comes back holding less than it acknowledged (restored
// from an older state): the agent renumbers after what it holds and
// sends the full inventory first.
func TestBackendLostAcknowledgedState(t *testing.T) {
	s := startServer(t)
	r := startLink(t, s, nil)
	for i := range 5 {
		r.link.Report(decision(i))
	}
	waitDecisions(t, s, 5)
	eventually(t, "all acknowledged", func() error {
		if n := r.link.Buffered(); n != 0 {
			return fmt.Errorf("%d buffered", n)
		}
		return nil
	})
	s.ForgetAgentState(3)
	s.Drop()
	eventually(t, "the inventory after the gap", func() error {
		got := s.Got()
		if len(got) < 4 {
			return fmt.Errorf("%d applied", len(got))
		}
		if got[3].GetInventory() == nil || got[3].GetSeq() != 4 {
			return fmt.Errorf("seq 4 is %v", kinds(got))
		}
		return nil
	})
	r.link.Report(decision(5))
	eventually(t, "the next decision at seq 5", func() error {
		got := s.Got()
		last := got[len(got)-1]
		if last.GetResult().GetDecisionId() != decision(5).ID || last.GetSeq() != 5 {
			return fmt.Errorf("last applied %v seq %d", kinds(got), last.GetSeq())
		}
		return nil
	})
	checkClean(t, s)
}

// With the backend down the agent buffers; when it is back every decision
// and event arrives once, in order.
func TestBackendDownThenBack(t *testing.T) {
	s := startServer(t)
	r := startLink(t, s, nil)
	r.link.Report(decision(0))
	waitDecisions(t, s, 1)
	s.Stop()
	eventually(t, "the link sees the backend gone", func() error {
		if r.link.Connected() {
			return fmt.Errorf("still connected")
		}
		return nil
	})
	for i := 1; i < 50; i++ {
		r.link.Report(decision(i))
		r.link.Metrics(backendlink.Metrics{Namespace: "ns", Name: "web", Time: time.Unix(int64(i), 0), Values: []backendlink.MetricValue{{Trigger: "q", Value: float64(i), Target: 5}}})
	}
	r.link.Event(backendlink.Event{ID: "ev1", Namespace: "ns", Name: "web", From: 1, To: 2, Rule: "Metric"})
	if n := r.link.Buffered(); n != 99 {
		t.Fatalf("%d buffered while down, want 99", n)
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	waitDecisions(t, s, 50)
	eventually(t, "the event and the metric reports", func() error {
		k := kinds(s.Got())
		metrics, events := 0, 0
		for _, x := range k {
			switch x {
			case "metrics":
				metrics++
			case "event":
				events++
			}
		}
		if metrics != 49 || events != 1 {
			return fmt.Errorf("%d metric reports, %d events", metrics, events)
		}
		return nil
	})
	checkClean(t, s)
	if metricValue(t, r.reg, "hpa_agent_backend_reconnects_total") < 1 {
		t.Fatal("no reconnect counted")
	}
}

// A backend that stops reading: the link never blocks its callers, sheds
// the oldest metric reports past its buffer size (counted), keeps every
// decision, and delivers them once the backend reads again.
func TestSlowBackendShedsMetricsKeepsDecisions(t *testing.T) {
	s := startServer(t)
	r := startLink(t, s, func(o *backendlink.Options) { o.BufferSize, o.Window = 200, 50 })
	r.link.Report(decision(0))
	waitDecisions(t, s, 1)
	s.PauseReading(true)
	big := strings.Repeat("x", 4096)
	start := time.Now()
	n := 1
	for i := range 3000 {
		r.link.Metrics(backendlink.Metrics{Namespace: "ns", Name: "web", Time: time.Unix(int64(i), 0), Values: []backendlink.MetricValue{{Trigger: big, Value: float64(i)}}})
		if i%10 == 0 {
			r.link.Report(decision(n))
			n++
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("3,300 calls took %v with the backend not reading: the link blocks its callers", d)
	}
	shed := r.link.Shed()["metrics"]
	if shed == 0 {
		t.Fatalf("nothing shed: %v (buffered %d)", r.link.Shed(), r.link.Buffered())
	}
	if got := metricValue(t, r.reg, "hpa_agent_backend_shed_total", "kind", "metrics"); got != float64(shed) {
		t.Fatalf("hpa_agent_backend_shed_total{kind=metrics} %v, want %d", got, shed)
	}
	if d := r.link.Shed()["decision"]; d != 0 {
		t.Fatalf("%d decisions dropped", d)
	}
	s.PauseReading(false)
	waitDecisions(t, s, n)
	checkClean(t, s)
}

// Server messages: applied at most once (a resend at or below the last
// applied seq is skipped), acknowledged, replayed by the backend after
// the agent's last applied seq, and all of them again on resync.
func TestServerMessagesAndAdvice(t *testing.T) {
	s := startServer(t)
	r := startLink(t, s, nil)
	now := time.Now()
	s.Recommend(&agentv1.Recommendation{Namespace: "ns", ScalerName: "web", Floor: 4, ExpiresAt: timestamppb.New(now.Add(time.Hour)), BudgetMaxReplicas: 9, PriceTableHash: "abc"})
	s.Recommend(&agentv1.Recommendation{Namespace: "ns", ScalerName: "api", Floor: 2, ExpiresAt: timestamppb.New(now.Add(-time.Minute))})
	eventually(t, "both recommendations applied and acknowledged", func() error {
		if a := r.link.LastAppliedServerSeq(); a != 2 {
			return fmt.Errorf("last applied %d", a)
		}
		if a := s.Stats().LastAgentAck; a != 2 {
			return fmt.Errorf("agent acked %d", a)
		}
		return nil
	})
	a := r.link.Advice("ns", "web", now)
	if !a.Known || !a.FloorValid || a.Floor != 4 || a.BudgetMaxReplicas != 9 || a.PriceTableHash != "abc" {
		t.Fatalf("advice for web %+v", a)
	}
	if a := r.link.Advice("ns", "web", now.Add(2*time.Hour)); a.FloorValid || a.BudgetMaxReplicas != 9 {
		t.Fatalf("advice for web after expiry %+v: want the floor expired and the budget kept", a)
	}
	if a := r.link.Advice("ns", "api", now); !a.Known || a.FloorValid {
		t.Fatalf("advice for api (expired) %+v", a)
	}
	// Reconnect: the agent says 2, nothing is replayed.
	s.Drop()
	eventually(t, "a second stream", func() error {
		if n := len(s.Auths()); n != 2 {
			return fmt.Errorf("%d auths", n)
		}
		return nil
	})
	if got := s.Auths()[1].GetLastAppliedServerSeq(); got != 2 {
		t.Fatalf("second auth says last applied %d, want 2", got)
	}
	// A config update, then a resync: the backend sends its state again
	// (both recommendations and the config); the config is acknowledged
	// twice (once per delivery) and applied once.
	s.Send(&agentv1.ServerMessage{Payload: &agentv1.ServerMessage_Config{Config: &agentv1.ConfigUpdate{Version: 3, Settings: map[string]string{backendlink.ConfigQueueSize: "500"}}}})
	eventually(t, "the config acknowledged", func() error { return configAcks(s, 1) })
	s.Send(&agentv1.ServerMessage{Payload: &agentv1.ServerMessage_Config{Config: &agentv1.ConfigUpdate{Version: 4, Settings: map[string]string{"agent.safety.dryRun": "true"}}}})
	eventually(t, "the unsupported config refused by its ack", func() error { return configAcks(s, 2) })
	var acks []*agentv1.ConfigAck
	for _, m := range s.Got() {
		if c := m.GetConfigAck(); c != nil {
			acks = append(acks, c)
		}
	}
	if acks[0].GetVersion() != 3 || acks[0].GetError() != "" || acks[1].GetVersion() != 4 || !strings.Contains(acks[1].GetError(), "agent.safety.dryRun") {
		t.Fatalf("config acks %v", acks)
	}
	s.ResyncNext()
	s.Send(&agentv1.ServerMessage{Payload: &agentv1.ServerMessage_Resync{Resync: &agentv1.ResyncRequest{Reason: "test"}}})
	eventually(t, "an inventory for the resync request", func() error {
		n := 0
		for _, k := range kinds(s.Got()) {
			if k == "inventory" {
				n++
			}
		}
		if n < 2 {
			return fmt.Errorf("%d inventories", n)
		}
		return nil
	})
	s.Drop()
	eventually(t, "the resync's replay applied", func() error {
		if a := r.link.LastAppliedServerSeq(); a != 5 {
			return fmt.Errorf("last applied %d, want 5", a)
		}
		return configAcks(s, 4)
	})
	checkClean(t, s)
}

func configAcks(s interface {
	Got() []*agentv1.AgentMessage
}, n int) error {
	got := 0
	for _, m := range s.Got() {
		if m.GetConfigAck() != nil {
			got++
		}
	}
	if got != n {
		return fmt.Errorf("%d config acks, want %d", got, n)
	}
	return nil
}

// An agent restart: the new process has an empty buffer and says it
// applied no server message; it numbers on from what the backend holds
// and sends its inventory first.
func TestAgentRestartResumesFromAckedSeq(t *testing.T) {
	s := startServer(t)
	r := startLink(t, s, nil)
	for i := range 3 {
		r.link.Report(decision(i))
	}
	waitDecisions(t, s, 3)
	s.Recommend(&agentv1.Recommendation{Namespace: "ns", ScalerName: "web", Floor: 3, ExpiresAt: timestamppb.New(time.Now().Add(time.Hour))})
	eventually(t, "the recommendation applied", func() error {
		if r.link.LastAppliedServerSeq() != 1 {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	r.stop()
	r2 := startLink(t, s, func(o *backendlink.Options) { o.AgentInstance = "pod-2" })
	r2.link.Report(decision(3))
	waitDecisions(t, s, 4)
	got := s.Got()
	if k := kinds(got); k[4] != "inventory" || got[4].GetSeq() != 5 || got[5].GetSeq() != 6 {
		t.Fatalf("after the restart: %v (seqs %d, %d): want the inventory at 5, the decision at 6", k, got[4].GetSeq(), got[5].GetSeq())
	}
	if a := s.Auths()[1]; a.GetLastAppliedServerSeq() != 0 || a.GetAgentInstance() != "pod-2" {
		t.Fatalf("restarted agent's auth %v", a)
	}
	eventually(t, "the recommendation replayed to the new process", func() error {
		if a := r2.link.Advice("ns", "web", time.Now()); !a.FloorValid || a.Floor != 3 {
			return fmt.Errorf("advice %+v", a)
		}
		return nil
	})
	checkClean(t, s)
}

// A backend that holds the stream and sends nothing (no heartbeat, no
// ack) for three heartbeat intervals is left: the link reconnects.
func TestSilentBackendIsLeft(t *testing.T) {
	s := startServer(t)
	r := startLink(t, s, nil)
	r.link.Report(decision(0))
	waitDecisions(t, s, 1)
	s.Silence(true)
	eventually(t, "a second stream after the silence", func() error {
		if n := s.Stats().Streams; n < 2 {
			return fmt.Errorf("%d streams", n)
		}
		return nil
	})
	if !strings.Contains(r.logs.String(), "no message from the backend for 3 heartbeat intervals") {
		t.Fatalf("the log does not say why the stream was left:\n%s", r.logs.String())
	}
	s.Silence(false)
	r.link.Report(decision(1))
	waitDecisions(t, s, 2)
	checkClean(t, s)
}
