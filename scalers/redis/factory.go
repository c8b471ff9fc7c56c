package redis

import (
	"context"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// The factories never contact Redis: a scaler is built (and its metric spec
// served) even while Redis is down, and each Metrics call reports the
// outage with ErrUnavailable. So ctx is not used.

// NewList builds KEDA's "redis" scaler (the length of a list, set, sorted
// set or hash on a single server) with its own connection pool.
func NewList(_ context.Context, cfg scalers.Config) (scalers.Scaler, error) {
	return (*Clients)(nil).newList(cfg, standalone)
}

// NewClusterList builds KEDA's "redis-cluster" scaler with its own
// connection pool.
func NewClusterList(_ context.Context, cfg scalers.Config) (scalers.Scaler, error) {
	return (*Clients)(nil).newList(cfg, cluster)
}

// NewSentinelList builds KEDA's "redis-sentinel" scaler with its own
// connection pool.
func NewSentinelList(_ context.Context, cfg scalers.Config) (scalers.Scaler, error) {
	return (*Clients)(nil).newList(cfg, sentinel)
}

// NewStreams builds KEDA's "redis-streams" scaler (pending entries, length
// or consumer group lag of a stream on a single server) with its own
// connection pool.
func NewStreams(_ context.Context, cfg scalers.Config) (scalers.Scaler, error) {
	return (*Clients)(nil).newStreams(cfg, standalone)
}

// NewClusterStreams builds KEDA's "redis-cluster-streams" scaler with its own
// connection pool.
func NewClusterStreams(_ context.Context, cfg scalers.Config) (scalers.Scaler, error) {
	return (*Clients)(nil).newStreams(cfg, cluster)
}

// NewSentinelStreams builds KEDA's "redis-sentinel-streams" scaler with its
// own connection pool.
func NewSentinelStreams(_ context.Context, cfg scalers.Config) (scalers.Scaler, error) {
	return (*Clients)(nil).newStreams(cfg, sentinel)
}

// NewList is the "redis" factory with shared clients.
func (c *Clients) NewList(_ context.Context, cfg scalers.Config) (scalers.Scaler, error) {
	return c.newList(cfg, standalone)
}

// NewClusterList is the "redis-cluster" factory with shared clients.
func (c *Clients) NewClusterList(_ context.Context, cfg scalers.Config) (scalers.Scaler, error) {
	return c.newList(cfg, cluster)
}

// NewSentinelList is the "redis-sentinel" factory with shared clients.
func (c *Clients) NewSentinelList(_ context.Context, cfg scalers.Config) (scalers.Scaler, error) {
	return c.newList(cfg, sentinel)
}

// NewStreams is the "redis-streams" factory with shared clients.
func (c *Clients) NewStreams(_ context.Context, cfg scalers.Config) (scalers.Scaler, error) {
	return c.newStreams(cfg, standalone)
}

// NewClusterStreams is the "redis-cluster-streams" factory with shared
// clients.
func (c *Clients) NewClusterStreams(_ context.Context, cfg scalers.Config) (scalers.Scaler, error) {
	return c.newStreams(cfg, cluster)
}

// NewSentinelStreams is the "redis-sentinel-streams" factory with shared
// clients.
func (c *Clients) NewSentinelStreams(_ context.Context, cfg scalers.Config) (scalers.Scaler, error) {
	return c.newStreams(cfg, sentinel)
}
