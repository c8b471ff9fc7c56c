package store

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"unicode/utf8"
)

// A page token is opaque to clients: base64url (no padding) of
//
//	version byte (1) | list byte | filter: uvarint length + bytes | key
//
// where the key is the last row's name or id (uvarint length + bytes) for
// lists by name, or its seq (uvarint) for lists by seq. The list and the
// filter are in the token so that a token of one list (or filter) cannot
// page another: it is ErrInvalid. Keyset pagination: the next page is the
// rows after the key, so inserts and deletes between pages neither repeat
// nor skip a row that stays.

const pageTokenVersion = 1

// maxPageToken bounds what decodePageToken reads.
const maxPageToken = 2048

type listKind byte

const (
	listTenants listKind = iota + 1
	listTokens
	listClusters
	listScalers
	listEvents
	listAudit
	listTrends
	listTrendBuckets
)

func (k listKind) bySeq() bool { return k == listEvents || k == listAudit }

// byNameAndSeq: the key is a name and a number (a scaler and its bucket).
func (k listKind) byNameAndSeq() bool { return k == listTrendBuckets }

// pageKey is a decoded page token.
type pageKey struct {
	list   listKind
	filter string
	name   string // lists by name
	seq    int64  // lists by seq
}

func encodePageToken(k pageKey) string {
	b := []byte{pageTokenVersion, byte(k.list)}
	b = binary.AppendUvarint(b, uint64(len(k.filter)))
	b = append(b, k.filter...)
	if k.list.bySeq() {
		b = binary.AppendUvarint(b, uint64(k.seq))
	} else {
		b = binary.AppendUvarint(b, uint64(len(k.name)))
		b = append(b, k.name...)
	}
	if k.list.byNameAndSeq() {
		b = binary.AppendUvarint(b, uint64(k.seq))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodePageToken parses tok for list with filter; "" is the first page.
func decodePageToken(tok string, list listKind, filter string) (pageKey, error) {
	k := pageKey{list: list, filter: filter}
	if tok == "" {
		return k, nil
	}
	bad := func(why string) (pageKey, error) {
		return pageKey{}, fmt.Errorf("%w: %w: %s", ErrInvalid, ErrPageToken, why)
	}
	if len(tok) > maxPageToken {
		return bad("too long")
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(tok)
	if err != nil {
		return bad("not base64url")
	}
	if len(b) < 2 || b[0] != pageTokenVersion {
		return bad("unknown version")
	}
	if listKind(b[1]) != list {
		return bad("of another list")
	}
	b = b[2:]
	f, b, ok := readBytes(b)
	if !ok {
		return bad("truncated")
	}
	if string(f) != filter {
		return bad("of another filter")
	}
	if list.bySeq() {
		seq, n := binary.Uvarint(b)
		if n <= 0 || seq == 0 || seq > 1<<62 {
			return bad("bad position")
		}
		k.seq, b = int64(seq), b[n:]
	} else {
		name, rest, ok := readBytes(b)
		if !ok || len(name) == 0 || !utf8.Valid(name) {
			return bad("bad position")
		}
		k.name, b = string(name), rest
	}
	if list.byNameAndSeq() {
		seq, n := binary.Uvarint(b)
		if n <= 0 || seq == 0 || seq > 1<<62 {
			return bad("bad position")
		}
		k.seq, b = int64(seq), b[n:]
	}
	if len(b) != 0 {
		return bad("trailing bytes")
	}
	return k, nil
}

func readBytes(b []byte) (val, rest []byte, ok bool) {
	n, m := binary.Uvarint(b)
	if m <= 0 || n > uint64(len(b)-m) {
		return nil, nil, false
	}
	return b[m : m+int(n)], b[m+int(n):], true
}

// limit returns the rows to fetch for page: one more than asked, to know
// whether a next page exists.
func (p Page) limit() (int, error) {
	switch {
	case p.Limit < 0:
		return 0, fmt.Errorf("%w: limit %d: want 0 (default %d) to %d", ErrInvalid, p.Limit, DefaultLimit, MaxLimit)
	case p.Limit == 0:
		return DefaultLimit, nil
	case p.Limit > MaxLimit:
		return MaxLimit, nil
	}
	return p.Limit, nil
}
