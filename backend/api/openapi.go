package api

import (
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hpa-autoscaler/hpa-autoscaler/backend/auth"
)

// The OpenAPI 3.1 document of the route table, generated when the
// handler is made: each route's method, path and query parameters, its
// body and answer schemas (by reflection over the Go types the handlers
// decode and encode, so they cannot drift), the error schema and bearer
// authentication. TestOpenAPI holds its paths to the table.

func openAPI(s *server, _ *request) (int, any, error) {
	return http.StatusOK, json.RawMessage(s.openapi), nil
}

var pathParam = regexp.MustCompile(`\{([a-z]+)\}`)

// pathParams describes the path parameters of the routes.
var pathParams = map[string]param{
	"name":   {"string", "", "the scaler's name"},
	"id":     {"string", "", "the cluster's id"},
	"token":  {"string", "", "the token's id"},
	"seq":    {"integer", "int64", "the audit record's seq"},
	"tenant": {"string", "", "the tenant's id (a system admin's token, or the token's own tenant)"},
}

// buildOpenAPI returns the document of rts as JSON.
func buildOpenAPI(rts []route, version string) ([]byte, error) {
	g := &schemas{defs: map[string]any{}, names: map[reflect.Type]string{}}
	errRef := g.of(reflect.TypeOf(Error{}))
	g.defs["ErrorResponse"] = obj(map[string]any{"error": errRef})
	errResp := map[string]any{"description": "an error (docs/backend-api.md: Errors)", "content": jsonContent(ref("ErrorResponse"))}
	paths := map[string]map[string]any{}
	for _, rt := range rts {
		method, path, _ := strings.Cut(rt.pattern, " ")
		op := map[string]any{
			"operationId": operationID(method, path),
			"summary":     rt.doc.summary,
			"tags":        []string{tagOf(path, rt.mirrored)},
			"x-action":    string(rt.action),
		}
		if rt.mirrored {
			op["summary"] = rt.doc.summary + " (in the path's tenant)"
		}
		var params []any
		for _, m := range pathParam.FindAllStringSubmatch(path, -1) {
			params = append(params, paramOf(m[1], "path", pathParams[m[1]]))
		}
		for _, q := range rt.doc.query {
			params = append(params, paramOf(q, "query", queryParams[q]))
		}
		if len(params) > 0 {
			op["parameters"] = params
		}
		if rt.doc.in != nil {
			op["requestBody"] = map[string]any{"required": true, "content": jsonContent(g.of(reflect.TypeOf(rt.doc.in)))}
		}
		status := rt.doc.status
		if status == 0 {
			status = http.StatusOK
		}
		ok := map[string]any{"description": http.StatusText(status)}
		if rt.doc.out != nil {
			ok["content"] = jsonContent(g.of(reflect.TypeOf(rt.doc.out)))
		}
		op["responses"] = map[string]any{strconv.Itoa(status): ok, "default": errResp}
		if rt.action == auth.Public {
			op["security"] = []any{}
		}
		if paths[path] == nil {
			paths[path] = map[string]any{}
		}
		paths[path][strings.ToLower(method)] = op
	}
	doc := map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{"title": "hpa-autoscaler REST API", "version": version,
			"description": "The backend's management API: docs/backend-api.md. The tenant of a request is its token's; on /api/v1/tenants/{tenant}/... the path's (system admins)."},
		"security": []any{map[string]any{"bearer": []any{}}},
		"paths":    paths,
		"components": map[string]any{
			"securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer",
				"description": "hpa_<tenant>_<id>_<secret>_<crc32>"}},
			"schemas": g.defs,
		},
	}
	return json.Marshal(doc)
}

func operationID(method, path string) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(method))
	for _, part := range strings.Split(strings.TrimPrefix(path, "/api/v1/"), "/") {
		part = strings.Trim(part, "{}")
		part = strings.NewReplacer(".", "", "-", "").Replace(part)
		if part == "" {
			continue
		}
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}

func tagOf(path string, mirrored bool) string {
	if mirrored {
		path = "/api/v1/" + strings.TrimPrefix(path, mirrorPrefix)
	}
	tag, _, _ := strings.Cut(strings.TrimPrefix(path, "/api/v1/"), "/")
	return tag
}

func paramOf(name, in string, p param) map[string]any {
	sch := map[string]any{"type": p.typ}
	if p.format != "" {
		sch["format"] = p.format
	}
	return map[string]any{"name": name, "in": in, "required": in == "path", "description": p.description, "schema": sch}
}

func jsonContent(schema any) map[string]any {
	return map[string]any{"application/json": map[string]any{"schema": schema}}
}

func ref(name string) map[string]any { return map[string]any{"$ref": "#/components/schemas/" + name} }

func obj(props map[string]any) map[string]any {
	return map[string]any{"type": "object", "properties": props}
}

// schemas builds JSON Schemas of Go types as encoding/json writes them;
// each named struct once, under components/schemas.
type schemas struct {
	defs  map[string]any
	names map[reflect.Type]string
}

var (
	timeType     = reflect.TypeOf(time.Time{})
	metaTimeType = reflect.TypeOf(metav1.Time{})
	durationType = reflect.TypeOf(metav1.Duration{})
	quantityType = reflect.TypeOf(resource.Quantity{})
	rawType      = reflect.TypeOf(json.RawMessage{})
)

func (g *schemas) of(t reflect.Type) map[string]any {
	switch t {
	case timeType, metaTimeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case durationType:
		return map[string]any{"type": "string", "description": "a Go duration (30s, 5m)"}
	case quantityType:
		return map[string]any{"type": "string", "description": "a Kubernetes quantity (0.1, 100m)"}
	case rawType:
		return map[string]any{}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return map[string]any{"anyOf": []any{g.of(t.Elem()), map[string]any{"type": "null"}}}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Uint8, reflect.Uint16:
		return map[string]any{"type": "integer", "format": "int32"}
	case reflect.Int, reflect.Int64, reflect.Uint, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer", "format": "int64"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string", "format": "byte"}
		}
		return map[string]any{"type": "array", "items": g.of(t.Elem())}
	case reflect.Map:
		if t.Elem().Kind() == reflect.Interface {
			return map[string]any{"type": "object"}
		}
		return map[string]any{"type": "object", "additionalProperties": g.of(t.Elem())}
	case reflect.Struct:
		if t.Name() == "" {
			return g.object(t)
		}
		name, ok := g.names[t]
		if !ok {
			name = g.nameOf(t)
			g.names[t] = name
			g.defs[name] = map[string]any{} // a recursive type refers to itself
			g.defs[name] = g.object(t)
		}
		return ref(name)
	}
	return map[string]any{} // an interface: any JSON value
}

// object is a struct's schema: its JSON fields, embedded and inline
// structs flattened.
func (g *schemas) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	g.fields(t, props)
	return obj(props)
}

func (g *schemas) fields(t reflect.Type, props map[string]any) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		ft := f.Type
		if (f.Anonymous || strings.Contains(opts, "inline")) && name == "" {
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				g.fields(ft, props)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		props[name] = g.of(ft)
	}
}

// nameOf is a type's component name: its Go name (List[...Scaler] is
// ScalerList), prefixed with its package when two packages share it.
func (g *schemas) nameOf(t reflect.Type) string {
	name := t.Name()
	if base, arg, ok := strings.Cut(name, "["); ok {
		arg = strings.TrimSuffix(arg, "]")
		arg = arg[strings.LastIndexAny(arg, "./")+1:]
		name = arg + base
	}
	taken := map[string]bool{}
	for _, n := range g.names {
		taken[n] = true
	}
	if taken[name] {
		pkg := t.PkgPath()
		name = pkg[strings.LastIndex(pkg, "/")+1:] + "." + name
	}
	return name
}
