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
// forecast floor to each decision: the reactive policy adds none, a
// predictive one (package predictor) plugs in through the same interface.
package simulate
