// Package history keeps the metric history of every series the backend
// sees (tenant, cluster, namespace, scaler, trigger) and serves forecasts
// and replica floors from it.
//
// It owns three things:
//
//   - Recording: Observe takes a sample without blocking and without
//     touching the database (a bounded queue; what does not fit is shed
//     and counted). One goroutine puts the samples on a regular step
//     (several in a step averaged) and hands each closed step to the
//     writer, which appends them to the store in batches (many series per
//     transaction, through the store's one writer, without audit records).
//     Maintain applies retention and downsampling.
//   - Forecasting: one predictor.Tracker per series in memory, bounded in
//     number, evicted when idle. A tracker is a deterministic function of
//     the series' recorded steps: it is rebuilt from its window
//     (Tracker.Load) at steps fixed by the series and the clock and fed
//     step by step in between, so the tracker rebuilt from the stored
//     history at a start is the one the previous process had.
//   - Recommending: Recommend is a lookup in those trackers (no database
//     read): each trigger's forecast over the look-ahead window, and the
//     replica floor the highest of them asks for, or why there is none.
//
// It knows nothing of the Scaler spec or of the REST API: callers pass the
// predictive settings and trigger targets.
package history
