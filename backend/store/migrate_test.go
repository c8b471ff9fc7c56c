package store

import (
	"fmt"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMigrationsOfBothDialectsMatch(t *testing.T) {
	versions := func(d *dialect) []int {
		var out []int
		for _, m := range migrations(d) {
			out = append(out, m.version)
			if len(statements(m.sql)) == 0 {
				t.Errorf("%s %s: no statements", d.name, m.name)
			}
		}
		return out
	}
	s, p := versions(sqliteDialect()), versions(postgresDialect())
	if diff := cmp.Diff(s, p); diff != "" {
		t.Fatalf("migration versions sqlite vs postgres (-sqlite +postgres):\n%s", diff)
	}
	for i, v := range s {
		if v != i+1 {
			t.Fatalf("migration versions %v: want 1, 2, 3, ...", s)
		}
	}
}

func TestStatements(t *testing.T) {
	got := statements("-- a comment\nCREATE TABLE a (\n\tx INTEGER\n);\n\nINSERT INTO a VALUES (1);\nSELECT 1")
	want := []string{"CREATE TABLE a (\n\tx INTEGER\n);", "INSERT INTO a VALUES (1);", "SELECT 1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("statements (-want +got):\n%s", diff)
	}
}

func TestMigrate(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			url := b.url(t)
			cur, latest, err := SchemaVersion(ctx, url)
			if err != nil || cur != 0 || latest < 1 {
				t.Fatalf("SchemaVersion of an empty database = %d, %d, %v; want 0, >= 1", cur, latest, err)
			}
			v, err := Migrate(ctx, url)
			if err != nil || v != latest {
				t.Fatalf("Migrate = %d, %v; want %d", v, err, latest)
			}
			// Again: nothing to do. Open migrates too, as a no-op.
			if v, err := Migrate(ctx, url); err != nil || v != latest {
				t.Fatalf("second Migrate = %d, %v", v, err)
			}
			s := open(t, url, Options{})
			newTenant(t, s, "acme")
			_ = s.Close()
			if cur, _, err := SchemaVersion(ctx, url); err != nil || cur != latest {
				t.Fatalf("SchemaVersion after = %d, %v", cur, err)
			}

			// A newer binary migrated the database: this one refuses it,
			// and changes nothing.
			c, err := connect(ctx, url, Options{}.withDefaults())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.writer.ExecContext(ctx, c.d.q(`INSERT INTO schema_migrations (version, name, applied_us) VALUES (?, ?, 0)`), latest+1, "from the future"); err != nil {
				t.Fatal(err)
			}
			c.close()
			_, err = Open(ctx, url, Options{})
			wantErr(t, "Open of a newer schema", err, ErrSchemaTooNew)
			_, err = Migrate(ctx, url)
			wantErr(t, "Migrate of a newer schema", err, ErrSchemaTooNew)
			if cur, _, _ := SchemaVersion(ctx, url); cur != latest+1 {
				t.Fatalf("SchemaVersion = %d, want %d", cur, latest+1)
			}
		})
	}
}

// TestMigrationIsOneTransaction: a migration that fails half-way leaves
// the database as it was (no table of its first statements, no version).
func TestMigrationIsOneTransaction(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			url := b.url(t)
			c, err := connect(ctx, url, Options{}.withDefaults())
			if err != nil {
				t.Fatal(err)
			}
			defer c.close()
			good := migrations(c.d)
			bad := append(slices.Clone(good), migration{version: len(good) + 1, name: "bad.sql", sql: "CREATE TABLE half (x INTEGER);\nTHIS IS NOT SQL;"})
			_, err = migrateWith(ctx, c, bad)
			if err == nil {
				t.Fatal("a bad migration succeeded")
			}
			for _, table := range []string{"half", "tenants", "schema_migrations"} {
				var n int
				err := c.reader.QueryRowContext(ctx, fmt.Sprintf("SELECT COUNT(*) FROM %s", table)).Scan(&n)
				if err == nil {
					t.Fatalf("table %s exists after the failed migration", table)
				}
			}
			if v, err := migrateWith(ctx, c, good); err != nil || v != len(good) {
				t.Fatalf("migrate after = %d, %v", v, err)
			}
		})
	}
}
