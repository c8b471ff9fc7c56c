// Package triggers turns the triggers of a Scaler (api/v1) into what the
// agent builds scalers from: for every type but resource, a scaler type of
// the registry and its metadata with KEDA's keys, the secrets it references
// read from the Scaler's namespace; for resource, the typed block itself
// (the agent measures pods through metrics.k8s.io).
//
// The design's typed blocks (kafka, prometheus, custom) map onto the keys
// of the scaler of that type; the generic block (metadata, secretRefs)
// passes KEDA's keys through unchanged, so a ScaledObject trigger moves
// into a Scaler without renaming a key. Secret values are put into the
// metadata and never into an error.
//
// Resolve does no I/O but the Secret reads of its SecretReader, and builds
// nothing: the agent builds the scaler from the Trigger through its
// registry, whose parsers check the keys' values. Resolve checks what the
// mapping needs and what must never reach a parser from a Scaler: keys that
// read the agent's environment or files (<key>FromEnv, <key>File) and KEDA's
// own keys (scalerAddress, scalerType). The mapping of every field is in
// docs/agent-triggers.md.
package triggers
