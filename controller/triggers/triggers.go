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

// Trigger is a resolved trigger: what the agent builds a scaler from
// (through its scalers.Registry, with Type and Metadata) or, for resource,
// measures itself.
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
	// "Value"; empty for resource (its targetType says how the value is
	// compared).
	MetricType string
	// SecretKeys are the keys of Metadata whose values come from Secrets
	// (secretRefs and the typed blocks' *Secret fields), sorted: the
	// values to scrub from any message that could echo them.
	SecretKeys []string
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
