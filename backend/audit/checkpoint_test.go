package audit

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func TestCheckpointVector(t *testing.T) {
	key := testKey(t)
	c := Checkpoint{Origin: testOrigin, Size: 2}
	root, _ := tlog.ParseHash("fVPgrzq2GsDtzHp7eolFuugJV08ye5fhjhBaI+/kxkc=")
	c.Root = root
	msg, err := SignCheckpoint(c, key.Signer)
	if err != nil {
		t.Fatal(err)
	}
	// Ed25519 signatures are deterministic: the whole note is fixed.
	// (Checked once with Python's cryptography package: the key hash is
	// SHA-256(name || "\n" || 0x01 || public key)[:4], the signature is
	// over the checkpoint text.)
	want := "hpa-autoscaler/test\n2\nfVPgrzq2GsDtzHp7eolFuugJV08ye5fhjhBaI+/kxkc=\n\n" +
		"— hpa-autoscaler/test Jh+RPBhtbYWIi8TlmvTmjNmQj9kKtD1FzherAKCC68eHW5US11xiq6v+u008njEZoNm1UeyUyFhQmXmMB+BKMcsv0A0=\n"
	if string(msg) != want {
		t.Fatalf("note:\n%s\nwant:\n%s", msg, want)
	}
	if got, want := key.VerifierKey, "hpa-autoscaler/test+261f913c+AYqI4910CfGV/VLbLTy6XXLKZwm/HZQSG/N0iAG0D29c"; got != want {
		t.Fatalf("verifier key %s, want %s", got, want)
	}
	got, err := OpenCheckpoint(msg, key.Verifier)
	if err != nil || got != c {
		t.Fatalf("open: %+v %v", got, err)
	}
}

func TestParseCheckpoint(t *testing.T) {
	root := "fVPgrzq2GsDtzHp7eolFuugJV08ye5fhjhBaI+/kxkc="
	tests := []struct {
		name, text string
		ok         bool
	}{
		{"plain", "o/x\n2\n" + root + "\n", true},
		{"extension lines", "o/x\n2\n" + root + "\nts 123\nfoo\n", true},
		{"size 0", "o/x\n0\n" + root + "\n", true},
		{"no final newline", "o/x\n2\n" + root, false},
		{"two lines", "o/x\n2\n", false},
		{"leading zero", "o/x\n02\n" + root + "\n", false},
		{"plus sign", "o/x\n+2\n" + root + "\n", false},
		{"negative", "o/x\n-2\n" + root + "\n", false},
		{"hex root", "o/x\n2\n7d3ae0af3ab61ac0edcc7a7b7a8945bae809574f327b97e18e105a23efe4c647\n", false},
		{"short root", "o/x\n2\nAAAA\n", false},
		{"empty origin", "\n2\n" + root + "\n", false},
		{"origin with space", "o x\n2\n" + root + "\n", false},
		{"empty extension", "o/x\n2\n" + root + "\n\n", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseCheckpoint([]byte(tc.text))
			if tc.ok != (err == nil) {
				t.Fatalf("ok %v, want %v: %v", err == nil, tc.ok, err)
			}
			if err != nil && !errors.Is(err, ErrMalformedCheckpoint) {
				t.Fatalf("error %v is not ErrMalformedCheckpoint", err)
			}
			if err == nil && !tc.ok {
				return
			}
			if err == nil && !strings.Contains(tc.name, "extension") && string(c.Text()) != tc.text {
				t.Fatalf("Text %q, want %q", c.Text(), tc.text)
			}
		})
	}
}

func TestOpenCheckpoint(t *testing.T) {
	key := testKey(t)
	other := keyFromSeed(t, testOrigin, 9)
	otherOrigin := keyFromSeed(t, "hpa-autoscaler/other", 1)
	c := Checkpoint{Origin: testOrigin, Size: 5, Root: tlog.Hash{1, 2, 3}}
	msg, err := SignCheckpoint(c, key.Signer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := SignCheckpoint(c, otherOrigin.Signer); err == nil {
		t.Fatal("signed a checkpoint of another origin")
	}
	// A witness's cosignature does not matter.
	cosigned, err := note.Sign(&note.Note{Text: string(c.Text())}, key.Signer, other.Signer)
	if err != nil {
		t.Fatal(err)
	}
	// A checkpoint of another origin signed by a key of that name.
	foreign, err := note.Sign(&note.Note{Text: string(Checkpoint{Origin: "hpa-autoscaler/other", Size: 5}.Text())}, otherOrigin.Signer)
	if err != nil {
		t.Fatal(err)
	}
	// The origin line says one thing, the key's name another.
	mislabeled, err := note.Sign(&note.Note{Text: string(Checkpoint{Origin: "hpa-autoscaler/other", Size: 5}.Text())}, key.Signer)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		msg  []byte
		v    note.Verifier
		err  error
	}{
		{"signed", msg, key.Verifier, nil},
		{"cosigned", cosigned, key.Verifier, nil},
		{"other key of the same name", msg, other.Verifier, ErrCheckpointSignature},
		{"another origin", foreign, key.Verifier, ErrCheckpointSignature},
		{"origin is not the key's name", mislabeled, key.Verifier, ErrCheckpointSignature},
		{"text edited", bytes.Replace(msg, []byte("\n5\n"), []byte("\n6\n"), 1), key.Verifier, ErrCheckpointSignature},
		{"no signature", c.Text(), key.Verifier, ErrMalformedCheckpoint},
		{"huge", bytes.Repeat([]byte("a"), MaxCheckpointBytes+1), key.Verifier, ErrMalformedCheckpoint},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := OpenCheckpoint(tc.msg, tc.v)
			if tc.err == nil {
				if err != nil || got != c {
					t.Fatalf("%+v %v", got, err)
				}
				return
			}
			if !errors.Is(err, tc.err) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
		})
	}
}

func FuzzOpenCheckpoint(f *testing.F) {
	key := testKey(f)
	msg, err := SignCheckpoint(Checkpoint{Origin: testOrigin, Size: 7, Root: tlog.Hash{7}}, key.Signer)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(msg)
	f.Add([]byte("hpa-autoscaler/test\n7\nBwAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\next\n"))
	f.Add([]byte("x\n\n— x AAAA\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		// The body parser: what it accepts prints back to itself.
		if c, err := ParseCheckpoint(in); err == nil {
			again, err := ParseCheckpoint(c.Text())
			if err != nil || again != c {
				t.Fatalf("text of a parsed checkpoint does not parse back: %q -> %+v, %v", in, again, err)
			}
		}
		c, err := OpenCheckpoint(in, key.Verifier)
		if err != nil {
			if !errors.Is(err, ErrMalformedCheckpoint) && !errors.Is(err, ErrCheckpointSignature) {
				t.Fatalf("error without a sentinel: %v", err)
			}
			return
		}
		// Only a note signed by the key opens: its text must be one
		// this test signed.
		if c.Origin != testOrigin || c.Size != 7 || c.Root != (tlog.Hash{7}) {
			t.Fatalf("opened a checkpoint never signed: %+v", c)
		}
	})
}

func TestLoadOrGenerateKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.key")
	key, generated, err := LoadOrGenerateKey(path, testOrigin)
	if err != nil || !generated {
		t.Fatalf("generate: %v, generated %v", err, generated)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Fatalf("key file mode %04o, want 0600", perm)
	}
	data, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(data), "PRIVATE+KEY+"+testOrigin+"+") {
		t.Fatalf("key file is not a note private key")
	}
	pub, err := os.ReadFile(path + ".pub")
	if err != nil || strings.TrimSpace(string(pub)) != key.VerifierKey {
		t.Fatalf("public key file %q, want %q (%v)", pub, key.VerifierKey, err)
	}
	if strings.Contains(key.VerifierKey, strings.TrimSpace(string(data))[len("PRIVATE+KEY+"+testOrigin+"+12345678+"):]) {
		t.Fatal("the verifier key contains the private key")
	}

	// Loaded again: the same key, not generated.
	again, generated, err := LoadOrGenerateKey(path, testOrigin)
	if err != nil || generated || again.VerifierKey != key.VerifierKey {
		t.Fatalf("load: %v, generated %v", err, generated)
	}
	msg, err := SignCheckpoint(Checkpoint{Origin: testOrigin, Size: 1}, again.Signer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenCheckpoint(msg, key.Verifier); err != nil {
		t.Fatal(err)
	}
	// verify's key: the public key file or the private key file.
	for _, p := range []string{path + ".pub", path} {
		v, err := LoadVerifier(p)
		if err != nil {
			t.Fatalf("LoadVerifier(%s): %v", p, err)
		}
		if _, err := OpenCheckpoint(msg, v); err != nil {
			t.Fatalf("LoadVerifier(%s): %v", p, err)
		}
	}

	// A key of another origin is refused.
	if _, _, err := LoadOrGenerateKey(path, "hpa-autoscaler/other"); !errors.Is(err, ErrKeyFile) || !strings.Contains(err.Error(), `want "hpa-autoscaler/other"`) {
		t.Fatalf("other origin: %v", err)
	}
	// Writable by the group, or any access for others: refused, and the
	// key is not printed.
	for _, mode := range []os.FileMode{0o660, 0o620, 0o650, 0o604, 0o644, 0o601} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, _, err := LoadOrGenerateKey(path, testOrigin)
		if !errors.Is(err, ErrKeyFile) || !strings.Contains(err.Error(), "want no access for others and at most read for the group") {
			t.Fatalf("mode %04o: %v", mode, err)
		}
		if strings.Contains(err.Error(), "PRIVATE") {
			t.Fatal("error shows the key")
		}
	}
	// Read for the owner, and read for the group at most (a Secret
	// volume's file under a pod's fsGroup is 0440): accepted.
	for _, mode := range []os.FileMode{0o640, 0o440, 0o600, 0o400} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		if _, _, err := LoadOrGenerateKey(path, testOrigin); err != nil {
			t.Fatalf("mode %04o: %v", mode, err)
		}
	}

	// A garbled key file: refused without showing its content.
	bad := filepath.Join(dir, "bad.key")
	if err := os.WriteFile(bad, []byte("PRIVATE+KEY+x+00000000+c2VjcmV0LXZhbHVl\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrGenerateKey(bad, "x"); err == nil || strings.Contains(err.Error(), "c2VjcmV0") {
		t.Fatalf("garbled key: %v", err)
	}
	// A directory that cannot be written: an error, no key.
	if os.Geteuid() != 0 {
		ro := filepath.Join(dir, "ro")
		if err := os.Mkdir(ro, 0o500); err != nil {
			t.Fatal(err)
		}
		if _, _, err := LoadOrGenerateKey(filepath.Join(ro, "k"), testOrigin); !errors.Is(err, ErrKeyFile) {
			t.Fatalf("unwritable directory: %v", err)
		}
	}
}

func TestOrigin(t *testing.T) {
	if o, err := Origin("prod-eu1"); err != nil || o != "hpa-autoscaler/prod-eu1" {
		t.Fatalf("%q %v", o, err)
	}
	for _, bad := range []string{"", "a b", "a+b", "a/b", strings.Repeat("x", 65)} {
		if _, err := Origin(bad); err == nil {
			t.Errorf("Origin(%q) accepted", bad)
		}
	}
}

func TestCheckpointPolicy(t *testing.T) {
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	p := CheckpointPolicy{Every: 100, Interval: time.Minute}
	tests := []struct {
		name string
		p    CheckpointPolicy
		last LastCheckpoint
		size int64
		now  time.Time
		due  bool
		next time.Time
	}{
		{name: "empty log", p: p, size: 0, now: at},
		{name: "first records: at once", p: p, size: 1, now: at, due: true, next: at},
		{name: "nothing new", p: p, last: LastCheckpoint{50, at}, size: 50, now: at.Add(time.Hour)},
		{name: "a few new, interval not over", p: p, last: LastCheckpoint{50, at}, size: 60, now: at.Add(59 * time.Second), next: at.Add(time.Minute)},
		{name: "a few new, interval over", p: p, last: LastCheckpoint{50, at}, size: 60, now: at.Add(time.Minute), due: true, next: at.Add(time.Minute)},
		{name: "Every new", p: p, last: LastCheckpoint{50, at}, size: 150, now: at.Add(time.Second), due: true, next: at.Add(time.Second)},
		{name: "one short of Every", p: p, last: LastCheckpoint{50, at}, size: 149, now: at.Add(time.Second), next: at.Add(time.Minute)},
		{name: "checkpoint beyond the log", p: p, last: LastCheckpoint{50, at}, size: 40, now: at.Add(time.Hour)},
		{name: "defaults: 1000 records", last: LastCheckpoint{1, at}, size: 1001, now: at, due: true, next: at},
		{name: "defaults: 10 s", last: LastCheckpoint{1, at}, size: 2, now: at.Add(9 * time.Second), next: at.Add(10 * time.Second)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.p.Due(tc.last, tc.size, tc.now); got != tc.due {
				t.Errorf("Due %v, want %v", got, tc.due)
			}
			if got := tc.p.Next(tc.last, tc.size, tc.now); !got.Equal(tc.next) {
				t.Errorf("Next %v, want %v", got, tc.next)
			}
		})
	}
	if err := (CheckpointPolicy{Every: -1, Interval: -time.Second}).Validate(); err == nil ||
		!strings.Contains(err.Error(), "every -1 records") || !strings.Contains(err.Error(), "interval -1s") {
		t.Fatalf("Validate: %v", err)
	}
	if err := (CheckpointPolicy{}).Validate(); err != nil {
		t.Fatal(err)
	}
}

// Keys whose base64 holds '+' (about every other one) parse too.
func TestParseSignerKeyRandom(t *testing.T) {
	for range 64 {
		skey, vkey, err := note.GenerateKey(nil, testOrigin)
		if err != nil {
			t.Fatal(err)
		}
		k, err := ParseSignerKey(skey)
		if err != nil {
			t.Fatal(err)
		}
		if k.VerifierKey != vkey {
			t.Fatalf("verifier key %s, want %s", k.VerifierKey, vkey)
		}
	}
	for _, bad := range []string{"", "PRIVATE+KEY+x", "x+261f913c+AYqI4910CfGV/VLbLTy6XXLKZwm/HZQSG/N0iAG0D29c"} {
		if _, err := ParseSignerKey(bad); err == nil {
			t.Errorf("ParseSignerKey(%q) accepted", bad)
		}
	}
}
