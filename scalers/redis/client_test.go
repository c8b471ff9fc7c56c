package redis

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// TestSentinelPasswordReadError: a sentinelPasswordFile that cannot be read
// is named by its key and path with the reason once, when the metadata is
// parsed and when the client is built (go-redis takes the sentinel
// password when its client is made, and the file may be gone by then).
func TestSentinelPasswordReadError(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing")
	gone := filepath.Join(dir, "gone")
	md := func(path string) map[string]string {
		return map[string]string{"addresses": "127.0.0.1:1", "sentinelMaster": "m", "listName": "jobs", "stream": "s", "sentinelPasswordFile": path}
	}

	t.Run("when parsing", func(t *testing.T) {
		tests := []struct {
			name, path, want string
		}{
			{"missing file", missing, fmt.Sprintf(`invalid metadata: sentinelPasswordFile %q: cannot read: no such file or directory`, missing)},
			{"a directory", dir, fmt.Sprintf(`invalid metadata: sentinelPasswordFile %q: cannot read: not a regular file`, dir)},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				for _, typ := range []string{"redis-sentinel", "redis-sentinel-streams"} {
					s, err := Factory(typ)(t.Context(), scalers.Config{Type: typ, Metadata: md(tc.path), SecretFiles: secretFiles(t, md(tc.path))})
					if err == nil {
						_ = s.Close()
						t.Fatalf("%s: got a scaler, want an error", typ)
					}
					checkMetadataError(t, err, tc.want)
				}
			})
		}
	})

	t.Run("when building the client", func(t *testing.T) {
		must(t, os.WriteFile(gone, []byte("sentinel-secret-pw"), 0o600))
		m, err := parseListMeta(md(gone), sentinel, scalers.Limits{}, secretFiles(t, md(gone)))
		if err != nil {
			t.Fatal(err)
		}
		must(t, os.Remove(gone))
		for _, c := range []*Clients{nil, NewClients(ClientsOptions{})} {
			sc, err := c.acquire(&m.Conn, scalers.DefaultSourceTimeout)
			if err == nil {
				_ = c.release(sc)
				t.Fatalf("shared %t: got a client, want an error", c != nil)
			}
			checkMetadataError(t, err, fmt.Sprintf(`invalid metadata: sentinelPasswordFile %q: cannot read: no such file or directory`, gone))
		}
	})
}
