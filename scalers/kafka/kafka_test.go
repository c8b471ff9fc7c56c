package kafka

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// newTestScaler builds a scaler for md and closes it at the end of the test.
//
// Its calls are bounded by testCallBound, not the 3 s default: these tests
// are about what a round asks and computes, and an in-process broker on a
// machine loaded many times over (under -race) can take seconds to answer.
// The bound itself is tested in bounds_test.go.
func newTestScaler(t testing.TB, md map[string]string) *Scaler {
	t.Helper()
	cfg := scalers.Config{Type: Type, Metadata: md, Timeouts: scalers.Timeouts{Default: testCallBound, Max: testCallBound}, SecretFiles: secretFiles(t, md)}
	s, err := newScaler(context.Background(), cfg, options{metadataAge: DefaultMetadataAge})
	if err != nil {
		t.Fatalf("new scaler: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// secretFiles allows the directories of md's <key>File keys, as the
// server's --secret-file-dir would.
func secretFiles(tb testing.TB, md map[string]string) scalers.FileAccess {
	tb.Helper()
	a, err := scalers.NewFileAccess(scalertest.FileDirs(md)...)
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

// testCallBound bounds the calls of newTestScaler's scalers.
const testCallBound = 30 * time.Second

// result is what one round returns, for cmp.Diff.
type result struct {
	Metric float64
	Active bool
}

// resultOf runs one round.
func resultOf(t testing.TB, s *Scaler) result {
	t.Helper()
	v, active := lagOf(t, s)
	return result{Metric: v, Active: active}
}

// lagOf runs one round and returns the metric value and activity.
func lagOf(t testing.TB, s *Scaler) (float64, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	m, err := s.Metrics(ctx)
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	v, ok := m.Value(s.MetricSpecs()[0].Name)
	if !ok || len(m.Values) != 1 {
		t.Fatalf("got values %v, want one named %s", m.Values, s.MetricSpecs()[0].Name)
	}
	return v, m.Active
}

func trigger(k *testenv.Kafka, kv ...string) map[string]string {
	md := map[string]string{"bootstrapServers": k.Addrs()[0] + "," + k.Addrs()[len(k.Addrs())-1], "consumerGroup": "g", "topic": "orders"}
	return scalertest.WithKeys(md, kv...)
}

// TestMetricsFlags runs every lag setting against one cluster state:
// topic orders with 4 partitions holding 30, 20, 0 and 5 records; group g
// has committed 10 on partition 0 and 20 on partition 1, nothing on 2 and 3.
func TestMetricsFlags(t *testing.T) {
	k := testenv.StartKafka(t, testenv.KafkaConfig{Opts: []kfake.Opt{kfake.NumBrokers(3), kfake.SeedTopics(4, "orders", "other")}})
	for p, n := range []int{30, 20, 0, 5} {
		k.Produce(t, "orders", int32(p), n)
	}
	k.Produce(t, "other", 0, 1000) // another topic never counts with topic set
	k.Commit(t, "g", map[string]map[int32]int64{"orders": {0: 10, 1: 20}, "other": {0: 0}})

	tests := []struct {
		name       string
		md         []string
		wantMetric float64
		wantActive bool
	}{
		// p0 lag 20, p1 0, p2 and p3 have no commit: 1 each with latest.
		{name: "defaults", wantMetric: 22, wantActive: true},
		{name: "earliest counts uncommitted partitions from the start", md: []string{"offsetResetPolicy", "earliest"}, wantMetric: 25, wantActive: true},
		{name: "scaleToZeroOnInvalidOffset", md: []string{"scaleToZeroOnInvalidOffset", "true"}, wantMetric: 20, wantActive: true},
		{name: "earliest and scaleToZeroOnInvalidOffset", md: []string{"offsetResetPolicy", "earliest", "scaleToZeroOnInvalidOffset", "true"}, wantMetric: 20, wantActive: true},
		{name: "partitionLimitation", md: []string{"partitionLimitation", "0-1"}, wantMetric: 20, wantActive: true},
		{name: "partitionLimitation on a caught-up partition", md: []string{"partitionLimitation", "1"}, wantMetric: 0, wantActive: false},
		{name: "partitionLimitation list with a missing partition", md: []string{"partitionLimitation", "1,3,99"}, wantMetric: 1, wantActive: true},
		{name: "below the cap", md: []string{"lagThreshold", "5"}, wantMetric: 22, wantActive: true},
		{name: "capped at 4 partitions", md: []string{"lagThreshold", "2"}, wantMetric: 8, wantActive: true},
		{name: "allowIdleConsumers", md: []string{"lagThreshold", "2", "allowIdleConsumers", "true"}, wantMetric: 22, wantActive: true},
		{name: "limitToPartitionsWithLag", md: []string{"lagThreshold", "2", "limitToPartitionsWithLag", "true"}, wantMetric: 6, wantActive: true},
		{name: "ensureEvenDistributionOfPartitions", md: []string{"ensureEvenDistributionOfPartitions", "true"}, wantMetric: 40, wantActive: true},
		{name: "activationLagThreshold not exceeded", md: []string{"activationLagThreshold", "22"}, wantMetric: 22, wantActive: false},
		{name: "activationLagThreshold exceeded", md: []string{"activationLagThreshold", "21"}, wantMetric: 22, wantActive: true},
		{name: "excludePersistentLag first round", md: []string{"excludePersistentLag", "true"}, wantMetric: 22, wantActive: true},
		{name: "protocol capped at Kafka 1.0.0", md: []string{"version", "1.0.0"}, wantMetric: 22, wantActive: true},
		{name: "fullMetadata false", md: []string{"fullMetadata", "false"}, wantMetric: 22, wantActive: true},
		{name: "group without commits", md: []string{"consumerGroup", "nobody"}, wantMetric: 4, wantActive: true},
		{name: "group without commits, scaleToZeroOnInvalidOffset", md: []string{"consumerGroup", "nobody", "scaleToZeroOnInvalidOffset", "true"}, wantMetric: 0, wantActive: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestScaler(t, trigger(k, tc.md...))
			if diff := cmp.Diff(result{tc.wantMetric, tc.wantActive}, resultOf(t, s)); diff != "" {
				t.Errorf("round (-want +got):\n%s", diff)
			}
		})
	}
}

// TestMetricsAllTopics leaves topic empty: every topic the group committed
// to counts, with all its partitions.
func TestMetricsAllTopics(t *testing.T) {
	k := testenv.StartKafka(t, testenv.KafkaConfig{Opts: []kfake.Opt{kfake.NumBrokers(2)}})
	k.CreateTopic(t, "a", 2)
	k.CreateTopic(t, "b", 3)
	k.CreateTopic(t, "c", 1)
	k.ProduceMany(t, "a", []int32{0, 1}, 10)
	k.ProduceMany(t, "b", []int32{0, 1, 2}, 3)
	k.ProduceMany(t, "c", []int32{0}, 100)
	k.Commit(t, "g", map[string]map[int32]int64{"a": {0: 5}, "b": {1: 0}})

	s := newTestScaler(t, trigger(k, "topic", ""))
	if got, want := s.MetricSpecs()[0].Name, "kafka-g-topics"; got != want {
		t.Errorf("got metric name %q, want %q", got, want)
	}
	// a0 5, a1 no commit 1, b0 1, b1 3, b2 1; c is not the group's.
	if diff := cmp.Diff(result{11, true}, resultOf(t, s)); diff != "" {
		t.Errorf("round (-want +got):\n%s", diff)
	}

	k.Commit(t, "g", map[string]map[int32]int64{"a": {0: 10, 1: 10}, "b": {0: 3, 1: 3, 2: 3}})
	if diff := cmp.Diff(result{0, false}, resultOf(t, s)); diff != "" {
		t.Errorf("after catching up (-want +got):\n%s", diff)
	}

	empty := newTestScaler(t, trigger(k, "topic", "", "consumerGroup", "nobody"))
	if diff := cmp.Diff(result{0, false}, resultOf(t, empty)); diff != "" {
		t.Errorf("group without commits (-want +got):\n%s", diff)
	}
}

// TestMetricsProducersAdvance follows a topic through several rounds while
// producers add records and the group commits.
func TestMetricsProducersAdvance(t *testing.T) {
	k := testenv.StartKafka(t, testenv.KafkaConfig{Opts: []kfake.Opt{kfake.NumBrokers(3), kfake.SeedTopics(3, "orders")}})
	s := newTestScaler(t, trigger(k, "lagThreshold", "5"))
	persistent := newTestScaler(t, trigger(k, "lagThreshold", "5", "excludePersistentLag", "true"))

	k.Commit(t, "g", map[string]map[int32]int64{"orders": {0: 0, 1: 0, 2: 0}})
	steps := []struct {
		name                 string
		produce              [3]int
		commit               map[int32]int64
		want, wantPersistent float64
		wantActive           bool
	}{
		{name: "empty topic", want: 0, wantPersistent: 0},
		// The commits have not moved since the previous round, so the
		// persistent scaler leaves this lag out of the metric (but stays
		// active): KEDA cannot tell a stuck consumer from an idle one.
		{name: "records arrive", produce: [3]int{4, 2, 0}, want: 6, wantPersistent: 0, wantActive: true},
		{name: "more records, no commits", produce: [3]int{3, 0, 1}, want: 10, wantPersistent: 0, wantActive: true},
		{name: "group commits some", commit: map[int32]int64{0: 5}, want: 5, wantPersistent: 2, wantActive: true},
		{name: "burst beyond the cap", produce: [3]int{100, 100, 100}, want: 15, wantPersistent: 0, wantActive: true},
		{name: "group moves on every partition", commit: map[int32]int64{0: 6, 1: 3, 2: 2}, want: 15, wantPersistent: 15, wantActive: true},
		{name: "group catches up", commit: map[int32]int64{0: 107, 1: 102, 2: 101}, want: 0, wantPersistent: 0},
		{name: "records arrive while the group is idle", produce: [3]int{2, 0, 0}, want: 2, wantPersistent: 0, wantActive: true},
	}
	for _, st := range steps {
		for p, n := range st.produce {
			k.Produce(t, "orders", int32(p), n)
		}
		if st.commit != nil {
			k.Commit(t, "g", map[string]map[int32]int64{"orders": st.commit})
		}
		want := []result{{st.want, st.wantActive}, {st.wantPersistent, st.wantActive}}
		if diff := cmp.Diff(want, []result{resultOf(t, s), resultOf(t, persistent)}); diff != "" {
			t.Errorf("%s: plain and excludePersistentLag rounds (-want +got):\n%s", st.name, diff)
		}
	}
}

func TestMetricsUnknownTopic(t *testing.T) {
	k := testenv.StartKafka(t, testenv.KafkaConfig{Opts: []kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(2, "orders")}})
	tests := []struct {
		name string
		md   map[string]string
		want error
	}{
		{name: "topic does not exist", md: trigger(k, "topic", "nope"), want: scalers.ErrNoData},
		{name: "partitionLimitation matches nothing", md: trigger(k, "partitionLimitation", "7-9"), want: scalers.ErrNoData},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestScaler(t, tc.md)
			_, err := s.Metrics(t.Context())
			if !errors.Is(err, tc.want) {
				t.Errorf("got error %v, want %v", err, tc.want)
			}
		})
	}
}

// TestMetricsConcurrent calls one scaler from many goroutines (run with
// -race): one client, one state map.
func TestMetricsConcurrent(t *testing.T) {
	k := testenv.StartKafka(t, testenv.KafkaConfig{Opts: []kfake.Opt{kfake.NumBrokers(3), kfake.SeedTopics(8, "orders")}})
	for p := range int32(8) {
		k.Produce(t, "orders", p, 3)
	}
	k.Commit(t, "g", map[string]map[int32]int64{"orders": {0: 1, 1: 1, 2: 1, 3: 1, 4: 1, 5: 1, 6: 1, 7: 1}})
	s := newTestScaler(t, trigger(k, "excludePersistentLag", "true", "allowIdleConsumers", "true"))

	const callers, rounds = 8, 8
	var wg sync.WaitGroup
	seqs := make([][]result, callers) // each caller's rounds, in its order
	for c := range callers {
		wg.Go(func() {
			for range rounds {
				m, err := s.Metrics(t.Context())
				if err != nil {
					t.Errorf("metrics: %v", err)
					return
				}
				seqs[c] = append(seqs[c], result{m.Values[0].Value, m.Active})
			}
		})
	}
	wg.Wait()
	// The rounds take the lock one after the other. The first sees no
	// previous commits and counts the lag of 2 on each of 8 partitions;
	// for every later one the commits have not moved, so the lag is
	// persistent: 0, still active. So one caller's first round is 16 and
	// every other round 0. Which caller is first is chance: that caller's
	// sequence is put first.
	slices.SortStableFunc(seqs, func(a, b []result) int {
		if len(a) > 0 && a[0].Metric == 16 {
			return -1
		}
		if len(b) > 0 && b[0].Metric == 16 {
			return 1
		}
		return 0
	})
	zeros := slices.Repeat([]result{{0, true}}, rounds)
	want := slices.Repeat([][]result{zeros}, callers)
	want[0] = append([]result{{16, true}}, zeros[1:]...)
	if diff := cmp.Diff(want, seqs); diff != "" {
		t.Errorf("each caller's rounds, the first caller first (-want +got):\n%s", diff)
	}
}

func TestClose(t *testing.T) {
	k := testenv.StartKafka(t, testenv.KafkaConfig{Opts: []kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(1, "orders")}})
	s := newTestScaler(t, trigger(k))
	lagOf(t, s)
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if _, err := s.Metrics(t.Context()); !errors.Is(err, ErrClosed) {
		t.Errorf("got %v, want ErrClosed", err)
	}
}

// TestNew covers the factory: it returns config errors without connecting
// and does not need Kafka to be up.
func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		md      map[string]string
		wantErr string // the whole message of an ErrInvalidConfig error; "" for none
	}{
		{name: "unreachable brokers are not an error yet", md: base("bootstrapServers", "127.0.0.1:1")},
		{name: "oauthbearer asks for no token yet", md: base("sasl", "oauthbearer", "username", "id", "password", "secret",
			"oauthTokenEndpointUri", "http://127.0.0.1:1/token")},
		{name: "bad metadata", md: base("lagThreshold", "0"), wantErr: `invalid metadata: lagThreshold "0": must be > 0`},
		{name: "bad CA", md: base("tls", "enable", "ca", "caaa"), wantErr: "invalid metadata: ca (secret, not shown): no PEM certificate found"},
		{name: "bad client pair", md: base("tls", "enable", "cert", "ceert", "key", "keey"),
			wantErr: "invalid metadata: cert (secret, not shown): invalid certificate/key pair: tls: failed to find any PEM data in certificate input"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(t.Context(), scalers.Config{Type: Type, Metadata: maps.Clone(tc.md)})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("got error %v, want none", err)
				}
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				return
			}
			checkWholeError(t, err, scalers.ErrInvalidConfig, tc.wantErr)
			var me *scalers.MetadataError
			if !errors.As(err, &me) {
				t.Errorf("got error %T, want a *scalers.MetadataError", err)
			}
		})
	}
}

// TestRegistry checks the type is usable through a registry.
func TestRegistry(t *testing.T) {
	r := scalers.NewRegistry()
	r.MustRegister(Type, New)
	s, err := r.New(t.Context(), scalers.Config{Type: Type, Metadata: base()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if diff := cmp.Diff([]scalers.MetricSpec{{Name: "kafka-my-topic", Target: 10}}, s.MetricSpecs()); diff != "" {
		t.Errorf("metric specs (-want +got):\n%s", diff)
	}
}

func contextWithTimeout(t testing.TB, d time.Duration) (context.Context, context.CancelFunc) {
	t.Helper()
	return context.WithTimeout(t.Context(), d)
}

// TestMetadataAge checks that partitions added to a topic are measured once
// the cached metadata is older than metadataAge (time from a fake clock).
func TestMetadataAge(t *testing.T) {
	k := testenv.StartKafka(t, testenv.KafkaConfig{Opts: []kfake.Opt{kfake.NumBrokers(2), kfake.SeedTopics(2, "orders")}})
	k.ProduceMany(t, "orders", []int32{0, 1}, 5)
	k.Commit(t, "g", map[string]map[int32]int64{"orders": {0: 0, 1: 0}})

	clk := clocktesting.NewFakePassiveClock(time.Now())
	s, err := newScaler(t.Context(), scalers.Config{Type: Type, Metadata: trigger(k)}, options{metadataAge: time.Minute, clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if got, _ := lagOf(t, s); got != 10 {
		t.Fatalf("got %v, want 10", got)
	}

	ctx, cancel := contextWithTimeout(t, 10*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(k.Client(t)).CreatePartitions(ctx, 2, "orders")
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatalf("create partitions: %v", err)
	}
	k.ProduceMany(t, "orders", []int32{2, 3}, 5)

	clk.SetTime(clk.Now().Add(59 * time.Second))
	if got, _ := lagOf(t, s); got != 10 {
		t.Errorf("within metadataAge: got %v, want 10 (the 2 known partitions)", got)
	}
	clk.SetTime(clk.Now().Add(2 * time.Second))
	// Partitions 2 and 3 have no commit: 1 each with offsetResetPolicy latest.
	if got, _ := lagOf(t, s); got != 12 {
		t.Errorf("after metadataAge: got %v, want 12 (4 partitions)", got)
	}
}

// TestNewDoesNoIO: building a scaler (what serves GetMetricSpec) dials no
// broker and asks for no token, with any security settings; neither do
// the client's own goroutines before the first call.
func TestNewDoesNoIO(t *testing.T) {
	hole := scalertest.NewBlackHole(t)
	e := startTokenEndpoint(t, 3600)
	p := newPKI(t)
	mds := map[string]map[string]string{
		"plaintext": {},
		"tls":       {"tls": "enable", "ca": string(p.CAPEM), "cert": string(p.client.CertPEM), "key": string(p.client.KeyPEM)},
		"scram":     {"sasl": "scram_sha512", "username": "u", "password": "p"},
		"oauthbearer": {"sasl": "oauthbearer", "username": oauthClientID, "password": oauthClientSecret,
			"oauthTokenEndpointUri": e.URL},
		"no topic": {"topic": ""},
	}
	for name, extra := range mds {
		t.Run(name, func(t *testing.T) {
			md := map[string]string{"bootstrapServers": hole.Addr(), "consumerGroup": "g", "topic": "orders"}
			maps.Copy(md, extra)
			sc, err := New(t.Context(), scalers.Config{Type: Type, Metadata: md})
			if err != nil {
				t.Fatalf("new: %v", err)
			}
			s := sc.(*Scaler)
			if diff := cmp.Diff(1, len(s.MetricSpecs())); diff != "" {
				t.Errorf("metric specs (-want +got):\n%s", diff)
			}
			// Close waits for the client's goroutines: a dial they had
			// begun would have reached the dialer by then.
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s.dial.mu.Lock()
			dialled := len(s.dial.addrs)
			s.dial.mu.Unlock()
			if dialled != 0 {
				t.Errorf("the client dialled %d addresses, want none", dialled)
			}
		})
	}
	if n := hole.Accepted(); n != 0 {
		t.Errorf("the broker saw %d connections, want none", n)
	}
	if n := len(e.Requests()); n != 0 {
		t.Errorf("the token endpoint saw %d requests, want none", n)
	}
}

// TestGroupTopicsLimit: without a topic, a group that committed offsets on
// more topics than the list limit is refused with ErrLimit (one request
// would name every topic), saying how to measure one.
func TestGroupTopicsLimit(t *testing.T) {
	k := testenv.StartKafka(t, testenv.KafkaConfig{Opts: []kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(1, "a", "b", "c", "d")}})
	k.Commit(t, "g", map[string]map[int32]int64{"a": {0: 0}, "b": {0: 0}, "c": {0: 0}, "d": {0: 0}})
	for _, tc := range []struct {
		name    string
		limit   int
		wantErr string
	}{
		{name: "within", limit: 4},
		{name: "beyond", limit: 3, wantErr: `kafka: group "g" has committed offsets on 4 topics, more than the limit of 3 (set topic to measure one): server limit reached`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := scalers.Config{Type: Type, Metadata: trigger(k, "topic", ""), Limits: scalers.Limits{MaxListItems: tc.limit}}
			s, err := newScaler(t.Context(), cfg, options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			_, err = s.Metrics(t.Context())
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("got error %v, want none", err)
				}
				return
			}
			checkWholeError(t, err, scalers.ErrLimit, tc.wantErr)
		})
	}
}
