package store

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPageTokenRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		key  pageKey
	}{
		{"by name", pageKey{list: listScalers, name: "web"}},
		{"by name, unicode", pageKey{list: listClusters, name: "clüster/eu 1"}},
		{"by seq", pageKey{list: listAudit, seq: 1}},
		{"by seq with filter", pageKey{list: listEvents, filter: "web", seq: 1 << 40}},
		{"by name and seq", pageKey{list: listTrendBuckets, filter: "f", name: "web", seq: 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok := encodePageToken(tc.key)
			got, err := decodePageToken(tok, tc.key.list, tc.key.filter)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.key, got, cmp.AllowUnexported(pageKey{})); diff != "" {
				t.Fatalf("round trip of %q (-want +got):\n%s", tok, diff)
			}
		})
	}
}

func TestPageTokenRejects(t *testing.T) {
	good := encodePageToken(pageKey{list: listEvents, filter: "web", seq: 7})
	tests := []struct {
		name, tok string
		list      listKind
		filter    string
	}{
		{"another list", good, listAudit, "web"},
		{"another filter", good, listEvents, "api"},
		{"not base64", "!!!", listEvents, "web"},
		{"padded", good + "=", listEvents, "web"},
		{"truncated", good[:len(good)-2], listEvents, "web"},
		{"empty name", encodePageToken(pageKey{list: listScalers}), listScalers, ""},
		{"zero seq", encodePageToken(pageKey{list: listAudit}), listAudit, ""},
		{"unknown version", "AgQA", listScalers, ""},
		{"too long", string(make([]byte, maxPageToken+1)), listScalers, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := decodePageToken(tc.tok, tc.list, tc.filter); !errors.Is(err, ErrInvalid) {
				t.Fatalf("decode %q: %v, want ErrInvalid", tc.tok, err)
			}
		})
	}
}

// FuzzDecodePageToken: any string either fails with ErrInvalid or decodes
// to a key that encodes to a token decoding to the same key; never a
// panic.
func FuzzDecodePageToken(f *testing.F) {
	f.Add(encodePageToken(pageKey{list: listScalers, name: "web"}), byte(listScalers), "")
	f.Add(encodePageToken(pageKey{list: listEvents, filter: "web", seq: 42}), byte(listEvents), "web")
	f.Add("", byte(listAudit), "")
	f.Add("AQQAAQ", byte(listScalers), "")
	f.Fuzz(func(t *testing.T, tok string, list byte, filter string) {
		k, err := decodePageToken(tok, listKind(list), filter)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("decode %q: %v, not ErrInvalid", tok, err)
			}
			return
		}
		if tok == "" {
			return
		}
		again, err := decodePageToken(encodePageToken(k), listKind(list), filter)
		if err != nil {
			t.Fatalf("re-decode of %+v: %v", k, err)
		}
		if diff := cmp.Diff(k, again, cmp.AllowUnexported(pageKey{})); diff != "" {
			t.Fatalf("re-decode (-first +again):\n%s", diff)
		}
	})
}
