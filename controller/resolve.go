package controller

import (
	"context"

	"github.com/hpa-autoscaler/hpa-autoscaler/controller/triggers"
)

// defaultResolve is Options.Resolve's default.
func defaultResolve(ctx context.Context, in triggers.Input) (*triggers.Trigger, error) {
	return triggers.Resolve(ctx, in)
}
