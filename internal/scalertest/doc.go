// Package scalertest holds the test helpers that several scaler packages
// share: reading the KEDA examples under examples/keda, standing in for
// secret files, building metadata from a base and overrides or from fuzz
// input, an in-memory HTTP answer, and checking an error's sentinel and
// message. Every helper that can fail takes a testing.TB and calls
// t.Helper(). Servers for integration tests are in internal/testenv.
package scalertest
