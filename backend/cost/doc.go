// Package cost prices workloads: the price table (built-in OpenCost
// defaults or a YAML file, with node pools), the arithmetic of a
// workload's cost per step in integer micro-units, the Recorder that
// accumulates cost samples beside the metric history and writes them in
// batches, the budget caps the scaling engine applies (a Scaler's
// costThresholds.maxCostPerHour and the tenant's monthly budgets), and
// the Prometheus gauges of cost, spot usage and efficiency, and the
// efficiency report (ComputeEfficiency: requested vs used resources, and
// actual replica-hours against ReactiveReplay, a reactive-only replay of
// the stored trigger history through the engine).
//
// Money is Micros (int64, 1 unit of the currency = 1,000,000); shares
// and discounts are PPM (parts per million). The only rounding is
// round-half-away-from-zero, once per cost of one resource of one step
// (see Rate.Cost).
package cost
