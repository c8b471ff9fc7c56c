package externalscaler

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/postgresql"
	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
)

// BenchmarkGetMetricsPostgres is BenchmarkGetMetricsLoad's shape for the
// postgresql scaler: 1,000 ScaledObjects, each a trigger whose query
// counts its own rows of a table on a local PostgreSQL (one query in a
// read-only transaction per call; triggers on one connection string share
// one pool), measured in interleaved rounds next to the empty handler in
// the same run; reported: postgresql/empty-calls and each server's
// calls/s, p50/p99 and CPU per call (not PostgreSQL's).
func BenchmarkGetMetricsPostgres(b *testing.B) {
	pg := testenv.StartPostgres(b)
	url := pg.NewDatabase(b)
	ctx := context.Background()
	db := url[strings.LastIndex(url, "/")+1:]
	if i := strings.IndexByte(db, '?'); i >= 0 {
		db = db[:i]
	}
	if err := pg.ExecIn(ctx, db, `CREATE TABLE jobs (object int NOT NULL, id int NOT NULL); CREATE INDEX jobs_object ON jobs (object);
		INSERT INTO jobs SELECT g % 1000, g FROM generate_series(1, 7000) g`); err != nil {
		b.Fatal(err)
	}
	reqs := make([]*pb.GetMetricsRequest, benchObjects)
	for i := range reqs {
		reqs[i] = &pb.GetMetricsRequest{
			ScaledObjectRef: &pb.ScaledObjectRef{Namespace: "team-" + strconv.Itoa(i%20), Name: "worker-" + strconv.Itoa(i), ScalerMetadata: map[string]string{
				"scalerType":       postgresql.Type,
				"scalerAddress":    "hpa-autoscaler.hpa-system.svc:9443",
				"connection":       url,
				"query":            fmt.Sprintf("SELECT count(*) FROM jobs WHERE object = %d", i),
				"targetQueryValue": "5",
			}},
			MetricName: postgresql.Type,
		}
	}
	pools := postgresql.NewPools(postgresql.PoolsOptions{})
	r := scalers.NewRegistry()
	r.MustRegister(postgresql.Type, pools.Factory())
	for _, callers := range []int{64, 8} {
		b.Run("callers="+strconv.Itoa(callers), func(b *testing.B) {
			runLoad(b, callers, []*loadTarget{
				{name: "empty", addr: startEmpty(b), reqs: reqs},
				{name: "postgresql", addr: startBenchServer(b, r), reqs: reqs},
			})
		})
	}
}
