// Package natsjetstream is the "nats-jetstream" scaler: the messages a
// JetStream consumer has not yet had acknowledged (num_pending plus
// num_ack_pending), read from the NATS server's HTTP monitoring endpoint
// /jsz as KEDA's nats-jetstream scaler reads it, with KEDA's metadata
// (natsServerMonitoringEndpoint, account or accountID, stream, consumer,
// lagThreshold, activationLagThreshold, useHttps) and KEDA's metric name,
// "nats-jetstream-<stream>".
//
// Metadata parsing (metadata.go) is pure. Reading an answer (answer.go)
// is pure too: ParseJsz and ParseVarz decode the monitoring endpoint's
// JSON, Find picks the trigger's consumer out of a /jsz answer, and Lag
// is the number. The node URLs of a cluster are pure functions of the
// configured URL.
//
// Fetching (scaler.go): in a JetStream cluster (meta_cluster.cluster_size
// above 1) a node that is not the consumer's leader may report stale
// counts, so, as KEDA does, the scaler asks the configured node's /varz
// for the cluster's nodes, asks each node's /jsz until it finds the one
// whose server name is the consumer's leader, and keeps asking that node
// until the leader changes or the consumer is no longer found there. The
// whole call, every request of the search included, is bounded by the
// trigger's timeout. Credentials in the endpoint (user:password@host) are
// sent to the configured host only and never appear in errors.
package natsjetstream
