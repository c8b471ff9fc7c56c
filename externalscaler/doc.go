// Package externalscaler serves KEDA's external scaler gRPC contract
// (externalscaler.ExternalScaler, with the generated types of
// github.com/kedacore/keda/v2/pkg/scalers/externalscaler) on top of the
// scalers registry.
//
// A ScaledObject trigger of `type: external` names our server in
// scalerAddress and a scaler type in the metadata key scalerType; every
// other key is the metadata of that scaler type, with KEDA's own keys and
// defaults. The server keeps one scaler instance per ScaledObject
// (namespace/name), built once on first use, rebuilt when the trigger's
// metadata changes, and closed when idle. Values are fetched fresh on every
// call: KEDA decides its own polling.
//
// The package owns:
//   - Server: the RPC handlers (IsActive, StreamIsActive, GetMetricSpec,
//     GetMetrics, StreamMetricSpec), the per-ScaledObject cache (failed
//     builds remembered, retried with backoff), the mapping of scaler
//     errors to gRPC codes, and the request metrics;
//   - the server's side of the bound on source calls: scalers get
//     Options.Timeouts and ScalerLimits in every build, and a fetch the
//     scaler does not end within its trigger's bound plus SourceGrace is
//     answered Unavailable anyway (builds likewise);
//   - Limits: what one client can make the server hold (metadata size,
//     scaler instances, the length of status messages and log values;
//     BoundedLogger), reported in /metrics with their current values;
//   - the KEDA path of predictive scaling: a trigger with predictive:
//     "true" (keys parsed by scalers/predictive.ParseMetadata) has its
//     scaler wrapped by scalers/predictive; GetMetrics serves
//     max(value, floor x target in KEDA's milli-units) so that KEDA's HPA
//     runs the forecast floor; fetched values go to an optional
//     HistorySink through a bounded queue and one goroutine, and a new
//     instance is warm-started from an optional HistorySource in the
//     background (the call path stays a read of the source plus an
//     in-memory lookup);
//   - Serve: the listeners' life cycle (gRPC with health and reflection,
//     optional TLS/mTLS with certificate reload; HTTP with /metrics,
//     /healthz and /readyz) and graceful shutdown within one deadline
//     (CloseContext then closes the scalers without waiting past it).
//
// It knows nothing of Kubernetes; the binary wires it in cmd/hpa-autoscaler.
package externalscaler
