// Package charttest holds the tests of the Helm chart charts/hpa-autoscaler
// (it has no code of its own): strict lint, renders of the defaults, of an
// all-features values file and of the design's values-production.yaml with
// the Helm Go SDK, the checks of every rendered object (kinds, labels,
// security contexts, images, no secret in a ConfigMap, the CRD and RBAC
// identical to config/), the generated values.schema.json, a server-side
// dry-run apply of every object against a real kube-apiserver (envtest,
// with the Prometheus Operator's CRDs from its Go module), and an install
// then upgrade against it that keeps the generated certificates.
// See docs/install.md.
package charttest
