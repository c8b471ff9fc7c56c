package audit

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Source is the audit log as the store holds it, for Verify.
//
// Scan calls yield once per stored record in ascending seq order, as the
// rows are (ORDER BY seq; no gaps filled, nothing recomputed), and stops
// with yield's error as soon as yield returns one. The *Record and its
// slices are only valid during the call: a source may reuse them, so
// verifying needs constant memory. Scan returns the error of yield or of
// the read.
//
// LatestCheckpoint returns the signed checkpoint of the largest size the
// store holds, as stored, or nil if there is none.
//
// A Source is used by one goroutine at a time. It may also implement
// tlog.HashReader over the stored hashes; Verify then also checks the
// consistency proof from the older checkpoint to the latest one through
// it, as a client would.
type Source interface {
	Scan(ctx context.Context, yield func(*Record) error) error
	LatestCheckpoint(ctx context.Context) ([]byte, error)
}

// VerifyOptions are the inputs of Verify beside the source.
type VerifyOptions struct {
	// Verifier checks checkpoint signatures: the log's public key, from
	// outside the database (LoadVerifier). Required.
	Verifier note.Verifier
	// Older is a signed checkpoint kept from earlier (optional): the log
	// must still contain exactly the tree it vouched for.
	Older []byte
	// AllowNoCheckpoint accepts a log with records but no checkpoint
	// (one that was never signed). By default that is a break: deleting
	// the checkpoints must not make a rewritten log pass.
	AllowNoCheckpoint bool
}

// Break is the first problem Verify found: the lowest seq that does not
// verify, and what is wrong with it.
type Break struct {
	Seq  int64
	What string
}

// Result is what Verify found.
type Result struct {
	// Records is the number of records that verified, 1..Records.
	Records int64
	// Root is the tree head of those records, Chain the chain hash of
	// the last.
	Root, Chain tlog.Hash
	// Checkpoint is the latest checkpoint, its signature verified; nil
	// if there is none (or it did not verify).
	Checkpoint *Checkpoint
	// Broken is the first break, nil if the log verified.
	Broken *Break
}

// OK reports whether the log verified.
func (r *Result) OK() bool { return r.Broken == nil }

// String is the one line `audit verify` prints: "ok: N records, head
// <root hex>" or "broken at seq N: <what>".
func (r *Result) String() string {
	if r.Broken != nil {
		return fmt.Sprintf("broken at seq %d: %s", r.Broken.Seq, r.Broken.What)
	}
	return fmt.Sprintf("ok: %d records, head %s", r.Records, hex.EncodeToString(r.Root[:]))
}

// errStop stops a Scan at the first break.
var errStop = errors.New("audit: verify stopped at a break")

// Verify recomputes, from the stored bytes alone, every record's leaf
// hash, chain hash and tree hashes, checks that seq runs 1, 2, 3, ...,
// that each column says what the body says, and that the tree root at the
// latest checkpoint's size (and at the older checkpoint's, if given) is
// the signed one. It reports the first break in Result.Broken; the error
// is for a source that fails to read, a missing verifier or an older
// checkpoint that does not open.
//
// Records after the latest checkpoint verify by their chain only: a
// record appended and then removed before the next checkpoint leaves no
// trace. Verify streams: memory does not grow with the log.
func Verify(ctx context.Context, src Source, opts VerifyOptions) (*Result, error) {
	if opts.Verifier == nil {
		return nil, errors.New("verify: no verifier key")
	}
	var older *Checkpoint
	if opts.Older != nil {
		c, err := OpenCheckpoint(opts.Older, opts.Verifier)
		if err != nil {
			return nil, fmt.Errorf("older checkpoint: %w", err)
		}
		older = &c
	}
	msg, err := src.LatestCheckpoint(ctx)
	if err != nil {
		return nil, fmt.Errorf("read latest checkpoint: %w", err)
	}
	res := &Result{}
	// A checkpoint that does not open is reported after the records, so
	// that a broken record before it is named first.
	var checkpointBreak *Break
	if msg != nil {
		c, err := OpenCheckpoint(msg, opts.Verifier)
		if err != nil {
			seq := int64(0)
			if claimed, ok := claimedCheckpoint(msg); ok {
				seq = claimed.Size
			}
			// err says "checkpoint signature invalid: ..." or
			// "malformed checkpoint: ...".
			checkpointBreak = &Break{Seq: seq, What: err.Error()}
		} else {
			res.Checkpoint = &c
		}
	}

	v := verifier{older: older, latest: res.Checkpoint, f: frontier{nodes: make([]tlog.Hash, 0, 64)}}
	err = src.Scan(ctx, func(r *Record) error {
		if v.n&0xfff == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if b := v.record(r); b != nil {
			res.Broken = b
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, fmt.Errorf("scan records: %w", err)
	}
	res.Records, res.Chain = v.n, v.chain
	res.Root = v.f.root()
	if res.Broken != nil {
		// The records before the break verified.
		res.Records = res.Broken.Seq - 1
		return res, nil
	}
	n := v.n
	switch {
	case res.Checkpoint != nil && res.Checkpoint.Size > n:
		res.Broken = &Break{Seq: n + 1, What: fmt.Sprintf("seq %d missing: the log ends at seq %d, the signed checkpoint has size %d", n+1, n, res.Checkpoint.Size)}
	case older != nil && older.Size > n:
		res.Broken = &Break{Seq: n + 1, What: fmt.Sprintf("seq %d missing: the log ends at seq %d, the older checkpoint has size %d", n+1, n, older.Size)}
	case checkpointBreak != nil:
		res.Broken = checkpointBreak
	case res.Checkpoint == nil && n > 0 && !opts.AllowNoCheckpoint:
		res.Broken = &Break{Seq: 1, What: fmt.Sprintf("no signed checkpoint for the %d records", n)}
	}
	if res.Broken != nil {
		return res, nil
	}
	// The roots at both sizes were recomputed from the leaves, which
	// proves consistency outright. A source that serves proofs is also
	// asked for one, to check what clients will be given.
	if hr, ok := src.(tlog.HashReader); ok && older != nil && res.Checkpoint != nil && older.Size <= res.Checkpoint.Size && older.Size > 0 {
		p, err := ProveConsistency(older.Size, res.Checkpoint.Size, hr)
		if err == nil {
			err = CheckConsistency(p, *older, *res.Checkpoint)
		}
		if err != nil {
			res.Broken = &Break{Seq: older.Size, What: fmt.Sprintf("older checkpoint (size %d) not consistent with the tree: the stored hashes give no valid proof: %v", older.Size, err)}
		}
	}
	return res, nil
}

type verifier struct {
	older, latest *Checkpoint
	n             int64 // records verified
	chain         tlog.Hash
	f             frontier
	stored        []tlog.Hash // scratch for the frontier's stored hashes
	scratch       []byte      // scratch for the columns' canonical text
	body          bodySpans
}

// record verifies the next record and returns the first problem with it.
func (v *verifier) record(r *Record) *Break {
	want := v.n + 1
	if r.Seq != want {
		return &Break{Seq: want, What: fmt.Sprintf("seq %d missing: found %d", want, r.Seq)}
	}
	bad := func(format string, args ...any) *Break {
		return &Break{Seq: want, What: fmt.Sprintf(format, args...)}
	}
	leaf := Leaf(r.Body)
	if leaf != r.LeafHash {
		return mismatch(want, "leaf hash mismatch: stored %x, the body hashes to %x", r.LeafHash, leaf)
	}
	if what := v.checkColumns(r); what != "" {
		return bad("%s", what)
	}
	chain := Chain(v.chain, leaf)
	if chain != r.ChainHash {
		return mismatch(want, "chain hash mismatch: stored %x, recomputed %x", r.ChainHash, chain)
	}
	v.stored = v.f.push(leaf, v.stored[:0])
	if len(r.TreeHashes) != len(v.stored) {
		return bad("tree hashes: %d stored, want %d", len(r.TreeHashes), len(v.stored))
	}
	for i := range v.stored {
		if r.TreeHashes[i] != v.stored[i] {
			return mismatch(want, fmt.Sprintf("tree hash mismatch at level %d (index %d): stored %%x, recomputed %%x", i, FirstHashIndex(want)+int64(i)), r.TreeHashes[i], v.stored[i])
		}
	}
	v.n, v.chain = want, chain
	// A root differing from a signed one at its size means records up to
	// it were rewritten with all their hashes recomputed; the checkpoint
	// cannot say which, so the break is at its size.
	if v.latest != nil && v.latest.Size == want {
		if root := v.f.root(); root != v.latest.Root {
			return mismatch(want, fmt.Sprintf("tree root at size %d is %%x, the signed checkpoint says %%x: records 1..%d were rewritten", want, want), root, v.latest.Root)
		}
	}
	if v.older != nil && v.older.Size == want {
		if root := v.f.root(); root != v.older.Root {
			return mismatch(want, fmt.Sprintf("older checkpoint (size %d) not consistent with the tree: root %%x, the checkpoint says %%x", want), root, v.older.Root)
		}
	}
	return nil
}

// mismatch is the break of two hashes that differ. Hashes are passed by
// value so that the verifier's own stay on its stack.
func mismatch(seq int64, format string, a, b tlog.Hash) *Break {
	return &Break{Seq: seq, What: fmt.Sprintf(format, a[:], b[:])}
}

// bodySpans holds the raw JSON text of each member of a body.
type bodySpans struct {
	actor, kind, payload, seq, subject, tenant, time, version []byte
}

// checkColumns compares each column with the body's member: the column
// written as the canonical body writes it must be the member's text.
func (v *verifier) checkColumns(r *Record) string {
	b := &v.body
	if err := scanBody(r.Body, b); err != nil {
		return "body: " + err.Error()
	}
	if string(b.version) != "1" {
		return fmt.Sprintf("body version %s, want %d", b.version, BodyVersion)
	}
	v.scratch = strconv.AppendInt(v.scratch[:0], r.Seq, 10)
	if !bytes.Equal(v.scratch, b.seq) {
		return fmt.Sprintf("body says seq %s, column says %d", b.seq, r.Seq)
	}
	for _, c := range []struct {
		name   string
		column string
		member []byte
	}{
		{"tenant", r.Tenant, b.tenant},
		{"actor", r.Actor, b.actor},
		{"kind", r.Kind, b.kind},
		{"subject", r.Subject, b.subject},
	} {
		v.scratch = appendString(v.scratch[:0], c.column)
		if !bytes.Equal(v.scratch, c.member) {
			return fmt.Sprintf("body says %s %s, column says %s", c.name, c.member, v.scratch)
		}
	}
	v.scratch = append(v.scratch[:0], '"')
	v.scratch = r.Time.UTC().AppendFormat(v.scratch, TimeLayout)
	v.scratch = append(v.scratch, '"')
	if !bytes.Equal(v.scratch, b.time) {
		return fmt.Sprintf("body says time %s, column says %s", b.time, v.scratch)
	}
	return ""
}

// scanBody splits a body into its members' raw text. It needs no
// allocation: the verifier runs it a million times.
func scanBody(d []byte, b *bodySpans) error {
	*b = bodySpans{}
	i := skipWS(d, 0)
	if i >= len(d) || d[i] != '{' {
		return errors.New("not a JSON object")
	}
	i = skipWS(d, i+1)
	if i < len(d) && d[i] == '}' {
		return errors.New("empty object")
	}
	for {
		if i >= len(d) || d[i] != '"' {
			return fmt.Errorf("want a member name at offset %d", i)
		}
		end, err := skipString(d, i)
		if err != nil {
			return err
		}
		name := d[i+1 : end-1]
		i = skipWS(d, end)
		if i >= len(d) || d[i] != ':' {
			return fmt.Errorf("want ':' at offset %d", i)
		}
		i = skipWS(d, i+1)
		vend, err := skipValue(d, i, 0)
		if err != nil {
			return err
		}
		val := d[i:vend]
		var slot *[]byte
		switch string(name) {
		case "actor":
			slot = &b.actor
		case "kind":
			slot = &b.kind
		case "payload":
			slot = &b.payload
		case "seq":
			slot = &b.seq
		case "subject":
			slot = &b.subject
		case "tenant":
			slot = &b.tenant
		case "time":
			slot = &b.time
		case "v":
			slot = &b.version
		default:
			return fmt.Errorf("unknown member %q", truncate(name))
		}
		if *slot != nil {
			return fmt.Errorf("duplicate member %q", name)
		}
		*slot = val
		i = skipWS(d, vend)
		if i >= len(d) {
			return errors.New("unterminated object")
		}
		if d[i] == ',' {
			i = skipWS(d, i+1)
			continue
		}
		if d[i] != '}' {
			return fmt.Errorf("want ',' or '}' at offset %d", i)
		}
		if skipWS(d, i+1) != len(d) {
			return fmt.Errorf("trailing data at offset %d", i+1)
		}
		break
	}
	for _, m := range []struct {
		name string
		v    []byte
	}{{"actor", b.actor}, {"kind", b.kind}, {"payload", b.payload}, {"seq", b.seq}, {"subject", b.subject}, {"tenant", b.tenant}, {"time", b.time}, {"v", b.version}} {
		if m.v == nil {
			return fmt.Errorf("member %q missing", m.name)
		}
	}
	return nil
}

func skipWS(d []byte, i int) int {
	for i < len(d) && (d[i] == ' ' || d[i] == '\t' || d[i] == '\n' || d[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the offset after the string starting at d[i] == '"'.
func skipString(d []byte, i int) (int, error) {
	for j := i + 1; j < len(d); j++ {
		switch c := d[j]; {
		case c == '"':
			return j + 1, nil
		case c == '\\':
			j++
		case c < 0x20:
			return 0, fmt.Errorf("control character in string at offset %d", j)
		}
	}
	return 0, fmt.Errorf("unterminated string at offset %d", i)
}

// skipValue returns the offset after the JSON value at d[i]. It checks the
// structure, not every detail of numbers and escapes: the hash, not this
// scan, is what makes a body tamper-evident.
func skipValue(d []byte, i, depth int) (int, error) {
	if depth > maxDepth {
		return 0, fmt.Errorf("nested deeper than %d", maxDepth)
	}
	if i >= len(d) {
		return 0, errors.New("unexpected end")
	}
	switch c := d[i]; {
	case c == '"':
		return skipString(d, i)
	case c == '{' || c == '[':
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		i = skipWS(d, i+1)
		if i < len(d) && d[i] == closer {
			return i + 1, nil
		}
		for {
			if c == '{' {
				if i >= len(d) || d[i] != '"' {
					return 0, fmt.Errorf("want a member name at offset %d", i)
				}
				end, err := skipString(d, i)
				if err != nil {
					return 0, err
				}
				i = skipWS(d, end)
				if i >= len(d) || d[i] != ':' {
					return 0, fmt.Errorf("want ':' at offset %d", i)
				}
				i = skipWS(d, i+1)
			}
			end, err := skipValue(d, i, depth+1)
			if err != nil {
				return 0, err
			}
			i = skipWS(d, end)
			if i >= len(d) {
				return 0, errors.New("unexpected end")
			}
			if d[i] == closer {
				return i + 1, nil
			}
			if d[i] != ',' {
				return 0, fmt.Errorf("want ',' at offset %d", i)
			}
			i = skipWS(d, i+1)
		}
	case c == '-' || c >= '0' && c <= '9':
		j := i + 1
		for j < len(d) && (d[j] >= '0' && d[j] <= '9' || d[j] == '.' || d[j] == 'e' || d[j] == 'E' || d[j] == '+' || d[j] == '-') {
			j++
		}
		return j, nil
	case bytes.HasPrefix(d[i:], []byte("true")):
		return i + 4, nil
	case bytes.HasPrefix(d[i:], []byte("false")):
		return i + 5, nil
	case bytes.HasPrefix(d[i:], []byte("null")):
		return i + 4, nil
	}
	return 0, fmt.Errorf("unexpected %q at offset %d", d[i], i)
}
