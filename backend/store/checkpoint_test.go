package store

import (
	"context"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/hpa-autoscaler/hpa-autoscaler/backend/audit"
)

// waitCheckpoint waits (real time) until the latest checkpoint has size.
func waitCheckpoint(t *testing.T, s Store, size int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := s.Admin().LatestCheckpoint(testCtx(t))
		if err == nil && c.TreeSize == size {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("latest checkpoint %+v (%v), want size %d", c.TreeSize, err, size)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRunCheckpoints(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			s := open(t, b.url(t), Options{})
			newTenant(t, s, "acme") // 2 records
			fc := clocktesting.NewFakeClock(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC))
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				done <- RunCheckpoints(ctx, s, CheckpointOptions{Key: testKey(t), Policy: audit.CheckpointPolicy{Every: 5, Interval: 10 * time.Second}, Clock: fc})
			}()
			defer func() {
				cancel()
				if err := <-done; err != nil {
					t.Error(err)
				}
			}()
			append1 := func(n int) {
				for range n {
					mustUpdate(t, s, "acme", func(tx Tx) error { _, err := tx.Append("decision", "x", map[string]any{"n": 1}); return err })
				}
			}
			// The first records are signed at once.
			waitCheckpoint(t, s, 2)
			// One more: due only when the interval has passed.
			append1(1)
			for !fc.HasWaiters() {
				time.Sleep(time.Millisecond)
			}
			time.Sleep(20 * time.Millisecond)
			if c, _ := s.Admin().LatestCheckpoint(testCtx(t)); c.TreeSize != 2 {
				t.Fatalf("checkpoint of size %d before the interval passed", c.TreeSize)
			}
			fc.Step(10 * time.Second)
			waitCheckpoint(t, s, 3)
			// Five more: due by count, without the clock moving.
			append1(5)
			waitCheckpoint(t, s, 8)
			res, err := audit.Verify(testCtx(t), s.Admin().Source(testCtx(t)), audit.VerifyOptions{Verifier: testKey(t).Verifier})
			if err != nil || !res.OK() || res.Checkpoint == nil || res.Checkpoint.Size != 8 {
				t.Fatalf("Verify: %v, %v", res, err)
			}
		})
	}
}

func TestRunCheckpointsNeedsAKey(t *testing.T) {
	s := open(t, backends[0].url(t), Options{})
	if err := RunCheckpoints(context.Background(), s, CheckpointOptions{}); err == nil {
		t.Fatal("RunCheckpoints without a key succeeded")
	}
}
