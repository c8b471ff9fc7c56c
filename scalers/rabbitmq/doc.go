// Package rabbitmq is the scaler type "rabbitmq": the length or message
// rates of a RabbitMQ queue (or of every queue whose name matches a regular
// expression), configured with the same trigger metadata as KEDA's built-in
// rabbitmq scaler so a trigger moves to this server by changing only its
// type.
//
// Two protocols fetch the numbers:
//
//   - AMQP 0-9-1: a passive queue.declare on one connection that is kept
//     open across calls and dialled again after it drops. It yields the
//     number of ready messages only, so it supports mode QueueLength alone.
//   - HTTP: the management plugin's API (/api/queues/...), which adds
//     unacknowledged messages, publish and deliver rates, regular-expression
//     queue selection with sum, max or avg, and excludeUnacknowledged.
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
