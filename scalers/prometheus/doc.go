// Package prometheus is the "prometheus" scaler: it runs one PromQL instant
// query against a Prometheus compatible HTTP API (Prometheus, Thanos,
// Cortex, Mimir, ...) on every poll and offers the single sample it returns
// as the metric, with KEDA's prometheus trigger metadata (serverAddress,
// query, threshold, activationThreshold, ignoreNullValues, queryParameters,
// customHeaders, namespace, timeout, unsafeSsl and authModes: basic,
// bearer, tls, custom and oauth, the OAuth2 client credentials grant that
// scalers.HTTPSource implements).
//
// The query is evaluated at the time of an injected clock. The answer must
// hold exactly one sample (an instant vector of one series, or a scalar);
// an empty answer, NaN and ±Inf become 0 when ignoreNullValues is true (the
// default) and an error wrapping scalers.ErrNoData otherwise. More than one
// sample is always an error naming the count.
//
// Reading the answer (Value) is a pure function apart from the HTTP
// exchange, which uses the client_golang api/v1 client over one
// http.Transport per scaler.
package prometheus
