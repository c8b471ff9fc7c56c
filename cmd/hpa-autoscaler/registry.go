package main

import (
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/beanstalkd"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/cron"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/custom"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/etcd"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/githubrunner"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/kafka"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/metricsapi"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/mysql"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/natsjetstream"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/postgresql"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/prometheus"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/rabbitmq"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/redis"
)

// defaultMaxSourceConnections is --max-source-connections' default: the
// redis package's own.
const defaultMaxSourceConnections = redis.DefaultMaxClients

// registryOptions are the flags that reach the scaler packages' shared
// state (the rest reaches each build in scalers.Config).
type registryOptions struct {
	// maxSourceConnections bounds the distinct shared Redis clients, and
	// apart from them the distinct PostgreSQL and MySQL pools (0: each
	// package's default).
	maxSourceConnections int
	// secretFiles is which files <key>File keys may name, for every
	// type (custom's sources too); the zero value refuses them all.
	secretFiles scalers.FileAccess
}

// newRegistry returns a registry with every scaler type of the project, and
// the shared source clients' counts for /metrics (by source). Each scaler
// package adds one line here.
func newRegistry(o registryOptions) (*scalers.Registry, map[string]func() (open, limit int)) {
	r := scalers.NewRegistry()
	r.SetSecretFiles(o.secretFiles)
	r.MustRegister("kafka", kafka.New)
	r.MustRegister("rabbitmq", rabbitmq.New, scalers.WithDefaultTarget(rabbitmq.DefaultTarget))
	r.MustRegister(prometheus.Type, prometheus.New, scalers.WithDefaultTarget(prometheus.DefaultTarget))
	r.MustRegister(metricsapi.Type, metricsapi.New, scalers.WithDefaultTarget(metricsapi.DefaultTarget))
	r.MustRegister(cron.Type, cron.New)
	r.MustRegister(natsjetstream.Type, natsjetstream.New)
	r.MustRegister(etcd.Type, etcd.New)
	r.MustRegister(beanstalkd.Type, beanstalkd.New)
	r.MustRegister(githubrunner.Type, githubrunner.New)
	// One pool per distinct PostgreSQL (pgx) or MySQL (database/sql)
	// connection setting, shared by every ScaledObject with it.
	pg := postgresql.NewPools(postgresql.PoolsOptions{MaxPools: o.maxSourceConnections})
	r.MustRegister(postgresql.Type, pg.Factory(), scalers.WithDefaultTarget(postgresql.DefaultTarget))
	my := mysql.NewPools(mysql.PoolsOptions{MaxPools: o.maxSourceConnections})
	r.MustRegister(mysql.Type, my.Factory(), scalers.WithDefaultTarget(mysql.DefaultTarget))
	// One go-redis client (and pool) per distinct Redis connection, shared
	// by every ScaledObject on it; redis.Factory(type) would give each
	// ScaledObject its own pool.
	rc := redis.NewClients(redis.ClientsOptions{MaxClients: o.maxSourceConnections})
	for _, typ := range redis.Types() {
		r.MustRegister(typ, rc.Factory(typ))
	}
	r.MustRegister("custom", custom.NewFactory(r))
	return r, map[string]func() (int, int){"redis": rc.Stats, "postgresql": pg.Stats, "mysql": my.Stats}
}
