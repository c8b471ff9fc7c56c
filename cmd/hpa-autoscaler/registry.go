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
	// by every ScaledObject on it; redis.Factory(type) would give each
	// ScaledObject its own pool.
	rc := redis.NewClients(redis.ClientsOptions{})
	for _, typ := range redis.Types() {
		r.MustRegister(typ, rc.Factory(typ))
	}
	r.MustRegister("custom", custom.NewFactory(r))
	return r
}
