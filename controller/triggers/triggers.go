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
package triggers

import (
	"context"

	corev1 "k8s.io/api/core/v1"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
)

// SecretReader reads one Secret of a namespace by name (a get, never a
// list or watch: the agent's RBAC allows only get on Secrets). A Secret
// that does not exist is an error that apierrors.IsNotFound recognises.
type SecretReader interface {
	GetSecret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
}

// Input is one trigger of a Scaler to resolve.
type Input struct {
	// Namespace of the Scaler: secrets are read from it.
	Namespace string
	// Path is the trigger's field path for errors: "spec.scalerSpec" or
	// "spec.triggers[2]".
	Path string
	// Spec is the trigger.
	Spec v1.TriggerSpec
	// Secrets reads the referenced Secrets.
	Secrets SecretReader
}

// Trigger is a resolved trigger.
type Trigger struct {
	// Name is the trigger's name (spec name, or its type when unnamed).
	Name string
	// Type is the scaler type to build from the registry (for a kafka
	// block over several topics: custom, summing one kafka source per
	// topic); "resource" for a resource trigger.
	Type string
	// Metadata is the scaler's metadata, secrets filled in; nil for
	// resource.
	Metadata map[string]string
	// Resource is the resource block (type resource only).
	Resource *v1.ResourceTrigger
	// MetricType is the trigger's metricType: "AverageValue" (default) or
	// "Value".
	MetricType string
	// Secrets are the Secrets read, each with the resourceVersion seen,
	// sorted by name: a change of any of them means the trigger must be
	// resolved and built again.
	Secrets []SecretVersion
}

// SecretVersion is a Secret a trigger read and the version it saw.
type SecretVersion struct {
	Name            string
	ResourceVersion string
}
