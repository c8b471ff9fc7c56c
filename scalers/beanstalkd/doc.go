// Package beanstalkd is the "beanstalkd" scaler: the jobs of a Beanstalkd
// tube, ready plus reserved (plus delayed with includeDelayed), as KEDA's
// beanstalkd scaler counts them, with KEDA's metadata (server, tube,
// value, activationValue, includeDelayed, timeout) and KEDA's metric
// name, "beanstalkd-<tube>".
//
// Metadata parsing (metadata.go) is pure, and so is reading an answer
// (answer.go): ReadAnswer reads one answer of the text protocol from a
// bounded reader, ParseStats decodes the YAML dictionary of a stats-tube
// answer, and Jobs is the count. A tube the server does not know (it has
// no jobs and no client using it) counts 0, as in KEDA.
//
// Fetching (scaler.go) speaks the protocol itself, without a client
// library: one TCP connection per scaler, made at the first call, one
// stats-tube command at a time on it, every exchange bounded by the
// trigger's timeout through the connection's deadline; a connection that
// fails is closed and the next call dials again.
package beanstalkd
