// Package cron is the "cron" scaler: a fixed number of replicas inside a
// window that opens at one cron schedule and closes at another, in a time
// zone, with KEDA's cron trigger metadata (timezone, start, end,
// desiredReplicas) and KEDA's semantics.
//
// The state is decided by which event comes next (window.go, pure, with
// now as an argument): when the next firing of end comes no later than
// the next firing of start, the window is open and the metric is
// desiredReplicas; otherwise it is 0. That is how KEDA decides, and it
// covers windows that cross midnight and daylight-saving changes alike
// without special cases; the schedules are github.com/robfig/cron/v3's
// five-field ones, as in KEDA, evaluated in the trigger's time zone (the
// Go time zone database is embedded, so a zone resolves in a container
// without /usr/share/zoneinfo).
//
// The scaler reads no source: Metrics asks an injected clock for now and
// never fails. See docs/scalers/cron.md.
package cron
