// Package predictor forecasts a demand series from its own history.
//
// It owns the forecasting models (naive, seasonal naive, a seasonal ratio
// model, simple exponential smoothing and Holt-Winters with additive or
// multiplicative seasonality, whose parameters are fitted by Nelder-Mead on
// the one-step error), the cleaning of raw samples into a regular series
// (short gaps filled, outliers capped robustly), rolling-origin backtests
// that guard against look-ahead, and the Tracker: an online forecaster that
// detects the series' periods (package period), fits every candidate model,
// scores each one's forecasts as the actual values arrive with an
// asymmetric loss (under-forecasting costs more than over-forecasting, as
// under-provisioning does), picks the best one per horizon, and falls back
// to the naive forecast where nothing beats it. Prediction intervals come
// from the empirical quantiles of each model's own recent forecast errors,
// so a forecast says how sure it is (see Forecast.Confidence).
//
// Stream puts timestamped values (whole steps, or polled samples) on the
// grid a Tracker needs and gives its forecasts their times; Floor turns a
// forecast into a lower bound on replicas for the decision engine over a
// look-ahead window plus the pods' start-up delay. Package predictive wraps
// any scalers.Scaler so that its metric values become the history of a
// Stream.
//
// The package is pure computation: no I/O, no clock. Time enters only as
// sample timestamps and the "now" a caller passes. Models may be shared;
// States, Trackers and Streams are not safe for concurrent use.
package predictor
