package history

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
)

// pg is one PostgreSQL server for the package's tests, a database each.
var pg testenv.SharedPostgres

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(pg.Wrap(m),
		// database/sql's connection opener lives until the DB is closed;
		// every store is closed by its test's cleanup.
		goleak.IgnoreTopFunction("database/sql.(*DB).connectionOpener"))
}
