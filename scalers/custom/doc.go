// Package custom is the "custom" scaler type: a CEL expression (cel-go) over
// named metric sources, each of them any other registered scaler type with
// its own metadata.
//
// The package owns three things:
//
//   - the typed configuration (Config) and its spelling as flat KEDA trigger
//     metadata (expression, threshold, activationThreshold,
//     source.<name>.type, source.<name>.<key>), parsed by ParseMetadata.
//     A Scaler's scalerSpec.custom block is defined in api/v1 and mapped
//     onto these keys by the agent (controller/triggers), so this package
//     has no copy of the CRD shape and imports neither;
//   - the expression compiler and evaluator (Compile, Program): type-checked
//     once, bounded at run time by a CEL cost limit and a timeout, with every
//     source declared as a double variable and all of them in the map
//     variable `sources` so an expression can test for a failing source
//     with has(sources.x) or sources.?x.orValue(0.0);
//   - the Scaler, which fetches every source concurrently on each call and
//     evaluates the expression over the results.
//
// Sources are built through the SourceRegistry given to NewFactory (a
// *scalers.Registry), and each source type fills its own unused target
// (scalers.WithDefaultTarget), so this package imports no other scaler
// package and knows none of their keys.
package custom
