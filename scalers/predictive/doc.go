// Package predictive wraps any scalers.Scaler so that the values it fetches
// become the history of a forecast: every successful Metrics call records
// each metric's value in a predictor.MetricStreams (one stream per metric),
// and Floor turns the forecasts into the replica floor the decision engine
// takes as a lower bound on its reactive recommendation (scaling.Observed's
// ForecastFloor). The metrics themselves pass through unchanged.
//
// It is the decorator of the layer that composes scalers (beside
// scalers/custom): the forecasting itself (the streams, the floor and its
// reason) is pure code in package predictor, which knows no metric
// source. The external scaler, the CRD agent and the backend use the same
// API: Wrap a scaler, fetch through it as usual, and ask Floor(now) of
// the wrapper (Find recovers it from a wrapped scaler, Floorer is the
// one-method view). Seed gives a new wrapper the past of its series (a
// warm start: the live values recorded meanwhile go on top), Record
// records values a caller fetched from Unwrap() itself, and ParseMetadata
// reads the trigger keys of the KEDA path (predictive, lookAhead,
// confidenceThreshold, startupDelay, historyStep).
//
// A wrapped scaler is safe for concurrent use, as scalers.Scaler requires;
// the forecasting state is guarded by a mutex and time comes from an
// injected clock.
package predictive
