// Package etcd is the "etcd" scaler: the number stored at one key of an
// etcd v3 cluster, with KEDA's metadata (endpoints, watchKey, value,
// activationValue, watchProgressNotifyInterval, username and password,
// tls with ca, cert, key and keyPassword) and KEDA's metric name,
// "etcd-<watchKey>".
//
// Metadata parsing (metadata.go) and reading a stored value (ParseValue
// in value.go) are pure.
//
// Fetching (scaler.go): Metrics reads the key with one bounded Get. The
// scaler is also a scalers.PushScaler: Run watches the key (with progress
// notifications, as KEDA does) and sends the trigger's activity at each
// change, so the external scaler's StreamIsActive pushes without polling.
// A watch that ends (an error from the server, no progress notification
// within twice watchProgressNotifyInterval, the connection lost) is
// started again after a backoff of 2 s doubling to 1 min, as in KEDA; each
// new watch first reads the key and sends its activity, then watches from
// the revision it read, so no change made between two watches is missed.
//
// The client (go.etcd.io/etcd/client/v3) is made at the first call, not in
// the factory: with a username it logs in while being made, and a
// factory does no I/O. The password never appears in errors or logs.
package etcd
