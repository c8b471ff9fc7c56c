package agentsvc

import (
	"errors"
	"io"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	agentv1 "github.com/hpa-autoscaler/hpa-autoscaler/proto/agent/v1"
)

func TestUnary(t *testing.T) {
	for _, db := range dbs {
		t.Run(db.name, func(t *testing.T) {
			t.Parallel()
			rec := newRecorder()
			e := newEnv(t, db.url(t), Options{Observer: rec, Recommender: rec, Budgets: rec, Version: "v-test"}, envOpts{})
			c := e.dial(nil)
			a := mustConnect(t, c, "a1", e.tokens["a"], 0)
			a.waitAck(a.send(inventory(t, "web")))
			ctx := testCtx(t)

			// GetScalingRecommendation: with the agent token, and with an
			// operator token naming the cluster.
			for _, tok := range []string{"a", "a-op"} {
				r, err := c.GetScalingRecommendation(bearer(ctx, e.tokens[tok]), &agentv1.ScalingRequest{ClusterId: "a1", Namespace: "shop", ScalerName: "web"})
				if err != nil {
					t.Fatalf("GetScalingRecommendation with %s: %v", tok, err)
				}
				if got := r.GetRecommendation(); got.GetScalerName() != "web" || got.GetBudgetMaxReplicas() != 8 || got.GetFloorReason() != "no history" {
					t.Errorf("recommendation: %v", got)
				}
			}
			bad := []struct {
				name string
				tok  string
				req  *agentv1.ScalingRequest
				code codes.Code
				msg  string
			}{
				{"no token", "", &agentv1.ScalingRequest{ClusterId: "a1", Namespace: "shop", ScalerName: "web"}, codes.Unauthenticated, "authorization"},
				{"no namespace", "a", &agentv1.ScalingRequest{ClusterId: "a1", ScalerName: "web"}, codes.InvalidArgument, "namespace: required"},
				{"no name", "a", &agentv1.ScalingRequest{ClusterId: "a1", Namespace: "shop"}, codes.InvalidArgument, "scaler_name: required"},
				{"no cluster", "a-op", &agentv1.ScalingRequest{Namespace: "shop", ScalerName: "web"}, codes.InvalidArgument, "cluster_id: required"},
				{"another cluster", "a", &agentv1.ScalingRequest{ClusterId: "a2", Namespace: "shop", ScalerName: "web"}, codes.PermissionDenied, "bound to another cluster"},
				{"another tenant", "b", &agentv1.ScalingRequest{ClusterId: "b1", Namespace: "shop", ScalerName: "web"}, codes.NotFound, "not found"},
				{"missing scaler", "a", &agentv1.ScalingRequest{ClusterId: "a1", Namespace: "shop", ScalerName: "nope"}, codes.NotFound, "not found"},
			}
			for _, tc := range bad {
				cctx := ctx
				if tc.tok != "" {
					cctx = bearer(ctx, e.tokens[tc.tok])
				}
				_, err := c.GetScalingRecommendation(cctx, tc.req)
				if status.Code(err) != tc.code || !strings.Contains(err.Error(), tc.msg) {
					t.Errorf("%s: got %v, want %s with %q", tc.name, err, tc.code, tc.msg)
				}
			}

			// ReportScalingEvent: idempotent by id, as the REST endpoint.
			ev := &agentv1.ScalingEvent{Id: "u1", Namespace: "shop", ScalerName: "web", Time: timestamppb.Now(), FromReplicas: 1, ToReplicas: 2, Rule: "Metric"}
			first, err := c.ReportScalingEvent(bearer(ctx, e.tokens["a"]), ev)
			if err != nil || !first.GetCreated() || first.GetAuditSeq() == 0 || len(first.GetChainHash()) != 64 {
				t.Fatalf("ReportScalingEvent: %v %v", first, err)
			}
			again, err := c.ReportScalingEvent(bearer(ctx, e.tokens["a-op"]), &agentv1.ScalingEvent{Id: "u1", Namespace: "shop", ScalerName: "web", Time: ev.Time, FromReplicas: 1, ToReplicas: 2, ClusterId: "a1"})
			if err != nil || again.GetCreated() || again.GetAuditSeq() != first.GetAuditSeq() || again.GetChainHash() != first.GetChainHash() {
				t.Fatalf("ReportScalingEvent again: %v %v, want the first's seq and hash", again, err)
			}
			for name, tc := range map[string]struct {
				ev  *agentv1.ScalingEvent
				msg string
			}{
				"no id":        {&agentv1.ScalingEvent{Namespace: "shop", ScalerName: "web", Time: ev.Time}, "id: required"},
				"no time":      {&agentv1.ScalingEvent{Id: "x", Namespace: "shop", ScalerName: "web"}, "time: required"},
				"negative":     {&agentv1.ScalingEvent{Id: "x", Namespace: "shop", ScalerName: "web", Time: ev.Time, ToReplicas: -1}, "to_replicas: -1"},
				"no namespace": {&agentv1.ScalingEvent{Id: "x", ScalerName: "web", Time: ev.Time}, "namespace: required"},
			} {
				_, err := c.ReportScalingEvent(bearer(ctx, e.tokens["a"]), tc.ev)
				if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), tc.msg) {
					t.Errorf("%s: got %v, want InvalidArgument with %q", name, err, tc.msg)
				}
			}
			if _, err := c.ReportScalingEvent(bearer(ctx, e.tokens["a"]), &agentv1.ScalingEvent{Id: "u1", Namespace: "shop", ScalerName: "other", Time: ev.Time}); status.Code(err) != codes.NotFound {
				t.Errorf("an event of a missing scaler: %v, want NotFound", err)
			}

			h, err := c.HealthCheck(ctx, &agentv1.HealthRequest{})
			if err != nil || h.GetStatus() != agentv1.HealthResponse_SERVING || h.GetDatabase() != "ok" || h.GetVersion() != "v-test" || h.GetConnectedAgents() != 1 {
				t.Fatalf("HealthCheck: %v %v", h, err)
			}
		})
	}
}

// FuzzAgentMessage sends arbitrary AgentMessage bytes after auth: the
// server answers with an error naming what is wrong, or goes on; it
// never fails otherwise (nor panics).
func FuzzAgentMessage(f *testing.F) {
	for _, m := range []*agentv1.AgentMessage{
		{Seq: 1, Payload: &agentv1.AgentMessage_Inventory{Inventory: inventory(f, "web")}},
		{Seq: 2, Payload: &agentv1.AgentMessage_Result{Result: decision("d1", "web", 3)}},
		{Seq: 3, Payload: &agentv1.AgentMessage_Metrics{Metrics: &agentv1.MetricReport{Namespace: "shop", ScalerName: "web", Metrics: []*agentv1.MetricValue{{Trigger: "t", Value: 1}}}}},
		{Seq: 4, Payload: &agentv1.AgentMessage_Event{Event: &agentv1.ScalingEvent{Id: "e", Namespace: "shop", ScalerName: "web", Time: timestamppb.Now()}}},
		{Seq: 5, Payload: &agentv1.AgentMessage_ConfigAck{ConfigAck: &agentv1.ConfigAck{Version: 3}}},
		{Seq: 6, Payload: &agentv1.AgentMessage_Status{Status: &agentv1.StatusUpdate{Leader: true, Message: "ok"}}},
		{Payload: &agentv1.AgentMessage_Heartbeat{Heartbeat: &agentv1.Heartbeat{}}},
		{Seq: 1 << 63, Payload: &agentv1.AgentMessage_Inventory{}},
	} {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0xff, 0x01})
	rec := newRecorder()
	e := newEnv(f, dbs[0].url(f), Options{Observer: rec, Recommender: rec, Budgets: rec}, envOpts{})
	c := e.dial(nil)
	f.Fuzz(func(t *testing.T, data []byte) {
		var m agentv1.AgentMessage
		if proto.Unmarshal(data, &m) != nil {
			return // not a message: gRPC refuses it before the service
		}
		a, err := connect(t, c, "a1", e.tokens["a"], 0, true)
		if err != nil {
			t.Fatalf("connect: %v", err)
		}
		if err := a.stream.Send(&m); err != nil && !errors.Is(err, io.EOF) {
			t.Fatalf("send: %v", err)
		}
		_ = a.stream.CloseSend()
		err = a.waitEnd()
		switch status.Code(err) {
		case codes.OK, codes.InvalidArgument, codes.FailedPrecondition, codes.ResourceExhausted:
		default:
			if !errors.Is(err, io.EOF) {
				t.Fatalf("stream end: %v", err)
			}
		}
	})
}
