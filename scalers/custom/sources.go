package custom

import (
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

// defaultTargets fill the target (threshold) key of the scaler types that
// require one. A source's target is never used (the custom scaler's
// threshold is the target), so when it is absent it is set to 1 for the
// source's own parser to accept the metadata.
var defaultTargets = map[string]func(md map[string]string){
	typePrometheus: func(md map[string]string) { setIfBlank(md, "threshold", "1") },
	typeMetricsAPI: func(md map[string]string) { setIfBlank(md, "targetValue", "1") },
	// rabbitmq wants a value only with a mode; without one it has its own
	// defaults (or the deprecated queueLength).
	"rabbitmq": func(md map[string]string) {
		if strings.TrimSpace(md["mode"]) != "" {
			setIfBlank(md, "value", "1")
		}
	},
}

func setIfBlank(md map[string]string, key, value string) {
	if strings.TrimSpace(md[key]) == "" {
		md[key] = value
	}
}

// resolveSource returns the registered type and the metadata a source is
// built with, after the design's aliases are translated.
func resolveSource(reg *scalers.Registry, src Source) (string, map[string]string, error) {
	typ := src.Type
	md := cloneMap(src.Metadata)
	key := func(k string) string { return sourcePrefix + src.Name + "." + k }
	var errs []error

	if typ == aliasExternal && !reg.Has(aliasExternal) {
		typ = typeMetricsAPI
		if err := translateHeaders(md, key); err != nil {
			errs = append(errs, err)
		}
		// The design's external source answers a bare JSON number.
		setIfBlank(md, "valueLocation", "@this")
	}
	if !reg.Has(typ) || typ == Type {
		known := slices.DeleteFunc(reg.Types(), func(t string) bool { return t == Type })
		if reg.Has(typeMetricsAPI) {
			known = append(known, aliasExternal+" (= "+typeMetricsAPI+")")
		}
		return "", nil, scalers.Invalid(scalers.NewFieldError(key(keyType), src.Type,
			"unknown scaler type, expected one of: "+strings.Join(known, ", ")))
	}
	if typ == typePrometheus {
		// The design's prometheus source names the server "url".
		if url, ok := md["url"]; ok {
			if strings.TrimSpace(md["serverAddress"]) != "" {
				errs = append(errs, scalers.NewFieldError(key("url"), url,
					"give serverAddress or url (an alias of it), not both"))
			} else {
				md["serverAddress"] = url
			}
			delete(md, "url")
		}
	}
	if fill, ok := defaultTargets[typ]; ok {
		fill(md)
	}
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
