package scalers

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestTLSErrorsNameKeyNotValue checks the whole message of each TLS
// error: a secret given inline or from the environment is named by its key
// and "(secret, not shown)", one read from a file by its File key and path.
func TestTLSErrorsNameKeyNotValue(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	notPEM := file("garbage.pem", "not a certificate")
	tests := []struct {
		name string
		md   map[string]string
		want string
	}{
		{"cert without key, inline", map[string]string{"cert": "c"},
			"invalid metadata: cert (secret, not shown): given without key: cert and key must be given together"},
		{"cert without key, from a file", map[string]string{"certFile": notPEM},
			`invalid metadata: certFile "` + notPEM + `": given without key: cert and key must be given together`},
		{"key without cert", map[string]string{"keyFromEnv": "k"},
			"invalid metadata: key (secret, not shown): given without cert: cert and key must be given together"},
		{"ca not PEM, inline", map[string]string{"ca": "hunter2"},
			"ca (secret, not shown): no PEM certificate found"},
		{"ca not PEM, from a file", map[string]string{"caFile": notPEM},
			`caFile "` + notPEM + `": no PEM certificate found`},
		{"key not PEM with a password", map[string]string{"cert": "c", "keyFile": notPEM, "keyPassword": "pw"},
			`keyFile "` + notPEM + `": no PEM key found`},
		{"bad pair", map[string]string{"cert": "c", "key": "k"},
			"cert (secret, not shown): invalid certificate/key pair: tls: failed to find any PEM data in certificate input"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var c TLSConfig
			err := ParseMetadata(tc.md, &c, allowDirs(t, dir))
			if err == nil {
				_, err = c.Build()
			}
			if err == nil {
				t.Fatalf("got no error, want %q", tc.want)
			}
			if diff := cmp.Diff(tc.want, err.Error()); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
		})
	}
}
