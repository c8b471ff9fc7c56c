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
	// sourcesKey names the list of sources in errors.
	sourcesKey = sourcePrefix + "<name>.type"
)

// Config is the typed configuration of a custom scaler. Its one spelling
// outside Go is the flat KEDA trigger metadata (ParseMetadata, Metadata):
// the agent maps a Scaler's scalerSpec.custom block (api/v1) onto those
// keys (controller/triggers), so this package knows no CRD shape.
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
	errs = append(errs, cfg.validateSources()...)
	if err := scalers.Invalid(errs...); err != nil {
		return cfg, err
	}
	return cfg, nil
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

// Validate checks c as ParseMetadata does (useful for a Config built in
// code). Errors name the flat keys: source.<name>.type, ...
func (c Config) Validate() error {
	return scalers.Invalid(c.validate()...)
}

func (c *Config) sortSources() {
	slices.SortStableFunc(c.Sources, func(a, b Source) int { return cmp.Compare(a.Name, b.Name) })
}

// sourceKey is the flat key source.<name>.<key>, or source.<name> (the
// source itself) for key "".
func sourceKey(name, key string) string {
	if key == "" {
		return sourcePrefix + name
	}
	return sourcePrefix + name + "." + key
}

// validate checks everything that needs no registry; the expression is
// compiled (and source types resolved) when the scaler is built. The
// errors are returned one by one (scalers.Invalid takes them so).
func (c *Config) validate() []error {
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
	return append(errs, c.validateSources()...)
}

// validateSources checks the list of sources.
func (c *Config) validateSources() []error {
	var errs []error
	switch n := len(c.Sources); {
	case n == 0:
		errs = append(errs, &scalers.FieldError{Key: sourcesKey, Missing: true,
			Msg: "at least one source is required"})
	case n > MaxSources:
		errs = append(errs, scalers.NewFieldError(sourcesKey, strconv.Itoa(n),
			"too many sources, at most "+strconv.Itoa(MaxSources)))
	}
	seen := map[string]bool{}
	for _, src := range c.Sources {
		if err := checkName(src.Name); err != nil {
			errs = append(errs, scalers.NewFieldError(sourceKey(src.Name, ""), src.Name, err.Error()))
		} else if seen[src.Name] {
			errs = append(errs, scalers.NewFieldError(sourceKey(src.Name, ""), src.Name, "duplicate source name"))
		}
		seen[src.Name] = true
		switch {
		case src.Type == "":
			errs = append(errs, &scalers.FieldError{Key: sourceKey(src.Name, keyType), Missing: true,
				Msg: "required key is missing (the scaler type of the source)"})
		case src.Type == Type:
			errs = append(errs, scalers.NewFieldError(sourceKey(src.Name, keyType), src.Type,
				"a source cannot be a custom scaler: combine the expressions into one"))
		}
		// The flat spelling can say neither of these keys (source.<name>.
		// is malformed, source.<name>.type is the type); a Config built in
		// code can.
		for _, k := range slices.Sorted(maps.Keys(src.Metadata)) {
			switch k {
			case "":
				errs = append(errs, &scalers.FieldError{Key: sourcePrefix + src.Name + "." + k, Secret: true,
					Msg: "empty key"})
			case keyType:
				errs = append(errs, &scalers.FieldError{Key: sourcePrefix + src.Name + "." + k, Secret: true,
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

// cloneMap copies m; the result is never nil.
func cloneMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	maps.Copy(out, m)
	return out
}
