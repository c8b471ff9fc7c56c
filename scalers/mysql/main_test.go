package mysql

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
)

// db is the MariaDB server of the package's tests, a database per test;
// the outage test starts its own.
var db testenv.SharedMariaDB

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(db.Wrap(m))
}
