package backendlink

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	agentv1 "github.com/hpa-autoscaler/hpa-autoscaler/proto/agent/v1"
)

// FuzzServerMessage: whatever the backend sends (any ServerMessage the
// wire can carry), applying it never panics, seqs are applied at most
// once, and Advice answers.
func FuzzServerMessage(f *testing.F) {
	seed := []*agentv1.ServerMessage{
		{Seq: 1, Ack: 3, Payload: &agentv1.ServerMessage_Recommendation{Recommendation: &agentv1.Recommendation{Namespace: "ns", ScalerName: "web", Floor: 4, ExpiresAt: timestamppb.New(time.Unix(2e9, 0))}}},
		{Seq: 2, Payload: &agentv1.ServerMessage_Config{Config: &agentv1.ConfigUpdate{Version: 1, Settings: map[string]string{ConfigQueueSize: "10"}}}},
		{Seq: 3, Payload: &agentv1.ServerMessage_Config{Config: &agentv1.ConfigUpdate{Version: 2, Settings: map[string]string{ConfigQueueSize: "-1", "x": "y"}}}},
		{Seq: 4, Payload: &agentv1.ServerMessage_Resync{Resync: &agentv1.ResyncRequest{Reason: "r"}}},
		{Payload: &agentv1.ServerMessage_Heartbeat{Heartbeat: &agentv1.Heartbeat{}}, Ack: 1 << 63},
	}
	for _, m := range seed {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var m agentv1.ServerMessage
		if proto.Unmarshal(raw, &m) != nil {
			return
		}
		l, err := New(Options{Addr: "backend:1", ClusterID: "c1", Token: func() (string, error) { return "t", nil }, BufferSize: 8})
		if err != nil {
			t.Fatal(err)
		}
		l.Metrics(Metrics{Namespace: "ns", Name: "web"})
		l.receive(context.Background(), &m)
		before := l.Buffered()
		if s := m.GetSeq(); s != 0 && l.LastAppliedServerSeq() != s {
			t.Fatalf("seq %d applied, last applied %d", s, l.LastAppliedServerSeq())
		}
		// The same message again is a resend: nothing more is queued.
		if m.GetSeq() != 0 {
			l.receive(context.Background(), &m)
			if l.Buffered() != before {
				t.Fatalf("a resend of seq %d queued %d more messages", m.GetSeq(), l.Buffered()-before)
			}
		}
		if r := m.GetRecommendation(); r != nil {
			_ = l.Advice(r.GetNamespace(), r.GetScalerName(), time.Unix(1e9, 0))
		}
	})
}
