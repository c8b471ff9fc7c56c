package externalscaler

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"math"
	"runtime/pprof"
	"strconv"
	"testing"
	"time"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// BenchmarkGetMetricsPredictive is BenchmarkGetMetricsLoad with a
// predictive twin next to each server in the same run: the same 1,000
// triggers with predictive: "true" (historyStep 15m, lookAhead 15m,
// confidenceThreshold 0, so that every trigger has a floor to serve),
// each warm-started with two days of a daily pattern (192 steps) from a
// HistorySource before the measurement. Each twin also has an "-off"
// server whose requests carry the same metadata with predictive "false"
// (the same trigger, the same request size, prediction off). Reported
// besides runLoad's figures: <twin>-predictive/<twin>-off-calls, the
// calls/s ratio the goal is about (at least 0.9);
// <twin>-predictive/<twin>-calls, against the requests without the four
// predictive keys (it also counts their cost on the wire and in the
// server's metadata handling); and the triggers serving a floor at the
// end.
func BenchmarkGetMetricsPredictive(b *testing.B) {
	rd := startBenchRedis(b)
	fixedReqs, redisReqs := benchRequests("fixed", ""), benchRequests("redis", rd.Addr())
	for _, callers := range []int{64, 8} {
		b.Run("callers="+strconv.Itoa(callers), func(b *testing.B) {
			// Each server's goroutines carry the label srv=<target name>
			// (inherited from the goroutine that starts it): with
			// -cpuprofile, `go tool pprof -tags` gives each server's own
			// CPU apart from the client's and the runtime's.
			var fixedP, redisP *testServer
			var fixedPReqs, redisPReqs []*pb.GetMetricsRequest
			labelled(b, "fixed-predictive", func() { fixedP, fixedPReqs = startPredictiveBenchServer(b, fixedRegistry(), fixedReqs) })
			labelled(b, "redis-predictive", func() { redisP, redisPReqs = startPredictiveBenchServer(b, redisRegistry(), redisReqs) })
			start := func(name string, f func() string) string {
				var addr string
				labelled(b, name, func() { addr = f() })
				return addr
			}
			targets := []*loadTarget{
				{name: "empty", addr: start("empty", func() string { return startEmpty(b) }), reqs: fixedReqs},
				{name: "fixed", addr: start("fixed", func() string { return startBenchServer(b, fixedRegistry()) }), reqs: fixedReqs},
				{name: "fixed-off", addr: start("fixed-off", func() string { return startBenchServer(b, fixedRegistry()) }), reqs: predictiveRequests(fixedReqs, "false")},
				{name: "fixed-predictive", addr: fixedP.addr, reqs: fixedPReqs},
				{name: "redis", addr: start("redis", func() string { return startBenchServer(b, redisRegistry()) }), reqs: redisReqs},
				{name: "redis-off", addr: start("redis-off", func() string { return startBenchServer(b, redisRegistry()) }), reqs: predictiveRequests(redisReqs, "false")},
				{name: "redis-predictive", addr: redisP.addr, reqs: redisPReqs},
			}
			runLoad(b, callers, targets)
			byName := map[string]loadStats{}
			for _, t := range targets {
				byName[t.name] = t.stats()
			}
			for _, twin := range []string{"fixed", "redis"} {
				// The goal's ratio: the same trigger, the same metadata,
				// predictive "true" against "false".
				b.ReportMetric(byName[twin+"-predictive"].callsPerSec/byName[twin+"-off"].callsPerSec, twin+"-predictive/"+twin+"-off-calls")
				// Against the trigger without the four predictive keys:
				// this also counts their wire cost (see docs).
				b.ReportMetric(byName[twin+"-predictive"].callsPerSec/byName[twin].callsPerSec, twin+"-predictive/"+twin+"-calls")
			}
			b.ReportMetric(float64(floorsServed(b, fixedP.srv)), "fixed-predictive-floors")
			b.ReportMetric(float64(floorsServed(b, redisP.srv)), "redis-predictive-floors")
		})
	}
}

// dailyHistory is a HistorySource of a daily pattern (a sine between 1
// and 9 with a period of one day) every 15 minutes for two days before
// until.
type dailyHistory struct{}

func (dailyHistory) History(_ context.Context, _ HistoryKey, until time.Time) ([]HistorySample, error) {
	const step = 15 * time.Minute
	end := until.Truncate(step)
	var out []HistorySample
	for t := end.Add(-48 * time.Hour); t.Before(end); t = t.Add(step) {
		phase := 2 * math.Pi * float64(t.Sub(t.Truncate(24*time.Hour))) / float64(24*time.Hour)
		out = append(out, HistorySample{Time: t, Value: 5 + 4*math.Sin(phase)})
	}
	return out, nil
}

// startPredictiveBenchServer starts our server with the warm-start source
// and returns it with reqs made predictive, once every trigger is built
// and warm-started (one call each).
func startPredictiveBenchServer(b *testing.B, reg *scalers.Registry, reqs []*pb.GetMetricsRequest) (*testServer, []*pb.GetMetricsRequest) {
	b.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ts := startServer(b, Options{Registry: reg, Logger: logger, Registerer: prometheus.NewRegistry(), HistorySource: dailyHistory{}}, ServeOptions{})
	out := predictiveRequests(reqs, "true")
	conn, err := grpc.NewClient(ts.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	c := pb.NewExternalScalerClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	for _, r := range out {
		if _, err := c.GetMetrics(ctx, r, grpc.WaitForReady(true)); err != nil {
			b.Fatalf("predictive warm-up: %v", err)
		}
	}
	waitFor(b, "1,000 warm starts (hpa_history_warm_starts_total)", func() bool {
		return testutil.ToFloat64(ts.srv.m.warmStarts) == float64(len(out))
	})
	return ts, out
}

// predictiveRequests returns reqs with the predictive keys of the
// benchmark (historyStep 15m, lookAhead 15m, confidenceThreshold 0) and
// predictive set to on ("true", or "false": the same trigger and request
// size with prediction off, the settings validated and unused).
func predictiveRequests(reqs []*pb.GetMetricsRequest, on string) []*pb.GetMetricsRequest {
	out := make([]*pb.GetMetricsRequest, len(reqs))
	for i, r := range reqs {
		md := maps.Clone(r.ScaledObjectRef.ScalerMetadata)
		md["predictive"] = on
		md["historyStep"] = "15m"
		md["lookAhead"] = "15m"
		md["confidenceThreshold"] = "0"
		out[i] = &pb.GetMetricsRequest{
			ScaledObjectRef: &pb.ScaledObjectRef{Namespace: r.ScaledObjectRef.Namespace, Name: r.ScaledObjectRef.Name, ScalerMetadata: md},
			MetricName:      r.MetricName,
		}
	}
	return out
}

// labelled runs f with the profiler label srv=name, which the goroutines
// f starts inherit.
func labelled(_ testing.TB, name string, f func()) {
	pprof.Do(context.Background(), pprof.Labels("srv", name), func(context.Context) { f() })
}

// floorsServed counts the triggers whose last GetMetrics served a floor.
func floorsServed(tb testing.TB, s *Server) int {
	tb.Helper()
	return testutil.CollectAndCount(s.m.floors)
}
