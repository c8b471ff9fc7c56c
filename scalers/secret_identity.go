package scalers

import (
	"crypto/sha256"
	"encoding/hex"
)

// Identity returns a string that is equal for two Secrets with the same
// source and different otherwise: the same inline value (or <key>FromEnv
// value), or the same <key>File path. Scalers use it in the key of a cache of
// clients shared among scalers with identical connection settings, where a
// file secret must stay one source however often its content rotates.
//
// An inline value is represented by its SHA-256 digest, never by itself. The
// result is meant for in-memory map keys only: do not log it (a digest of a
// weak password can be brute-forced). The unset Secret returns "".
func (s Secret) Identity() string {
	switch {
	case s.src == nil:
		return ""
	case s.src.path != "":
		return "file:" + s.src.path
	default:
		sum := sha256.Sum256([]byte(s.src.inline))
		return "inline:" + hex.EncodeToString(sum[:])
	}
}
