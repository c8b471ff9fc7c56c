package simulate

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
	"github.com/hpa-autoscaler/hpa-autoscaler/scaling"
	"github.com/hpa-autoscaler/hpa-autoscaler/scaling/scalerspec"
)

// NamedSpec is a scaling spec with a name for reports.
type NamedSpec struct {
	Name string
	Spec *scaling.Spec
}

// SpecOptions are defaults from the command line.
type SpecOptions struct {
	// PricePerReplicaHour turns costThresholds.maxCostPerHour into a budget
	// cap.
	PricePerReplicaHour float64
}

// DefaultSpec is the spec without a --spec file: an HPA without behavior
// (the legacy path) between 1 and 1000 replicas.
func DefaultSpec() NamedSpec {
	return NamedSpec{Name: "default", Spec: &scaling.Spec{
		MinReplicas: 1,
		MaxReplicas: 1000,
		Controller:  scaling.DefaultControllerConfig(),
		Features:    scaling.DefaultFeatureGates(),
	}}
}

// LoadSpecFile reads a Scaler YAML file.
func LoadSpecFile(path string, opts SpecOptions) (NamedSpec, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return NamedSpec{}, err
	}
	ns, err := ParseSpec(raw, opts)
	if err != nil {
		return NamedSpec{}, fmt.Errorf("%s: %w", path, err)
	}
	if ns.Name == "" {
		ns.Name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	}
	return ns, nil
}

// ParseSpec parses a Scaler object (api/v1): spec.scaling (minReplicas,
// maxReplicas, cooldownPeriod, scaleUpPolicy, scaleDownPolicy) and
// spec.advanced (safety, fallback, costOptimization), converted by
// scaling/scalerspec exactly as the agent converts them. The targetRef and
// triggers are not needed to replay demand, and not required. Unknown
// fields are errors; errors name the field.
func ParseSpec(raw []byte, opts SpecOptions) (NamedSpec, error) {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	// A duration that does not parse fails the whole decode with
	// time.ParseDuration's words and no field: check it first.
	var probe struct {
		Spec struct {
			Scaling struct {
				CooldownPeriod *string `json:"cooldownPeriod"`
			} `json:"scaling"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(raw, &probe); err == nil {
		if c := probe.Spec.Scaling.CooldownPeriod; c != nil {
			if _, err := time.ParseDuration(*c); err != nil {
				add("spec.scaling.cooldownPeriod", "%q: expected a duration such as 300s", *c)
				raw = dropCooldown(raw)
			}
		}
	}
	var f v1.Scaler
	if err := yaml.UnmarshalStrict(raw, &f); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return NamedSpec{}, fmt.Errorf("%s: %s is not a valid %s", te.Field, te.Value, te.Type)
		}
		msg := err.Error()
		if i := strings.Index(msg, "unknown field"); i >= 0 {
			msg = msg[i:]
			if strings.Contains(msg, `"behavior"`) {
				msg += ": a Scaler has no behavior block; its rules go in spec.scaling.scaleUpPolicy and scaleDownPolicy"
			}
			return NamedSpec{}, errors.New(msg)
		}
		return NamedSpec{}, err
	}
	if f.Kind != "" && f.Kind != "Scaler" {
		add("kind", "%q: expected Scaler", f.Kind)
	}
	res, err := scalerspec.Convert(&f.Spec, scalerspec.Options{PricePerReplicaHour: opts.PricePerReplicaHour})
	if err != nil {
		errs = append(errs, err)
	}
	if res.BudgetUnpriced {
		add("spec.advanced.costOptimization.costThresholds.maxCostPerHour", "needs --price-per-replica-hour to become a replica cap")
	}
	if err := errors.Join(errs...); err != nil {
		return NamedSpec{}, err
	}
	return NamedSpec{Name: f.Name, Spec: res.Spec}, nil
}

// dropCooldown removes spec.scaling.cooldownPeriod from raw (already
// reported), so that the other fields are still checked.
func dropCooldown(raw []byte) []byte {
	var m map[string]any
	if err := yaml.Unmarshal(raw, &m); err != nil {
		return raw
	}
	if spec, ok := m["spec"].(map[string]any); ok {
		if sc, ok := spec["scaling"].(map[string]any); ok {
			delete(sc, "cooldownPeriod")
		}
	}
	out, err := yaml.Marshal(m)
	if err != nil {
		return raw
	}
	return out
}
