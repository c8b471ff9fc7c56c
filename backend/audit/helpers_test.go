package audit

import (
	"bytes"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

const testOrigin = "hpa-autoscaler/test"

// keyFromSeed returns the key of origin with an Ed25519 seed of 32 times
// the byte seed: the same key on every run.
func keyFromSeed(tb testing.TB, origin string, seed byte) *Key {
	tb.Helper()
	skey, _, err := note.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{seed}, 32)), origin)
	if err != nil {
		tb.Fatal(err)
	}
	k, err := ParseSignerKey(skey)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func testKey(tb testing.TB) *Key {
	tb.Helper()
	return keyFromSeed(tb, testOrigin, 1)
}
