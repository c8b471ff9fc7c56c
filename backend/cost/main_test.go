package cost

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hpa-autoscaler/hpa-autoscaler/backend/store"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
)

// pg is the PostgreSQL server of the package's tests (a database per
// test).
var pg testenv.SharedPostgres

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(pg.Wrap(m),
		// database/sql's connection opener lives until the DB is
		// closed; every store is closed by its test's cleanup.
		goleak.IgnoreTopFunction("database/sql.(*DB).connectionOpener"))
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// openStore opens a SQLite store with tenant acme and its cluster c1.
func openStore(t testing.TB, now func() time.Time) store.Store {
	t.Helper()
	s, err := store.Open(testCtx(t), "sqlite:"+filepath.Join(t.TempDir(), "store.db"), store.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Update(testCtx(t), "acme", "test", func(tx store.Tx) error {
		if _, err := tx.CreateTenant("Acme"); err != nil {
			return err
		}
		_, err := tx.CreateCluster(store.Cluster{ID: "c1", Name: "one"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return s
}

func testCtxCancel(t testing.TB) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx, cancel
}
