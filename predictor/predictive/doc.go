// Package predictive wraps any scalers.Scaler so that the values it fetches
// become the history of a forecast: every successful Metrics call records
// each metric's value in a predictor.Stream (one per metric), and Floor
// turns the forecasts into the replica floor the decision engine takes as
// a lower bound on its reactive recommendation (scaling.Observed's
// ForecastFloor). The metrics themselves pass through unchanged.
//
// A wrapped scaler is safe for concurrent use, as scalers.Scaler requires;
// the forecasting state is guarded by a mutex and time comes from an
// injected clock.
package predictive
