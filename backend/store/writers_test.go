package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestTwoStoresOneDatabase: two stores (two backend replicas, or a
// serve and a migrate) appending to one database at once keep one chain:
// each batch holds the audit head (PostgreSQL: SELECT ... FOR UPDATE;
// SQLite: BEGIN IMMEDIATE) from reading it to commit.
func TestTwoStoresOneDatabase(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			url := b.url(t)
			s1, s2 := open(t, url, Options{}), open(t, url, Options{})
			newTenant(t, s1, "acme")
			ctx := testCtx(t)
			var wg sync.WaitGroup
			errs := make(chan error, 400)
			for i := range 400 {
				s := s1
				if i%2 == 1 {
					s = s2
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs <- s.Update(ctx, "acme", "agent", func(tx Tx) error {
						_, _, err := tx.RecordEvent(ScalingEvent{ID: fmt.Sprint("e", i), Scaler: "web", Time: time.Now()})
						return err
					})
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			if recs := verifyLog(t, s2); len(recs) != 402 {
				t.Fatalf("%d records, want 402", len(recs))
			}
		})
	}
}

func TestLifecycle(t *testing.T) {
	s := open(t, backends[0].url(t), Options{})
	newTenant(t, s, "acme")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ran := false
	err := s.Update(ctx, "acme", "tok", func(Tx) error { ran = true; return nil })
	if !errors.Is(err, context.Canceled) || ran {
		t.Fatalf("Update with a cancelled context: %v, fn ran: %v; want context.Canceled and no run", err, ran)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil { // twice is harmless
		t.Fatal(err)
	}
	err = s.Update(context.Background(), "acme", "tok", func(Tx) error { return nil })
	wantErr(t, "Update after Close", err, ErrClosed)
}

func TestOpenRefuses(t *testing.T) {
	ctx := testCtx(t)
	for _, url := range []string{"mysql://x", "sqlite:", "sqlite:a?b", "postgres://%zz"} {
		_, err := Open(ctx, url, Options{})
		wantErr(t, "Open "+url, err, ErrInvalid)
	}
	_, err := Open(ctx, "postgres://postgres:secret-pw@127.0.0.1:1/x?sslmode=disable&connect_timeout=2", Options{})
	wantErr(t, "Open of a server that is not there", err, ErrUnavailable)
	if err != nil && strings.Contains(err.Error(), "secret-pw") {
		t.Fatalf("error shows the password: %v", err)
	}
}

// TestGroupCommitGroups: concurrent Updates share transactions, up to
// MaxBatch each.
func TestGroupCommitGroups(t *testing.T) {
	for _, b := range backends {
		for _, maxBatch := range []int{0, 4} {
			t.Run(fmt.Sprintf("%s/maxBatch=%d", b.name, maxBatch), func(t *testing.T) {
				t.Parallel()
				s := open(t, b.url(t), Options{MaxBatch: maxBatch})
				newTenant(t, s, "acme")
				ss := s.(*sqlStore)
				before := ss.commits.Load()
				const n = 256
				ctx := testCtx(t)
				var wg sync.WaitGroup
				start := make(chan struct{})
				for i := range n {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						if err := s.Update(ctx, "acme", "agent", func(tx Tx) error {
							_, _, err := tx.RecordEvent(ScalingEvent{ID: fmt.Sprint("e", i), Scaler: "web", Time: time.Now()})
							return err
						}); err != nil {
							t.Error(err)
						}
					}()
				}
				close(start)
				wg.Wait()
				commits := ss.commits.Load() - before
				t.Logf("%d updates in %d transactions", n, commits)
				switch {
				case maxBatch == 0 && commits > n/2:
					t.Fatalf("%d concurrent updates took %d transactions: not grouped", n, commits)
				case maxBatch == 4 && commits < n/4:
					t.Fatalf("%d updates in %d transactions of at most 4", n, commits)
				}
				verifyLog(t, s)
			})
		}
	}
}
