package simulate

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"sigs.k8s.io/yaml"

	"github.com/hpa-autoscaler/hpa-autoscaler/scaling"
	"github.com/hpa-autoscaler/hpa-autoscaler/scaling/hpa"
)

// NamedSpec is a scaling spec with a name for reports.
type NamedSpec struct {
	Name string
	Spec *scaling.Spec
}

// scalerFile is the part of a Scaler object (autoscaling.hpa-agent.io/v1)
// the simulator reads; other keys (targetRef, scalerSpec, ...) are ignored.
// It is the only Go copy of spec.scaling and spec.advanced until the CRD's
// own types (api/v1) exist; see docs/architecture.md.
type scalerFile struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Scaling struct {
			MinReplicas     *int32                                         `json:"minReplicas"`
			MaxReplicas     *int32                                         `json:"maxReplicas"`
			CooldownPeriod  duration                                       `json:"cooldownPeriod"`
			ScaleUpPolicy   *autoscalingv2.HPAScalingRules                 `json:"scaleUpPolicy"`
			ScaleDownPolicy *autoscalingv2.HPAScalingRules                 `json:"scaleDownPolicy"`
			Behavior        *autoscalingv2.HorizontalPodAutoscalerBehavior `json:"behavior"`
		} `json:"scaling"`
		Behavior *autoscalingv2.HorizontalPodAutoscalerBehavior `json:"behavior"`
		Advanced struct {
			Safety *struct {
				MaxScaleUpPercent   *int32 `json:"maxScaleUpPercent"`
				MaxScaleDownPercent *int32 `json:"maxScaleDownPercent"`
			} `json:"safety"`
			CostOptimization *struct {
				Enabled        *bool `json:"enabled"`
				CostThresholds struct {
					MaxCostPerHour number `json:"maxCostPerHour"`
				} `json:"costThresholds"`
			} `json:"costOptimization"`
		} `json:"advanced"`
	} `json:"spec"`
}

// duration accepts "300s", "5m" or a number of seconds.
type duration struct {
	d   time.Duration
	set bool
	bad string
}

func (d *duration) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "null" {
		return nil
	}
	d.set = true
	if v, err := strconv.ParseFloat(s, 64); err == nil {
		if v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
			d.bad = s
			return nil
		}
		d.d = time.Duration(v * float64(time.Second))
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		d.bad = s
		return nil
	}
	d.d = v
	return nil
}

// number accepts a JSON number or a quoted one ("50.00").
type number struct {
	v   float64
	set bool
	bad string
}

func (n *number) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "null" {
		return nil
	}
	n.set = true
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
		n.bad = s
		return nil
	}
	n.v = v
	return nil
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

// ParseSpec parses a Scaler object: spec.scaling.minReplicas/maxReplicas/
// cooldownPeriod/scaleUpPolicy/scaleDownPolicy (or an autoscaling/v2
// behavior block at spec.behavior or spec.scaling.behavior),
// spec.advanced.safety and spec.advanced.costOptimization. Errors name the
// field.
func ParseSpec(raw []byte, opts SpecOptions) (NamedSpec, error) {
	var f scalerFile
	if err := yaml.Unmarshal(raw, &f); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return NamedSpec{}, fmt.Errorf("%s: %s is not a valid %s", te.Field, te.Value, te.Type)
		}
		return NamedSpec{}, err
	}
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if f.Kind != "" && f.Kind != "Scaler" {
		add("kind", "%q: expected Scaler", f.Kind)
	}
	sc := &f.Spec.Scaling
	spec := &scaling.Spec{MinReplicas: 1, Controller: scaling.DefaultControllerConfig(), Features: scaling.DefaultFeatureGates()}
	if sc.MinReplicas != nil {
		if *sc.MinReplicas < 0 {
			add("spec.scaling.minReplicas", "%d: expected 0 or more", *sc.MinReplicas)
		}
		spec.MinReplicas = *sc.MinReplicas
	}
	switch {
	case sc.MaxReplicas == nil:
		add("spec.scaling.maxReplicas", "missing: required")
	case *sc.MaxReplicas < 1 || *sc.MaxReplicas < spec.MinReplicas:
		add("spec.scaling.maxReplicas", "%d: expected at least 1 and at least minReplicas (%d)", *sc.MaxReplicas, spec.MinReplicas)
	default:
		spec.MaxReplicas = *sc.MaxReplicas
	}
	if sc.CooldownPeriod.bad != "" {
		add("spec.scaling.cooldownPeriod", "%q: expected a duration such as 300s", sc.CooldownPeriod.bad)
	}
	spec.CooldownPeriod = sc.CooldownPeriod.d

	behavior := f.Spec.Behavior
	bpath := "spec.behavior"
	if sc.Behavior != nil {
		if behavior != nil {
			add("spec.scaling.behavior", "given together with spec.behavior: give one")
		}
		behavior, bpath = sc.Behavior, "spec.scaling.behavior"
	}
	if sc.ScaleUpPolicy != nil || sc.ScaleDownPolicy != nil {
		if behavior != nil {
			add(bpath, "given together with spec.scaling.scaleUpPolicy/scaleDownPolicy: give one form")
		}
		up, err1 := hpa.Rules("spec.scaling.scaleUpPolicy", sc.ScaleUpPolicy, scaling.DefaultScaleUpRules())
		down, err2 := hpa.Rules("spec.scaling.scaleDownPolicy", sc.ScaleDownPolicy, scaling.DefaultScaleDownRules())
		if err := errors.Join(err1, err2); err != nil {
			errs = append(errs, err)
		}
		spec.Behavior = &scaling.Behavior{ScaleUp: up, ScaleDown: down}
	} else if behavior != nil {
		b, err := hpa.Behavior(bpath, behavior)
		if err != nil {
			errs = append(errs, err)
		}
		spec.Behavior = b
	}

	if s := f.Spec.Advanced.Safety; s != nil {
		sf := &scaling.Safety{}
		if v := s.MaxScaleUpPercent; v != nil {
			if *v < 0 {
				add("spec.advanced.safety.maxScaleUpPercent", "%d: expected 0 or more", *v)
			}
			sf.MaxScaleUpPercent = *v
		}
		if v := s.MaxScaleDownPercent; v != nil {
			if *v < 0 || *v > 100 {
				add("spec.advanced.safety.maxScaleDownPercent", "%d: expected 0 to 100", *v)
			}
			sf.MaxScaleDownPercent = *v
		}
		spec.Safety = sf
	}
	if c := f.Spec.Advanced.CostOptimization; c != nil && (c.Enabled == nil || *c.Enabled) {
		m := c.CostThresholds.MaxCostPerHour
		switch {
		case m.bad != "":
			add("spec.advanced.costOptimization.costThresholds.maxCostPerHour", "%q: expected a cost such as \"50.00\"", m.bad)
		case m.set && opts.PricePerReplicaHour <= 0:
			add("spec.advanced.costOptimization.costThresholds.maxCostPerHour", "needs --price-per-replica-hour to become a replica cap")
		case m.set:
			spec.Budget = &scaling.Budget{MaxCostPerHour: m.v, PricePerReplicaHour: opts.PricePerReplicaHour}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return NamedSpec{}, err
	}
	return NamedSpec{Name: f.Metadata.Name, Spec: spec}, nil
}
