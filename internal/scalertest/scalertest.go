package scalertest

import (
	"bytes"
	"errors"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// CheckErr fails unless err wraps sentinel (when not nil) and its message
// contains every substring.
func CheckErr(tb testing.TB, err, sentinel error, subs ...string) {
	tb.Helper()
	if err == nil {
		tb.Fatalf("got no error, want one wrapping %v containing %q", sentinel, subs)
	}
	if sentinel != nil && !errors.Is(err, sentinel) {
		tb.Errorf("error %q does not wrap %v", err, sentinel)
	}
	for _, s := range subs {
		if !strings.Contains(err.Error(), s) {
			tb.Errorf("error %q does not contain %q", err, s)
		}
	}
}

// LinesToMap turns "key=value" lines (fuzz input) into metadata; a line
// without "=" is a key with an empty value.
func LinesToMap(s string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		k, v, _ := strings.Cut(line, "=")
		m[k] = v
	}
	return m
}

// WithKeys returns a copy of base with the keys of kv (key, value, ...)
// set; an empty value deletes the key.
func WithKeys(base map[string]string, kv ...string) map[string]string {
	m := maps.Clone(base)
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(m, kv[i])
			continue
		}
		m[kv[i]] = kv[i+1]
	}
	return m
}

// Answer is an in-memory transport (for fuzzing a scaler without a
// server) that answers every request with status, header and body.
func Answer(status int, header http.Header, body string) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		h := header.Clone()
		if h == nil {
			h = http.Header{}
		}
		return &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(bytes.NewReader([]byte(body))), Request: req}, nil
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// KEDATrigger returns the metadata of the trigger of examples/keda/<file>,
// a KEDA ScaledObject. It fails the test unless the file has exactly one
// trigger, of type external or external-push (both are this server's).
func KEDATrigger(tb testing.TB, file string) map[string]string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(tb), "examples", "keda", file))
	if err != nil {
		tb.Fatal(err)
	}
	var so struct {
		Spec struct {
			Triggers []struct {
				Type     string            `json:"type"`
				Metadata map[string]string `json:"metadata"`
			} `json:"triggers"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(b, &so); err != nil {
		tb.Fatalf("%s: %v", file, err)
	}
	if len(so.Spec.Triggers) != 1 || so.Spec.Triggers[0].Type != "external" && so.Spec.Triggers[0].Type != "external-push" {
		tb.Fatalf("%s: want one external or external-push trigger, got %+v", file, so.Spec.Triggers)
	}
	return so.Spec.Triggers[0].Metadata
}

// StandInFiles points every key of md ending in File (a path inside the
// cluster) at a temporary file holding content, so the secret can be read
// here. It returns the directory of those files: the one the scaler must
// be allowed to read (scalers.NewFileAccess(dir)).
func StandInFiles(tb testing.TB, md map[string]string, content string) (dir string) {
	tb.Helper()
	dir = tb.TempDir()
	for k := range md {
		if strings.HasSuffix(k, "File") {
			p := filepath.Join(dir, k)
			if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
				tb.Fatal(err)
			}
			md[k] = p
		}
	}
	return dir
}

// FileDirs returns the directories of the files md's keys ending in File
// name, sorted and without repeats: what a test allows the scaler to read
// (scalers.NewFileAccess(FileDirs(md)...)), as the server's
// --secret-file-dir would.
func FileDirs(md map[string]string) []string {
	var dirs []string
	for k, v := range md {
		if strings.HasSuffix(k, "File") && strings.TrimSpace(v) != "" {
			dirs = append(dirs, filepath.Dir(strings.TrimSpace(v)))
		}
	}
	slices.Sort(dirs)
	return slices.Compact(dirs)
}

// repoRoot is the directory of go.mod above the working directory (a test
// runs in its package's directory).
func repoRoot(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("scalertest: no go.mod above the working directory")
		}
		dir = parent
	}
}
