// Package redis implements KEDA's Redis scalers with go-redis: the length of
// a list (or set, sorted set, hash) as KEDA's "redis" scaler measures it, and
// the pending entries, length or consumer-group lag of a stream as KEDA's
// "redis-streams" scaler does. Each comes in three topologies, as in KEDA: a
// single server ("redis", "redis-streams"), a Redis Cluster
// ("redis-cluster", "redis-cluster-streams") and a master found through
// Sentinel ("redis-sentinel", "redis-sentinel-streams").
//
// The metadata keys, defaults and semantics are KEDA's (see
// docs/scalers/redis.md); parsing is in metadata.go and is pure. Fetching is
// one Redis round trip per Metrics call on the common path, with fresh values
// every time.
//
// Types: the six type names map to a topology and a measurement in one
// table (factory.go); Factory(type) and Clients.Factory(type) are derived
// from it, as are the named factories (NewList, Clients.NewClusterList, ...).
//
// Clients: Factory (and NewList) give every scaler its own small connection
// pool. A Clients value shares one reference-counted go-redis client among
// all scalers it builds that have identical connection settings (same
// addresses, credentials source, database, TLS), which is what the server
// wires in: a thousand ScaledObjects on one Redis then use one pool instead
// of a thousand.
package redis
