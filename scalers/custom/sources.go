package custom

import (
	"context"
	"slices"
	"strings"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// The original design spells some sources differently from KEDA's scalers.
// Those spellings are accepted as aliases, translated to the KEDA keys
// before the source's own parser sees them; the KEDA keys always work and
// keep their meaning.
const (
	// aliasExternal is the design's name for an HTTP metrics source: the
	// metrics-api scaler type.
	aliasExternal  = "external"
	typeMetricsAPI = "metrics-api"
	typePrometheus = "prometheus"
)

// SourceRegistry is what the custom scaler needs of a registry: the types
// it knows, building a source, and filling a source's unused target.
// *scalers.Registry is one.
type SourceRegistry interface {
	Types() []string
	New(ctx context.Context, cfg scalers.Config) (scalers.Scaler, error)
	FillDefaultTarget(typ string, md map[string]string)
}

var _ SourceRegistry = (*scalers.Registry)(nil)

// has reports whether reg knows typ.
func has(reg SourceRegistry, typ string) bool { return slices.Contains(reg.Types(), typ) }

func setIfBlank(md map[string]string, key, value string) {
	if strings.TrimSpace(md[key]) == "" {
		md[key] = value
	}
}

// resolveSource returns the registered type and the metadata a source is
// built with, after the design's aliases are translated.
func resolveSource(reg SourceRegistry, src Source) (string, map[string]string, error) {
	typ := src.Type
	md := cloneMap(src.Metadata)
	key := func(k string) string { return sourcePrefix + src.Name + "." + k }
	var errs []error

	if typ == aliasExternal && !has(reg, aliasExternal) {
		typ = typeMetricsAPI
		if err := translateHeaders(md, key); err != nil {
			errs = append(errs, err)
		}
		// The design's external source answers a bare JSON number.
		setIfBlank(md, "valueLocation", "@this")
	}
	if !has(reg, typ) || typ == Type {
		known := slices.DeleteFunc(reg.Types(), func(t string) bool { return t == Type })
		if has(reg, typeMetricsAPI) {
			known = append(known, aliasExternal+" (= "+typeMetricsAPI+")")
		}
		return "", nil, scalers.Invalid(scalers.NewFieldError(key(keyType), src.Type,
			"unknown scaler type, expected one of: "+strings.Join(known, ", ")))
	}
	if typ == typePrometheus {
		// The design's prometheus source names the server "url".
		if url, ok := md["url"]; ok {
			if strings.TrimSpace(md["serverAddress"]) != "" {
				errs = append(errs, scalers.NewFieldError(key("url"), scalers.RedactURL(url),
					"give serverAddress or url (an alias of it), not both"))
			} else {
				md["serverAddress"] = url
			}
			delete(md, "url")
		}
	}
	// A source's target is never used (the custom scaler's threshold is
	// the target); the source's type fills a required one so that its own
	// parser accepts the metadata.
	reg.FillDefaultTarget(typ, md)
	if err := scalers.Invalid(errs...); err != nil {
		return "", nil, err
	}
	return typ, md, nil
}

// translateHeaders turns the design's `headers: "Name: value"` of an
// external source into the custom authentication header of metrics-api
// (authModes=custom, customAuthHeader, customAuthValue). One header is
// supported; values are taken literally (${VAR} is not expanded: a
// manifest must not be able to read the server's environment).
func translateHeaders(md map[string]string, key func(string) string) error {
	raw, ok := md["headers"]
	if !ok {
		return nil
	}
	delete(md, "headers")
	var lines []string
	for _, l := range strings.FieldsFunc(raw, func(r rune) bool { return r == '\n' || r == '\r' }) {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	// Never echo the value: it usually holds a token.
	bad := func(msg string) error {
		return &scalers.FieldError{Key: key("headers"), Secret: true, Msg: msg}
	}
	if len(lines) != 1 {
		return bad("expected exactly one header \"Name: value\" (for more, use the metrics-api keys authModes, ...)")
	}
	name, value, found := strings.Cut(lines[0], ":")
	name, value = strings.TrimSpace(name), strings.TrimSpace(value)
	if !found || name == "" || value == "" || strings.ContainsAny(name, " \t") {
		return bad("expected a header \"Name: value\"")
	}
	if strings.Contains(value, "${") {
		return bad("${VAR} is not expanded; give the value with customAuthHeader and customAuthValue, " +
			"customAuthValueFromEnv or customAuthValueFile (or authModes=bearer and bearerTokenFile)")
	}
	for _, k := range []string{"authModes", "authMode", "customAuthHeader", "customAuthValue"} {
		if _, set := md[k]; set {
			return bad("headers cannot be combined with " + k)
		}
	}
	md["authModes"] = "custom"
	md["customAuthHeader"] = name
	md["customAuthValue"] = value
	return nil
}
