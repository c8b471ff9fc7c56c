package redis

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// callers is the concurrency of the external scaler's load benchmark.
const callers = 64

// runCallers runs fn from `callers` goroutines in total.
func runCallers(b *testing.B, fn func(pb *testing.PB)) {
	b.SetParallelism(max(1, callers/runtime.GOMAXPROCS(0)))
	b.RunParallel(fn)
}

func metricsOrFail(b *testing.B, s scalers.Scaler) {
	if _, err := s.Metrics(context.Background()); err != nil {
		b.Error(err)
	}
}

// BenchmarkListMetrics measures one Metrics call of one list scaler: a
// single LLEN round trip.
func BenchmarkListMetrics(b *testing.B) {
	r := testenv.StartRedis(b)
	must(b, client(b, r, 0).RPush(context.Background(), "jobs", "a", "b", "c").Err())
	s := newScaler(b, NewList, map[string]string{"address": r.Addr(), "listName": "jobs"})
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			metricsOrFail(b, s)
		}
	})
	b.Run("callers=64", func(b *testing.B) {
		b.ReportAllocs()
		runCallers(b, func(pb *testing.PB) {
			for pb.Next() {
				metricsOrFail(b, s)
			}
		})
	})
}

// BenchmarkListMetrics1000 is the external scaler's load: 1,000 list
// scalers (one per ScaledObject, each on its own list) on one Redis, called
// by 8 and by 64 goroutines; with one shared client, and with a client per
// scaler. It reports the 50th and 99th percentile latency of a call.
func BenchmarkListMetrics1000(b *testing.B) {
	r := testenv.StartRedis(b)
	rdb := client(b, r, 0)
	const n = 1000
	for i := range n {
		must(b, rdb.RPush(context.Background(), "jobs-"+strconv.Itoa(i), "x").Err())
	}
	for _, mode := range []struct {
		name    string
		factory scalers.Factory
	}{
		{"shared", NewClients(ClientsOptions{}).NewList},
		{"dedicated", NewList},
	} {
		ss := make([]scalers.Scaler, n)
		for i := range ss {
			ss[i] = newScaler(b, mode.factory, map[string]string{"address": r.Addr(), "listName": "jobs-" + strconv.Itoa(i)})
		}
		for _, callers := range []int{8, 64} {
			b.Run(fmt.Sprintf("%s/callers=%d", mode.name, callers), func(b *testing.B) {
				var (
					next atomic.Uint64
					mu   sync.Mutex
					all  []time.Duration
				)
				b.ReportAllocs()
				b.SetParallelism(max(1, callers/runtime.GOMAXPROCS(0)))
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					lat := make([]time.Duration, 0, 1024)
					for pb.Next() {
						start := time.Now()
						metricsOrFail(b, ss[next.Add(1)%n])
						lat = append(lat, time.Since(start))
					}
					mu.Lock()
					all = append(all, lat...)
					mu.Unlock()
				})
				b.StopTimer()
				slices.Sort(all)
				if len(all) > 0 {
					b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
					b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
				}
			})
		}
	}
}

// BenchmarkRoundTrip compares ways to read a queue length with go-redis at
// 64 callers: GET as the reference of one round trip, LLEN (what a list
// scaler sends while the key keeps its type), LLEN through the async
// auto-pipeline (what a shared client does when busy), KEDA's approach of a
// Lua script doing TYPE and the length (EVALSHA), and TYPE then LLEN (two
// round trips).
func BenchmarkRoundTrip(b *testing.B) {
	r := testenv.StartRedis(b)
	ctx := context.Background()
	rdb := client(b, r, 0)
	must(b, rdb.RPush(ctx, "jobs", "a", "b", "c").Err())
	must(b, rdb.Set(ctx, "str", "v", 0).Err())
	script := redis.NewScript(`local t = redis.call('TYPE', KEYS[1]).ok
if t == 'list' or t == 'none' then return redis.call('LLEN', KEYS[1]) end
if t == 'set' then return redis.call('SCARD', KEYS[1]) end
if t == 'zset' then return redis.call('ZCARD', KEYS[1]) end
if t == 'hash' then return redis.call('HLEN', KEYS[1]) end
return redis.error_reply('unsupported type ' .. t)`)
	must(b, script.Load(ctx, rdb).Err())
	ap, err := rdb.AsyncAutoPipeline()
	must(b, err)
	ops := []struct {
		name string
		op   func() error
	}{
		{"GET", func() error { return rdb.Get(ctx, "str").Err() }},
		{"LLEN", func() error { return rdb.LLen(ctx, "jobs").Err() }},
		{"LLEN-autopipelined", func() error { return ap.Submit(ctx, redis.NewIntCmd(ctx, "llen", "jobs")).WaitContext(ctx) }},
		{"EVALSHA", func() error { return script.EvalSha(ctx, rdb, []string{"jobs"}).Err() }},
		{"TYPE+LLEN", func() error {
			if err := rdb.Type(ctx, "jobs").Err(); err != nil {
				return err
			}
			return rdb.LLen(ctx, "jobs").Err()
		}},
	}
	for _, o := range ops {
		b.Run(o.name, func(b *testing.B) {
			runCallers(b, func(pb *testing.PB) {
				for pb.Next() {
					if err := o.op(); err != nil {
						b.Error(err)
					}
				}
			})
		})
	}
}

// BenchmarkStreamsMetrics measures one Metrics call per streams mode.
func BenchmarkStreamsMetrics(b *testing.B) {
	r := testenv.StartRedis(b)
	rdb := client(b, r, 0)
	addEntries(b, rdb, "s", 10)
	must(b, rdb.XGroupCreate(context.Background(), "s", "g", "0").Err())
	readGroup(b, rdb, "s", "g", 4)
	for _, mode := range []struct {
		name string
		md   map[string]string
	}{
		{"length", map[string]string{"stream": "s"}},
		{"pending", map[string]string{"stream": "s", "consumerGroup": "g"}},
		{"lag", map[string]string{"stream": "s", "consumerGroup": "g", "lagCount": "5"}},
	} {
		b.Run(mode.name, func(b *testing.B) {
			mode.md["address"] = r.Addr()
			s := newScaler(b, Factory("redis-streams"), mode.md)
			b.ReportAllocs()
			for b.Loop() {
				metricsOrFail(b, s)
			}
		})
	}
}
