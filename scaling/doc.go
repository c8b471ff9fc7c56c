// Package scaling is the decision engine: every replica count the project
// sets comes from here. It is pure: no I/O, no clock. Time is an input
// (now), and history (stored recommendations and scale events) is passed in.
//
// The engine reproduces the Kubernetes v1.36 horizontal pod autoscaler:
//
//   - per-metric proposals as replica_calculator.go computes them
//     (Resource/ContainerResource Utilization and AverageValue, Pods
//     AverageValue, Object and External Value and AverageValue), with the
//     controller tolerance and the per-direction tolerances of
//     HPAConfigurableTolerance, in the same float64 order of operations;
//   - for per-pod metrics given as samples of every listed pod (PodInfo,
//     PodSample), the controller's handling of pods that are not ready or
//     have no metrics yet: pod grouping (GroupPod, GroupPods) with the CPU
//     initialization period and initial readiness delay, and the proposal
//     recomputed with those pods assumed at 0 or at the target;
//   - normalization as horizontal.go does it: the pre-checks, the legacy
//     path for an HPA without behavior, and the behavior path with
//     stabilization windows and Pods/Percent policies counted from past
//     scale events;
//   - scale from zero with the HPAScaleToZero feature gate.
//
// On top of that it offers, each off by default so the above stays exact,
// KEDA's activation step (scale to and from zero or idle replicas with
// cooldowns), fallback after repeated metric failures, safety caps per
// decision, a cooldown between scaling actions, a budget cap and a floor
// from a forecast.
//
// Decide returns a Decision that carries every intermediate value and the
// Rule that decided, so an audit log can say why. Autoscaler is a stateful
// helper that keeps the history for a controller or simulator and reuses
// its buffers, so the steady-state decision path does not allocate.
package scaling
