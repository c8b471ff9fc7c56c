package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/hpa-autoscaler/hpa-autoscaler/backend/store"
)

// grpcAddrOf is the gRPC address in serve's serving line.
func grpcAddrOf(t *testing.T, s *served) string {
	t.Helper()
	for _, line := range strings.Split(s.stderr.String(), "\n") {
		var rec struct {
			Msg  string `json:"msg"`
			GRPC string `json:"grpc"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "external scaler serving" && rec.GRPC != "" {
			return rec.GRPC
		}
	}
	t.Fatalf("no gRPC address in the serving line; stderr:\n%s", s.stderr.String())
	return ""
}

// metricValue is the sum of the samples of name in /metrics.
func metricValue(t *testing.T, httpAddr, name string) float64 {
	t.Helper()
	code, body := get(t, "http://"+httpAddr+"/metrics", "")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `(\{[^}]*\})? (\S+)$`)
	sum := 0.0
	for _, m := range re.FindAllStringSubmatch(body, -1) {
		v, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			t.Fatalf("%s: %v", m[0], err)
		}
		sum += v
	}
	return sum
}

// TestKEDAPredictiveHistory: the values serve's external scaler fetches
// for a predictive trigger go into the backend's history (tenant
// --keda-tenant, scaler <namespace>.<ScaledObject>, the metric's name),
// and the next serve warm-starts the trigger's forecast from them.
func TestKEDAPredictiveHistory(t *testing.T) {
	src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `{"rides": 1234}`)
	}))
	defer src.Close()
	dbURL := "sqlite:" + filepath.Join(t.TempDir(), "hpa.db")
	ref := &pb.ScaledObjectRef{Namespace: "nyc", Name: "taxi", ScalerMetadata: map[string]string{
		"scalerType": "metrics-api", "url": src.URL, "valueLocation": "rides", "targetValue": "1000", "predictive": "true",
	}}
	args := []string{"--db", dbURL, "--history-step", "2s"}

	s1 := startServeInProcess(t, args...)
	c := kedaClient(t, grpcAddrOf(t, s1))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	spec, err := c.GetMetricSpec(ctx, ref)
	if err != nil || len(spec.MetricSpecs) != 1 {
		t.Fatalf("GetMetricSpec: %v %v", spec, err)
	}
	metric := spec.MetricSpecs[0].MetricName
	// Fetch until the history has written a step of the series (its
	// step is 2s: a step is written once it has ended).
	deadline := time.Now().Add(30 * time.Second)
	for metricValue(t, s1.http, "hpa_history_steps_written_total") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("no two history steps written within 30s of GetMetrics calls; stderr:\n%s", s1.stderr.String())
		}
		res, err := c.GetMetrics(ctx, &pb.GetMetricsRequest{ScaledObjectRef: ref, MetricName: metric})
		if err != nil || len(res.MetricValues) != 1 || res.MetricValues[0].MetricValueFloat < 1234 {
			t.Fatalf("GetMetrics: %v %v", res, err)
		}
		time.Sleep(100 * time.Millisecond) // the pace of the calls, not a wait for a condition
	}
	if code := s1.stop(); code != 0 {
		t.Fatalf("serve exited %d; stderr:\n%s", code, s1.stderr.String())
	}

	s, err := store.Open(ctx, dbURL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pts, err := s.ReadHistory(ctx, "default", store.SeriesKey{Namespace: "nyc", Scaler: "nyc.taxi", Trigger: metric}, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	s.Close()
	if err != nil || len(pts) < 2 {
		t.Fatalf("history of default/nyc/nyc.taxi/%s: %v %v", metric, pts, err)
	}
	for _, p := range pts {
		if p.Value != 1234 || p.Step != 2*time.Second {
			t.Fatalf("stored step %+v: want 1234 over 2s", p)
		}
	}

	// The next serve's first call warm-starts the trigger from them.
	s2 := startServeInProcess(t, args...)
	c2 := kedaClient(t, grpcAddrOf(t, s2))
	if _, err := c2.GetMetrics(ctx, &pb.GetMetricsRequest{ScaledObjectRef: ref, MetricName: metric}); err != nil {
		t.Fatalf("GetMetrics after the restart: %v", err)
	}
	deadline = time.Now().Add(30 * time.Second)
	for metricValue(t, s2.http, "hpa_history_warm_start_samples_total") < float64(len(pts)) {
		if time.Now().After(deadline) {
			t.Fatalf("the restarted serve's trigger took %v warm-start samples within 30s, want at least the %d stored steps; stderr:\n%s",
				metricValue(t, s2.http, "hpa_history_warm_start_samples_total"), len(pts), s2.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func kedaClient(t *testing.T, addr string) pb.ExternalScalerClient {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return pb.NewExternalScalerClient(cc)
}

// TestKEDATenantFlag: --keda-tenant names a tenant that exists; without
// the default tenant serve starts and says the history stays in memory.
func TestKEDATenantFlag(t *testing.T) {
	dbURL := "sqlite:" + filepath.Join(t.TempDir(), "hpa.db")
	code, _, stderr := runCmd(t, "serve", "--db", dbURL, "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--keda-tenant", "Nope")
	if code != 2 || !strings.Contains(stderr, "--keda-tenant") {
		t.Fatalf("bad --keda-tenant: exit %d, stderr %q", code, stderr)
	}
	code, _, stderr = runCmd(t, "serve", "--db", dbURL, "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--keda-tenant", "acme")
	if code != 2 || !strings.Contains(stderr, `--keda-tenant "acme": no such tenant`) {
		t.Fatalf("--keda-tenant of no tenant: exit %d, stderr %q", code, stderr)
	}
}

func TestKEDADefaultTenantMissing(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "db.sqlite")
	if code, _, stderr := runCmd(t, "tenant", "create", "shop", "--db", db); code != 0 {
		t.Fatalf("tenant create: %d %s", code, stderr)
	}
	if code, _, stderr := runCmd(t, "token", "create", "--db", db, "--tenant", "shop", "--role", "admin"); code != 0 {
		t.Fatalf("token create: %d %s", code, stderr)
	}
	s := startServeInProcess(t, "--db", db)
	if !strings.Contains(s.stderr.String(), "keep their history in memory only: there is no tenant default") {
		t.Errorf("no warning of the missing default tenant; stderr:\n%s", s.stderr.String())
	}
}
