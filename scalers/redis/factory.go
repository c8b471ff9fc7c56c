package redis

import (
	"context"
	"maps"
	"slices"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// measure is what a Redis scaler type reports.
type measure int

const (
	// listLength: the length of a list, set, sorted set or hash (list.go).
	listLength measure = iota
	// streamCount: the pending entries, length or consumer group lag of a
	// stream (streams.go).
	streamCount
)

// scalerType is one of KEDA's Redis scaler types: how Redis is reached and
// what is measured there.
type scalerType struct {
	topo    topology
	measure measure
}

// scalerTypes is KEDA's six Redis scaler types, the three topologies times
// the two measurements. It is the only place that says which name is
// which; every factory is derived from it.
var scalerTypes = map[string]scalerType{
	"redis":                  {standalone, listLength},
	"redis-cluster":          {cluster, listLength},
	"redis-sentinel":         {sentinel, listLength},
	"redis-streams":          {standalone, streamCount},
	"redis-cluster-streams":  {cluster, streamCount},
	"redis-sentinel-streams": {sentinel, streamCount},
}

// Types returns the names of the scaler types this package implements
// (KEDA's six Redis types), sorted.
func Types() []string { return slices.Sorted(maps.Keys(scalerTypes)) }

// Factory returns the factory of scaler type typ (one of Types) whose
// scalers share c's clients; a nil c gives every scaler a small connection
// pool of its own. It returns nil for any other name, which
// scalers.Registry.Register refuses.
//
// The factories never contact Redis: a scaler is built (and its metric spec
// served) even while Redis is down, and each Metrics call reports the
// outage with ErrUnavailable. So their ctx is not used.
func (c *Clients) Factory(typ string) scalers.Factory {
	t, ok := scalerTypes[typ]
	if !ok {
		return nil
	}
	return func(_ context.Context, cfg scalers.Config) (scalers.Scaler, error) {
		return c.build(cfg, t)
	}
}

// Factory is (*Clients)(nil).Factory: the factory of type typ whose scalers
// each have a connection pool of their own.
func Factory(typ string) scalers.Factory { return (*Clients)(nil).Factory(typ) }

func (c *Clients) build(cfg scalers.Config, t scalerType) (scalers.Scaler, error) {
	if t.measure == streamCount {
		return c.newStreams(cfg, t.topo)
	}
	return c.newList(cfg, t.topo)
}

// The named factories below are Factory of their type, for wiring code that
// registers the types one by one.

// NewList is the "redis" factory with a connection pool of its own per
// scaler.
func NewList(ctx context.Context, cfg scalers.Config) (scalers.Scaler, error) {
	return (*Clients)(nil).NewList(ctx, cfg)
}

// NewList is the "redis" factory.
func (c *Clients) NewList(ctx context.Context, cfg scalers.Config) (scalers.Scaler, error) {
	return c.Factory("redis")(ctx, cfg)
}

// NewClusterList is the "redis-cluster" factory.
func (c *Clients) NewClusterList(ctx context.Context, cfg scalers.Config) (scalers.Scaler, error) {
	return c.Factory("redis-cluster")(ctx, cfg)
}

// NewSentinelList is the "redis-sentinel" factory.
func (c *Clients) NewSentinelList(ctx context.Context, cfg scalers.Config) (scalers.Scaler, error) {
	return c.Factory("redis-sentinel")(ctx, cfg)
}

// NewStreams is the "redis-streams" factory.
func (c *Clients) NewStreams(ctx context.Context, cfg scalers.Config) (scalers.Scaler, error) {
	return c.Factory("redis-streams")(ctx, cfg)
}

// NewClusterStreams is the "redis-cluster-streams" factory.
func (c *Clients) NewClusterStreams(ctx context.Context, cfg scalers.Config) (scalers.Scaler, error) {
	return c.Factory("redis-cluster-streams")(ctx, cfg)
}

// NewSentinelStreams is the "redis-sentinel-streams" factory.
func (c *Clients) NewSentinelStreams(ctx context.Context, cfg scalers.Config) (scalers.Scaler, error) {
	return c.Factory("redis-sentinel-streams")(ctx, cfg)
}
