package audit

import (
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/tlog"
)

// BodyVersion is the value of the "v" member of every body this package
// writes. A verifier refuses bodies of another version.
const BodyVersion = 1

// TimeLayout is how a record's time is written in its body: RFC 3339 in
// UTC with exactly six fractional digits (microseconds, what PostgreSQL's
// timestamptz keeps). A fixed width makes the text of a time unique.
const TimeLayout = "2006-01-02T15:04:05.000000Z"

// Limits of an entry's fields, in bytes.
const (
	MaxNameBytes    = 256     // tenant, actor, kind
	MaxSubjectBytes = 1024    // subject
	MaxPayloadBytes = 1 << 20 // the canonical payload
)

// ErrInvalidEntry is wrapped by every error of Prepare.
var ErrInvalidEntry = errors.New("invalid audit entry")

// Entry is what a caller records: one change through the API, or one
// scaling decision or event reported to the backend.
type Entry struct {
	// Time of the change. Written in UTC, truncated to microseconds.
	Time time.Time
	// Tenant the change belongs to; "" for changes of the installation
	// itself (tenants, keys).
	Tenant string
	// Actor is who made the change: a token id ("tok_..."), an agent id,
	// or "system". Never a token or any other secret.
	Actor string
	// Kind names the change: lower-case letters, digits and ".-_", e.g.
	// "scaler.update", "decision", "budget.set".
	Kind string
	// Subject is what changed, e.g. "scalers/prod/checkout". May be "".
	Subject string
	// Payload is the change itself: any Go value that Canonical accepts
	// (no floats), or a json.RawMessage, which is canonicalised. nil is
	// written as null.
	Payload any
}

// Prepared is an Entry that passed Prepare: its fields are valid and its
// payload is canonical JSON. Only the sequence number is missing, which
// AppendBatch assigns. The zero Prepared is not valid.
type Prepared struct {
	time                         time.Time
	tenant, actor, kind, subject string
	payload                      []byte
}

// Prepare validates e and canonicalises its payload. Call it for each
// request before handing the entry to the group commit, so that a bad
// entry fails its own request and never the batch. Every problem is
// returned at once (errors.Join), each wrapping ErrInvalidEntry.
func Prepare(e Entry) (Prepared, error) {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s", ErrInvalidEntry, fmt.Sprintf(format, args...)))
	}
	t := e.Time.UTC().Truncate(time.Microsecond)
	switch {
	case e.Time.IsZero():
		bad("time: zero, want the time of the change")
	case t.Year() < 1 || t.Year() > 9999:
		bad("time %s: year outside 0001..9999", e.Time)
	}
	if err := checkName(e.Tenant, MaxNameBytes); err != nil {
		bad("tenant %q: %v", clip(e.Tenant), err)
	}
	// The actor is not echoed: a caller that wrongly passes a token must
	// not see it in a log line.
	if e.Actor == "" {
		bad("actor: empty, want a token id, agent id or \"system\"")
	} else if err := checkName(e.Actor, MaxNameBytes); err != nil {
		bad("actor (%d bytes, not shown): %v", len(e.Actor), err)
	}
	if err := checkKind(e.Kind); err != nil {
		bad("kind %q: %v", clip(e.Kind), err)
	}
	if err := checkName(e.Subject, MaxSubjectBytes); err != nil {
		bad("subject %q: %v", clip(e.Subject), err)
	}
	payload, err := Canonical(e.Payload)
	switch {
	case err != nil:
		bad("payload: %v", err)
	case len(payload) > MaxPayloadBytes:
		bad("payload: %d bytes canonical, want at most %d", len(payload), MaxPayloadBytes)
	}
	if len(errs) > 0 {
		return Prepared{}, errors.Join(errs...)
	}
	return Prepared{time: t, tenant: e.Tenant, actor: e.Actor, kind: e.Kind, subject: e.Subject, payload: payload}, nil
}

// checkName accepts valid UTF-8 without control characters (NUL cannot be
// stored in a PostgreSQL text column; the others have no business in a
// name) up to max bytes.
func checkName(s string, max int) error {
	if len(s) > max {
		return fmt.Errorf("%d bytes, want at most %d", len(s), max)
	}
	if !utf8.ValidString(s) {
		return errors.New("invalid UTF-8")
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("control character %U", r)
		}
	}
	return nil
}

func checkKind(s string) error {
	if s == "" {
		return errors.New("empty, want e.g. \"scaler.update\"")
	}
	if len(s) > MaxNameBytes {
		return fmt.Errorf("%d bytes, want at most %d", len(s), MaxNameBytes)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return errors.New("want lower-case letters, digits and \".-_\"")
		}
	}
	return nil
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// Record is one row of the audit log as the store keeps it and a Source
// serves it back. The columns Seq..Subject are copies of the body's
// members, kept for queries; the body is what is hashed, and Verify checks
// that each column says what the body says.
type Record struct {
	// Seq is the global sequence number, 1, 2, 3, ... without gaps. The
	// record is leaf Seq-1 of the tree, and the tree after it has Seq
	// leaves.
	Seq     int64
	Time    time.Time // UTC, microseconds
	Tenant  string
	Actor   string
	Kind    string
	Subject string
	// Body is the canonical JSON that was hashed, byte for byte. Store it
	// as bytes (bytea, BLOB) or text, never as json or jsonb, which
	// re-serialise.
	Body []byte
	// LeafHash is Leaf(Body).
	LeafHash tlog.Hash
	// ChainHash is Chain(previous record's ChainHash, LeafHash); the
	// record before seq 1 has the zero hash.
	ChainHash tlog.Hash
	// TreeHashes are the tlog stored hashes this record adds to the
	// tree: TreeHashes[0] is the leaf hash, then one node hash per
	// subtree the record completes (tlog.StoredHashesForRecordHash).
	// Their tlog storage indexes start at FirstHashIndex(Seq).
	TreeHashes []tlog.Hash
}

// FirstHashIndex is the tlog storage index of TreeHashes[0] of the record
// seq; TreeHashes[i] is at FirstHashIndex(seq)+i.
func FirstHashIndex(seq int64) int64 {
	return tlog.StoredHashCount(seq - 1)
}

// HashLocation says which record holds the tlog stored hash at index and
// where: Record.TreeHashes[pos] of the record seq. A store that keeps
// TreeHashes in the record's row implements tlog.HashReader with it.
func HashLocation(index int64) (seq int64, pos int) {
	level, n := tlog.SplitStoredHashIndex(index)
	// Node (level, n) covers leaves [n<<level, (n+1)<<level) and is
	// completed by its last leaf, at TreeHashes[level] of that record.
	return (n + 1) << level, level
}

// appendBody writes the canonical body of a record: its members sorted as
// JCS sorts them (actor, kind, payload, seq, subject, tenant, time, v).
func appendBody(out []byte, seq int64, p *Prepared) []byte {
	out = append(out, `{"actor":`...)
	out = appendString(out, p.actor)
	out = append(out, `,"kind":`...)
	out = appendString(out, p.kind)
	out = append(out, `,"payload":`...)
	out = append(out, p.payload...)
	out = append(out, `,"seq":`...)
	out = strconv.AppendInt(out, seq, 10)
	out = append(out, `,"subject":`...)
	out = appendString(out, p.subject)
	out = append(out, `,"tenant":`...)
	out = appendString(out, p.tenant)
	out = append(out, `,"time":"`...)
	out = p.time.AppendFormat(out, TimeLayout)
	out = append(out, `","v":`...)
	out = strconv.AppendInt(out, BodyVersion, 10)
	return append(out, '}')
}
