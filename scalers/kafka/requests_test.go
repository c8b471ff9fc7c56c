package kafka

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
)

// requestCounter counts the requests a kfake cluster receives, by key,
// while it is on. It observes only: the cluster answers every request as
// usual.
type requestCounter struct {
	mu    sync.Mutex
	on    bool
	byKey map[kmsg.Key]int
}

func countRequests(c *kfake.Cluster) *requestCounter {
	rc := &requestCounter{byKey: map[kmsg.Key]int{}}
	c.Control(func(req kmsg.Request) (kmsg.Response, error, bool) {
		rc.mu.Lock()
		if rc.on {
			rc.byKey[kmsg.Key(req.Key())]++
		}
		rc.mu.Unlock()
		return nil, nil, false // not handled: the cluster answers it
	})
	return rc
}

// start resets the counts and starts counting.
func (rc *requestCounter) start() {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.byKey = map[kmsg.Key]int{}
	rc.on = true
}

// stop stops counting and returns the counts.
func (rc *requestCounter) stop() map[kmsg.Key]int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.on = false
	return rc.byKey
}

func (rc *requestCounter) total() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	n := 0
	for _, c := range rc.byKey {
		n += c
	}
	return n
}

func describe(counts map[kmsg.Key]int) string {
	var parts []string
	for k, n := range counts {
		parts = append(parts, fmt.Sprintf("%s=%d", k.Name(), n))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// bigCluster is 3 brokers with topic "big" of 1000 partitions, each holding
// 3 records, and group g committed at offset 1 on all of them (lag 2 each).
// It returns the cluster and the number of distinct partition leaders.
func bigCluster(t testing.TB) (*testenv.Kafka, int) {
	t.Helper()
	const n = 1000
	k := testenv.StartKafka(t, testenv.KafkaConfig{Opts: []kfake.Opt{kfake.NumBrokers(3), kfake.SeedTopics(n, "big")}})
	ps := make([]int32, n)
	commits := make(map[int32]int64, n)
	leaders := map[int32]bool{}
	for i := range ps {
		ps[i] = int32(i)
		commits[int32(i)] = 1
		leaders[k.Cluster().LeaderFor("big", int32(i))] = true
	}
	k.ProduceMany(t, "big", ps, 3)
	k.Commit(t, "g", map[string]map[int32]int64{"big": commits})
	return k, len(leaders)
}

// TestOneRoundOfRequests proves the batching: the lag of 1000 partitions
// costs one OffsetFetch and one ListOffsets per partition leader, plus
// metadata only when the cache is cold.
func TestOneRoundOfRequests(t *testing.T) {
	k, leaders := bigCluster(t)
	if leaders < 2 {
		t.Fatalf("got %d partition leaders, want the partitions spread over several brokers", leaders)
	}
	rc := countRequests(k.Cluster())

	for _, mode := range []struct {
		name string
		md   []string
	}{
		{name: "topic", md: []string{"topic", "big"}},
		{name: "all topics of the group", md: []string{"topic", ""}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			s := newTestScaler(t, trigger(k, mode.md...))

			rc.start()
			got, _ := lagOf(t, s)
			cold := rc.stop()
			t.Logf("cold round: %s", describe(cold))
			if got != 2000 {
				t.Errorf("got lag %v, want 2000", got)
			}
			if cold[kmsg.OffsetFetch] != 1 || cold[kmsg.ListOffsets] != leaders {
				t.Errorf("cold round: got %s, want OffsetFetch=1 and ListOffsets=%d (one per leader)", describe(cold), leaders)
			}
			// A new client learns the brokers, the topic, the coordinator
			// and the leaders for the sharded request; its metadata loop
			// runs at the same time, so the count varies (1 to 4 seen), but
			// it does not depend on the number of partitions.
			if cold[kmsg.Metadata] > 5 {
				t.Errorf("cold round: got %d Metadata requests, want a handful (at most 5)", cold[kmsg.Metadata])
			}

			// Warm rounds: exactly one OffsetFetch and one ListOffsets per
			// leader. Metadata is cached; the client may still refresh it
			// once while it settles (it checks cached leaders against the
			// brokers its background metadata loop has registered), which
			// may also open a connection (ApiVersions).
			for round := range 3 {
				rc.start()
				lagOf(t, s)
				warm := rc.stop()
				if warm[kmsg.OffsetFetch] != 1 || warm[kmsg.ListOffsets] != leaders || warm[kmsg.Metadata] > 1 {
					t.Errorf("warm round %d: got %s, want OffsetFetch=1 ListOffsets=%d and at most one Metadata", round, describe(warm), leaders)
				}
				for key := range warm {
					switch key {
					case kmsg.OffsetFetch, kmsg.ListOffsets, kmsg.Metadata, kmsg.ApiVersions:
					default:
						t.Errorf("warm round %d: got %s, want no %s request", round, describe(warm), key.Name())
					}
				}
			}
		})
	}
}

// BenchmarkMetrics1000Partitions measures one round over 1000 partitions on
// 3 brokers (kfake in process, loopback), metadata cached.
func BenchmarkMetrics1000Partitions(b *testing.B) {
	for _, mode := range []struct {
		name string
		md   []string
	}{
		{name: "topic", md: []string{"topic", "big"}},
		{name: "allTopics", md: []string{"topic", ""}},
	} {
		b.Run(mode.name, func(b *testing.B) {
			k, _ := bigCluster(b)
			rc := countRequests(k.Cluster())
			s := newTestScaler(b, trigger(k, mode.md...))
			lagOf(b, s) // warm the metadata cache and connections
			rc.start()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Metrics(b.Context()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(rc.total())/float64(b.N), "requests/op")
			rc.stop()
		})
	}
}

// BenchmarkCalculateLag1000 is the arithmetic alone.
func BenchmarkCalculateLag1000(b *testing.B) {
	ps := make([]Offsets, 1000)
	prev := make(map[TopicPartition]int64, len(ps))
	for i := range ps {
		ps[i] = Offsets{Topic: "big", Partition: int32(i), Committed: int64(i), Latest: int64(2 * i)}
		prev[TopicPartition{"big", int32(i)}] = int64(i - i%2)
	}
	for _, c := range []struct {
		name string
		opts LagOptions
	}{
		{"plain", LagOptions{LagThreshold: 10, OffsetResetPolicy: ResetLatest}},
		{"excludePersistentLag", LagOptions{LagThreshold: 10, OffsetResetPolicy: ResetLatest, ExcludePersistentLag: true}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				CalculateLag(ps, c.opts, prev)
			}
		})
	}
}
