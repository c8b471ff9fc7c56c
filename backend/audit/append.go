package audit

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math/bits"

	"golang.org/x/mod/sumdb/tlog"
)

// Leaf is the RFC 6962 leaf hash of a record's body: SHA-256(0x00 || body)
// (tlog.RecordHash).
func Leaf(body []byte) tlog.Hash {
	return tlog.RecordHash(body)
}

// Chain is the chain hash of a record: SHA-256(prev || leaf), prev being
// the chain hash of the record before, or the zero hash (32 zero bytes)
// before seq 1.
func Chain(prev, leaf tlog.Hash) tlog.Hash {
	var buf [2 * tlog.HashSize]byte
	copy(buf[:tlog.HashSize], prev[:])
	copy(buf[tlog.HashSize:], leaf[:])
	return sha256.Sum256(buf[:])
}

// Head is the tip of the log: the last record's seq, which is also the
// size of the tree (one leaf per record), and its chain hash. The empty
// log's head is the zero Head.
type Head struct {
	Seq   int64
	Chain tlog.Hash
}

// Batch is what one group commit writes: the new records, in seq order,
// and the new head.
type Batch struct {
	Records []Record
	Head    Head
}

// StoredHash is a tlog stored hash and its storage index.
type StoredHash struct {
	Index int64
	Hash  tlog.Hash
}

// StoredHashes returns the tlog stored hashes of the batch with their
// storage indexes, ascending and contiguous, for a store that keeps them
// in a table of their own rather than in the records' rows.
func (b *Batch) StoredHashes() []StoredHash {
	var out []StoredHash
	for _, r := range b.Records {
		first := FirstHashIndex(r.Seq)
		for i, h := range r.TreeHashes {
			out = append(out, StoredHash{Index: first + int64(i), Hash: h})
		}
	}
	return out
}

// ErrHead is wrapped when the head handed to AppendBatch does not match
// what the hash reader holds.
var ErrHead = errors.New("audit head does not match the stored hashes")

// AppendBatch computes the records of one group commit: entries get the
// seqs prev.Seq+1, prev.Seq+2, ... in order, and each its body, leaf,
// chain and tree hashes. hashes reads the tlog stored hashes of the
// records up to prev.Seq (those of earlier batches, as the store
// persisted them); AppendBatch calls it once, for at most 63 hashes (the
// roots of the complete subtrees of the tree of size prev.Seq), inside the
// caller's transaction. The store then inserts Batch.Records and moves
// its head to Batch.Head in that same transaction, with the changes the
// records record, and acknowledges the appends once it is durable.
//
// The caller must hold the log's head exclusively from reading prev to
// commit (e.g. SELECT ... FOR UPDATE of the head row): one chain means one
// writer at a time, which group commit makes cheap. AppendBatch is pure
// and safe for concurrent use.
func AppendBatch(prev Head, entries []Prepared, hashes tlog.HashReader) (*Batch, error) {
	if prev.Seq < 0 {
		return nil, fmt.Errorf("%w: seq %d", ErrHead, prev.Seq)
	}
	if prev.Seq == 0 && prev.Chain != (tlog.Hash{}) {
		return nil, fmt.Errorf("%w: empty log with chain hash %v", ErrHead, prev.Chain)
	}
	for i := range entries {
		if entries[i].kind == "" {
			return nil, fmt.Errorf("%w: entry %d of the batch did not come from Prepare", ErrInvalidEntry, i)
		}
	}
	if len(entries) == 0 {
		return &Batch{Head: prev}, nil
	}
	f, err := readFrontier(prev.Seq, hashes)
	if err != nil {
		return nil, err
	}
	b := &Batch{Records: make([]Record, len(entries))}
	chain := prev.Chain
	for i := range entries {
		e := &entries[i]
		seq := prev.Seq + 1 + int64(i)
		body := appendBody(make([]byte, 0, 160+len(e.payload)+len(e.actor)+len(e.tenant)+len(e.subject)), seq, e)
		leaf := Leaf(body)
		chain = Chain(chain, leaf)
		b.Records[i] = Record{
			Seq:        seq,
			Time:       e.time,
			Tenant:     e.tenant,
			Actor:      e.actor,
			Kind:       e.kind,
			Subject:    e.subject,
			Body:       body,
			LeafHash:   leaf,
			ChainHash:  chain,
			TreeHashes: f.push(leaf, nil),
		}
	}
	b.Head = Head{Seq: prev.Seq + int64(len(entries)), Chain: chain}
	return b, nil
}

// frontier is the compact range of a tree: the roots of its complete
// subtrees, largest (leftmost) first, one per set bit of the size. It is
// all that is needed to append leaves and to compute the root, in
// O(log size) memory.
type frontier struct {
	size  int64
	nodes []tlog.Hash
}

// frontierIndexes returns the tlog storage indexes of the frontier of the
// tree of size n, leftmost first.
func frontierIndexes(n int64) []int64 {
	idx := make([]int64, 0, bits.OnesCount64(uint64(n)))
	for level := 63; level >= 0; level-- {
		if n&(1<<level) != 0 {
			// Bit level of n is a complete subtree of 2^level leaves
			// right after the larger ones: node (level, (n>>level)-1).
			idx = append(idx, tlog.StoredHashIndex(level, n>>level-1))
		}
	}
	return idx
}

func readFrontier(n int64, r tlog.HashReader) (*frontier, error) {
	f := &frontier{size: n, nodes: make([]tlog.Hash, 0, 64)}
	if n == 0 {
		return f, nil
	}
	idx := frontierIndexes(n)
	h, err := r.ReadHashes(idx)
	if err != nil {
		return nil, fmt.Errorf("read tree hashes: %w", err)
	}
	if len(h) != len(idx) {
		return nil, fmt.Errorf("%w: asked for %d tree hashes, got %d", ErrHead, len(idx), len(h))
	}
	f.nodes = append(f.nodes, h...)
	return f, nil
}

// push appends a leaf and returns the stored hashes it adds (the leaf,
// then one node per subtree it completes), appended to out.
func (f *frontier) push(leaf tlog.Hash, out []tlog.Hash) []tlog.Hash {
	out = append(out, leaf)
	h := leaf
	// Each trailing 1 bit of the old size is a complete subtree of the
	// same size just left of the new leaf: merge them, smallest first.
	for n := f.size; n&1 == 1; n >>= 1 {
		h = tlog.NodeHash(f.nodes[len(f.nodes)-1], h)
		f.nodes = f.nodes[:len(f.nodes)-1]
		out = append(out, h)
	}
	f.nodes = append(f.nodes, h)
	f.size++
	return out
}

// root is the RFC 6962 tree hash: the frontier folded from the right.
func (f *frontier) root() tlog.Hash {
	if f.size == 0 {
		return emptyRoot()
	}
	h := f.nodes[len(f.nodes)-1]
	for i := len(f.nodes) - 2; i >= 0; i-- {
		h = tlog.NodeHash(f.nodes[i], h)
	}
	return h
}

// emptyRoot is the hash of the empty tree, SHA-256 of nothing (RFC 6962).
func emptyRoot() tlog.Hash {
	return sha256.Sum256(nil)
}
