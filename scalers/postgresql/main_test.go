package postgresql

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
)

// pg is the PostgreSQL server of the package's tests, a database per
// test; the outage tests start their own.
var pg testenv.SharedPostgres

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(pg.Wrap(m))
}
