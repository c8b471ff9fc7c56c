package simulate

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hpa-autoscaler/hpa-autoscaler/demand"
)

// Model is what a policy needs to turn demand into replicas.
type Model struct {
	// CapacityPerReplica is the demand one ready replica serves, in the
	// trace's units.
	CapacityPerReplica float64
	// TargetUtilization is the fraction of capacity the autoscaler aims at.
	TargetUtilization float64
	// StartupDelay is how long a new pod takes to become ready.
	StartupDelay time.Duration
	// Step is the trace's sampling interval; Interval the decision interval.
	Step     time.Duration
	Interval time.Duration
}

// Replicas is the replica count that serves demand at the target
// utilization, as the HPA computes it: ceil(demand / (capacity ×
// utilization)).
func (m Model) Replicas(demand float64) int32 {
	per := m.CapacityPerReplica * m.TargetUtilization
	if per <= 0 || demand <= 0 {
		return 0
	}
	r := math.Ceil(demand/per - 1e-9)
	if r > math.MaxInt32 {
		return math.MaxInt32
	}
	return int32(r)
}

// Policy adds a forecast floor to the reactive decision.
//
// Floor is called once per decision, in time order, with the demand
// observed so far (history ends with the point in effect at now; it aliases
// the trace and must not be modified or kept) and returns the minimum
// replica count to hold now, or 0 for none. The engine only ever raises the
// count to the floor; scale-in never happens on a forecast alone. A Policy
// is used by one run at a time.
type Policy interface {
	Name() string
	Floor(history []demand.Point, now time.Time, m Model) int32
}

// Reactive is the plain HPA: no forecast.
type Reactive struct{}

// Name implements Policy.
func (Reactive) Name() string { return "reactive" }

// Floor implements Policy.
func (Reactive) Floor([]demand.Point, time.Time, Model) int32 { return 0 }

// PolicyFactory builds a fresh policy for one run.
type PolicyFactory func(m Model) (Policy, error)

// Registry maps policy names (for --policy) to factories; aliases expand to
// several names (e.g. "both").
type Registry struct {
	factories map[string]PolicyFactory
	aliases   map[string][]string
}

// NewRegistry returns a registry with the policies of this package:
// "reactive" (the plain HPA), "predictive" (the HPA with a forecast floor)
// and "both" (an alias for the two).
func NewRegistry() *Registry {
	r := &Registry{factories: map[string]PolicyFactory{}, aliases: map[string][]string{}}
	r.Register("reactive", func(Model) (Policy, error) { return Reactive{}, nil })
	r.Register("predictive", NewPredictive)
	r.RegisterAlias("both", "reactive", "predictive")
	return r
}

// Register adds a policy; a name registered twice panics (a wiring bug).
func (r *Registry) Register(name string, f PolicyFactory) {
	if _, dup := r.factories[name]; dup {
		panic("simulate: policy " + name + " registered twice")
	}
	r.factories[name] = f
}

// RegisterAlias makes name stand for the given policies.
func (r *Registry) RegisterAlias(name string, policies ...string) {
	r.aliases[name] = policies
}

// Names lists the registered policy names and aliases.
func (r *Registry) Names() []string {
	var out []string
	for n := range r.factories {
		out = append(out, n)
	}
	for n := range r.aliases {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Resolve expands aliases and builds one policy per distinct name, in
// order.
func (r *Registry) Resolve(names []string, m Model) ([]Policy, error) {
	var expanded []string
	for _, n := range names {
		if a, ok := r.aliases[n]; ok {
			expanded = append(expanded, a...)
			continue
		}
		expanded = append(expanded, n)
	}
	var out []Policy
	seen := map[string]bool{}
	for _, n := range expanded {
		if seen[n] {
			continue
		}
		seen[n] = true
		f, ok := r.factories[n]
		if !ok {
			return nil, fmt.Errorf("policy %q: expected one of %s", n, strings.Join(r.Names(), ", "))
		}
		p, err := f(m)
		if err != nil {
			return nil, fmt.Errorf("policy %q: %w", n, err)
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no policy: expected one of %s", strings.Join(r.Names(), ", "))
	}
	return slices.Clip(out), nil
}
