package audit

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/cputime"
)

const benchRecords = 1_000_000

var (
	benchOnce sync.Once
	benchLog  *MemLog
	benchKey  *Key
)

// millionLog is a log of 1,000,000 records of about 230-byte bodies,
// appended in batches of 100 and signed at the end, built once per run.
func millionLog(b *testing.B) (*MemLog, *Key) {
	b.Helper()
	benchOnce.Do(func() {
		benchKey = testKey(b)
		entries := make([]Prepared, 1000)
		for i := range entries {
			entries[i] = entry(b, i)
		}
		benchLog = &MemLog{}
		for i := 0; i < benchRecords; i += 100 {
			start := i % len(entries)
			if _, err := benchLog.Append(entries[start : start+100]...); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := benchLog.Checkpoint(benchKey); err != nil {
			b.Fatal(err)
		}
	})
	return benchLog, benchKey
}

// BenchmarkVerify verifies the whole log of 1,000,000 records per op.
func BenchmarkVerify(b *testing.B) {
	log, key := millionLog(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	start := cputime.Now(b)
	for b.Loop() {
		res, err := Verify(ctx, log, VerifyOptions{Verifier: key.Verifier})
		if err != nil || !res.OK() || res.Records != benchRecords {
			b.Fatalf("%v %v", res, err)
		}
	}
	cputime.Report(b, start, time.Millisecond)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchRecords, "ns/record")
}

// BenchmarkProveInclusion proves a record in the tree of 1,000,000.
func BenchmarkProveInclusion(b *testing.B) {
	log, _ := millionLog(b)
	b.ReportAllocs()
	seq := int64(1)
	start := cputime.Now(b)
	for b.Loop() {
		if _, err := ProveInclusion(seq, benchRecords, log); err != nil {
			b.Fatal(err)
		}
		seq = seq*7919%benchRecords + 1
	}
	cputime.Report(b, start, time.Nanosecond)
}

// BenchmarkCheckInclusion checks such a proof, as a client does.
func BenchmarkCheckInclusion(b *testing.B) {
	log, _ := millionLog(b)
	c, err := TreeHead(testOrigin, benchRecords, log)
	if err != nil {
		b.Fatal(err)
	}
	const seq = 777_777
	p, err := ProveInclusion(seq, benchRecords, log)
	if err != nil {
		b.Fatal(err)
	}
	leaf := log.Records()[seq-1].LeafHash
	b.ReportAllocs()
	start := cputime.Now(b)
	for b.Loop() {
		if err := CheckInclusion(p, c, seq, leaf); err != nil {
			b.Fatal(err)
		}
	}
	cputime.Report(b, start, time.Nanosecond)
}

// BenchmarkProveConsistency proves a tree of 123,456 in the tree of 1,000,000.
func BenchmarkProveConsistency(b *testing.B) {
	log, _ := millionLog(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ProveConsistency(123_456, benchRecords, log); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendBatch computes one group commit of n records onto a log
// of 1,000,000 (the hash reader is in memory: a store adds one query).
func BenchmarkAppendBatch(b *testing.B) {
	log, _ := millionLog(b)
	head := log.Head()
	for _, n := range []int{1, 10, 100} {
		entries := make([]Prepared, n)
		for i := range entries {
			entries[i] = entry(b, i)
		}
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := AppendBatch(head, entries, log); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/record")
		})
	}
}

// BenchmarkPrepare canonicalises a typical payload.
func BenchmarkPrepare(b *testing.B) {
	e := Entry{Time: t0, Tenant: "acme", Actor: "tok_1", Kind: "decision", Subject: "scalers/prod/checkout",
		Payload: map[string]any{"from": 3, "to": 5, "rule": "hpa", "inputs": map[string]any{"lag": 1200, "target": 100}}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Prepare(e); err != nil {
			b.Fatal(err)
		}
	}
}

var _ tlog.HashReader = (*MemLog)(nil)
