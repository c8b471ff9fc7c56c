// Package testenv starts real servers for integration tests: each helper
// runs its own instance of the installed binary (the Debian package) on a free
// loopback port, in a temporary directory, with no persistence, and stops it
// in t.Cleanup. Instances are isolated, so tests using them may run in
// parallel.
//
// One file per server (redis.go, rabbitmq.go, prometheus.go, ...); certs.go
// makes the certificates of a test (a CA, server and client certificates,
// an mTLS httptest server). Every helper takes a testing.TB and calls
// t.Helper(). A helper whose binary is missing fails the test loudly
// (t.Fatal) with the package to install (hack/test-deps.sh installs them
// all); it never skips.
//
// A helper returns once its server answers a real request, never when its
// port merely accepts connections: redis-server a PING; Prometheus
// /-/ready and a completed scrape of each target; RabbitMQ an AMQP
// handshake, and the management API as this node with every vhost
// running; etcd a Get; beanstalkd a stats command. Every wait has a
// deadline far above what a loaded machine needs and fails naming what
// was awaited and the last error (poll, the contract of
// scalertest.Eventually for code that returns errors).
package testenv
