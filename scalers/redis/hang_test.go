package redis

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// The bound of a call in the tests of a source that does not answer, and
// how much later than it a call may return on a loaded machine. They test
// a condition (the call returns, with the right error, well before the
// source answers again), not how fast.
const (
	testBound  = time.Second
	boundGrace = 5 * time.Second
)

// inFlight is the number of calls made at once: far above pipelineAbove,
// so that a shared client sends most of them through its auto-pipeline.
const inFlight = 64

// boundedScaler builds a scaler with factory f whose calls are bounded by
// testBound, and closes it when the test ends.
func boundedScaler(tb testing.TB, f scalers.Factory, md map[string]string) scalers.Scaler {
	tb.Helper()
	s, err := f(context.Background(), scalers.Config{Type: "redis", Metadata: md, Timeouts: scalers.Timeouts{Default: testBound}})
	if err != nil {
		tb.Fatalf("new scaler from %v: %v", redactedMD(md), err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// result is what one Metrics call returned and how long it took.
type result struct {
	took time.Duration
	err  error
}

// callAtOnce makes n Metrics calls of s at once, each with ctx, and returns
// what they returned.
func callAtOnce(ctx context.Context, s scalers.Scaler, n int) []result {
	out := make([]result, n)
	var wg sync.WaitGroup
	for i := range out {
		wg.Go(func() {
			start := time.Now()
			_, err := s.Metrics(ctx)
			out[i] = result{took: time.Since(start), err: err}
		})
	}
	wg.Wait()
	return out
}

// wantAllUnavailable checks that every call failed with an error wrapping
// ErrUnavailable whose message starts with prefix and whose rest satisfies
// rest (nil: anything), and returned within limit of its start. It reports
// the longest call, for the log.
func wantAllUnavailable(tb testing.TB, outs []result, limit time.Duration, prefix string, rest func(string) bool) time.Duration {
	tb.Helper()
	var longest time.Duration
	bad := map[string]int{}
	for _, o := range outs {
		longest = max(longest, o.took)
		switch {
		case o.err == nil:
			bad["succeeded"]++
		case !errors.Is(o.err, scalers.ErrUnavailable):
			bad[fmt.Sprintf("%q does not wrap ErrUnavailable", o.err)]++
		case !strings.HasPrefix(o.err.Error(), prefix) || (rest != nil && !rest(strings.TrimPrefix(o.err.Error(), prefix))):
			bad[fmt.Sprintf("%q: want %q and then the cause", o.err, prefix)]++
		case o.took > limit:
			bad[fmt.Sprintf("took more than %s", limit)]++
		}
	}
	for msg, n := range bad {
		tb.Errorf("%d of %d calls: %s", n, len(outs), msg)
	}
	var first error
	if len(outs) > 0 {
		first = outs[0].err
	}
	tb.Logf("%d calls, the longest %s (bound %s); the first: %v", len(outs), longest.Round(time.Millisecond), testBound, first)
	return longest
}

// noAnswer is the rest of the message of a call that reached testBound,
// or whose dial or read reached it first (go-redis's timeouts are the
// bound too), or that failed at once because the last dial did. What
// go-redis was doing says "context deadline exceeded" (waiting for a
// connection, a dial, a pipelined reply) or "i/o timeout" (a read), after
// its own words for a sentinel lookup. A call the client's breaker held
// back has the error of the call that found the server down, and when
// the next try is.
func noAnswer(who string) func(string) bool {
	return func(rest string) bool {
		rest = heldBack.ReplaceAllString(rest, "")
		cause, ok := strings.CutPrefix(rest, who+" did not answer within 1s: ")
		if !ok {
			cause, ok = strings.CutPrefix(rest, who+" did not answer within 1s while connecting: ")
		}
		cause = strings.TrimPrefix(cause, "redis: all sentinels specified in configuration are unreachable: ")
		return ok && (cause == "context deadline exceeded" || strings.HasSuffix(cause, "i/o timeout"))
	}
}

// heldBack is the end of the error of a call that the breaker did not let
// through.
var heldBack = regexp.MustCompile(` \(the last try, [0-9.]+[µmn]?s ago; the next in [0-9.]+[µmn]?s\)$`)

// frozenCase is one scaler whose source a test freezes.
type frozenCase struct {
	s      scalers.Scaler
	prefix string // of every error: the scaler and where it reads
	// rest checks the rest of the message, which says what did not answer
	// (noAnswer).
	rest         func(string) bool
	want         state  // the value once the source answers again
	freeze, thaw func() // the source's
}

// checkFrozen freezes the source of c, checks that inFlight calls at once
// and a lone call, all without a deadline of their own, each fail within
// the bound (plus grace) with ErrUnavailable saying what did not answer,
// and that the scaler reads the value again once the source is thawed.
func checkFrozen(t *testing.T, c frozenCase) {
	t.Helper()
	c.freeze()
	thawed := false
	defer func() {
		if !thawed {
			c.thaw()
		}
	}()
	limit := testBound + boundGrace
	wantAllUnavailable(t, callAtOnce(context.Background(), c.s, inFlight), limit, c.prefix, c.rest)
	wantAllUnavailable(t, callAtOnce(context.Background(), c.s, 1), limit, c.prefix, c.rest)
	// Again: calls after a first round of failures (the pipeline marked
	// stuck, connections closed by their timeouts) are bounded too.
	wantAllUnavailable(t, callAtOnce(context.Background(), c.s, inFlight), limit, c.prefix, c.rest)
	c.thaw()
	thawed = true
	wantMetricEventually(t, "the value once the source is thawed", c.s, c.want.Value, c.want.Active)
	// And many calls at once, through the pipeline: until the pool's
	// background probe has seen a dial succeed (at most a second), calls
	// that need a new connection may still fail at once with the last
	// dial's error.
	wantAllSucceedEventually(t, c.s)
	// The pipeline is used again once its stuck batch has completed (a
	// batch ends by go-redis's own timeouts, which are the bound, if no
	// reply comes).
	if h := baseOf(t, c.s).sc.cur.Load(); h.ap != nil {
		scalertest.Eventually(t, waitLimit, "the auto-pipeline's stuck batch to complete", func() error {
			if !h.pipelineFree() {
				return errors.New("still marked stuck")
			}
			return nil
		})
	}
}

// baseOf returns what the list and stream scalers share.
func baseOf(tb testing.TB, s scalers.Scaler) *base {
	tb.Helper()
	switch s := s.(type) {
	case *listScaler:
		return s.base
	case *streamsScaler:
		return s.base
	}
	tb.Fatalf("not a redis scaler: %T", s)
	return nil
}

// wantAllSucceedEventually waits until inFlight calls of s at once all
// succeed.
func wantAllSucceedEventually(tb testing.TB, s scalers.Scaler) {
	tb.Helper()
	scalertest.Eventually(tb, waitLimit, fmt.Sprintf("%d calls at once to succeed", inFlight), func() error {
		for _, o := range callAtOnce(tb.Context(), s, inFlight) {
			if o.err != nil {
				return o.err
			}
		}
		return nil
	})
}

// TestFrozenRedis: a single server stopped by SIGSTOP (its port accepts,
// nothing answers) makes every call fail within its bound, through a
// shared client (auto-pipelined) and a dedicated one, for lists and
// streams, whether the connection was open before the freeze or not.
func TestFrozenRedis(t *testing.T) {
	t.Parallel()
	r := testenv.StartRedis(t)
	rdb := client(t, r, 0)
	must(t, rdb.RPush(t.Context(), "jobs", "a", "b").Err())
	addEntries(t, rdb, "events", 3)
	must(t, rdb.XGroupCreate(t.Context(), "events", "workers", "0").Err())
	list := map[string]string{"address": r.Addr(), "listName": "jobs"}
	pending := map[string]string{"address": r.Addr(), "stream": "events", "consumerGroup": "workers"}
	lag := map[string]string{"address": r.Addr(), "stream": "events", "consumerGroup": "workers", "lagCount": "1"}
	listPrefix := `redis list "jobs" at ` + r.Addr() + ": "
	streamPrefix := `redis stream "events" at ` + r.Addr() + ": "

	tests := []struct {
		name   string
		f      scalers.Factory
		md     map[string]string
		prefix string
		want   state
		// warm makes one call before the freeze, so that the freeze
		// catches open connections; without it, the first dial and login
		// meet the frozen server.
		warm bool
	}{
		{"list, shared client", NewClients(ClientsOptions{}).NewList, list, listPrefix, state{2, true}, true},
		{"list, shared client, first connection while frozen", NewClients(ClientsOptions{}).NewList, list, listPrefix, state{2, true}, false},
		{"list, dedicated client", NewList, list, listPrefix, state{2, true}, true},
		{"stream pending, shared client", NewClients(ClientsOptions{}).NewStreams, pending, streamPrefix, state{0, false}, true},
		{"stream lag, shared client, first connection while frozen", NewClients(ClientsOptions{}).NewStreams, lag, streamPrefix, state{3, true}, false},
		{"stream lag, dedicated client", Factory("redis-streams"), lag, streamPrefix, state{3, true}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := boundedScaler(t, tc.f, tc.md)
			if tc.warm {
				wantMetric(t, s, tc.want.Value, tc.want.Active)
			}
			checkFrozen(t, frozenCase{s: s, prefix: tc.prefix, rest: noAnswer("Redis"), want: tc.want, freeze: r.Freeze, thaw: r.Thaw})
		})
	}
}

// TestFrozenClusterNode: the node holding the key is frozen; the cluster
// client's own paths (slot-routed pipeline shards, redirects, state
// reloads) are bounded too, and calls for keys on the other nodes still
// succeed.
func TestFrozenClusterNode(t *testing.T) {
	t.Parallel()
	c := testenv.StartRedisCluster(t, 3)
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs(), DisableIdentity: true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := t.Context()
	must(t, rdb.RPush(ctx, "jobs", "a", "b", "c").Err())
	addEntries(t, rdb, "events", 2)
	owner := nodeOf(t, c, rdb, "jobs")
	other := "other"
	for i := 0; nodeOf(t, c, rdb, other) == owner; i++ {
		other = fmt.Sprintf("other-%d", i)
	}
	must(t, rdb.RPush(ctx, other, "x").Err())
	streamOwner := nodeOf(t, c, rdb, "events")

	clients := NewClients(ClientsOptions{})
	seeds := strings.Join(c.Addrs(), ",")
	list := boundedScaler(t, clients.NewClusterList, map[string]string{"addresses": seeds, "listName": "jobs"})
	elsewhere := boundedScaler(t, clients.NewClusterList, map[string]string{"addresses": seeds, "listName": other})
	stream := boundedScaler(t, clients.NewClusterStreams, map[string]string{"addresses": seeds, "stream": "events"})
	wantMetric(t, list, 3, true)
	wantMetric(t, elsewhere, 1, true)
	wantMetric(t, stream, 2, true)

	t.Run("list", func(t *testing.T) {
		checkFrozen(t, frozenCase{s: list, prefix: `redis cluster list "jobs" at ` + seeds + ": ", rest: noAnswer("the Redis Cluster"),
			want: state{3, true}, freeze: owner.Freeze, thaw: owner.Thaw})
	})
	t.Run("stream", func(t *testing.T) {
		checkFrozen(t, frozenCase{s: stream, prefix: `redis cluster stream "events" at ` + seeds + ": ", rest: noAnswer("the Redis Cluster"),
			want: state{2, true}, freeze: streamOwner.Freeze, thaw: streamOwner.Thaw})
	})
	t.Run("a key on another node", func(t *testing.T) {
		owner.Freeze()
		defer owner.Thaw()
		// Calls for the frozen node's key go on meanwhile, through the same
		// client (which has no auto-pipeline: a batch for several nodes
		// would complete only once all had answered).
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
					callAtOnce(context.Background(), list, 8)
				}
			}
		})
		defer func() {
			close(stop)
			wg.Wait()
		}()
		for range 3 {
			for _, o := range callAtOnce(context.Background(), elsewhere, inFlight) {
				if o.err != nil {
					t.Fatalf("a key on a node that answers: %v", o.err)
				}
			}
		}
	})
}

// nodeOf returns the node of c that serves key.
func nodeOf(tb testing.TB, c *testenv.RedisCluster, rdb *redis.ClusterClient, key string) *testenv.Redis {
	tb.Helper()
	node, err := rdb.MasterForKey(tb.Context(), key)
	must(tb, err)
	for _, n := range c.Nodes {
		if n.Addr() == node.Options().Addr {
			return n
		}
	}
	tb.Fatalf("no node of the cluster at %s, which serves %q", node.Options().Addr, key)
	return nil
}

// TestFrozenSentinel: a frozen master, and a frozen sentinel (the master
// lookup then never answers).
func TestFrozenSentinel(t *testing.T) {
	t.Parallel()
	master := testenv.StartRedis(t)
	sent := testenv.StartRedisSentinel(t, master, testenv.SentinelOptions{})
	must(t, client(t, master, 0).RPush(t.Context(), "jobs", "a").Err())
	md := map[string]string{"addresses": sent.Addr(), "sentinelMaster": "mymaster", "listName": "jobs"}
	prefix := `redis sentinel list "jobs" at master "mymaster" via ` + sent.Addr() + ": "
	lookup := noAnswer("the sentinels or the master they name")
	t.Run("frozen master", func(t *testing.T) {
		s := boundedScaler(t, NewClients(ClientsOptions{}).NewSentinelList, md)
		wantMetric(t, s, 1, true)
		checkFrozen(t, frozenCase{s: s, prefix: prefix, rest: lookup, want: state{1, true}, freeze: master.Freeze, thaw: master.Thaw})
	})
	t.Run("frozen sentinel before the first lookup", func(t *testing.T) {
		s := boundedScaler(t, NewClients(ClientsOptions{}).NewSentinelList, md)
		checkFrozen(t, frozenCase{s: s, prefix: prefix, rest: lookup, want: state{1, true}, freeze: sent.Freeze, thaw: sent.Thaw})
	})
	t.Run("frozen sentinel, dedicated client", func(t *testing.T) {
		s := boundedScaler(t, Factory("redis-sentinel-streams"), map[string]string{"addresses": sent.Addr(), "sentinelMaster": "mymaster", "stream": "events"})
		checkFrozen(t, frozenCase{s: s, prefix: `redis sentinel stream "events" at master "mymaster" via ` + sent.Addr() + ": ", rest: lookup,
			want: state{0, false}, freeze: sent.Freeze, thaw: sent.Thaw})
	})
}

// TestCallerDeadlineWins: with a bound far above the caller's deadline, a
// call on a frozen server (pipelined or not) ends at the caller's
// deadline, long before the bound.
func TestCallerDeadlineWins(t *testing.T) {
	t.Parallel()
	r := testenv.StartRedis(t)
	md := map[string]string{"address": r.Addr(), "listName": "jobs"}
	s, err := NewClients(ClientsOptions{}).NewList(t.Context(), scalers.Config{Metadata: md, Timeouts: scalers.Timeouts{Default: time.Minute, Max: time.Minute}})
	must(t, err)
	t.Cleanup(func() { _ = s.Close() })
	wantMetric(t, s, 0, false)
	r.Freeze()
	defer r.Thaw()
	const deadline = time.Second
	ctx, cancel := context.WithTimeout(t.Context(), deadline)
	defer cancel()
	longest := wantAllUnavailable(t, callAtOnce(ctx, s, inFlight), deadline+boundGrace, `redis list "jobs" at `+r.Addr()+": ",
		func(rest string) bool {
			return rest == "context deadline exceeded" || strings.HasSuffix(rest, "i/o timeout")
		})
	if longest >= time.Minute {
		t.Errorf("the longest call took %s, the bound; want the caller's deadline to end it", longest)
	}
}

// TestKilledRedisRecovers: kill -9 under load from many callers on a
// shared client: every call fails within its bound while Redis is gone,
// and the scaler reads again once Redis is back on the same port.
func TestKilledRedisRecovers(t *testing.T) {
	t.Parallel()
	r := testenv.StartRedis(t)
	must(t, client(t, r, 0).RPush(t.Context(), "jobs", "a").Err())
	s := boundedScaler(t, NewClients(ClientsOptions{}).NewList, map[string]string{"address": r.Addr(), "listName": "jobs"})
	wantMetric(t, s, 1, true)
	r.Kill()
	prefix := `redis list "jobs" at ` + r.Addr() + ": "
	for range 2 {
		wantAllUnavailable(t, callAtOnce(context.Background(), s, inFlight), testBound+boundGrace, prefix, nil)
	}
	r.Start()
	must(t, client(t, r, 0).RPush(t.Context(), "jobs", "a", "b").Err())
	wantMetricEventually(t, "the list length after kill -9 and a restart", s, 2, true)
	wantAllSucceedEventually(t, s)
}
