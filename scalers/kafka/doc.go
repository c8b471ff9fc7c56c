// Package kafka is the "kafka" scaler: the consumer lag of one consumer group
// on one topic (or on every topic the group has committed offsets for),
// with the metadata keys, defaults, validation rules and lag arithmetic of
// KEDA's built-in kafka scaler, so a trigger moves from KEDA to this server
// by changing only its type.
//
// It owns four separate pieces:
//
//   - metadata.go parses and validates the trigger metadata (including the
//     partitionLimitation list "1,2,10-20" and the oauthExtensions list
//     "k1=v1,k2=v2") into a typed config, reporting every problem at once;
//   - oauth.go is sasl oauthbearer: a scalers.TokenSource (the client
//     credentials grant, each token kept until it is due for renewal) with
//     kafka's keys, and the SASL mechanism that presents its tokens;
//   - fetch.go talks to Kafka through one franz-go client per scaler: one
//     OffsetFetch for the group and one ListOffsets per partition leader,
//     with topic metadata cached for a short while;
//   - lag.go is the pure arithmetic over fetched offsets: lag per partition
//     (invalid commits, reset policy, persistent lag), the total, and the cap
//     that keeps replicas at or below the number of partitions.
//
// The scaler keeps two pieces of state between calls, the committed offsets
// it saw last (for excludePersistentLag) and, in its TokenSource, the
// current oauthbearer token; each is guarded by a mutex, so a Scaler is
// safe for concurrent use.
package kafka
