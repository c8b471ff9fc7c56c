package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hpa-autoscaler/hpa-autoscaler/backend/audit"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/auth"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/store"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
)

// runCmd runs the command line in process and returns its exit code,
// stdout and stderr.
func runCmd(t testing.TB, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), args, strings.NewReader(""), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// auditedDB is a SQLite database in a temporary directory with six
// audit records, all signed by a checkpoint whose key lies next to it
// (as serve leaves them).
func auditedDB(t *testing.T) (dbURL, path string) {
	t.Helper()
	dir := t.TempDir()
	path = filepath.Join(dir, "hpa.db")
	dbURL = "sqlite:" + path
	ctx := t.Context()
	s, err := store.Open(ctx, dbURL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.Update(ctx, "acme", "system", func(tx store.Tx) error {
		if _, err := tx.CreateTenant("acme"); err != nil {
			return err
		}
		for i := range 4 {
			g, err := auth.Generate("acme")
			if err != nil {
				return err
			}
			if _, err := tx.CreateToken(store.Token{ID: g.ID, Name: fmt.Sprint("t", i), Role: store.RoleViewer, SecretHash: g.SecretHash}); err != nil {
				return err
			}
		}
		_, err := tx.Append("decision", "scalers/web", map[string]any{"replicas": 3})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	key, _, err := audit.LoadOrGenerateKey(filepath.Join(dir, auditKeyFileName), audit.OriginPrefix+"local")
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- store.RunCheckpoints(cctx, s, store.CheckpointOptions{Key: key, Policy: audit.CheckpointPolicy{Every: 1, Interval: time.Hour}})
	}()
	head, err := s.Admin().Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	scalertest.Eventually(t, 10*time.Second, "a checkpoint of the whole log", func() error {
		c, err := s.Admin().LatestCheckpoint(ctx)
		if err != nil {
			return err
		}
		if c.TreeSize != head.Seq {
			return fmt.Errorf("checkpoint of size %d, head %d", c.TreeSize, head.Seq)
		}
		return nil
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return dbURL, path
}

func TestAuditVerify(t *testing.T) {
	ok := regexp.MustCompile(`^ok: (\d+) records, head [0-9a-f]{64}\n$`)
	tests := []struct {
		name   string
		tamper []string // SQL run on the SQLite file before verify
		body   int64    // seq whose body is edited (0: none)
		want   string   // the start of stdout; "" for ok
	}{
		{name: "untouched"},
		{name: "a body edited", body: 3, want: "broken at seq 3: "},
		{name: "a row deleted", tamper: []string{`DELETE FROM audit_records WHERE seq = 2`}, want: "broken at seq 2: "},
		{name: "two rows' seq swapped", tamper: []string{
			`UPDATE audit_records SET seq = -2 WHERE seq = 2`,
			`UPDATE audit_records SET seq = 2 WHERE seq = 4`,
			`UPDATE audit_records SET seq = 4 WHERE seq = -2`,
		}, want: "broken at seq 2: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dbURL, path := auditedDB(t)
			db, err := sql.Open("sqlite", "file:"+path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			for _, q := range tc.tamper {
				if _, err := db.Exec(q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			if tc.body != 0 {
				var body []byte
				if err := db.QueryRow(`SELECT body FROM audit_records WHERE seq = ?`, tc.body).Scan(&body); err != nil {
					t.Fatal(err)
				}
				edited := bytes.Replace(body, []byte(`"t1"`), []byte(`"t9"`), 1)
				if bytes.Equal(edited, body) {
					t.Fatalf("body of seq %d has no \"t1\": %s", tc.body, body)
				}
				if _, err := db.Exec(`UPDATE audit_records SET body = ? WHERE seq = ?`, edited, tc.body); err != nil {
					t.Fatal(err)
				}
			}
			code, stdout, stderr := runCmd(t, "audit", "verify", "--db", dbURL)
			if tc.want == "" {
				if code != 0 || !ok.MatchString(stdout) {
					t.Fatalf("verify: exit %d, stdout %q, stderr %q; want ok", code, stdout, stderr)
				}
				if m := ok.FindStringSubmatch(stdout); m[1] != "6" {
					t.Errorf("verify: %s records, want 6", m[1])
				}
				return
			}
			if code != 1 || !strings.HasPrefix(stdout, tc.want) {
				t.Fatalf("verify: exit %d, stdout %q, stderr %q; want exit 1 and %q...", code, stdout, stderr, tc.want)
			}
			t.Logf("verify: %s", strings.TrimSpace(stdout))
		})
	}
}
