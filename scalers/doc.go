// Package scalers owns the contract every metric source implements and the
// machinery they share: the Scaler interface and its optional abilities, the
// registry of scaler types, typed parsing of KEDA-style trigger metadata
// (map[string]string -> validated struct, with every field error collected),
// secrets that never leak, TLS settings, the authentication of HTTP sources
// (HTTPAuth and HTTPSource), the OAuth2 client credentials TokenSource
// (authModes oauth and kafka's sasl oauthbearer) and Single, the skeleton
// of a scaler that offers one metric.
//
// It also owns the rules every scaler's messages follow: the bounds of a
// call (Timeouts) and of what metadata may ask (Limits); one rule for the
// user info of a URL, parsed or not (RedactURL, Redactor.AddURL); values
// and answers quoted in errors cut to a bounded length with their length
// stated (Quote, Excerpt, FieldError); and where an HTTP exchange stalled
// (TraceHTTP).
//
// A scaler type lives in its own package under scalers/ (scalers/redis,
// scalers/kafka, ...) and is added to a Registry by the binary; this package
// knows none of them. It also knows nothing of gRPC, Kubernetes or the
// backend: those layers sit above it.
package scalers
