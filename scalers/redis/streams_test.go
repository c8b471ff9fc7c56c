package redis

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// addEntries appends n entries to stream and returns their IDs.
func addEntries(tb testing.TB, rdb redis.Cmdable, stream string, n int) []string {
	tb.Helper()
	ids := make([]string, n)
	for i := range ids {
		id, err := rdb.XAdd(context.Background(), redisXAdd(stream)).Result()
		must(tb, err)
		ids[i] = id
	}
	return ids
}

// readGroup delivers n entries to consumer c of group (without acking).
func readGroup(tb testing.TB, rdb redis.Cmdable, stream, group string, n int64) []redis.XMessage {
	tb.Helper()
	res, err := rdb.XReadGroup(context.Background(), &redis.XReadGroupArgs{
		Group: group, Consumer: "c1", Streams: []string{stream, ">"}, Count: n, Block: -1,
	}).Result()
	must(tb, err)
	return res[0].Messages
}

func TestStreamsLength(t *testing.T) {
	r := testenv.StartRedis(t)
	rdb := client(t, r, 0)
	addEntries(t, rdb, "s", 7)
	tests := []struct {
		name       string
		md         map[string]string
		want       float64
		wantActive bool
	}{
		{"length", map[string]string{"stream": "s"}, 7, true},
		{"missing stream is 0", map[string]string{"stream": "nope"}, 0, false},
		{"activationLagCount applies to the length", map[string]string{"stream": "s", "activationLagCount": "7"}, 7, false},
		{"lagCount without a group still measures the length", map[string]string{"stream": "s", "lagCount": "3"}, 7, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.md["address"] = r.Addr()
			wantMetric(t, newScaler(t, Factory("redis-streams"), tc.md), tc.want, tc.wantActive)
		})
	}
}

func TestStreamsPending(t *testing.T) {
	r := testenv.StartRedis(t)
	rdb := client(t, r, 0)
	ctx := t.Context()
	addEntries(t, rdb, "s", 5)
	must(t, rdb.XGroupCreate(ctx, "s", "g", "0").Err())
	s := newScaler(t, Factory("redis-streams"), map[string]string{"address": r.Addr(), "stream": "s", "consumerGroup": "g", "pendingEntriesCount": "2"})
	if diff := cmp.Diff([]scalers.MetricSpec{{Name: "redis-streams-s", Target: 2}}, s.MetricSpecs()); diff != "" {
		t.Errorf("MetricSpecs (-want +got):\n%s", diff)
	}
	wantMetric(t, s, 0, false) // nothing delivered yet

	msgs := readGroup(t, rdb, "s", "g", 3)
	wantMetric(t, s, 3, true)
	must(t, rdb.XAck(ctx, "s", "g", msgs[0].ID).Err())
	wantMetric(t, s, 2, true)

	act := newScaler(t, Factory("redis-streams"), map[string]string{"address": r.Addr(), "stream": "s", "consumerGroup": "g", "activationLagCount": "2"})
	wantMetric(t, act, 2, false)

	for _, tc := range []struct{ name, stream, group string }{
		{"missing group", "s", "other"},
		{"missing stream", "nope", "g"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newScaler(t, Factory("redis-streams"), map[string]string{"address": r.Addr(), "stream": tc.stream, "consumerGroup": tc.group})
			err := wantError(t, s, scalers.ErrNoData)
			// After our prefix comes Redis's own NOGROUP reply, whose
			// wording is Redis's.
			got := classify(err)
			prefix := `redis stream "` + tc.stream + `" at ` + r.Addr() + `: no data: NOGROUP `
			if strings.HasPrefix(got.Msg, prefix) {
				got.Msg = prefix + "..."
			}
			if diff := cmp.Diff(classified{Msg: prefix + "...", NoData: true}, got); diff != "" {
				t.Errorf("Metrics error (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStreamsLag(t *testing.T) {
	r := testenv.StartRedis(t)
	rdb := client(t, r, 0)
	ctx := t.Context()
	ids := addEntries(t, rdb, "s", 6)
	must(t, rdb.XGroupCreate(ctx, "s", "g", "0").Err())
	md := func(stream, group, activation string) map[string]string {
		return map[string]string{"address": r.Addr(), "stream": stream, "consumerGroup": group, "lagCount": "4", "activationLagCount": activation}
	}
	s := newScaler(t, Factory("redis-streams"), md("s", "g", "3"))
	if diff := cmp.Diff([]scalers.MetricSpec{{Name: "redis-streams-s", Target: 4}}, s.MetricSpecs()); diff != "" {
		t.Errorf("MetricSpecs, the target being lagCount (-want +got):\n%s", diff)
	}
	wantMetric(t, s, 6, true)

	readGroup(t, rdb, "s", "g", 2) // delivered entries no longer lag, acked or not
	wantMetric(t, s, 4, true)
	readGroup(t, rdb, "s", "g", 1)
	wantMetric(t, s, 3, false) // at activationLagCount
	addEntries(t, rdb, "s", 2)
	wantMetric(t, s, 5, true)

	t.Run("group not created yet lags by the whole stream", func(t *testing.T) {
		wantMetric(t, newScaler(t, Factory("redis-streams"), md("s", "later", "0")), 8, true)
	})
	t.Run("missing stream has no lag", func(t *testing.T) {
		wantMetric(t, newScaler(t, Factory("redis-streams"), md("nope", "g", "0")), 0, false)
	})
	t.Run("lag Redis cannot compute is -1", func(t *testing.T) {
		// A group created at an entry in the middle of the stream has no
		// known entries-read count, so XINFO GROUPS reports lag nil.
		must(t, rdb.XGroupCreate(ctx, "s", "mid", ids[2]).Err())
		wantMetric(t, newScaler(t, Factory("redis-streams"), md("s", "mid", "0")), -1, false)
	})
	t.Run("key of another type", func(t *testing.T) {
		must(t, rdb.RPush(ctx, "list", "a").Err())
		wantError(t, newScaler(t, Factory("redis-streams"), md("list", "g", "0")), scalers.ErrNoData)
	})
}

func TestStreamsRedisRestart(t *testing.T) {
	r := testenv.StartRedis(t)
	rdb := client(t, r, 0)
	addEntries(t, rdb, "s", 4)
	must(t, rdb.XGroupCreate(t.Context(), "s", "g", "0").Err())
	s := newScaler(t, Factory("redis-streams"), map[string]string{"address": r.Addr(), "stream": "s", "consumerGroup": "g", "lagCount": "1"})
	wantMetric(t, s, 4, true)

	r.Stop()
	wantError(t, s, scalers.ErrUnavailable)
	wantError(t, s, scalers.ErrUnavailable)

	r.Start() // empty, and answering PING
	// A fresh client: the old one's connections died with the server. The
	// group is gone: XLEN stands in for its lag.
	addEntries(t, client(t, r, 0), "s", 2)
	wantMetricEventually(t, "the lag after the restart", s, 2, true)
}
