package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
)

// TestDiskFull fills a small file system under a running SQLite store:
// the write that does not fit fails with ErrUnavailable (503), every
// write acknowledged before is kept, and once there is room again the
// store writes on, on the same chain.
func TestDiskFull(t *testing.T) {
	dir := testenv.MountTmpfs(t, "4m")
	url := "sqlite:" + filepath.Join(dir, "full.db")
	s := open(t, url, Options{})
	newTenant(t, s, "acme")
	ctx := testCtx(t)
	payload := map[string]any{"pad": strings.Repeat("x", 16<<10)}
	var acked []int64
	var failure error
	for i := 0; i < 2000 && failure == nil; i++ {
		var seq int64
		err := s.Update(ctx, "acme", "agent", func(tx Tx) error {
			var err error
			seq, err = tx.Append("decision", fmt.Sprint("d", i), payload)
			return err
		})
		if err != nil {
			failure = err
			break
		}
		acked = append(acked, seq)
	}
	if failure == nil {
		t.Fatalf("wrote %d records of 16 KiB to a 4 MiB file system without an error", len(acked))
	}
	if !errors.Is(failure, ErrUnavailable) {
		t.Fatalf("the write that did not fit: %v, want ErrUnavailable", failure)
	}
	t.Logf("after %d records: %v", len(acked), failure)
	// Concurrent callers on the full disk, batched together: each gets
	// ErrUnavailable or, if its write fit, an acknowledgement that holds.
	var wg sync.WaitGroup
	errs := make([]error, 32)
	seqs := make([]int64, 32)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Update(ctx, "acme", "agent", func(tx Tx) error {
				var err error
				seqs[i], err = tx.Append("decision", fmt.Sprint("c", i), payload)
				return err
			})
		}()
	}
	wg.Wait()
	var unavailableN int
	for i, err := range errs {
		switch {
		case err == nil:
			acked = append(acked, seqs[i])
		case errors.Is(err, ErrUnavailable):
			unavailableN++
		default:
			t.Fatalf("concurrent caller %d on a full disk: %v, want ErrUnavailable", i, err)
		}
	}
	if unavailableN == 0 {
		t.Fatal("all 32 concurrent writes fit on the full disk")
	}
	// Reads still answer, and what was acknowledged is there.
	for _, seq := range acked {
		if _, err := s.AuditRecord(ctx, "acme", seq); err != nil {
			t.Fatalf("acknowledged record %d: %v", seq, err)
		}
	}
	// Room again (an operator grew the volume): the same store writes on.
	testenv.RemountTmpfs(t, dir, 0, "size=64m")
	mustUpdate(t, s, "acme", func(tx Tx) error { _, err := tx.Append("decision", "after", payload); return err })
	recs := verifyLog(t, s)
	if len(recs) != len(acked)+3 { // every record there was acknowledged
		t.Fatalf("%d records, want %d acknowledged + 2 of the tenant + 1 after", len(recs), len(acked))
	}
}

// TestReadOnlySQLite: a database on a file system that became read-only
// (remounted after an I/O error, a full snapshot volume) is ErrUnavailable
// for Open and for every write, never an acknowledgement. (A file system
// with open files cannot be remounted read-only, and root ignores file
// modes, so the store is closed first and reopened.)
func TestReadOnlySQLite(t *testing.T) {
	dir := testenv.MountTmpfs(t, "16m")
	url := "sqlite:" + filepath.Join(dir, "ro.db")
	s := open(t, url, Options{})
	newTenant(t, s, "acme")
	_ = s.Close()
	testenv.RemountTmpfs(t, dir, syscall.MS_RDONLY, "")
	_, err := Open(testCtx(t), url, Options{})
	wantErr(t, "Open on a read-only file system", err, ErrUnavailable)
	t.Logf("Open: %v", err)
	testenv.RemountTmpfs(t, dir, 0, "")
	s = open(t, url, Options{})
	verifyLog(t, s)
}

// TestReadOnlyPostgres: the server turned read-only under a running store
// (default_transaction_read_only, as during a failover or a full disk's
// emergency setting): every write is ErrUnavailable; reads answer; back
// to read-write, the store writes on.
func TestReadOnlyPostgres(t *testing.T) {
	t.Parallel()
	p := testenv.StartPostgres(t)
	url := p.NewDatabase(t)
	s := open(t, url, Options{})
	newTenant(t, s, "acme")
	ctx := testCtx(t)
	if err := p.Exec(ctx, "ALTER SYSTEM SET default_transaction_read_only = on"); err != nil {
		t.Fatal(err)
	}
	if err := p.Exec(ctx, "SELECT pg_reload_conf()"); err != nil {
		t.Fatal(err)
	}
	// The reload reaches each backend at its next command: poll, with
	// writes that need no undoing.
	var err error
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		err = s.Update(ctx, "acme", "tok", func(tx Tx) error {
			_, err := tx.Append("probe", "", nil)
			return err
		})
		if err != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	wantErr(t, "write to a read-only server", err, ErrUnavailable)
	t.Logf("write: %v", err)
	if _, err := s.Cluster(ctx, "acme", "c1"); err != nil {
		t.Fatalf("read from a read-only server: %v", err)
	}
	if err := p.Exec(ctx, "ALTER SYSTEM RESET default_transaction_read_only"); err != nil {
		t.Fatal(err)
	}
	if err := p.Exec(ctx, "SELECT pg_reload_conf()"); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		err = s.Update(rctx, "acme", "tok", func(tx Tx) error {
			_, err := tx.CreateCluster(Cluster{ID: "c3", Name: "three"})
			return err
		})
		if err == nil || rctx.Err() != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("write after the server is writable again: %v", err)
	}
	verifyLog(t, s)
}
