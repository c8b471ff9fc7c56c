package audit

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// buildLog returns a log of n records appended in batches of 3, signed
// with key at every size in signAt, and the signed checkpoints by size.
func buildLog(tb testing.TB, key *Key, n int, signAt ...int64) (*MemLog, map[int64][]byte) {
	tb.Helper()
	return buildLogFrom(tb, key, n, func(i int) Prepared { return entry(tb, i) }, signAt...)
}

func buildLogFrom(tb testing.TB, key *Key, n int, mk func(int) Prepared, signAt ...int64) (*MemLog, map[int64][]byte) {
	tb.Helper()
	log := &MemLog{}
	signed := map[int64][]byte{}
	for i := 0; i < n; {
		var batch []Prepared
		for len(batch) < 3 && i < n {
			batch = append(batch, mk(i))
			i++
			if slices.Contains(signAt, int64(i)) {
				break
			}
		}
		if _, err := log.Append(batch...); err != nil {
			tb.Fatal(err)
		}
		if size := log.Head().Seq; slices.Contains(signAt, size) {
			msg, err := log.Checkpoint(key)
			if err != nil {
				tb.Fatal(err)
			}
			signed[size] = msg
		}
	}
	return log, signed
}

func TestVerifyTampering(t *testing.T) {
	key := testKey(t)
	otherKey := keyFromSeed(t, testOrigin, 2)
	tests := []struct {
		name string
		// tamper changes the log of 20 records signed at 10 and 20
		// (the latest checkpoint) and returns the older checkpoint to
		// hand to Verify, or nil.
		tamper  func(t *testing.T, log *MemLog, signed map[int64][]byte) []byte
		seq     int64  // first broken seq; 0 for ok
		what    string // in the break
		records int64  // when ok
	}{
		{
			name:    "untouched",
			tamper:  func(*testing.T, *MemLog, map[int64][]byte) []byte { return nil },
			records: 20,
		},
		{
			name:    "untouched, with the older checkpoint",
			tamper:  func(_ *testing.T, _ *MemLog, s map[int64][]byte) []byte { return s[10] },
			records: 20,
		},
		{
			name: "a body byte edited",
			tamper: func(_ *testing.T, log *MemLog, _ map[int64][]byte) []byte {
				b := log.Records()[6].Body
				b[bytes.Index(b, []byte(`"replicas":`))+len(`"replicas":`)]++
				return nil
			},
			seq: 7, what: "leaf hash mismatch",
		},
		{
			name: "a body edited and its leaf hash recomputed",
			tamper: func(_ *testing.T, log *MemLog, _ map[int64][]byte) []byte {
				r := &log.Records()[6]
				r.Body = bytes.Replace(r.Body, []byte(`"tok_6"`), []byte(`"tok_0"`), 1)
				r.Actor = "tok_0"
				r.LeafHash = Leaf(r.Body)
				return nil
			},
			seq: 7, what: "chain hash mismatch",
		},
		{
			name: "tenant column edited",
			tamper: func(_ *testing.T, log *MemLog, _ map[int64][]byte) []byte {
				log.Records()[4].Tenant = "evil"
				return nil
			},
			seq: 5, what: `body says tenant "globex", column says "evil"`,
		},
		{
			name: "actor column edited",
			tamper: func(_ *testing.T, log *MemLog, _ map[int64][]byte) []byte {
				log.Records()[2].Actor = "tok_9"
				return nil
			},
			seq: 3, what: `body says actor "tok_2", column says "tok_9"`,
		},
		{
			name: "kind column edited",
			tamper: func(_ *testing.T, log *MemLog, _ map[int64][]byte) []byte {
				log.Records()[0].Kind = "decision"
				return nil
			},
			seq: 1, what: `body says kind "scaler.update", column says "decision"`,
		},
		{
			name: "subject column edited",
			tamper: func(_ *testing.T, log *MemLog, _ map[int64][]byte) []byte {
				log.Records()[19].Subject = "x"
				return nil
			},
			seq: 20, what: `body says subject "scalers/prod/app-8", column says "x"`,
		},
		{
			name: "time column edited",
			tamper: func(_ *testing.T, log *MemLog, _ map[int64][]byte) []byte {
				r := &log.Records()[9]
				r.Time = r.Time.Add(time.Microsecond)
				return nil
			},
			seq: 10, what: `body says time "2025-03-01T12:00:09.123456Z", column says "2025-03-01T12:00:09.123457Z"`,
		},
		{
			name: "leaf hash column edited",
			tamper: func(_ *testing.T, log *MemLog, _ map[int64][]byte) []byte {
				log.Records()[11].LeafHash[0] ^= 1
				return nil
			},
			seq: 12, what: "leaf hash mismatch",
		},
		{
			name: "chain hash column edited",
			tamper: func(_ *testing.T, log *MemLog, _ map[int64][]byte) []byte {
				log.Records()[12].ChainHash[31] ^= 1
				return nil
			},
			seq: 13, what: "chain hash mismatch",
		},
		{
			name: "a stored tree hash edited",
			tamper: func(_ *testing.T, log *MemLog, _ map[int64][]byte) []byte {
				// Record 16 completes subtrees of 2, 4, 8 and 16 leaves.
				log.Records()[15].TreeHashes[3][0] ^= 1
				return nil
			},
			seq: 16, what: "tree hash mismatch at level 3",
		},
		{
			name: "the hashes served for proofs edited, with the older checkpoint",
			tamper: func(_ *testing.T, log *MemLog, s map[int64][]byte) []byte {
				// The records' own tree hashes are intact; what a
				// client would be served as a proof is not.
				for i := range log.hashes {
					log.hashes[i][0] ^= 1
				}
				return s[10]
			},
			seq: 10, what: "the stored hashes give no valid proof",
		},
		{
			name: "a record deleted",
			tamper: func(_ *testing.T, log *MemLog, _ map[int64][]byte) []byte {
				log.SetRecords(slices.Delete(log.Records(), 5, 6))
				return nil
			},
			seq: 6, what: "seq 6 missing: found 7",
		},
		{
			name: "the first record deleted",
			tamper: func(_ *testing.T, log *MemLog, _ map[int64][]byte) []byte {
				log.SetRecords(log.Records()[1:])
				return nil
			},
			seq: 1, what: "seq 1 missing: found 2",
		},
		{
			name: "a record duplicated",
			tamper: func(_ *testing.T, log *MemLog, _ map[int64][]byte) []byte {
				rs := log.Records()
				log.SetRecords(slices.Insert(rs, 5, rs[4]))
				return nil
			},
			seq: 6, what: "seq 6 missing: found 5",
		},
		{
			name: "two records reordered",
			tamper: func(_ *testing.T, log *MemLog, _ map[int64][]byte) []byte {
				rs := log.Records()
				rs[7], rs[8] = rs[8], rs[7]
				return nil
			},
			seq: 8, what: "seq 8 missing: found 9",
		},
		{
			name: "two records' seq columns swapped",
			tamper: func(_ *testing.T, log *MemLog, _ map[int64][]byte) []byte {
				// UPDATE ... SET seq = ...: ORDER BY seq now returns the
				// row of 9 as 8.
				rs := log.Records()
				rs[7], rs[8] = rs[8], rs[7]
				rs[7].Seq, rs[8].Seq = 8, 9
				return nil
			},
			seq: 8, what: "body says seq 9, column says 8",
		},
		{
			name: "truncated below the checkpoint",
			tamper: func(_ *testing.T, log *MemLog, _ map[int64][]byte) []byte {
				log.SetRecords(log.Records()[:14])
				return nil
			},
			seq: 15, what: "seq 15 missing: the log ends at seq 14, the signed checkpoint has size 20",
		},
		{
			name: "truncated and the checkpoints rolled back, with the older checkpoint",
			tamper: func(_ *testing.T, log *MemLog, s map[int64][]byte) []byte {
				log.SetRecords(log.Records()[:14])
				log.SetCheckpoints([][]byte{s[10]})
				return s[20]
			},
			seq: 15, what: "seq 15 missing: the log ends at seq 14, the older checkpoint has size 20",
		},
		{
			name: "rewritten with every hash recomputed",
			tamper: func(t *testing.T, log *MemLog, _ map[int64][]byte) []byte {
				forged, _ := buildLogFrom(t, key, 20, func(i int) Prepared {
					if i == 13 {
						return entry(t, 99)
					}
					return entry(t, i)
				})
				log.SetRecords(forged.Records())
				return nil
			},
			seq: 20, what: "tree root at size 20 is",
		},
		{
			name: "rewritten with every hash recomputed, with the older checkpoint",
			tamper: func(t *testing.T, log *MemLog, s map[int64][]byte) []byte {
				forged, _ := buildLogFrom(t, key, 20, func(i int) Prepared {
					if i == 3 {
						return entry(t, 99)
					}
					return entry(t, i)
				})
				log.SetRecords(forged.Records())
				return s[10]
			},
			seq: 10, what: "older checkpoint (size 10) not consistent with the tree",
		},
		{
			name: "rewritten and re-signed by another key",
			tamper: func(t *testing.T, log *MemLog, _ map[int64][]byte) []byte {
				forged, fs := buildLogFrom(t, otherKey, 20, func(i int) Prepared {
					if i == 13 {
						return entry(t, 99)
					}
					return entry(t, i)
				}, 20)
				log.SetRecords(forged.Records())
				log.SetCheckpoints([][]byte{fs[20]})
				return nil
			},
			seq: 20, what: "checkpoint signature invalid",
		},
		{
			name: "checkpoint swapped for one of another log by the same key",
			tamper: func(t *testing.T, log *MemLog, _ map[int64][]byte) []byte {
				_, fs := buildLogFrom(t, key, 20, func(i int) Prepared { return entry(t, i+1) }, 20)
				log.SetCheckpoints([][]byte{fs[20]})
				return nil
			},
			seq: 20, what: "the signed checkpoint says",
		},
		{
			name: "checkpoint signature forged",
			tamper: func(_ *testing.T, log *MemLog, s map[int64][]byte) []byte {
				msg := bytes.Clone(s[20])
				i := bytes.LastIndex(msg, []byte(" ")) + 10
				msg[i] = map[bool]byte{true: 'A', false: 'B'}[msg[i] != 'A']
				log.SetCheckpoints([][]byte{msg})
				return nil
			},
			seq: 20, what: "checkpoint signature invalid",
		},
		{
			name: "checkpoint size edited",
			tamper: func(_ *testing.T, log *MemLog, s map[int64][]byte) []byte {
				msg := bytes.Replace(s[20], []byte("\n20\n"), []byte("\n19\n"), 1)
				log.SetCheckpoints([][]byte{msg})
				return nil
			},
			seq: 19, what: "checkpoint signature invalid",
		},
		{
			name: "checkpoint garbled",
			tamper: func(_ *testing.T, log *MemLog, _ map[int64][]byte) []byte {
				log.SetCheckpoints([][]byte{[]byte("not a note")})
				return nil
			},
			seq: 0, what: "malformed checkpoint: malformed note",
		},
		{
			name: "a broken record is named before a broken checkpoint",
			tamper: func(_ *testing.T, log *MemLog, _ map[int64][]byte) []byte {
				log.SetCheckpoints([][]byte{[]byte("not a note")})
				log.Records()[2].Tenant = "x"
				return nil
			},
			seq: 3, what: "body says tenant",
		},
		{
			name: "checkpoints deleted",
			tamper: func(_ *testing.T, log *MemLog, _ map[int64][]byte) []byte {
				log.SetCheckpoints(nil)
				return nil
			},
			seq: 1, what: "no signed checkpoint for the 20 records",
		},
		{
			name: "checkpoints rolled back to the older one",
			tamper: func(_ *testing.T, log *MemLog, s map[int64][]byte) []byte {
				log.SetCheckpoints([][]byte{s[10]})
				return nil
			},
			// Records 11..20 then verify by their chain only.
			records: 20,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			log, signed := buildLog(t, key, 20, 10, 20)
			older := tc.tamper(t, log, signed)
			res, err := Verify(context.Background(), log, VerifyOptions{Verifier: key.Verifier, Older: older})
			if err != nil {
				t.Fatal(err)
			}
			if tc.seq == 0 && tc.what == "" {
				if !res.OK() || res.Records != tc.records {
					t.Fatalf("%s, want ok with %d records", res, tc.records)
				}
				return
			}
			if res.OK() {
				t.Fatalf("%s, want broken at seq %d", res, tc.seq)
			}
			if res.Broken.Seq != tc.seq || !strings.Contains(res.Broken.What, tc.what) {
				t.Fatalf("%s\nwant broken at seq %d: ...%s...", res, tc.seq, tc.what)
			}
			if want := "broken at seq "; !strings.HasPrefix(res.String(), want) {
				t.Fatalf("String %q", res)
			}
		})
	}
}

func TestVerifyResult(t *testing.T) {
	key := testKey(t)
	log, signed := buildLog(t, key, 7, 7)
	res, err := Verify(context.Background(), log, VerifyOptions{Verifier: key.Verifier})
	if err != nil {
		t.Fatal(err)
	}
	c, err := OpenCheckpoint(signed[7], key.Verifier)
	if err != nil {
		t.Fatal(err)
	}
	rs := log.Records()
	if res.Root != c.Root || res.Chain != rs[6].ChainHash || res.Records != 7 || *res.Checkpoint != c {
		t.Fatalf("result %+v, checkpoint %+v", res, c)
	}
	if got, want := res.String(), "ok: 7 records, head "+strings.ToLower(hexOf(c.Root)); got != want {
		t.Fatalf("String %q, want %q", got, want)
	}

	// An empty log verifies without a checkpoint.
	res, err = Verify(context.Background(), &MemLog{}, VerifyOptions{Verifier: key.Verifier})
	if err != nil || !res.OK() || res.Records != 0 || res.Root != emptyRoot() {
		t.Fatalf("empty log: %v %v", res, err)
	}
	// Records never signed, when allowed.
	unsigned, _ := buildLog(t, key, 4)
	res, err = Verify(context.Background(), unsigned, VerifyOptions{Verifier: key.Verifier, AllowNoCheckpoint: true})
	if err != nil || !res.OK() || res.Records != 4 {
		t.Fatalf("unsigned log: %v %v", res, err)
	}
	// Records appended after the latest checkpoint verify by chain, and
	// removing them cannot be seen: the limit of a checkpoint's age.
	log, _ = buildLog(t, key, 12, 10)
	log.SetRecords(log.Records()[:11])
	res, err = Verify(context.Background(), log, VerifyOptions{Verifier: key.Verifier})
	if err != nil || !res.OK() || res.Records != 11 {
		t.Fatalf("records after the checkpoint: %v %v", res, err)
	}
}

func TestVerifyErrors(t *testing.T) {
	key := testKey(t)
	log, signed := buildLog(t, key, 5, 5)
	if _, err := Verify(context.Background(), log, VerifyOptions{}); err == nil {
		t.Error("no verifier: no error")
	}
	other := keyFromSeed(t, testOrigin, 3)
	if _, err := Verify(context.Background(), log, VerifyOptions{Verifier: other.Verifier, Older: signed[5]}); !errors.Is(err, ErrCheckpointSignature) {
		t.Errorf("older checkpoint by another key: %v", err)
	}
	boom := errors.New("connection reset")
	if _, err := Verify(context.Background(), failingSource{log, boom}, VerifyOptions{Verifier: key.Verifier}); !errors.Is(err, boom) {
		t.Errorf("failing source: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Verify(ctx, log, VerifyOptions{Verifier: key.Verifier}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

type failingSource struct {
	*MemLog
	err error
}

func (f failingSource) Scan(ctx context.Context, yield func(*Record) error) error {
	n := 0
	if err := f.MemLog.Scan(ctx, func(r *Record) error {
		if n++; n == 3 {
			return errors.New("stop")
		}
		return yield(r)
	}); err != nil && err.Error() != "stop" {
		return err
	}
	return f.err
}

// A body that is not what this package writes is named, not panicked on.
func TestVerifyOddBodies(t *testing.T) {
	key := testKey(t)
	for name, body := range map[string]string{
		"not JSON":        `hello`,
		"array":           `[1]`,
		"unknown member":  `{"actor":"a","extra":1}`,
		"missing member":  `{"actor":"a"}`,
		"duplicate":       `{"actor":"a","actor":"b"}`,
		"version 2":       `{"actor":"tok_0","kind":"scaler.update","payload":null,"seq":1,"subject":"","tenant":"acme","time":"2025-03-01T12:00:00.123456Z","v":2}`,
		"unterminated":    `{"actor":"a`,
		"deep payload":    `{"payload":` + strings.Repeat("[", 100) + `}`,
		"trailing data":   `{"actor":"a"} x`,
		"empty object":    `{}`,
		"control in name": "{\"a\x01\":1}",
	} {
		t.Run(name, func(t *testing.T) {
			log, _ := buildLog(t, key, 1)
			r := &log.Records()[0]
			r.Body = []byte(body)
			r.LeafHash = Leaf(r.Body)
			res, err := Verify(context.Background(), log, VerifyOptions{Verifier: key.Verifier, AllowNoCheckpoint: true})
			if err != nil {
				t.Fatal(err)
			}
			if res.OK() || res.Broken.Seq != 1 || !strings.HasPrefix(res.Broken.What, "body") {
				t.Fatalf("%s", res)
			}
		})
	}
}

func hexOf(h tlog.Hash) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 64)
	for _, b := range h {
		out = append(out, digits[b>>4], digits[b&15])
	}
	return string(out)
}
