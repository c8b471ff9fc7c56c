package valuesschema

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestGenerate(t *testing.T) {
	in := `# file comment

# -- The image.
image:
  # -- Repository.
  repository: r
  # -- Pull policy.
  # @schema {"enum": ["Always", "IfNotPresent"]}
  pullPolicy: IfNotPresent
# -- Free-form.
# @schema {"additionalProperties": true}
resources:
  limits:
    cpu: 1
labels: {}
list: [a]
empty: []
n: 3
f: 1.5
b: true
z: null
`
	got, err := Generate([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(got, &s); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"$schema":              Draft,
		"type":                 "object",
		"additionalProperties": false,
		"properties": map[string]any{
			"image": map[string]any{
				"type": "object", "additionalProperties": false, "description": "The image.",
				"properties": map[string]any{
					"repository": map[string]any{"type": "string", "default": "r", "description": "Repository."},
					"pullPolicy": map[string]any{"type": "string", "default": "IfNotPresent", "description": "Pull policy.",
						"enum": []any{"Always", "IfNotPresent"}},
				},
			},
			"resources": map[string]any{"type": "object", "additionalProperties": true, "description": "Free-form."},
			"labels":    map[string]any{"type": "object"},
			"list":      map[string]any{"type": "array", "items": map[string]any{"type": "string"}},
			"empty":     map[string]any{"type": "array"},
			"n":         map[string]any{"type": "integer", "default": float64(3)},
			"f":         map[string]any{"type": "number", "default": 1.5},
			"b":         map[string]any{"type": "boolean", "default": true},
			"z":         map[string]any{},
		},
	}
	if diff := cmp.Diff(want, s); diff != "" {
		t.Errorf("schema (-want +got):\n%s", diff)
	}
	if !strings.HasSuffix(string(got), "}\n") {
		t.Error("no final newline")
	}
}

func TestGenerateErrors(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"not a mapping", "- a\n", "must be a mapping"},
		{"bad annotation", "a:\n  # @schema {nope\n  b: 1\n", "a.b: line 3: @schema {nope"},
		{"alias", "a: &x 1\nb: *x\n", "b: aliases are not supported"},
		{"duplicate", "a: 1\na: 2\n", ""},
		{"syntax", "a: [\n", "values:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Generate([]byte(tc.in))
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

// FuzzGenerate: any input gives an error or valid JSON, never a panic.
func FuzzGenerate(f *testing.F) {
	f.Add([]byte("a:\n  # -- x\n  b: 1\n"))
	f.Add([]byte("a: [1, {b: c}]\n"))
	f.Add([]byte("# @schema {\"type\": \"string\"}\na: ~\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := Generate(in)
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("invalid JSON for %q", in)
		}
	})
}
