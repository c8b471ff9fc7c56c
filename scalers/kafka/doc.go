// Package kafka is the "kafka" scaler: the consumer lag of one consumer group
// on one topic (or on every topic the group has committed offsets for),
// with the metadata keys, defaults, validation rules and lag arithmetic of
// KEDA's built-in kafka scaler, so a trigger moves from KEDA to this server
// by changing only its type.
//
// It owns these separate pieces:
//
//   - metadata.go parses and validates the trigger metadata (including the
//     partitionLimitation list "1,2,10-20" and the oauthExtensions list
//     "k1=v1,k2=v2", broker addresses that read one way only, the list
//     limits, TLS material and what the brokers' version allows) into a
//     typed config, reporting every problem at once;
//   - oauth.go is sasl oauthbearer: a scalers.TokenSource (the client
//     credentials grant, each token kept until it is due for renewal) with
//     kafka's keys, and the SASL mechanism that presents its tokens;
//   - fetch.go talks to Kafka through one franz-go client per scaler: one
//     OffsetFetch for the group and one ListOffsets per partition leader,
//     with topic metadata cached for a short while;
//   - conn.go dials the brokers for that client (TCP and TLS within the
//     call's bound), keeps a broker whose connections fail in backoff, and
//     follows each connection through the client's hooks, so that errors.go
//     can say which broker did what when a call fails or runs out of time
//     (no answer, a refused connection, a failed TLS handshake or SASL
//     login);
//   - lag.go is the pure arithmetic over fetched offsets: lag per partition
//     (invalid commits, reset policy, persistent lag), the total, and the cap
//     that keeps replicas at or below the number of partitions.
//
// Every call (Metrics) returns within cfg.Timeouts.For(0) of its start
// (kafka has no timeout key), which is also every timeout of the client.
//
// The scaler keeps three pieces of state between calls, the committed
// offsets it saw last (for excludePersistentLag), in its TokenSource the
// current oauthbearer token, and in its dialer what each broker address
// did last; each is guarded by a mutex, so a Scaler is safe for concurrent
// use.
package kafka
