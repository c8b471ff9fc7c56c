package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func goldenDir(tb testing.TB) string {
	tb.Helper()
	return filepath.Join("..", "..", "scaling", "decide", "testdata", "golden")
}

// TestDecideGolden runs every golden request of the decision engine through
// the command itself: stdin and --file, stdout, exit codes.
func TestDecideGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(goldenDir(t), "*.request.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden requests: %v", err)
	}
	for _, reqFile := range files {
		base := strings.TrimSuffix(reqFile, ".request.json")
		t.Run(filepath.Base(base), func(t *testing.T) {
			req, err := os.ReadFile(reqFile)
			if err != nil {
				t.Fatal(err)
			}
			wantErr, errFileErr := os.ReadFile(base + ".error.txt")
			for _, viaFile := range []bool{false, true} {
				args := []string{"decide"}
				stdin := bytes.NewReader(req)
				if viaFile {
					args = append(args, "--file", reqFile)
					stdin = bytes.NewReader(nil)
				}
				var stdout, stderr bytes.Buffer
				code := run(t.Context(), args, stdin, &stdout, &stderr)
				if errFileErr == nil {
					if code != 2 {
						t.Fatalf("exit code: got %d, want 2 (stderr %q)", code, stderr.String())
					}
					for _, line := range strings.Split(strings.TrimSpace(string(wantErr)), "\n") {
						if !strings.Contains(stderr.String(), line) {
							t.Errorf("stderr %q does not mention %q", stderr.String(), line)
						}
					}
					continue
				}
				if code != 0 {
					t.Fatalf("exit code: got %d, want 0 (stderr %q)", code, stderr.String())
				}
				want, err := os.ReadFile(base + ".answer.json")
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(stdout.Bytes(), want) {
					t.Errorf("stdout differs from %s.answer.json:\ngot:\n%s\nwant:\n%s", filepath.Base(base), stdout.Bytes(), want)
				}
			}
		})
	}
}

func TestDecideMissingFile(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"decide", "--file", filepath.Join(t.TempDir(), "nope.json")}, bytes.NewReader(nil), &stdout, &stderr)
	if code != 2 {
		t.Fatalf("exit code: got %d, want 2", code)
	}
	if !strings.Contains(stderr.String(), "--file") {
		t.Errorf("stderr %q does not name --file", stderr.String())
	}
}
