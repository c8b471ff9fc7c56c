package audit

import (
	"errors"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

func TestProofs(t *testing.T) {
	key := testKey(t)
	log, _ := buildLog(t, key, 37)
	rs := log.Records()
	heads := map[int64]Checkpoint{}
	for _, size := range []int64{1, 2, 3, 8, 20, 37} {
		c, err := TreeHead(testOrigin, size, log)
		if err != nil {
			t.Fatal(err)
		}
		heads[size] = c
	}
	for size, c := range heads {
		for seq := int64(1); seq <= size; seq++ {
			p, err := ProveInclusion(seq, size, log)
			if err != nil {
				t.Fatal(err)
			}
			if err := CheckInclusion(p, c, seq, rs[seq-1].LeafHash); err != nil {
				t.Fatalf("seq %d in %d: %v", seq, size, err)
			}
			// The proof of one record does not prove another.
			other := rs[seq%int64(len(rs))].LeafHash
			if err := CheckInclusion(p, c, seq, other); !errors.Is(err, ErrProof) && size > 1 {
				t.Fatalf("seq %d in %d: a wrong leaf passed: %v", seq, size, err)
			}
		}
		for oldSize, old := range heads {
			if oldSize > size {
				if _, err := ProveConsistency(oldSize, size, log); !errors.Is(err, ErrProof) {
					t.Fatalf("consistency %d in %d: %v", oldSize, size, err)
				}
				continue
			}
			p, err := ProveConsistency(oldSize, size, log)
			if err != nil {
				t.Fatal(err)
			}
			if err := CheckConsistency(p, old, c); err != nil {
				t.Fatalf("consistency %d in %d: %v", oldSize, size, err)
			}
			forged := old
			forged.Root[0] ^= 1
			if err := CheckConsistency(p, forged, c); !errors.Is(err, ErrProof) {
				t.Fatalf("forged root %d in %d passed: %v", oldSize, size, err)
			}
		}
	}
	for _, bad := range [][2]int64{{0, 5}, {6, 5}, {-1, 5}} {
		if _, err := ProveInclusion(bad[0], bad[1], log); !errors.Is(err, ErrProof) {
			t.Errorf("ProveInclusion(%d, %d): %v", bad[0], bad[1], err)
		}
		if err := CheckInclusion(nil, Checkpoint{Size: bad[1]}, bad[0], tlog.Hash{}); !errors.Is(err, ErrProof) {
			t.Errorf("CheckInclusion(%d, %d): %v", bad[0], bad[1], err)
		}
	}
	if err := CheckConsistency(nil, Checkpoint{Origin: "a", Size: 1}, Checkpoint{Origin: "b", Size: 2}); !errors.Is(err, ErrProof) {
		t.Errorf("two origins: %v", err)
	}
}
