package testenv

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// metadataOf asks the cluster for its brokers with a client of its own
// (not the helper's), within limit.
func metadataOf(t *testing.T, k *Kafka, limit time.Duration) error {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.Addrs()...), kgo.DisableClientMetrics())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	_, err = kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	return err
}

// TestKafkaFreeze: a frozen cluster accepts connections and answers
// nothing, not even a new connection's ApiVersions; thawed, it answers
// again, and a restart keeps it frozen.
func TestKafkaFreeze(t *testing.T) {
	k := StartKafka(t, KafkaConfig{Restartable: true, Opts: []kfake.Opt{kfake.NumBrokers(1)}})
	if err := metadataOf(t, k, 30*time.Second); err != nil {
		t.Fatalf("before Freeze: %v", err)
	}

	k.Freeze()
	k.Freeze() // freezing twice is harmless
	if err := metadataOf(t, k, 300*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("frozen: got %v, want the deadline to pass without an answer", err)
	}
	k.Stop()
	k.Start(t)
	if err := metadataOf(t, k, 300*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("frozen and restarted: got %v, want the deadline to pass without an answer", err)
	}

	k.Thaw()
	if err := metadataOf(t, k, 30*time.Second); err != nil {
		t.Fatalf("after Thaw: %v", err)
	}
}
