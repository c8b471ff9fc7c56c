package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/hpa-autoscaler/hpa-autoscaler/backend/audit"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
)

// pg is the PostgreSQL server of the package's tests: one server, a
// database per test (NewDatabase). Tests that kill or reconfigure a
// server start their own.
var pg testenv.SharedPostgres

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(durabilityChild())
	}
	goleak.VerifyTestMain(pg.Wrap(m),
		// database/sql's connection opener lives until the DB is
		// closed; every store is closed by its test's cleanup.
		goleak.IgnoreTopFunction("database/sql.(*DB).connectionOpener"))
}

// backend is one database kind the suite runs against.
type backend struct {
	name string
	// url returns a fresh, empty database for the test.
	url func(t testing.TB) string
}

var backends = []backend{
	{"sqlite", func(t testing.TB) string { return "sqlite:" + filepath.Join(t.TempDir(), "store.db") }},
	{"postgres", func(t testing.TB) string { return pg.Get(t).NewDatabase(t) }},
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// open opens a store on url, closed when the test ends.
func open(t testing.TB, url string, opts Options) Store {
	t.Helper()
	s, err := Open(testCtx(t), url, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func mustUpdate(t testing.TB, s Store, tenant TenantID, fn func(Tx) error) {
	t.Helper()
	if err := s.Update(testCtx(t), tenant, "tok_test", fn); err != nil {
		t.Fatalf("Update(%s): %v", tenant, err)
	}
}

// newTenant creates a tenant and a cluster "c1" in it.
func newTenant(t testing.TB, s Store, id TenantID) {
	t.Helper()
	mustUpdate(t, s, id, func(tx Tx) error {
		if _, err := tx.CreateTenant("Tenant " + string(id)); err != nil {
			return err
		}
		_, err := tx.CreateCluster(Cluster{ID: "c1", Name: "cluster one", Labels: map[string]string{"env": "test"}})
		return err
	})
}

// verifyLog checks the whole log as a verifier would, without the store's
// code: seqs 1..n without gaps, each leaf hash the hash of its body, each
// chain hash the chain of the one before, the head the last record, and
// the tree hash from the stored hashes equal to the tree built from the
// leaves alone. It returns the records.
func verifyLog(t testing.TB, s Store) []AuditRecord {
	t.Helper()
	ctx := testCtx(t)
	a := s.Admin()
	var all []AuditRecord
	for {
		recs, err := a.Log(ctx, int64(len(all))+1, 500)
		if err != nil {
			t.Fatalf("Log: %v", err)
		}
		if len(recs) == 0 {
			break
		}
		all = append(all, recs...)
	}
	var chain tlog.Hash
	var leaves [][]byte
	for i, r := range all {
		if r.Seq != int64(i)+1 {
			t.Fatalf("record %d has seq %d", i+1, r.Seq)
		}
		if audit.Leaf(r.Body) != r.LeafHash {
			t.Fatalf("record %d: leaf hash is not the hash of its body", r.Seq)
		}
		chain = audit.Chain(chain, r.LeafHash)
		if chain != r.ChainHash {
			t.Fatalf("record %d: chain hash does not follow", r.Seq)
		}
		leaves = append(leaves, r.Body)
	}
	head, err := a.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if head.Seq != int64(len(all)) || head.Chain != chain {
		t.Fatalf("head = %d %x, want %d %x", head.Seq, head.Chain, len(all), chain)
	}
	if len(all) > 0 {
		got, err := tlog.TreeHash(int64(len(all)), a.Hashes(ctx))
		if err != nil {
			t.Fatalf("TreeHash from the stored hashes: %v", err)
		}
		if want := treeOf(t, leaves); got != want {
			t.Fatalf("tree hash from the stored hashes %x, from the leaves %x", got, want)
		}
	}
	// And as backend/audit's verifier does, against a checkpoint signed
	// now (sizes already signed are kept).
	key := testKey(t)
	if len(all) > 0 {
		if err := a.AddCheckpoint(ctx, signedCheckpoint(t, s, int64(len(all)))); err != nil && !errors.Is(err, ErrConflict) {
			t.Fatal(err)
		}
	}
	res, err := audit.Verify(ctx, a.Source(ctx), audit.VerifyOptions{Verifier: key.Verifier, AllowNoCheckpoint: true})
	if err != nil {
		t.Fatalf("audit.Verify: %v", err)
	}
	if !res.OK() || res.Records != int64(len(all)) {
		t.Fatalf("audit.Verify: %s (of %d records)", res, len(all))
	}
	return all
}

// treeOf computes the tree hash of bodies with tlog alone, in memory.
func treeOf(t testing.TB, bodies [][]byte) tlog.Hash {
	t.Helper()
	var stored []tlog.Hash
	r := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			if x >= int64(len(stored)) {
				return nil, errors.New("index beyond")
			}
			out[i] = stored[x]
		}
		return out, nil
	})
	for i, b := range bodies {
		h, err := tlog.StoredHashes(int64(i), b, r)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, h...)
	}
	h, err := tlog.TreeHash(int64(len(bodies)), r)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// testKeyOnce holds the checkpoint key of the package's tests: one key,
// so that a log checkpointed by one verifyLog verifies in the next.
var testKeyOnce = sync.OnceValues(func() (*audit.Key, error) {
	dir, err := os.MkdirTemp("", "store-test-key-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	k, _, err := audit.LoadOrGenerateKey(filepath.Join(dir, "audit.key"), testOrigin)
	return k, err
})

const testOrigin = "hpa-autoscaler/test"

func testKey(t testing.TB) *audit.Key {
	t.Helper()
	k, err := testKeyOnce()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// signedCheckpoint signs the tree head of size with the test key.
func signedCheckpoint(t testing.TB, s Store, size int64) Checkpoint {
	t.Helper()
	ctx := testCtx(t)
	c, err := audit.TreeHead(testOrigin, size, s.Admin().Hashes(ctx))
	if err != nil {
		t.Fatal(err)
	}
	note, err := audit.SignCheckpoint(c, testKey(t).Signer)
	if err != nil {
		t.Fatal(err)
	}
	return Checkpoint{TreeSize: size, Note: note, Time: time.Now().UTC().Truncate(time.Microsecond)}
}
