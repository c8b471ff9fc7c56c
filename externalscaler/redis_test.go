package externalscaler

// Integration tests: a real redis-server (internal/testenv) behind the
// server, driven by a real gRPC client of KEDA's contract over loopback.

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/redis"
)

// redisRegistry wires the Redis scaler types as the binary does: scalers
// with the same connection settings share one client.
func redisRegistry() *scalers.Registry {
	clients := redis.NewClients(redis.ClientsOptions{})
	r := scalers.NewRegistry()
	for _, typ := range redis.Types() {
		r.MustRegister(typ, clients.Factory(typ))
	}
	return r
}

func redisDo(tb testing.TB, rd *testenv.Redis, args ...string) string {
	tb.Helper()
	out, err := rd.Do(args...)
	if err != nil {
		tb.Fatalf("redis %v: %v", args, err)
	}
	return out
}

func pushN(tb testing.TB, rd *testenv.Redis, key string, n int) {
	tb.Helper()
	for i := range n {
		redisDo(tb, rd, "RPUSH", key, strconv.Itoa(i))
	}
}

// check is one expectation of a ScaledObject's state.
type check struct {
	value  float64
	active bool
}

// observed is what GetMetrics and IsActive answered.
type observed struct {
	Float  float64
	Int    int64
	Active bool
}

func wantState(tb testing.TB, c pb.ExternalScalerClient, r *pb.ScaledObjectRef, metric string, want check) {
	tb.Helper()
	v := getValue(tb, c, r, metric)
	act, err := c.IsActive(tb.Context(), r)
	if err != nil {
		tb.Fatalf("IsActive: %v", err)
	}
	got := observed{Float: v.MetricValueFloat, Int: v.MetricValue, Active: act.Result}
	if diff := cmp.Diff(observed{Float: want.value, Int: int64(want.value), Active: want.active}, got); diff != "" {
		tb.Errorf("%s: GetMetrics and IsActive (-want +got):\n%s", metric, diff)
	}
}

// wantSpec checks the one metric spec of r.
func wantSpec(tb testing.TB, c pb.ExternalScalerClient, r *pb.ScaledObjectRef, want *pb.MetricSpec) {
	tb.Helper()
	spec, err := c.GetMetricSpec(tb.Context(), r)
	if err != nil {
		tb.Fatalf("GetMetricSpec: %v", err)
	}
	if diff := cmp.Diff(&pb.GetMetricSpecResponse{MetricSpecs: []*pb.MetricSpec{want}}, spec, protocmp.Transform()); diff != "" {
		tb.Errorf("GetMetricSpec (-want +got):\n%s", diff)
	}
}

// wantUnavailable checks that err is an Unavailable status whose message
// starts with prefix (ours: which scaler, where); the rest is the Redis
// or network error, in their words.
func wantUnavailable(tb testing.TB, err error, prefix string) {
	tb.Helper()
	wantCode(tb, err, codes.Unavailable)
	if msg := status.Convert(err).Message(); !strings.HasPrefix(msg, prefix) {
		tb.Errorf("message %q: want it to start with %q", msg, prefix)
	}
}

func TestRedisList(t *testing.T) {
	rd := testenv.StartRedis(t)
	ts := startServer(t, Options{Registry: redisRegistry()}, ServeOptions{})
	host, port, _ := strings.Cut(rd.Addr(), ":")

	tests := []struct {
		name string
		md   map[string]string
	}{
		{name: "address", md: map[string]string{"address": rd.Addr()}},
		{name: "host and port", md: map[string]string{"host": host, "port": port}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := "jobs-" + strings.ReplaceAll(tc.name, " ", "-")
			md := map[string]string{
				"scalerType": "redis", "listName": key, "listLength": "5", "activationListLength": "3",
				// Keys KEDA puts in the metadata for its own use.
				"scalerAddress": ts.addr,
			}
			for k, v := range tc.md {
				md[k] = v
			}
			r := ref(key, md)
			metric := "redis-" + key

			wantSpec(t, ts.client, r, &pb.MetricSpec{MetricName: metric, TargetSize: 5, TargetSizeFloat: 5})
			steps := []struct {
				name   string
				action func()
				want   check
			}{
				{name: "missing key is 0", action: func() {}, want: check{value: 0}},
				{name: "at the activation threshold", action: func() { pushN(t, rd, key, 3) }, want: check{value: 3}},
				{name: "above it", action: func() { pushN(t, rd, key, 1) }, want: check{value: 4, active: true}},
				{name: "fresh on every call", action: func() { pushN(t, rd, key, 10) }, want: check{value: 14, active: true}},
				{name: "drained", action: func() { redisDo(t, rd, "DEL", key) }, want: check{value: 0}},
			}
			for _, st := range steps {
				st.action()
				wantState(t, ts.client, r, metric, st.want)
			}
		})
	}

	// The length of a set, sorted set or hash, by key type, as KEDA.
	redisDo(t, rd, "SADD", "a-set", "x", "y")
	redisDo(t, rd, "ZADD", "a-zset", "1", "x", "2", "y", "3", "z")
	redisDo(t, rd, "HSET", "a-hash", "f1", "1", "f2", "2", "f3", "3", "f4", "4")
	for key, want := range map[string]float64{"a-set": 2, "a-zset": 3, "a-hash": 4} {
		r := ref(key, map[string]string{"scalerType": "redis", "address": rd.Addr(), "listName": key})
		wantState(t, ts.client, r, "redis-"+key, check{value: want, active: true})
	}
}

func TestRedisStreams(t *testing.T) {
	rd := testenv.StartRedis(t)
	ts := startServer(t, Options{Registry: redisRegistry()}, ServeOptions{})
	for i := range 6 {
		redisDo(t, rd, "XADD", "events", "*", "n", strconv.Itoa(i))
	}
	redisDo(t, rd, "XGROUP", "CREATE", "events", "workers", "0")
	// A consumer reads 4 entries (pending until acknowledged).
	redisDo(t, rd, "XREADGROUP", "GROUP", "workers", "w1", "COUNT", "4", "STREAMS", "events", ">")

	base := func(kv ...string) map[string]string {
		md := map[string]string{"scalerType": "redis-streams", "address": rd.Addr(), "stream": "events"}
		for i := 0; i+1 < len(kv); i += 2 {
			md[kv[i]] = kv[i+1]
		}
		return md
	}
	tests := []struct {
		name       string
		md         map[string]string
		wantTarget int64
		want       check
	}{
		{name: "pending entries of the group", md: base("consumerGroup", "workers", "pendingEntriesCount", "2"),
			wantTarget: 2, want: check{value: 4, active: true}},
		{name: "stream length without a group", md: base("streamLength", "10"),
			wantTarget: 10, want: check{value: 6, active: true}},
		{name: "group lag", md: base("consumerGroup", "workers", "lagCount", "3", "activationLagCount", "2"),
			wantTarget: 3, want: check{value: 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := ref(strings.ReplaceAll(tc.name, " ", "-"), tc.md)
			wantSpec(t, ts.client, r, &pb.MetricSpec{MetricName: "redis-streams-events", TargetSize: tc.wantTarget, TargetSizeFloat: float64(tc.wantTarget)})
			wantState(t, ts.client, r, "redis-streams-events", tc.want)
		})
	}

	// Acknowledging entries lowers the pending count at once.
	out := redisDo(t, rd, "XRANGE", "events", "-", "+", "COUNT", "3")
	ids := streamIDs(out)
	if len(ids) != 3 {
		t.Fatalf("XRANGE: got ids %v from %q, want 3", ids, out)
	}
	redisDo(t, rd, append([]string{"XACK", "events", "workers"}, ids...)...)
	r := ref("pending-entries-of-the-group", base("consumerGroup", "workers", "pendingEntriesCount", "2"))
	wantState(t, ts.client, r, "redis-streams-events", check{value: 1, active: true})
}

// streamIDs picks the entry IDs ("<ms>-<seq>") out of a testenv reply.
func streamIDs(reply string) []string {
	var ids []string
	for _, f := range strings.FieldsFunc(reply, func(r rune) bool { return strings.ContainsRune(" \n\t[],\"", r) }) {
		ms, seq, ok := strings.Cut(f, "-")
		if !ok {
			continue
		}
		if _, err := strconv.ParseUint(ms, 10, 64); err != nil {
			continue
		}
		if _, err := strconv.ParseUint(seq, 10, 64); err != nil {
			continue
		}
		ids = append(ids, f)
	}
	return ids
}

func TestRedisStreamIsActive(t *testing.T) {
	rd := testenv.StartRedis(t)
	ts := startServer(t, Options{Registry: redisRegistry()}, ServeOptions{})
	// Real clock, short poll interval: the test waits for each message,
	// until the stream's deadline.
	ctx := waitCtx(t)
	r := ref("stream", map[string]string{"scalerType": "redis", "address": rd.Addr(), "listName": "q",
		"activationListLength": "1", "pollInterval": "100ms"})
	stream, err := ts.client.StreamIsActive(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name   string
		action func()
		want   bool
	}{
		{name: "current state at once", action: func() {}, want: false},
		{name: "work arrives", action: func() { pushN(t, rd, "q", 5) }, want: true},
		{name: "work done", action: func() { redisDo(t, rd, "DEL", "q") }, want: false},
		{name: "Redis restarts empty, then work arrives", action: func() {
			rd.Stop()
			rd.Start() // answering PING
			pushN(t, rd, "q", 2)
		}, want: true},
	}
	for _, st := range steps {
		st.action()
		msg, err := stream.Recv()
		if err != nil {
			t.Fatalf("%s: Recv (waiting for active=%v): %v", st.name, st.want, err)
		}
		if msg.Result != st.want {
			t.Errorf("%s: got active=%v, want %v", st.name, msg.Result, st.want)
		}
	}
}

func TestRedisRestart(t *testing.T) {
	rd := testenv.StartRedis(t)
	ts := startServer(t, Options{Registry: redisRegistry()}, ServeOptions{})
	r := ref("restart", map[string]string{"scalerType": "redis", "address": rd.Addr(), "listName": "work"})
	pushN(t, rd, "work", 3)
	wantState(t, ts.client, r, "redis-work", check{value: 3, active: true})

	rd.Stop()
	for _, call := range []struct {
		name string
		do   func() error
	}{
		{name: "GetMetrics", do: func() error {
			_, err := ts.client.GetMetrics(t.Context(), &pb.GetMetricsRequest{ScaledObjectRef: r, MetricName: "redis-work"})
			return err
		}},
		{name: "IsActive", do: func() error { _, err := ts.client.IsActive(t.Context(), r); return err }},
	} {
		err := call.do()
		wantUnavailable(t, err, `redis list "work" at `+rd.Addr()+": ")
		t.Logf("%s while Redis is down: %v", call.name, status.Convert(err).Message())
	}
	// The spec needs no I/O: KEDA can still create its HPA.
	if _, err := ts.client.GetMetricSpec(t.Context(), r); err != nil {
		t.Errorf("GetMetricSpec while Redis is down: %v", err)
	}

	rd.Start() // empty, and answering PING
	pushN(t, rd, "work", 7)
	scalertest.Eventually(t, waitLimit, "the new length after Redis restarted", func() error {
		resp, err := ts.client.GetMetrics(t.Context(), &pb.GetMetricsRequest{ScaledObjectRef: r, MetricName: "redis-work"})
		if err != nil {
			return err
		}
		if got := resp.MetricValues[0].MetricValueFloat; got != 7 {
			return fmt.Errorf("got %v, want 7", got)
		}
		return nil
	})
	wantState(t, ts.client, r, "redis-work", check{value: 7, active: true})
}

func TestRedisSecretsStayOut(t *testing.T) {
	rd := testenv.StartRedisWith(t, testenv.RedisOptions{Password: "s3cr3t-redis-pass"})
	ts := startServer(t, Options{Registry: redisRegistry()}, ServeOptions{})
	pushN(t, rd, "sec", 2)
	good := map[string]string{"scalerType": "redis", "address": rd.Addr(), "listName": "sec", "password": "s3cr3t-redis-pass"}
	if got := getValue(t, ts.client, ref("sec", good), "redis-sec").MetricValueFloat; got != 2 {
		t.Fatalf("with the password: got %v, want 2", got)
	}
	wrong := map[string]string{"scalerType": "redis", "address": rd.Addr(), "listName": "sec", "password": "wrong-pass-42"}
	_, err := ts.client.IsActive(t.Context(), ref("sec-wrong", wrong))
	wantUnavailable(t, err, `redis list "sec" at `+rd.Addr()+": ")
	if msg := status.Convert(err).Message(); strings.Contains(msg, "wrong-pass-42") {
		t.Errorf("error message %q contains the password", msg)
	}
	down := map[string]string{"scalerType": "redis", "address": "127.0.0.1:1", "listName": "sec", "password": "s3cr3t-redis-pass"}
	_, err = ts.client.IsActive(t.Context(), ref("sec-down", down))
	wantUnavailable(t, err, `redis list "sec" at 127.0.0.1:1: `)
	if msg := status.Convert(err).Message(); strings.Contains(msg, "s3cr3t") {
		t.Errorf("error message %q contains the password", msg)
	}
}

func TestRedisMetadata(t *testing.T) {
	rd := testenv.StartRedis(t)
	reg := prometheus.NewRegistry()
	ts := startServer(t, Options{Registry: redisRegistry(), Registerer: reg}, ServeOptions{})
	pushN(t, rd, "m", 12)

	t.Run("change rebuilds", func(t *testing.T) {
		for _, target := range []int64{5, 10, 20} {
			r := ref("meta", map[string]string{"scalerType": "redis", "address": rd.Addr(), "listName": "m", "listLength": strconv.FormatInt(target, 10)})
			wantSpec(t, ts.client, r, &pb.MetricSpec{MetricName: "redis-m", TargetSize: target, TargetSizeFloat: float64(target)})
			wantState(t, ts.client, r, "redis-m", check{value: 12, active: true})
			if got := metricValue(t, ts.srv.m.instances.WithLabelValues("redis")); got != 1 {
				t.Errorf("open redis instances: got %v, want 1 (the replaced one closed)", got)
			}
		}
		if got := metricValue(t, ts.srv.m.builds.WithLabelValues("redis")); got != 3 {
			t.Errorf("builds: got %v, want 3", got)
		}
	})

	t.Run("bad metadata", func(t *testing.T) {
		tests := []struct {
			name string
			md   map[string]string
			want string
		}{
			{name: "missing listName, bad listLength",
				md:   map[string]string{"scalerType": "redis", "address": rd.Addr(), "listLength": "lots"},
				want: `invalid metadata: listName: required key is missing; listLength "lots": not an integer`},
			{name: "no address",
				md:   map[string]string{"scalerType": "redis", "listName": "m"},
				want: "invalid metadata: address: no Redis address: set address (host:port, or a comma-separated list), or host and port"},
			{name: "streams without stream",
				md:   map[string]string{"scalerType": "redis-streams", "address": rd.Addr(), "consumerGroup": "g"},
				want: "invalid metadata: stream: required key is missing"},
			{name: "sentinel without master",
				md:   map[string]string{"scalerType": "redis-sentinel", "address": rd.Addr(), "listName": "m"},
				want: "invalid metadata: sentinelMaster: required: the name of the master the sentinels monitor"},
			{name: "unknown scaler type lists the known ones",
				md: map[string]string{"scalerType": "redis-list", "address": rd.Addr()},
				want: `invalid metadata: scalerType "redis-list": unknown scaler type, expected one of: ` +
					"redis, redis-cluster, redis-cluster-streams, redis-sentinel, redis-sentinel-streams, redis-streams"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				_, err := ts.client.GetMetricSpec(t.Context(), ref("bad", tc.md))
				wantStatus(t, err, codes.InvalidArgument, tc.want)
				_, err = ts.client.GetMetrics(t.Context(), &pb.GetMetricsRequest{ScaledObjectRef: ref("bad", tc.md), MetricName: "redis-m"})
				wantStatus(t, err, codes.InvalidArgument, tc.want)
			})
		}
	})
}
