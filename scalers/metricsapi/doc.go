// Package metricsapi is the "metrics-api" scaler: on every poll it GETs one
// HTTP URL and reads one number out of the answer, with KEDA's metrics-api
// trigger metadata (url, valueLocation, format, targetValue,
// activationTargetValue, timeout, unsafeSsl and authModes).
//
// The answer may be JSON (valueLocation is a GJSON path), YAML or XML (a
// dot-separated path of keys, element names and list indexes) or the
// Prometheus text exposition format (valueLocation is a metric selector such
// as queue_length{queue="jobs"}). The value may be a number or a string
// holding a number or a Kubernetes quantity ("100m", "1k", "2Ki").
//
// Reading the answer is apart from fetching it: ExtractValue (and the
// locator compiled from valueLocation once, at configuration time) is a pure
// function of the bytes; the Scaler only fetches them, with one
// http.Transport for its lifetime, a timeout and a cap on the answer size.
package metricsapi
