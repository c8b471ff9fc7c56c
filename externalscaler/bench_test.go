package externalscaler

import (
	"context"
	"io"
	"log/slog"
	"math"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// The load benchmark: GetMetrics over loopback gRPC with one client
// connection (KEDA pools one per scaler address), many concurrent callers
// and 1,000 ScaledObjects, against three servers in the same run:
//
//   - empty: a bare gRPC server whose GetMetrics answers a response of the
//     same shape without doing anything (the floor: gRPC and the loopback);
//   - fixed: our server with a scaler that answers instantly (the server's
//     own overhead: cache lookup, metadata comparison, metrics, interceptor);
//   - redis: our server with the Redis list scaler on a local redis-server,
//     one round trip per call (values are never cached).
//
// The three are measured in interleaved rounds (empty, fixed, redis; fixed,
// redis, empty; ...), so background load on a shared machine hits each alike and
// the ratios stay meaningful. b.N calls go to each server, after 1,000
// warm-up calls that are not counted. Reported per server: calls/s and the
// nearest-rank p50/p99 latency of one call over all counted calls; and the
// ratios the goals are about: fixed/empty calls/s and p99, redis/empty
// calls/s. The CPU time per call (client and server together, not
// redis-server's) is reported too: unlike wall-clock figures it does not
// depend on what else runs on the machine.
//
// Here the servers run in the benchmark's process;
// BenchmarkGetMetricsLoadProcess runs each in a process of its own.

const (
	benchObjects = 1000
	benchRounds  = 10
)

func BenchmarkGetMetricsLoad(b *testing.B) {
	rd := startBenchRedis(b)
	fixedReqs, redisReqs := benchRequests("fixed", ""), benchRequests("redis", rd.Addr())
	for _, callers := range []int{64, 8} {
		b.Run("callers="+strconv.Itoa(callers), func(b *testing.B) {
			runLoad(b, callers, []*loadTarget{
				{name: "empty", addr: startEmpty(b), reqs: fixedReqs},
				{name: "fixed", addr: startBenchServer(b, fixedRegistry()), reqs: fixedReqs},
				{name: "redis", addr: startBenchServer(b, redisRegistry()), reqs: redisReqs},
			})
		})
	}
}

// startBenchRedis starts a redis-server with one list per ScaledObject, of
// different lengths so values differ per object.
func startBenchRedis(b *testing.B) *testenv.Redis {
	b.Helper()
	rd := testenv.StartRedis(b)
	for i := range benchObjects {
		if n := i % 7; n > 0 {
			args := []string{"RPUSH", "list-" + strconv.Itoa(i)}
			for j := range n {
				args = append(args, strconv.Itoa(j))
			}
			if _, err := rd.Do(args...); err != nil {
				b.Fatal(err)
			}
		}
	}
	return rd
}

// runLoad connects to the targets, measures b.N calls to each in
// interleaved rounds and reports the figures and ratios.
func runLoad(b *testing.B, callers int, targets []*loadTarget) {
	b.Helper()
	for _, t := range targets {
		t.connect(b)
	}
	b.ReportAllocs()
	b.ResetTimer()
	rounds := min(benchRounds, b.N)
	for r := range rounds {
		n := b.N / rounds
		if r < b.N%rounds {
			n++
		}
		// Rotate the order too: no server always runs first or right
		// after another.
		for k := range targets {
			targets[(r+k)%len(targets)].run(b, n, callers)
		}
	}
	b.StopTimer()
	stats := map[string]loadStats{}
	for _, t := range targets {
		st := t.stats()
		stats[t.name] = st
		b.ReportMetric(st.callsPerSec, t.name+"-calls/s")
		b.ReportMetric(float64(st.p50.Microseconds()), t.name+"-p50-us")
		b.ReportMetric(float64(st.p99.Microseconds()), t.name+"-p99-us")
		b.ReportMetric(float64(st.cpuPerCall.Nanoseconds())/1e3, t.name+"-cpu-us/call")
	}
	empty := stats["empty"]
	for _, t := range targets {
		if t.name != "empty" {
			b.ReportMetric(stats[t.name].callsPerSec/empty.callsPerSec, t.name+"/empty-calls")
		}
	}
	if fixed, ok := stats["fixed"]; ok {
		b.ReportMetric(float64(fixed.p99)/float64(empty.p99), "fixed/empty-p99")
		// CPU per call does not depend on what else runs on the machine:
		// its inverse ratio is the calls/s ratio a dedicated machine would
		// see when the load is CPU-bound.
		b.ReportMetric(float64(empty.cpuPerCall)/float64(fixed.cpuPerCall), "empty/fixed-cpu")
	}
}

// benchRequests returns one GetMetrics request per ScaledObject, with the
// metadata keys a real trigger has (KEDA's own ones included).
func benchRequests(scalerType, redisAddr string) []*pb.GetMetricsRequest {
	reqs := make([]*pb.GetMetricsRequest, benchObjects)
	for i := range reqs {
		list := "list-" + strconv.Itoa(i)
		md := map[string]string{
			"scalerType":           scalerType,
			"scalerAddress":        "hpa-autoscaler.hpa-system.svc:9443",
			"listName":             list,
			"listLength":           "5",
			"activationListLength": "1",
		}
		if redisAddr != "" {
			md["address"] = redisAddr
		}
		reqs[i] = &pb.GetMetricsRequest{
			ScaledObjectRef: &pb.ScaledObjectRef{Namespace: "team-" + strconv.Itoa(i%20), Name: "worker-" + strconv.Itoa(i), ScalerMetadata: md},
			MetricName:      "redis-" + list,
		}
	}
	return reqs
}

// fixedScaler answers instantly with a value computed once.
type fixedScaler struct {
	specs []scalers.MetricSpec
	m     scalers.Metrics
}

func (s *fixedScaler) MetricSpecs() []scalers.MetricSpec                { return s.specs }
func (s *fixedScaler) Metrics(context.Context) (scalers.Metrics, error) { return s.m, nil }
func (s *fixedScaler) Close() error                                     { return nil }

func fixedRegistry() *scalers.Registry {
	r := scalers.NewRegistry()
	r.MustRegister("fixed", func(_ context.Context, cfg scalers.Config) (scalers.Scaler, error) {
		name := scalers.MetricName("redis", cfg.Metadata["listName"])
		return &fixedScaler{
			specs: []scalers.MetricSpec{{Name: name, Target: 5}},
			m:     scalers.Metrics{Values: []scalers.MetricValue{{Name: name, Value: 3}}, Active: true},
		}, nil
	})
	return r
}

// emptyServer is the same service doing nothing.
type emptyServer struct {
	pb.UnimplementedExternalScalerServer
}

func (emptyServer) GetMetrics(_ context.Context, req *pb.GetMetricsRequest) (*pb.GetMetricsResponse, error) {
	return &pb.GetMetricsResponse{MetricValues: []*pb.MetricValue{{MetricName: req.MetricName, MetricValue: 3, MetricValueFloat: 3}}}, nil
}

func startEmpty(b *testing.B) string {
	b.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	g := grpc.NewServer()
	pb.RegisterExternalScalerServer(g, emptyServer{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = g.Serve(lis)
	}()
	b.Cleanup(func() {
		g.Stop()
		<-done
	})
	return lis.Addr().String()
}

// startBenchServer runs our server as the binary does: metrics on a
// registry, an info-level logger (debug off), plaintext gRPC.
func startBenchServer(b *testing.B, reg *scalers.Registry) string {
	b.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ts := startServer(b, Options{Registry: reg, Logger: logger, Registerer: prometheus.NewRegistry()}, ServeOptions{})
	return ts.addr
}

// loadTarget is one server under load and what was measured of it.
type loadTarget struct {
	name   string
	addr   string
	reqs   []*pb.GetMetricsRequest
	client pb.ExternalScalerClient
	// serverCPU is the CPU time used so far by a server running in another
	// process; nil when the server runs in this one (processCPU counts it).
	serverCPU func(testing.TB) time.Duration

	next    int // index of the next request
	calls   int
	elapsed time.Duration
	cpu     time.Duration // CPU time of client and server (not redis-server's)
	lat     []time.Duration
}

// connect opens the one client connection and warms the server up with one
// call per ScaledObject (KEDA's calls repeat: the steady state matters).
func (t *loadTarget) connect(b *testing.B) {
	b.Helper()
	conn, err := grpc.NewClient(t.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = conn.Close() })
	t.client = pb.NewExternalScalerClient(conn)
	// The first call waits for the connection (a server process may still
	// be starting) until the warm-up's deadline.
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	for _, r := range t.reqs {
		if _, err := t.client.GetMetrics(ctx, r, grpc.WaitForReady(true)); err != nil {
			b.Fatalf("%s warm-up: %v", t.name, err)
		}
	}
}

// run sends n calls from callers goroutines and adds them to the totals.
// Each caller sends its next call as soon as its previous one is answered
// (a closed loop); the latency of a call is the time from sending it to
// having its answer, measured by the caller around the client call.
func (t *loadTarget) run(b *testing.B, n, callers int) {
	b.Helper()
	var next atomic.Int64
	lat := make([]time.Duration, n) // lat[i] is call i's; no appends while measuring
	var failed atomic.Value
	var wg sync.WaitGroup
	ctx := context.Background()
	base := t.next
	cpu0 := t.cpuUsed(b)
	start := time.Now()
	for range callers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				t0 := time.Now()
				_, err := t.client.GetMetrics(ctx, t.reqs[(base+i)%len(t.reqs)])
				lat[i] = time.Since(t0)
				if err != nil {
					failed.Store(err)
					return
				}
			}
		})
	}
	wg.Wait()
	t.elapsed += time.Since(start)
	t.cpu += t.cpuUsed(b) - cpu0
	if err, _ := failed.Load().(error); err != nil {
		b.Fatalf("%s: GetMetrics: %v", t.name, err)
	}
	t.next = (base + n) % len(t.reqs)
	t.calls += n
	t.lat = append(t.lat, lat...)
}

// cpuUsed is the CPU time used so far by this process and, when the server
// runs in another process, by that one.
func (t *loadTarget) cpuUsed(tb testing.TB) time.Duration {
	d := processCPU(tb)
	if t.serverCPU != nil {
		d += t.serverCPU(tb)
	}
	return d
}

type loadStats struct {
	callsPerSec float64
	p50, p99    time.Duration
	cpuPerCall  time.Duration
}

func (t *loadTarget) stats() loadStats {
	slices.Sort(t.lat)
	return loadStats{
		callsPerSec: float64(t.calls) / t.elapsed.Seconds(),
		p50:         percentile(t.lat, 0.50),
		p99:         percentile(t.lat, 0.99),
		cpuPerCall:  t.cpu / time.Duration(max(t.calls, 1)),
	}
}

// processCPU is the user+system CPU time this process has used.
func processCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// percentile is the nearest-rank q-quantile of sorted: the smallest value
// that at least q of the values do not exceed.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(q * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}
