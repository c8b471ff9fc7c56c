package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
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
					// The file holds the whole message and its final newline.
					if diff := cmp.Diff("error: "+string(wantErr), stderr.String()); diff != "" {
						t.Errorf("stderr (-want +got):\n%s", diff)
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
	nope := filepath.Join(t.TempDir(), "nope.json")
	code := run(t.Context(), []string{"decide", "--file", nope}, bytes.NewReader(nil), &stdout, &stderr)
	if code != 2 {
		t.Fatalf("exit code: got %d, want 2", code)
	}
	// The operating system's own words for the missing file.
	_, openErr := os.Open(nope)
	want := fmt.Sprintf("error: --file %q: %v\n", nope, openErr)
	if diff := cmp.Diff(want, stderr.String()); diff != "" {
		t.Errorf("stderr (-want +got):\n%s", diff)
	}
}
