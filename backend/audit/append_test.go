package audit

import (
	"context"
	"encoding/hex"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/mod/sumdb/tlog"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)

// entry returns a prepared entry numbered i.
func entry(tb testing.TB, i int) Prepared {
	tb.Helper()
	p, err := Prepare(Entry{
		Time:    t0.Add(time.Duration(i) * time.Second),
		Tenant:  []string{"acme", "globex", ""}[i%3],
		Actor:   fmt.Sprintf("tok_%d", i%7),
		Kind:    []string{"scaler.update", "decision", "budget.set"}[i%3],
		Subject: fmt.Sprintf("scalers/prod/app-%d", i%11),
		Payload: map[string]any{"replicas": i % 17, "costMinor": int64(i) * 1250, "reason": "cpu above target"},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// memStore is tlog's own model of a store: StoredHashes one record at a
// time, with the hashes in a slice.
type memStore []tlog.Hash

func (s *memStore) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		out[i] = (*s)[x]
	}
	return out, nil
}

func TestAppendBatchEqualsOneByOne(t *testing.T) {
	const n = 300
	entries := make([]Prepared, n)
	for i := range entries {
		entries[i] = entry(t, i)
	}
	// One record per batch, with tlog.StoredHashes computing the tree.
	var ref memStore
	var single []Record
	head := Head{}
	for i := range entries {
		b, err := AppendBatch(head, entries[i:i+1], &ref)
		if err != nil {
			t.Fatal(err)
		}
		r := b.Records[0]
		want, err := tlog.StoredHashes(r.Seq-1, r.Body, &ref)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, r.TreeHashes); diff != "" {
			t.Fatalf("seq %d: tree hashes differ from tlog.StoredHashes (-tlog +ours):\n%s", r.Seq, diff)
		}
		if got := FirstHashIndex(r.Seq); got != int64(len(ref)) {
			t.Fatalf("seq %d: FirstHashIndex %d, tlog stores at %d", r.Seq, got, len(ref))
		}
		ref = append(ref, want...)
		single = append(single, r)
		head = b.Head
	}
	// Batches of uneven sizes.
	for _, sizes := range [][]int{{n}, {1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 69}, {100, 100, 100}, {7, 293}} {
		t.Run(fmt.Sprint(sizes), func(t *testing.T) {
			var store memStore
			var got []Record
			head := Head{}
			start := 0
			for _, size := range sizes {
				b, err := AppendBatch(head, entries[start:start+size], &store)
				if err != nil {
					t.Fatal(err)
				}
				for _, h := range b.StoredHashes() {
					if h.Index != int64(len(store)) {
						t.Fatalf("stored hash index %d, want %d", h.Index, len(store))
					}
					store = append(store, h.Hash)
				}
				got = append(got, b.Records...)
				head = b.Head
				start += size
			}
			if diff := cmp.Diff(single, got); diff != "" {
				t.Fatalf("batched records differ (-one by one +batched):\n%s", diff)
			}
			if diff := cmp.Diff(ref, store); diff != "" {
				t.Fatalf("stored hashes differ (-one by one +batched):\n%s", diff)
			}
			if head != (Head{Seq: n, Chain: single[n-1].ChainHash}) {
				t.Fatalf("head %+v", head)
			}
		})
	}
	// HashLocation finds every stored hash in its record.
	for idx := range int64(len(ref)) {
		seq, pos := HashLocation(idx)
		if got := single[seq-1].TreeHashes[pos]; got != ref[idx] {
			t.Fatalf("HashLocation(%d) = seq %d pos %d: wrong hash", idx, seq, pos)
		}
	}
	// The root as tlog computes it from the stored hashes.
	want, err := tlog.TreeHash(n, &ref)
	if err != nil {
		t.Fatal(err)
	}
	f, err := readFrontier(n, &ref)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.root(); got != want {
		t.Fatalf("frontier root %x, tlog.TreeHash %x", got, want)
	}
}

func TestAppendBatchRefusesBadHead(t *testing.T) {
	var store memStore
	cases := map[string]Head{
		"negative seq":             {Seq: -1},
		"empty log with a chain":   {Chain: tlog.Hash{1}},
		"head beyond stored trees": {Seq: 5},
	}
	for name, head := range cases {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("panic: %v", r)
				}
			}()
			reader := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
				if len(store) == 0 {
					return nil, fmt.Errorf("no hashes stored")
				}
				return store.ReadHashes(idx)
			})
			if _, err := AppendBatch(head, []Prepared{entry(t, 1)}, reader); err == nil {
				t.Fatal("no error")
			}
		})
	}
	if _, err := AppendBatch(Head{}, []Prepared{{}}, &store); err == nil {
		t.Fatal("zero Prepared accepted")
	}
}

// TestVector fixes the bytes and hashes of two records, so that the
// format cannot drift unnoticed: a change here breaks every stored log.
func TestVector(t *testing.T) {
	var log MemLog
	for _, e := range []Entry{
		{
			Time:    time.Date(2025, 1, 2, 3, 4, 5, 678901234, time.FixedZone("CET", 3600)),
			Tenant:  "acme",
			Actor:   "tok_7Qm2",
			Kind:    "budget.set",
			Subject: "budgets/acme/monthly",
			Payload: map[string]any{"limitMinor": 1250000, "currency": "EUR", "note": "Q1 \"cap\" <ok> é\n"},
		},
		{
			Time:    time.Date(2025, 1, 2, 3, 5, 0, 0, time.UTC),
			Tenant:  "acme",
			Actor:   "agent:cluster-1",
			Kind:    "decision",
			Subject: "scalers/prod/checkout",
			Payload: map[string]any{"from": 3, "to": 5, "rule": "hpa"},
		},
	} {
		p, err := Prepare(e)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := log.Append(p); err != nil {
			t.Fatal(err)
		}
	}
	rs := log.Records()
	type vec struct{ Body, Leaf, Chain string }
	got := []vec{}
	for _, r := range rs {
		got = append(got, vec{string(r.Body), hex.EncodeToString(r.LeafHash[:]), hex.EncodeToString(r.ChainHash[:])})
	}
	want := []vec{
		{
			Body:  `{"actor":"tok_7Qm2","kind":"budget.set","payload":{"currency":"EUR","limitMinor":1250000,"note":"Q1 \"cap\" <ok> é\n"},"seq":1,"subject":"budgets/acme/monthly","tenant":"acme","time":"2025-01-02T02:04:05.678901Z","v":1}`,
			Leaf:  "0dea1187de3c56900ab943946eb80c69bccba835eb60bbfd561f1666e92d6f92",
			Chain: "987b58f5b5a142a6e74bfb104155222bf1219581cfee925564bba5ce45359cfc",
		},
		{
			Body:  `{"actor":"agent:cluster-1","kind":"decision","payload":{"from":3,"rule":"hpa","to":5},"seq":2,"subject":"scalers/prod/checkout","tenant":"acme","time":"2025-01-02T03:05:00.000000Z","v":1}`,
			Leaf:  "b88450676f911bc5c84751492e70a397564cdb2ab9b25901bf63ebccf23f211c",
			Chain: "1a254c217cb14dd87227eca6aead7353ba868b9a731e9840330a66d4dd1261f7",
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	root := log.hashRoot(t)
	// SHA-256(0x01 || leaf1 || leaf2), RFC 6962's node hash.
	if want := "7d3ae0af3ab61ac0edcc7a7b7a8945bae809574f327b97e18e105a23efe4c647"; hex.EncodeToString(root[:]) != want {
		t.Errorf("root %x, want %s", root[:], want)
	}
	res, err := Verify(context.Background(), &log, VerifyOptions{Verifier: testKey(t).Verifier, AllowNoCheckpoint: true})
	if err != nil || !res.OK() {
		t.Fatalf("verify: %v %v", res, err)
	}
}

func (m *MemLog) hashRoot(tb testing.TB) tlog.Hash {
	tb.Helper()
	h, err := tlog.TreeHash(m.Head().Seq, m)
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

// Batches appended from many goroutines make one sound log.
func TestMemLogConcurrentAppends(t *testing.T) {
	key := testKey(t)
	var log MemLog
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				if _, err := log.Append(entry(t, g*1000+i), entry(t, g*1000+i+1), entry(t, g*1000+i+2)); err != nil {
					t.Error(err)
					return
				}
				if i == 25 {
					if _, err := log.Checkpoint(key); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	if _, err := log.Checkpoint(key); err != nil {
		t.Fatal(err)
	}
	res, err := Verify(context.Background(), &log, VerifyOptions{Verifier: key.Verifier})
	if err != nil || !res.OK() || res.Records != 8*50*3 {
		t.Fatalf("%v %v", res, err)
	}
	if b, err := AppendBatch(log.Head(), nil, &log); err != nil || len(b.Records) != 0 || b.Head != log.Head() {
		t.Fatalf("empty batch: %+v %v", b, err)
	}
}
