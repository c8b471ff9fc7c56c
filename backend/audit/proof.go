package audit

import (
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"
)

// ErrProof is wrapped when a proof does not check, or cannot be made for
// the sizes asked.
var ErrProof = errors.New("audit proof")

// ProveInclusion returns the proof that the record seq is in the tree of
// size leaves (seq <= size), from the stored hashes (one ReadHashes call).
func ProveInclusion(seq, size int64, hashes tlog.HashReader) (tlog.RecordProof, error) {
	if seq < 1 || seq > size {
		return nil, fmt.Errorf("%w: record %d is not in a tree of size %d", ErrProof, seq, size)
	}
	p, err := tlog.ProveRecord(size, seq-1, hashes)
	if err != nil {
		return nil, fmt.Errorf("prove record %d in tree of size %d: %w", seq, size, err)
	}
	return p, nil
}

// CheckInclusion checks the proof p that the record seq with leaf hash
// leaf (Leaf of its body) is in the tree of the checkpoint c. Clients call
// it after OpenCheckpoint has verified c's signature.
func CheckInclusion(p tlog.RecordProof, c Checkpoint, seq int64, leaf tlog.Hash) error {
	if seq < 1 || seq > c.Size {
		return fmt.Errorf("%w: record %d is not in a tree of size %d", ErrProof, seq, c.Size)
	}
	if err := tlog.CheckRecord(p, c.Size, c.Root, seq-1, leaf); err != nil {
		return fmt.Errorf("%w: record %d in tree of size %d: %v", ErrProof, seq, c.Size, err)
	}
	return nil
}

// ProveConsistency returns the proof that the tree of oldSize leaves is a
// prefix of the tree of newSize leaves (oldSize <= newSize).
func ProveConsistency(oldSize, newSize int64, hashes tlog.HashReader) (tlog.TreeProof, error) {
	if oldSize < 1 || oldSize > newSize {
		return nil, fmt.Errorf("%w: tree of size %d is not a prefix of one of size %d", ErrProof, oldSize, newSize)
	}
	p, err := tlog.ProveTree(newSize, oldSize, hashes)
	if err != nil {
		return nil, fmt.Errorf("prove tree %d in %d: %w", oldSize, newSize, err)
	}
	return p, nil
}

// CheckConsistency checks the proof p that older's tree is a prefix of
// newer's: nothing of the log older vouched for was changed or removed.
func CheckConsistency(p tlog.TreeProof, older, newer Checkpoint) error {
	if older.Origin != newer.Origin {
		return fmt.Errorf("%w: checkpoints of %q and %q", ErrProof, older.Origin, newer.Origin)
	}
	if older.Size < 1 || older.Size > newer.Size {
		return fmt.Errorf("%w: tree of size %d is not a prefix of one of size %d", ErrProof, older.Size, newer.Size)
	}
	if err := tlog.CheckTree(p, newer.Size, newer.Root, older.Size, older.Root); err != nil {
		return fmt.Errorf("%w: tree of size %d in tree of size %d: %v", ErrProof, older.Size, newer.Size, err)
	}
	return nil
}
