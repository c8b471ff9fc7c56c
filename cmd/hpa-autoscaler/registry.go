package main

import (
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// newRegistry returns a registry with every scaler type of the project.
// Each scaler package adds one line here.
func newRegistry() *scalers.Registry {
	r := scalers.NewRegistry()
	return r
}
