package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// docScript returns the Python script of docs/audit.md.
func docScript(t *testing.T) string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "audit.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)<!-- begin verify.py -->\n```python\n(.*?)```\n<!-- end verify.py -->").FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/audit.md has no verify.py block between its markers")
	}
	return string(m[1])
}

// TestDocScript runs the script of docs/audit.md, as a reader would, on
// records exported as the REST API serves them, and checks that it says
// what Verify says, on a sound log and on tampered ones. It needs
// python3, which the machines this repository is built on have: it
// fails, not skips, without it, so the script cannot rot unnoticed.
func TestDocScript(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Fatal("python3 not found: this test runs the script of docs/audit.md and requires python3 (apt-get install python3)")
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "verify.py")
	if err := os.WriteFile(script, []byte(docScript(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	key := testKey(t)
	pub := filepath.Join(dir, "audit.key.pub")
	if err := os.WriteFile(pub, []byte(key.VerifierKey+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(t *testing.T, log *MemLog) (string, int) {
		t.Helper()
		rs := log.Records()
		half := len(rs) / 2
		var ex1, ex2 []Exported
		for i := range rs {
			if i < half {
				ex1 = append(ex1, rs[i].Export())
			} else {
				ex2 = append(ex2, rs[i].Export())
			}
		}
		writeJSON(t, filepath.Join(dir, "page-1.json"), ex1)
		writeJSON(t, filepath.Join(dir, "page-2.json"), map[string]any{"records": ex2, "next": nil})
		cp, err := log.LatestCheckpoint(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "checkpoint.txt"), cp, 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(python, script, "--checkpoint", filepath.Join(dir, "checkpoint.txt"), "--key", pub,
			filepath.Join(dir, "page-1.json"), filepath.Join(dir, "page-2.json"))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code > 1 || strings.Contains(stderr.String(), "Traceback") {
			t.Fatalf("script failed (exit %d):\n%s", code, stderr.String())
		}
		if strings.Contains(stderr.String(), "not checked") {
			t.Log("python3 has no cryptography package: the script did not check the signature")
		}
		return strings.TrimSpace(string(out)), code
	}

	otherKey := keyFromSeed(t, testOrigin, 2)
	tests := []struct {
		name   string
		tamper func(t *testing.T, log *MemLog, signed map[int64][]byte)
	}{
		{"untouched", func(*testing.T, *MemLog, map[int64][]byte) {}},
		{"a body byte edited", func(_ *testing.T, log *MemLog, _ map[int64][]byte) {
			b := log.Records()[6].Body
			b[bytes.Index(b, []byte(`"replicas":`))+len(`"replicas":`)]++
		}},
		{"tenant column edited", func(_ *testing.T, log *MemLog, _ map[int64][]byte) { log.Records()[4].Tenant = "evil" }},
		{"time column edited", func(_ *testing.T, log *MemLog, _ map[int64][]byte) {
			log.Records()[40].Time = log.Records()[41].Time
		}},
		{"chain hash edited", func(_ *testing.T, log *MemLog, _ map[int64][]byte) { log.Records()[200].ChainHash[3] ^= 8 }},
		{"a record deleted", func(_ *testing.T, log *MemLog, _ map[int64][]byte) {
			log.SetRecords(slices.Delete(log.Records(), 5, 6))
		}},
		{"two seq columns swapped", func(_ *testing.T, log *MemLog, _ map[int64][]byte) {
			rs := log.Records()
			rs[7], rs[8] = rs[8], rs[7]
			rs[7].Seq, rs[8].Seq = 8, 9
		}},
		{"truncated below the checkpoint", func(_ *testing.T, log *MemLog, _ map[int64][]byte) {
			log.SetRecords(log.Records()[:250])
		}},
		{"rewritten with every hash recomputed", func(t *testing.T, log *MemLog, _ map[int64][]byte) {
			forged, _ := buildLogFrom(t, key, 310, func(i int) Prepared {
				if i == 99 {
					return entry(t, 1000)
				}
				return entry(t, i)
			})
			log.SetRecords(forged.Records())
		}},
		{"checkpoint by another key", func(t *testing.T, log *MemLog, _ map[int64][]byte) {
			msg, err := log.Checkpoint(otherKey)
			if err != nil {
				t.Fatal(err)
			}
			log.SetCheckpoints([][]byte{msg})
		}},
		{"checkpoint signature forged", func(_ *testing.T, log *MemLog, s map[int64][]byte) {
			msg := bytes.Clone(s[300])
			i := bytes.LastIndex(msg, []byte(" ")) + 12
			msg[i] = map[bool]byte{true: 'A', false: 'B'}[msg[i] != 'A']
			log.SetCheckpoints([][]byte{msg})
		}},
	}
	seqOf := regexp.MustCompile(`^broken at seq \d+:`)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			log, signed := buildLog(t, key, 310, 300)
			tc.tamper(t, log, signed)
			res, err := Verify(context.Background(), log, VerifyOptions{Verifier: key.Verifier})
			if err != nil {
				t.Fatal(err)
			}
			out, code := run(t, log)
			if res.OK() {
				if out != res.String() || code != 0 {
					t.Fatalf("script: %q (exit %d)\nVerify: %q", out, code, res)
				}
				return
			}
			// Both name the same first broken seq; the wording of the
			// script is shorter.
			if code != 1 || seqOf.FindString(out) != seqOf.FindString(res.String()) {
				t.Fatalf("script: %q (exit %d)\nVerify: %q", out, code, res)
			}
		})
	}
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestExportRoundTrip(t *testing.T) {
	log, _ := buildLog(t, testKey(t), 5)
	for _, r := range log.Records() {
		e := r.Export()
		data, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		var back Exported
		if err := json.Unmarshal(data, &back); err != nil {
			t.Fatal(err)
		}
		got, err := back.Record()
		if err != nil {
			t.Fatal(err)
		}
		got.TreeHashes = r.TreeHashes
		if !got.Time.Equal(r.Time) || !bytes.Equal(got.Body, r.Body) || got.LeafHash != r.LeafHash || got.ChainHash != r.ChainHash || got.Tenant != r.Tenant || got.Seq != r.Seq {
			t.Fatalf("round trip:\n%+v\n%+v", got, r)
		}
	}
	if _, err := (&Exported{Time: "yesterday"}).Record(); err == nil {
		t.Error("bad time accepted")
	}
	if _, err := (&Exported{Time: "2025-01-01T00:00:00.000000Z", LeafHash: "00"}).Record(); err == nil {
		t.Error("short hash accepted")
	}
}
