package main

import (
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/custom"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/kafka"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/metricsapi"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/prometheus"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/rabbitmq"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/redis"
)

// newRegistry returns a registry with every scaler type of the project.
// Each scaler package adds one line here.
func newRegistry() *scalers.Registry {
	r := scalers.NewRegistry()
	r.MustRegister("kafka", kafka.New)
	r.MustRegister("rabbitmq", rabbitmq.New, scalers.WithDefaultTarget(rabbitmq.DefaultTarget))
	r.MustRegister(prometheus.Type, prometheus.New, scalers.WithDefaultTarget(prometheus.DefaultTarget))
	r.MustRegister(metricsapi.Type, metricsapi.New, scalers.WithDefaultTarget(metricsapi.DefaultTarget))
	// One go-redis client (and pool) per distinct Redis connection, shared
	// by every ScaledObject on it; the package-level redis.NewList etc. would
	// give each ScaledObject its own pool.
	rc := redis.NewClients(redis.ClientsOptions{})
	r.MustRegister("redis", rc.NewList)
	r.MustRegister("redis-cluster", rc.NewClusterList)
	r.MustRegister("redis-sentinel", rc.NewSentinelList)
	r.MustRegister("redis-streams", rc.NewStreams)
	r.MustRegister("redis-cluster-streams", rc.NewClusterStreams)
	r.MustRegister("redis-sentinel-streams", rc.NewSentinelStreams)
	r.MustRegister("custom", custom.NewFactory(r))
	return r
}
