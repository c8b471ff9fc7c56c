package audit

import (
	"context"
	"fmt"
	"sync"

	"golang.org/x/mod/sumdb/tlog"
)

// MemLog is an audit log in memory: the reference a store's behaviour is
// compared with, and the Source of this package's tests. It implements
// Source and tlog.HashReader. Safe for concurrent use.
type MemLog struct {
	mu          sync.Mutex
	records     []Record
	hashes      []tlog.Hash // tlog stored hashes by index
	head        Head
	checkpoints [][]byte
}

var (
	_ Source          = (*MemLog)(nil)
	_ tlog.HashReader = (*MemLog)(nil)
)

// Append appends one batch, as a store's group commit does.
func (m *MemLog) Append(entries ...Prepared) ([]Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := AppendBatch(m.head, entries, tlog.HashReaderFunc(m.readHashes))
	if err != nil {
		return nil, err
	}
	for _, r := range b.Records {
		m.hashes = append(m.hashes, r.TreeHashes...)
	}
	m.records = append(m.records, b.Records...)
	m.head = b.Head
	return b.Records, nil
}

// Head returns the head of the log.
func (m *MemLog) Head() Head {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.head
}

// Records returns the stored records themselves, not copies: tests tamper
// with them as an attacker with SQL would, and may reslice the returned
// slice into the log with SetRecords.
func (m *MemLog) Records() []Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.records
}

// SetRecords replaces the stored records (a test deleting or reordering
// rows). The tree hashes served by ReadHashes are left as they were.
func (m *MemLog) SetRecords(rs []Record) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.records = rs
}

// Checkpoint signs the current tree head with key and stores it as the
// latest checkpoint, returning it.
func (m *MemLog) Checkpoint(key *Key) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, err := TreeHead(key.Signer.Name(), m.head.Seq, tlog.HashReaderFunc(m.readHashes))
	if err != nil {
		return nil, err
	}
	msg, err := SignCheckpoint(c, key.Signer)
	if err != nil {
		return nil, err
	}
	m.checkpoints = append(m.checkpoints, msg)
	return msg, nil
}

// SetCheckpoints replaces the stored checkpoints, oldest first.
func (m *MemLog) SetCheckpoints(cs [][]byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.checkpoints = cs
}

// Scan implements Source.
func (m *MemLog) Scan(ctx context.Context, yield func(*Record) error) error {
	m.mu.Lock()
	rs := m.records
	m.mu.Unlock()
	var r Record
	for i := range rs {
		r = rs[i]
		if err := yield(&r); err != nil {
			return err
		}
	}
	return nil
}

// LatestCheckpoint implements Source.
func (m *MemLog) LatestCheckpoint(context.Context) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.checkpoints) == 0 {
		return nil, nil
	}
	return m.checkpoints[len(m.checkpoints)-1], nil
}

// ReadHashes implements tlog.HashReader.
func (m *MemLog) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.readHashes(indexes)
}

func (m *MemLog) readHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(m.hashes)) {
			return nil, fmt.Errorf("tree hash %d not stored (have %d)", x, len(m.hashes))
		}
		out[i] = m.hashes[x]
	}
	return out, nil
}
