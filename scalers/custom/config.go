package custom

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// Type is the scaler type this package registers.
const Type = "custom"

// SourcesVar is the name of the map variable that holds the value of every
// source that answered: has(sources.x) is false when source x failed.
const SourcesVar = "sources"

// MaxSources bounds the number of sources of one expression: every call
// fetches all of them concurrently.
const MaxSources = 32

// maxNameLen bounds a source name; names end up in metric names and errors.
const maxNameLen = 63

// Flat metadata keys.
const (
	keyExpression          = "expression"
	keyThreshold           = "threshold"
	keyActivationThreshold = "activationThreshold"
	sourcePrefix           = "source."
	keyType                = "type"
)

// Config is the typed configuration of a custom scaler, whichever way it was
// spelled (flat KEDA metadata or the Scaler CRD).
type Config struct {
	// Expression is the CEL expression; its result (a number, or a boolean
	// meaning 1 or 0) is the metric value.
	Expression string
	// Threshold is the target value of the metric per replica (> 0).
	Threshold float64
	// ActivationThreshold: the scaler is active when the value is above it.
	ActivationThreshold float64
	// Sources, sorted by name.
	Sources []Source
}

// Source is one named metric source: any other registered scaler type with
// its own metadata.
type Source struct {
	// Name is the CEL variable the source's value is bound to.
	Name string
	// Type is the scaler type, as registered (or the design's alias
	// "external" for metrics-api).
	Type string
	// Metadata is the source's own metadata, keys as that scaler type
	// expects them (without the source.<name>. prefix).
	Metadata map[string]string
}

// Spec is the design's scalerSpec.custom block of a Scaler
// (autoscaling.hpa-agent.io/v1) as the custom scaler takes it: the only Go
// copy of that block until the CRD's own types exist (api/v1, which will
// own the Kubernetes machinery such as DeepCopy and convert its block to
// this). Convert it with FromSpec.
type Spec struct {
	// Expression is the CEL expression over the sources' names.
	Expression string `json:"expression"`
	// Threshold is the target value per replica.
	Threshold float64 `json:"threshold"`
	// ActivationThreshold is the value above which the scaler is active.
	ActivationThreshold float64 `json:"activationThreshold,omitempty"`
	// MetricSources are the named sources the expression reads.
	MetricSources []MetricSource `json:"metricSources"`
}

// MetricSource is one entry of scalerSpec.custom.metricSources.
type MetricSource struct {
	// Name is the CEL variable name of the source.
	Name string `json:"name"`
	// Type is a registered scaler type (or "external").
	Type string `json:"type"`
	// Configuration is the source's metadata, as for a KEDA trigger of that
	// type.
	Configuration map[string]string `json:"configuration,omitempty"`
}

// ParseMetadata builds a Config from flat KEDA trigger metadata:
//
//	expression            the CEL expression (required)
//	threshold             target value per replica (required, > 0)
//	activationThreshold   activity threshold (default 0)
//	source.<name>.type    scaler type of source <name> (required per source)
//	source.<name>.<key>   metadata key <key> of source <name>
//
// Keys that are not these (KEDA's own, such as scalerAddress) are ignored.
// Every problem is reported at once in a *scalers.MetadataError.
func ParseMetadata(md map[string]string) (Config, error) {
	var top struct {
		Expression          string  `meta:"expression"`
		Threshold           float64 `meta:"threshold,gt=0"`
		ActivationThreshold float64 `meta:"activationThreshold,default=0"`
	}
	var errs []error
	if err := scalers.ParseMetadata(md, &top); err != nil {
		errs = append(errs, err)
	}
	cfg := Config{
		Expression:          top.Expression,
		Threshold:           top.Threshold,
		ActivationThreshold: top.ActivationThreshold,
	}

	byName := map[string]*Source{}
	for _, k := range slices.Sorted(maps.Keys(md)) {
		rest, ok := strings.CutPrefix(k, sourcePrefix)
		if !ok {
			continue
		}
		name, key, ok := strings.Cut(rest, ".")
		if !ok || name == "" || key == "" {
			errs = append(errs, &scalers.FieldError{Key: k, Missing: true, Msg: "malformed key, expected source.<name>.<key>"})
			continue
		}
		src := byName[name]
		if src == nil {
			src = &Source{Name: name, Metadata: map[string]string{}}
			byName[name] = src
		}
		if key == keyType {
			src.Type = strings.TrimSpace(md[k])
			continue
		}
		src.Metadata[key] = md[k]
	}
	for _, src := range byName {
		cfg.Sources = append(cfg.Sources, *src)
	}
	cfg.sortSources()
	// The top-level keys were checked by scalers.ParseMetadata above.
	errs = append(errs, cfg.validateSources(flatKeys{})...)
	if err := scalers.Invalid(errs...); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// FromSpec builds a Config from the Scaler CRD shape. Errors name the field
// by its path under scalerSpec.custom (metricSources[1].name, ...).
func FromSpec(s Spec) (Config, error) {
	cfg := Config{
		Expression:          strings.TrimSpace(s.Expression),
		Threshold:           s.Threshold,
		ActivationThreshold: s.ActivationThreshold,
	}
	for _, ms := range s.MetricSources {
		cfg.Sources = append(cfg.Sources, Source{
			Name:     ms.Name,
			Type:     strings.TrimSpace(ms.Type),
			Metadata: cloneMap(ms.Configuration),
		})
	}
	// Validate in the order the user wrote the sources, so indexes in
	// errors match the manifest; then normalise.
	errs := cfg.validate(specKeys{})
	cfg.sortSources()
	if err := scalers.Invalid(errs...); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// Spec returns the CRD shape of c (the inverse of FromSpec).
func (c Config) Spec() Spec {
	s := Spec{
		Expression:          c.Expression,
		Threshold:           c.Threshold,
		ActivationThreshold: c.ActivationThreshold,
	}
	for _, src := range c.Sources {
		s.MetricSources = append(s.MetricSources, MetricSource{
			Name:          src.Name,
			Type:          src.Type,
			Configuration: cloneMap(src.Metadata),
		})
	}
	return s
}

// Metadata returns the flat KEDA metadata spelling of c (the inverse of
// ParseMetadata).
func (c Config) Metadata() map[string]string {
	md := map[string]string{
		keyExpression: c.Expression,
		keyThreshold:  strconv.FormatFloat(c.Threshold, 'g', -1, 64),
	}
	if c.ActivationThreshold != 0 {
		md[keyActivationThreshold] = strconv.FormatFloat(c.ActivationThreshold, 'g', -1, 64)
	}
	for _, src := range c.Sources {
		md[sourcePrefix+src.Name+"."+keyType] = src.Type
		for k, v := range src.Metadata {
			md[sourcePrefix+src.Name+"."+k] = v
		}
	}
	return md
}

// Validate checks c as ParseMetadata and FromSpec do (useful for a Config
// built in code).
func (c Config) Validate() error {
	return scalers.Invalid(c.validate(flatKeys{})...)
}

func (c *Config) sortSources() {
	slices.SortStableFunc(c.Sources, func(a, b Source) int { return cmp.Compare(a.Name, b.Name) })
}

// keyNamer names the keys of a Config in one of its two spellings.
type keyNamer interface {
	// source names field ("name", "type" or "" for the source itself) of
	// the i-th source, called name.
	source(i int, name, field string) string
	// sources names the list of sources.
	sources() string
	// config names key of the metadata of the i-th source.
	config(i int, name, key string) string
}

type flatKeys struct{}

func (flatKeys) source(_ int, name, field string) string {
	if field == "" || field == "name" {
		return sourcePrefix + name
	}
	return sourcePrefix + name + "." + field
}
func (flatKeys) sources() string { return sourcePrefix + "<name>.type" }
func (flatKeys) config(_ int, name, key string) string {
	return sourcePrefix + name + "." + key
}

type specKeys struct{}

func (specKeys) source(i int, _, field string) string {
	k := "metricSources[" + strconv.Itoa(i) + "]"
	if field != "" {
		k += "." + field
	}
	return k
}
func (specKeys) sources() string { return "metricSources" }
func (specKeys) config(i int, _, key string) string {
	return "metricSources[" + strconv.Itoa(i) + "].configuration." + key
}

// validate checks everything that needs no registry; the expression is
// compiled (and source types resolved) when the scaler is built. The
// errors are returned one by one (scalers.Invalid takes them so).
func (c *Config) validate(keys keyNamer) []error {
	var errs []error
	if strings.TrimSpace(c.Expression) == "" {
		errs = append(errs, &scalers.FieldError{Key: keyExpression, Missing: true, Msg: "required key is missing"})
	}
	if math.IsNaN(c.Threshold) || math.IsInf(c.Threshold, 0) || c.Threshold <= 0 {
		errs = append(errs, scalers.NewFieldError(keyThreshold, fmtFloat(c.Threshold), "must be > 0"))
	}
	if math.IsNaN(c.ActivationThreshold) || math.IsInf(c.ActivationThreshold, 0) {
		errs = append(errs, scalers.NewFieldError(keyActivationThreshold, fmtFloat(c.ActivationThreshold), "not a number"))
	}
	return append(errs, c.validateSources(keys)...)
}

// validateSources checks the list of sources.
func (c *Config) validateSources(keys keyNamer) []error {
	var errs []error
	switch n := len(c.Sources); {
	case n == 0:
		errs = append(errs, &scalers.FieldError{Key: keys.sources(), Missing: true,
			Msg: "at least one source is required"})
	case n > MaxSources:
		errs = append(errs, scalers.NewFieldError(keys.sources(), strconv.Itoa(n),
			"too many sources, at most "+strconv.Itoa(MaxSources)))
	}
	seen := map[string]bool{}
	for i, src := range c.Sources {
		if err := checkName(src.Name); err != nil {
			errs = append(errs, scalers.NewFieldError(keys.source(i, src.Name, "name"), src.Name, err.Error()))
		} else if seen[src.Name] {
			errs = append(errs, scalers.NewFieldError(keys.source(i, src.Name, "name"), src.Name, "duplicate source name"))
		}
		seen[src.Name] = true
		switch {
		case src.Type == "":
			errs = append(errs, &scalers.FieldError{Key: keys.source(i, src.Name, keyType), Missing: true,
				Msg: "required key is missing (the scaler type of the source)"})
		case src.Type == Type:
			errs = append(errs, scalers.NewFieldError(keys.source(i, src.Name, keyType), src.Type,
				"a source cannot be a custom scaler: combine the expressions into one"))
		}
		// The flat spelling can say neither of these keys.
		for _, k := range slices.Sorted(maps.Keys(src.Metadata)) {
			switch k {
			case "":
				errs = append(errs, &scalers.FieldError{Key: keys.config(i, src.Name, k), Secret: true,
					Msg: "empty key"})
			case keyType:
				errs = append(errs, &scalers.FieldError{Key: keys.config(i, src.Name, k), Secret: true,
					Msg: "type is the scaler type of the source, not a key of its metadata"})
			}
		}
	}
	return errs
}

// reserved are names a source cannot take: CEL's reserved words, the
// sources map, the namespaces of the functions we offer, and type names
// (a variable named int would shadow the int() conversion).
var reserved = map[string]bool{
	"as": true, "break": true, "const": true, "continue": true, "else": true,
	"false": true, "for": true, "function": true, "if": true, "import": true,
	"in": true, "let": true, "loop": true, "package": true, "namespace": true,
	"null": true, "return": true, "true": true, "var": true, "void": true,
	"while":    true,
	SourcesVar: true, "cel": true, "math": true, "optional": true,
	"int": true, "uint": true, "double": true, "bool": true, "string": true,
	"bytes": true, "list": true, "map": true, "null_type": true, "type": true,
	"dyn": true, "duration": true, "timestamp": true,
}

// checkName reports why name cannot be a CEL variable of ours.
func checkName(name string) error {
	if name == "" {
		return errors.New("source name is empty")
	}
	if len(name) > maxNameLen {
		return fmt.Errorf("source name is longer than %d characters", maxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		letter := c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		if !letter && (i == 0 || c < '0' || c > '9') {
			return errors.New("not a valid CEL identifier: a letter or '_' followed by letters, digits or '_'")
		}
	}
	if reserved[name] {
		return errors.New("reserved word in CEL expressions, choose another name")
	}
	return nil
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// cloneMap copies m; the result is never nil, so both spellings give equal
// Configs.
func cloneMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	maps.Copy(out, m)
	return out
}
