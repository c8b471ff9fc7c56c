// Package decide is the conformance interface of the decision engine: one
// JSON decision request in, one JSON decision out, as the `hpa-autoscaler
// decide` command exposes it. Decode parses and validates a request (every
// error names the field), Evaluate runs the engine (package scaling) on it.
//
// A request describes an HPA (minReplicas, maxReplicas, metrics as
// autoscaling/v2 MetricSpec objects with their current values in integer
// milli-units, behavior), the controller configuration and feature gates,
// and the stored history (recommendations and scale events, each
// secondsAgo). A request with a `keda` object instead asks for KEDA's
// activation step alone. See docs/decision-engine.md for the full shape.
package decide
