package main

import (
	"database/sql"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/hpa-autoscaler/hpa-autoscaler/backend/store"
)

func TestMigrate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hpa.db")
	dbURL := "sqlite:" + path
	_, latest, err := store.SchemaVersion(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "empty.db"))
	if err != nil {
		t.Fatal(err)
	}
	want := "schema version " + strconv.Itoa(latest) + "\n"
	for _, run := range []string{"first", "again"} {
		code, stdout, stderr := runCmd(t, "migrate", "--db", dbURL)
		if code != 0 || stdout != want {
			t.Fatalf("migrate (%s): exit %d, stdout %q, stderr %q; want %q", run, code, stdout, stderr, want)
		}
	}

	// A database of a newer binary: migrate and serve refuse it, exit 1.
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO schema_migrations (version, name, applied_us) VALUES (?, 'from the future', 0)`, latest+1); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for _, args := range [][]string{
		{"migrate", "--db", dbURL},
		{"serve", "--db", dbURL, "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"},
	} {
		code, _, stderr := runCmd(t, args...)
		if code != 1 || !strings.Contains(stderr, "database schema is newer than this binary") || !strings.Contains(stderr, "upgrade hpa-autoscaler") {
			t.Errorf("%s on a newer schema: exit %d, stderr %q; want 1 and the reason", args[0], code, stderr)
		}
	}
}

// TestTenantAndTokenWhileServing runs `tenant create` and `token create`
// on the SQLite database a running serve has open, and uses their tokens
// against that serve.
func TestTenantAndTokenWhileServing(t *testing.T) {
	dir := t.TempDir()
	dbURL := "sqlite:" + filepath.Join(dir, "hpa.db")
	s := startServeInProcess(t, "--db", dbURL)
	base := "http://" + s.http
	defer http.DefaultClient.CloseIdleConnections()
	token := regexp.MustCompile(`^hpa_acme_[a-z2-7]+_[a-z2-7]+_[0-9a-f]{8}\n$`)

	code, first, stderr := runCmd(t, "tenant", "create", "acme", "--db", dbURL)
	if code != 0 || !token.MatchString(first) {
		t.Fatalf("tenant create: exit %d, stdout %q, stderr %q", code, first, stderr)
	}
	if code, body := get(t, base+"/api/v1/scalers", strings.TrimSpace(first)); code != http.StatusOK {
		t.Errorf("the tenant's first token: %d %s", code, body)
	}
	if code, _, stderr := runCmd(t, "tenant", "create", "acme", "--db", dbURL); code != 1 || !strings.Contains(stderr, "tenant acme: already exists") {
		t.Errorf("tenant create twice: exit %d, stderr %q", code, stderr)
	}

	code, viewer, stderr := runCmd(t, "token", "create", "--tenant", "acme", "--role", "viewer", "--expires", "720h", "--db", dbURL)
	if code != 0 || !token.MatchString(viewer) {
		t.Fatalf("token create: exit %d, stdout %q, stderr %q", code, viewer, stderr)
	}
	if code, body := get(t, base+"/api/v1/scalers", strings.TrimSpace(viewer)); code != http.StatusOK {
		t.Errorf("the viewer token: %d %s", code, body)
	}
	// A viewer reads, but may not list tokens.
	if code, _ := get(t, base+"/api/v1/tokens", strings.TrimSpace(viewer)); code != http.StatusForbidden {
		t.Errorf("the viewer token on /api/v1/tokens: %d, want 403", code)
	}

	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no tenant", []string{"token", "create", "--role", "viewer"}, 2, "--tenant: required"},
		{"bad role", []string{"token", "create", "--tenant", "acme", "--role", "root"}, 2, `--role "root": expected viewer, operator or admin`},
		{"unknown tenant", []string{"token", "create", "--tenant", "nope", "--role", "admin"}, 1, "--tenant nope: no such tenant"},
		{"bad tenant name", []string{"tenant", "create", "Acme"}, 2, `tenant "Acme": want lower-case letters`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCmd(t, append(tc.args, "--db", dbURL)...)
			if code != tc.code || stdout != "" || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d and %q", code, stdout, stderr, tc.code, tc.want)
			}
		})
	}
	if code := s.stop(); code != 0 {
		t.Fatalf("serve exit code: %d; stderr:\n%s", code, s.stderr.String())
	}
	// The log the commands and serve wrote verifies: serve signed its
	// first records at once; the commands' records, after that
	// checkpoint, by their chain.
	code, stdout, stderr := runCmd(t, "audit", "verify", "--db", dbURL)
	if code != 0 || !strings.HasPrefix(stdout, "ok: ") {
		t.Errorf("audit verify after the commands: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}
