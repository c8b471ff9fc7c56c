package api

import (
	"encoding/hex"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/hpa-autoscaler/hpa-autoscaler/backend/store"
)

func storePage(n int) store.Page { return store.Page{Limit: n} }

func proofOf(t testing.TB, hs []string) tlog.RecordProof {
	t.Helper()
	p := make(tlog.RecordProof, len(hs))
	for i, h := range hs {
		b, err := hex.DecodeString(h)
		if err != nil || len(b) != len(p[i]) {
			t.Fatalf("hash %q", h)
		}
		copy(p[i][:], b)
	}
	return p
}
