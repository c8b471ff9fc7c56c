package testenv

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// KafkaConfig configures StartKafka.
type KafkaConfig struct {
	// Opts are the cluster's options (kfake.NumBrokers, kfake.SeedTopics,
	// kfake.EnableSASL, kfake.TLS, ...). Without kfake.NumBrokers the
	// cluster has 3 brokers.
	Opts []kfake.Opt
	// ClientOpts are added to the options of the helper's own client (for
	// example kgo.SASL or kgo.DialTLSConfig when the cluster needs them).
	ClientOpts []kgo.Opt
	// Restartable keeps the cluster's state (topics, records, commits) in
	// a temporary directory so Stop and Start work; the ports stay the
	// same across restarts.
	Restartable bool
}

// Kafka is a private in-process Kafka cluster: franz-go's kfake, which
// speaks the real Kafka wire protocol on free loopback ports. Each test gets
// its own (starting one takes milliseconds); it is closed in t.Cleanup.
//
// The helper methods (Produce, Commit, CreateTopic) use one client of the
// helper's own. Methods are safe for concurrent use, except that Stop and
// Start must not race with each other.
type Kafka struct {
	cfg   KafkaConfig
	dir   string
	addrs []string
	ports []int

	mu      sync.Mutex
	cluster *kfake.Cluster
	client  *kgo.Client

	// frozen makes the cluster's control function swallow every request
	// (see Freeze); freezer is the cluster that has the function.
	frozen  atomic.Bool
	freezer *kfake.Cluster
}

// StartKafka starts a cluster; it fails the test if it cannot.
func StartKafka(t testing.TB, cfg KafkaConfig) *Kafka {
	t.Helper()
	k := &Kafka{cfg: cfg}
	if cfg.Restartable {
		k.dir = t.TempDir()
	}
	c, err := kfake.NewCluster(k.clusterOpts()...)
	if err != nil {
		t.Fatalf("start kfake cluster: %v", err)
	}
	k.cluster = c
	k.addrs = c.ListenAddrs()
	for _, a := range k.addrs {
		k.ports = append(k.ports, portOf(t, a))
	}
	t.Cleanup(k.close)
	return k
}

func (k *Kafka) clusterOpts() []kfake.Opt {
	opts := slices.Clone(k.cfg.Opts)
	if k.dir != "" {
		opts = append(opts, kfake.DataDir(k.dir))
	}
	if len(k.ports) > 0 {
		opts = append(opts, kfake.Ports(k.ports...))
	}
	return opts
}

// Addrs returns the brokers' "127.0.0.1:port" addresses (the same after a
// restart).
func (k *Kafka) Addrs() []string { return slices.Clone(k.addrs) }

// Cluster returns the running cluster (for ControlKey and friends); nil
// while stopped. A restart makes a new one.
func (k *Kafka) Cluster() *kfake.Cluster {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.cluster
}

// Stop shuts the cluster down: its ports refuse connections and open
// connections are closed. With Restartable its state is kept for Start.
func (k *Kafka) Stop() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cluster != nil {
		k.cluster.Close()
		k.cluster = nil
	}
}

// Start restarts a stopped Restartable cluster on the same ports with the
// state it had when stopped.
func (k *Kafka) Start(t testing.TB) {
	t.Helper()
	if k.dir == "" {
		t.Fatalf("testenv.Kafka.Start: the cluster was not started with Restartable")
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cluster != nil {
		return
	}
	// A port may take a moment to be free again after Stop: retry until
	// the cluster listens, within a deadline far above what that takes.
	const limit = 30 * time.Second
	deadline := time.Now().Add(limit)
	pause := 10 * time.Millisecond
	for {
		c, err := kfake.NewCluster(k.clusterOpts()...)
		if err == nil {
			k.cluster = c
			if k.frozen.Load() {
				k.installFreezer()
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for kfake to listen again on ports %v; last: %v", limit, k.ports, err)
		}
		<-time.After(pause)
		pause = min(2*pause, 250*time.Millisecond)
	}
}

// Freeze makes every broker of the cluster stop answering: connections
// are accepted and requests read, but none is answered (not even
// ApiVersions on a new connection) until Thaw. This is what a hung broker
// (or one whose machine stalls) looks like to a client; kfake runs in the
// test's process, so it cannot be sent SIGSTOP. The requests swallowed
// while frozen stay unanswered after Thaw: the client's reads time out and
// it reconnects, as after a long stall. Freezing a frozen cluster does
// nothing; a restarted cluster (Stop, Start) is frozen again if it was.
func (k *Kafka) Freeze() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.frozen.Store(true)
	k.installFreezer()
}

// Thaw makes a frozen cluster answer the requests it reads from now on.
func (k *Kafka) Thaw() {
	k.frozen.Store(false)
}

// installFreezer adds the control function that Freeze turns on, once per
// cluster. The caller holds mu.
func (k *Kafka) installFreezer() {
	c := k.cluster
	if c == nil || k.freezer == c {
		return
	}
	k.freezer = c
	c.Control(func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		// Handled without a response or an error: kfake reads on and
		// never answers this request.
		return nil, nil, k.frozen.Load()
	})
}

func (k *Kafka) close() {
	k.mu.Lock()
	cl := k.client
	k.client = nil
	k.mu.Unlock()
	if cl != nil {
		cl.Close()
	}
	k.Stop()
}

// Client returns the helper's client (created on first use).
func (k *Kafka) Client(t testing.TB) *kgo.Client {
	t.Helper()
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.client == nil {
		opts := append([]kgo.Opt{
			kgo.SeedBrokers(k.addrs...),
			kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.MetadataMinAge(50 * time.Millisecond),
		}, k.cfg.ClientOpts...)
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			t.Fatalf("kafka helper client: %v", err)
		}
		k.client = cl
	}
	return k.client
}

// CreateTopic creates a topic with the given number of partitions.
func (k *Kafka) CreateTopic(t testing.TB, topic string, partitions int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(k.Client(t)).CreateTopic(ctx, partitions, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
}

// Produce appends n records to one partition and returns the partition's
// end offset afterwards.
func (k *Kafka) Produce(t testing.TB, topic string, partition int32, n int) int64 {
	t.Helper()
	if n <= 0 {
		return 0
	}
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Partition: partition, Value: []byte("x")}
	}
	if err := k.produceSync(t, recs); err != nil {
		t.Fatalf("produce %d records to %s/%d: %v", n, topic, partition, err)
	}
	return recs[n-1].Offset + 1
}

// ProduceMany appends perPartition records to each of the given partitions
// in one batch of produce requests.
func (k *Kafka) ProduceMany(t testing.TB, topic string, partitions []int32, perPartition int) {
	t.Helper()
	recs := make([]*kgo.Record, 0, len(partitions)*perPartition)
	for _, p := range partitions {
		for range perPartition {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: []byte("x")})
		}
	}
	if err := k.produceSync(t, recs); err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
}

// produceSync produces recs; records the client cannot place because it
// does not know their partition yet (just created) are retried, after a
// metadata refresh, until the client knows the partition or a minute has
// passed.
func (k *Kafka) produceSync(t testing.TB, recs []*kgo.Record) error {
	t.Helper()
	cl := k.Client(t)
	const limit = time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	for {
		var retry []*kgo.Record
		var last error
		for _, r := range cl.ProduceSync(ctx, recs...) {
			switch {
			case r.Err == nil:
			case strings.Contains(r.Err.Error(), "invalid record partitioning choice") && ctx.Err() == nil:
				retry, last = append(retry, r.Record), r.Err
			default:
				return r.Err
			}
		}
		if len(retry) == 0 {
			return nil
		}
		recs = retry
		cl.ForceMetadataRefresh()
		select {
		case <-ctx.Done():
			return fmt.Errorf("waited %s for the producer to learn the partitions of %s; last: %w", limit, recs[0].Topic, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Commit commits offsets for a group that has no live members (as
// kafka-consumer-groups --reset-offsets does): offsets maps topic ->
// partition -> offset.
func (k *Kafka) Commit(t testing.TB, group string, offsets map[string]map[int32]int64) {
	t.Helper()
	os := make(kadm.Offsets)
	for topic, ps := range offsets {
		for p, at := range ps {
			os.AddOffset(topic, p, at, -1)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := kadm.NewClient(k.Client(t)).CommitAllOffsets(ctx, group, os); err != nil {
		t.Fatalf("commit offsets of group %s: %v", group, err)
	}
}

func portOf(t testing.TB, addr string) int {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	n, aerr := strconv.Atoi(port)
	if err != nil || aerr != nil {
		t.Fatalf("kfake listen address %q has no port", addr)
	}
	return n
}
