package audit

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// OriginPrefix starts the origin line of every checkpoint (and the name of
// every signing key): "hpa-autoscaler/<instance>".
const OriginPrefix = "hpa-autoscaler/"

// MaxCheckpointBytes bounds a signed checkpoint that OpenCheckpoint reads.
const MaxCheckpointBytes = 16 << 10

// Errors of checkpoints.
var (
	// ErrMalformedCheckpoint: the text is not a C2SP tlog-checkpoint.
	ErrMalformedCheckpoint = errors.New("malformed checkpoint")
	// ErrCheckpointSignature: the note is not signed by the verifier's
	// key, or the signature is invalid.
	ErrCheckpointSignature = errors.New("checkpoint signature invalid")
)

// Origin returns the origin of the instance named instance: letters,
// digits and ".-_" (a note key name may hold no space or '+').
func Origin(instance string) (string, error) {
	if instance == "" {
		return "", errors.New("instance: empty, want e.g. \"prod-eu1\"")
	}
	if len(instance) > 64 {
		return "", fmt.Errorf("instance %q: %d bytes, want at most 64", clip(instance), len(instance))
	}
	for i := 0; i < len(instance); i++ {
		c := instance[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return "", fmt.Errorf("instance %q: want letters, digits and \".-_\"", clip(instance))
		}
	}
	return OriginPrefix + instance, nil
}

// Checkpoint is a tree head: the tree of Size leaves (the records 1..Size)
// has the root hash Root, in the log named Origin.
type Checkpoint struct {
	Origin string
	Size   int64
	Root   tlog.Hash
}

// Text returns the checkpoint body of C2SP tlog-checkpoint: the origin,
// the size in decimal and the root hash in standard base64, one per line.
// This package writes no extension lines.
func (c Checkpoint) Text() []byte {
	return fmt.Appendf(nil, "%s\n%d\n%s\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Root[:]))
}

// ParseCheckpoint parses a checkpoint body (without signatures). It
// accepts and ignores extension lines after the root hash, as C2SP says a
// reader must.
func ParseCheckpoint(text []byte) (Checkpoint, error) {
	bad := func(format string, args ...any) (Checkpoint, error) {
		return Checkpoint{}, fmt.Errorf("%w: %s", ErrMalformedCheckpoint, fmt.Sprintf(format, args...))
	}
	s := string(text)
	if !strings.HasSuffix(s, "\n") {
		return bad("does not end with a newline")
	}
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	if len(lines) < 3 {
		return bad("%d lines, want origin, size and root hash", len(lines))
	}
	origin, sizeText, rootText := lines[0], lines[1], lines[2]
	if origin == "" || strings.ContainsAny(origin, " \t\r") {
		return bad("origin line %q: want a name without spaces", clip(origin))
	}
	size, err := strconv.ParseInt(sizeText, 10, 64)
	// Only the canonical decimal: no sign, no leading zeros.
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != sizeText {
		return bad("size line %q: want a non-negative decimal", clip(sizeText))
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(rootText)
	if err != nil || len(raw) != tlog.HashSize {
		return bad("root hash line %q: want 32 bytes in standard base64", clip(rootText))
	}
	for i, l := range lines[3:] {
		if l == "" {
			return bad("extension line %d is empty", i+1)
		}
	}
	c := Checkpoint{Origin: origin, Size: size}
	copy(c.Root[:], raw)
	return c, nil
}

// SignCheckpoint returns c as a signed note (C2SP signed-note): the
// checkpoint text, a blank line and the signature line. The signer's key
// name must be c's origin.
func SignCheckpoint(c Checkpoint, s note.Signer) ([]byte, error) {
	if s.Name() != c.Origin {
		return nil, fmt.Errorf("sign checkpoint of %q with key %q: key name must be the origin", c.Origin, s.Name())
	}
	msg, err := note.Sign(&note.Note{Text: string(c.Text())}, s)
	if err != nil {
		return nil, fmt.Errorf("sign checkpoint: %w", err)
	}
	return msg, nil
}

// OpenCheckpoint verifies the signed checkpoint msg with v and parses it.
// The checkpoint's origin must be v's key name. Signatures by other keys
// are allowed (witnesses may cosign) but one by v is required.
func OpenCheckpoint(msg []byte, v note.Verifier) (Checkpoint, error) {
	if len(msg) > MaxCheckpointBytes {
		return Checkpoint{}, fmt.Errorf("%w: %d bytes, want at most %d", ErrMalformedCheckpoint, len(msg), MaxCheckpointBytes)
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		switch {
		case errors.As(err, &unverified):
			return Checkpoint{}, fmt.Errorf("%w: no signature by key %s", ErrCheckpointSignature, v.Name())
		case errors.As(err, &invalid):
			return Checkpoint{}, fmt.Errorf("%w: %v", ErrCheckpointSignature, err)
		default:
			return Checkpoint{}, fmt.Errorf("%w: %v", ErrMalformedCheckpoint, err)
		}
	}
	c, err := ParseCheckpoint([]byte(n.Text))
	if err != nil {
		return Checkpoint{}, err
	}
	if c.Origin != v.Name() {
		return Checkpoint{}, fmt.Errorf("%w: origin %q signed by key %q", ErrCheckpointSignature, clip(c.Origin), v.Name())
	}
	return c, nil
}

// claimedCheckpoint parses the text of a signed note without checking
// any signature, to say what a checkpoint that fails to verify claims.
func claimedCheckpoint(msg []byte) (Checkpoint, bool) {
	i := bytes.LastIndex(msg, []byte("\n\n"))
	if i < 0 {
		return Checkpoint{}, false
	}
	c, err := ParseCheckpoint(msg[:i+1])
	return c, err == nil
}

// TreeHead returns the checkpoint of the tree of size leaves of origin,
// its root computed from the stored hashes (one ReadHashes call, at most
// 63 hashes).
func TreeHead(origin string, size int64, hashes tlog.HashReader) (Checkpoint, error) {
	root, err := tlog.TreeHash(size, hashes)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("tree hash of size %d: %w", size, err)
	}
	return Checkpoint{Origin: origin, Size: size, Root: root}, nil
}
