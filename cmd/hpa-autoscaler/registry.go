package main

import (
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/kafka"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/rabbitmq"
)

// newRegistry returns a registry with every scaler type of the project.
// Each scaler package adds one line here.
func newRegistry() *scalers.Registry {
	r := scalers.NewRegistry()
	r.MustRegister("kafka", kafka.New)
	r.MustRegister("rabbitmq", rabbitmq.New)
	return r
}
