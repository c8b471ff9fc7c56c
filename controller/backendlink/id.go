package backendlink

import (
	"crypto/rand"
	"encoding/hex"
)

// newID is a random message id (128 bits, hex).
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
