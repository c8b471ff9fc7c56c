// Package rabbitmq is the scaler type "rabbitmq": the length or message
// rates of a RabbitMQ queue (or of every queue whose name matches a regular
// expression), configured with the same trigger metadata as KEDA's built-in
// rabbitmq scaler so a trigger moves to this server by changing only its
// type.
//
// Two protocols fetch the numbers:
//
//   - AMQP 0-9-1: a passive queue.declare on one connection that is kept
//     open across calls. It is made by the first call, not by New (which
//     does no I/O), and made again after it drops; a failed attempt is
//     repeated only after a backoff (retry.go). The handshake goes through
//     handshake.go, which asks the broker to answer a refused login at
//     once. It yields the number of ready messages only, so it supports
//     mode QueueLength alone.
//   - HTTP: the management plugin's API (/api/queues/...), which adds
//     unacknowledged messages, publish and deliver rates, regular-expression
//     queue selection with sum, max or avg, and excludeUnacknowledged.
//
// Every call returns within the scaler's bound (scalers.Config.Timeouts
// for the timeout key), connecting included.
//
// Parsing and checking the metadata (metadata.go), fetching (amqp.go,
// http.go) and the arithmetic that turns queue statistics into a metric and
// an activity flag (compute.go, pure functions) are kept apart. The scaler
// (scaler.go) is a scalers.Single over them: one metric, named after the
// queue, with the target value.
//
// Credentials travel in the host URL, in username/password or in OAuth2
// client credentials; all are scalers.Secret values and every error that
// leaves the package is passed through a scalers.Redactor.
package rabbitmq
