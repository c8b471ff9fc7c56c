// Package simulate replays a demand trace through the decision engine and
// reports what each policy would have cost and missed: demand above ready
// capacity (unserved), replica-hours and cost, scaling actions, peak
// replicas.
//
// The model: every Interval the engine decides (as the HPA controller syncs
// every 15 s) from the demand at that instant, exposed as an External metric
// with an AverageValue target of CapacityPerReplica × TargetUtilization per
// replica. New pods become ready StartupDelay after they are created;
// removed pods go at once, not-yet-ready ones first. Ready capacity is ready
// pods × CapacityPerReplica; demand above it is unserved. A Policy can add a
// forecast floor to each decision: the reactive policy adds none, the
// predictive one feeds the series to a predictor.Stream and asks it for the
// floor, through the same interface.
//
// Unlike package scaling, this package does I/O: it reads Scaler spec
// files and writes reports and plots. It imports scaling, predictor and
// demand, and nothing above them.
package simulate
