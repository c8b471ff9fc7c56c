package api

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/hpa-autoscaler/hpa-autoscaler/backend/auth"
)

// TestOpenAPI: the document is served without a token, is OpenAPI 3.x,
// has exactly the route table's paths and methods, declares each path
// parameter and query parameter, and every $ref resolves.
func TestOpenAPI(t *testing.T) {
	f := newFixture(t, sqliteURL, Options{Version: "v9.9.9"})
	r := f.do("GET", "/api/v1/openapi.json", "", nil)
	f.want(r, http.StatusOK)
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
	var d struct {
		OpenAPI string `json:"openapi"`
		Info    struct{ Version string }
		Paths   map[string]map[string]struct {
			OperationID string                      `json:"operationId"`
			Security    *[]any                      `json:"security"`
			Responses   map[string]any              `json:"responses"`
			RequestBody map[string]any              `json:"requestBody"`
			Parameters  []struct{ Name, In string } `json:"parameters"`
		}
		Components struct {
			Schemas         map[string]any
			SecuritySchemes map[string]struct{ Type, Scheme string }
		}
	}
	if err := json.Unmarshal(r.body, &d); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if !strings.HasPrefix(d.OpenAPI, "3.") || d.Info.Version != "v9.9.9" {
		t.Fatalf("openapi %q, version %q", d.OpenAPI, d.Info.Version)
	}
	if s := d.Components.SecuritySchemes["bearer"]; s.Type != "http" || s.Scheme != "bearer" {
		t.Fatalf("security schemes %+v", d.Components.SecuritySchemes)
	}
	if _, ok := d.Components.Schemas["ErrorResponse"]; !ok {
		t.Fatal("no error schema")
	}
	var got, want []string
	ids := map[string]bool{}
	for path, ops := range d.Paths {
		for method, op := range ops {
			got = append(got, strings.ToUpper(method)+" "+path)
			if op.OperationID == "" || ids[op.OperationID] {
				t.Errorf("%s %s: operationId %q empty or twice", method, path, op.OperationID)
			}
			ids[op.OperationID] = true
			if op.Responses["default"] == nil || len(op.Responses) != 2 {
				t.Errorf("%s %s: responses %v", method, path, op.Responses)
			}
		}
	}
	for _, rt := range allRoutes() {
		want = append(want, rt.pattern)
		method, path, _ := strings.Cut(rt.pattern, " ")
		op := d.Paths[path][strings.ToLower(method)]
		var params []string
		for _, p := range op.Parameters {
			params = append(params, p.In+":"+p.Name)
		}
		for _, m := range pathParam.FindAllStringSubmatch(path, -1) {
			if !slices.Contains(params, "path:"+m[1]) {
				t.Errorf("%s: path parameter %s not declared", rt.pattern, m[1])
			}
		}
		for _, q := range rt.doc.query {
			if !slices.Contains(params, "query:"+q) {
				t.Errorf("%s: query parameter %s not declared", rt.pattern, q)
			}
		}
		if (rt.doc.in != nil) != (op.RequestBody != nil) {
			t.Errorf("%s: request body %v, want one: %v", rt.pattern, op.RequestBody, rt.doc.in != nil)
		}
		if public := op.Security != nil && len(*op.Security) == 0; public != (rt.action == auth.Public) {
			t.Errorf("%s: public in the document %v, in the table %v", rt.pattern, public, rt.action == auth.Public)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("the document's routes:\n%s\nthe table's:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Every $ref names a schema of the document.
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				name, ok := strings.CutPrefix(ref, "#/components/schemas/")
				if _, found := d.Components.Schemas[name]; !ok || !found {
					t.Errorf("$ref %q does not resolve", ref)
				}
			}
			for _, e := range v {
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	var raw any
	_ = json.Unmarshal(r.body, &raw)
	walk(raw)
	// The body types are their JSON: a scaler's spec is api/v1's.
	for _, name := range []string{"ScalerBody", "ScalerSpec", "ScalerStatus", "EventBody", "ScalerList", "Trends", "Tenant"} {
		if _, ok := d.Components.Schemas[name]; !ok {
			t.Errorf("no schema %s", name)
		}
	}
	if !strings.Contains(string(r.body), `"maxReplicas":{"format":"int32","type":"integer"}`) {
		t.Error("spec.scaling.maxReplicas is not an int32 in the document")
	}
	// Any token may read it too.
	f.want(f.do("GET", "/api/v1/openapi.json", f.tokens["acme/viewer"], nil), http.StatusOK)
}
