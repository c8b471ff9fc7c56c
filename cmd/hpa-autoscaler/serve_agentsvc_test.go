package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	rpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	agentv1 "github.com/hpa-autoscaler/hpa-autoscaler/proto/agent/v1"
)

// TestServeAgentService: serve's gRPC port serves the AgentService next
// to the external scaler, and reflection lists it.
func TestServeAgentService(t *testing.T) {
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "db.sqlite")
	if code, _, stderr := runCmd(t, "tenant", "create", "shop", "--db", db); code != 0 {
		t.Fatalf("tenant create: %d %s", code, stderr)
	}
	if code, _, stderr := runCmd(t, "token", "create", "--db", db, "--tenant", "shop", "--role", "viewer", "--cluster", "prod"); code != 2 || !strings.Contains(stderr, "--cluster: an agent token needs --role operator or admin") {
		t.Errorf("token create --cluster of a viewer: %d %s", code, stderr)
	}
	code, token, stderr := runCmd(t, "token", "create", "--db", db, "--tenant", "shop", "--role", "operator", "--cluster", "prod")
	if code != 0 {
		t.Fatalf("token create --cluster: %d %s", code, stderr)
	}
	token = strings.TrimSpace(token)
	s := startServeInProcess(t, "--db", db)
	var addr string
	for _, line := range strings.Split(s.stderr.String(), "\n") {
		if strings.Contains(line, `"external scaler serving"`) {
			var rec struct {
				GRPC string `json:"grpc"`
			}
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatal(err)
			}
			addr = rec.GRPC
		}
	}
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h, err := agentv1.NewAgentServiceClient(cc).HealthCheck(ctx, &agentv1.HealthRequest{})
	if err != nil || h.GetStatus() != agentv1.HealthResponse_SERVING || h.GetDatabase() != "ok" {
		t.Fatalf("HealthCheck: %v %v", h, err)
	}
	// The agent token of `token create --cluster` connects its cluster.
	st, err := agentv1.NewAgentServiceClient(cc).Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&agentv1.AgentMessage{Payload: &agentv1.AgentMessage_Auth{Auth: &agentv1.AuthRequest{ClusterId: "prod", AgentToken: token}}}); err != nil {
		t.Fatal(err)
	}
	first, err := st.Recv()
	if err != nil || first.GetAuth().GetTenant() != "shop" || first.GetAuth().GetClusterId() != "prod" {
		t.Fatalf("connect with the agent token: %v %v", first, err)
	}
	// An inventory and a report: the history's recommendation comes
	// back (no floor: the scaler has no predictiveScaling).
	spec := `{"targetRef":{"kind":"Deployment","name":"web"},"scaling":{"maxReplicas":5},"triggers":[{"name":"q","type":"redis","metadata":{"address":"redis:6379","listName":"jobs","listLength":"5"}}]}`
	if err := st.Send(&agentv1.AgentMessage{Seq: 1, Payload: &agentv1.AgentMessage_Inventory{Inventory: &agentv1.Inventory{Scalers: []*agentv1.ScalerInfo{{Namespace: "shop", Name: "web", SpecJson: []byte(spec)}}}}}); err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&agentv1.AgentMessage{Seq: 2, Payload: &agentv1.AgentMessage_Metrics{Metrics: &agentv1.MetricReport{Namespace: "shop", ScalerName: "web", Metrics: []*agentv1.MetricValue{{Trigger: "q", Value: 3, Target: 5}}}}}); err != nil {
		t.Fatal(err)
	}
	for {
		m, err := st.Recv()
		if err != nil {
			t.Fatalf("waiting for a recommendation: %v", err)
		}
		if r := m.GetRecommendation(); r != nil {
			if r.GetScalerName() != "web" || r.GetFloor() != 0 || r.GetFloorReason() != "predictiveScaling is not enabled" {
				t.Errorf("recommendation: %v", r)
			}
			break
		}
	}
	rs, err := rpb.NewServerReflectionClient(cc).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := rs.Send(&rpb.ServerReflectionRequest{MessageRequest: &rpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	r, err := rs.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, sv := range r.GetListServicesResponse().GetService() {
		names = append(names, sv.GetName())
	}
	_ = rs.CloseSend()
	if !slices.Contains(names, agentv1.AgentService_ServiceDesc.ServiceName) {
		t.Errorf("reflection lists %v, without %s", names, agentv1.AgentService_ServiceDesc.ServiceName)
	}
	// An agent's open stream does not hold the shutdown until its
	// timeout (10s): it ends with Unavailable at once.
	start := time.Now()
	if code := s.stop(); code != 0 {
		t.Errorf("serve exited with %d", code)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("serve took %v to stop with an agent connected", took)
	}
	for {
		if _, err := st.Recv(); err != nil {
			if status.Code(err) != codes.Unavailable {
				t.Errorf("the agent's stream ended with %v, want Unavailable", err)
			}
			break
		}
	}
}

// TestServeAgentForecastAndBudget: through serve, an agent's Scaler with
// predictiveScaling and a maxCostPerHour gets the backend's forecast
// floor (from the history imported for its series: tenant, cluster,
// <namespace>.<name>, trigger) and its budget cap (OpenCost's default
// prices times the pod requests of its inventory) in one Recommendation.
func TestServeAgentForecastAndBudget(t *testing.T) {
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "db.sqlite")
	if code, _, stderr := runCmd(t, "tenant", "create", "shop", "--db", db); code != 0 {
		t.Fatalf("tenant create: %d %s", code, stderr)
	}
	code, token, stderr := runCmd(t, "token", "create", "--db", db, "--tenant", "shop", "--role", "operator", "--cluster", "prod")
	if code != 0 {
		t.Fatalf("token create --cluster: %d %s", code, stderr)
	}
	token = strings.TrimSpace(token)
	trace := filepath.Join("..", "..", "examples", "traces", "nab", "nyc_taxi.csv")
	if code, out, stderr := runCmd(t, "history", "import", "--db", db, "--tenant", "shop", "--scaler", "shop/web", "--trigger", "rides", "--cluster", "prod",
		"--trace", trace, "--until", "2014-07-20T00:00:00Z", "--end-at", "now"); code != 0 || !strings.Contains(out, "into shop/prod/shop/shop.web/rides") {
		t.Fatalf("history import: %d %q %s", code, out, stderr)
	}
	s := startServeInProcess(t, "--db", db)
	cc, err := grpc.NewClient(grpcAddrOf(t, s), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	st, err := agentv1.NewAgentServiceClient(cc).Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&agentv1.AgentMessage{Payload: &agentv1.AgentMessage_Auth{Auth: &agentv1.AuthRequest{ClusterId: "prod", AgentToken: token}}}); err != nil {
		t.Fatal(err)
	}
	if first, err := st.Recv(); err != nil || first.GetAuth().GetTenant() != "shop" {
		t.Fatalf("connect: %v %v", first, err)
	}
	spec := `{"targetRef":{"apiVersion":"apps/v1","kind":"Deployment","name":"web"},"scaling":{"minReplicas":1,"maxReplicas":1000},` +
		`"triggers":[{"name":"rides","type":"metrics-api","metadata":{"url":"http://stats.shop/rides","valueLocation":"rides","targetValue":"100"}}],` +
		`"advanced":{"predictiveScaling":{"enabled":true,"lookAheadMinutes":15,"confidenceThreshold":0},` +
		`"costOptimization":{"enabled":true,"costThresholds":{"maxCostPerHour":"0.10"}}}}`
	stat := `{"triggers":[{"name":"rides","type":"metrics-api","value":"15000","target":"100"}]}`
	inv := &agentv1.Inventory{Scalers: []*agentv1.ScalerInfo{{Namespace: "shop", Name: "web", SpecJson: []byte(spec), StatusJson: []byte(stat), CurrentReplicas: 2, DesiredReplicas: 2,
		PodRequests: &agentv1.ResourceRequests{CpuMillis: 1000, MemoryBytes: 1 << 30}}}}
	seq := uint64(1)
	send := func(m *agentv1.AgentMessage) {
		t.Helper()
		m.Seq = seq
		seq++
		if err := st.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	send(&agentv1.AgentMessage{Payload: &agentv1.AgentMessage_Inventory{Inventory: inv}})
	// Report until the trackers, rebuilt in the background from the
	// imported history, give a floor.
	var last *agentv1.Recommendation
	got := make(chan *agentv1.Recommendation, 64)
	go func() {
		defer close(got)
		for {
			m, err := st.Recv()
			if err != nil {
				return
			}
			if r := m.GetRecommendation(); r != nil {
				got <- r
			}
		}
	}()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for last == nil || last.GetFloor() == 0 {
		select {
		case r, ok := <-got:
			if !ok {
				t.Fatalf("the stream ended before a floor; last recommendation %v", last)
			}
			last = r
		case <-tick.C:
			send(&agentv1.AgentMessage{Payload: &agentv1.AgentMessage_Metrics{Metrics: &agentv1.MetricReport{Namespace: "shop", ScalerName: "web",
				Metrics: []*agentv1.MetricValue{{Trigger: "rides", Value: 15000, Target: 100}}}}})
		case <-ctx.Done():
			t.Fatalf("no recommendation with a floor within 90s; last %v; stderr:\n%s", last, s.stderr.String())
		}
	}
	// The floor: the forecast's upper bound over the window per 100.
	if last.GetModel() == "" || last.GetConfidence() <= 0 || last.GetForecastUpper() <= 0 || last.GetFloor() < int32(last.GetForecastUpper()/100) {
		t.Errorf("forecast: %v", last)
	}
	// 1 vCPU and 1 GiB at OpenCost's prices: 0.031611 + 0.004237 =
	// 0.035848 $ per replica-hour; 0.10 $/h buys 2 replicas.
	if last.GetBudgetMaxReplicas() != 2 || last.GetPricePerReplicaHourMicros() != 35848 || last.GetPriceTableHash() == "" || last.GetCurrency() != "USD" {
		t.Errorf("budget cap: %v", last)
	}
	t.Logf("recommendation: floor %d (%s), forecast %.0f [%.0f, %.0f], model %s, confidence %.2f; budget cap %d at %d micro-USD per replica-hour",
		last.GetFloor(), last.GetFloorReason(), last.GetForecast(), last.GetForecastLower(), last.GetForecastUpper(), last.GetModel(), last.GetConfidence(),
		last.GetBudgetMaxReplicas(), last.GetPricePerReplicaHourMicros())
}
