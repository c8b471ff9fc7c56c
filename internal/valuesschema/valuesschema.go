// Package valuesschema generates a Helm chart's values.schema.json from its
// values.yaml: the type of every key from its default value, the key's
// comment as its description, and JSON Schema keywords a comment line
// `@schema {...}` adds. Objects with keys are closed (an unknown key is an
// error at helm install); an empty object ({}) is open unless its
// annotation says otherwise. hack/valuesschema writes the chart's file
// (make generate); internal/charttest fails when it is stale.
package valuesschema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Draft is the JSON Schema dialect written ($schema).
const Draft = "http://json-schema.org/draft-07/schema#"

// Generate returns the schema of values, a YAML document whose root is a
// mapping, as indented JSON ending in a newline.
func Generate(values []byte) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(values, &doc); err != nil {
		return nil, fmt.Errorf("values: %w", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("values: the document must be a mapping")
	}
	root, err := schemaOf(doc.Content[0], "")
	if err != nil {
		return nil, err
	}
	root["$schema"] = Draft
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(root); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// schemaOf is the schema of one value node at path (dotted, for errors).
func schemaOf(n *yaml.Node, path string) (map[string]any, error) {
	switch n.Kind {
	case yaml.AliasNode, yaml.DocumentNode:
		return nil, fmt.Errorf("%s: aliases are not supported", name(path))
	case yaml.MappingNode:
		props := map[string]any{}
		var errs []error
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode || k.Tag == "!!merge" {
				errs = append(errs, fmt.Errorf("%s: line %d: keys must be plain scalars", name(path), k.Line))
				continue
			}
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			if _, dup := props[k.Value]; dup {
				errs = append(errs, fmt.Errorf("%s: line %d: key given twice", p, k.Line))
				continue
			}
			s, err := schemaOf(v, p)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			desc, extra, err := comment(k.HeadComment)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: line %d: %w", p, k.Line, err))
				continue
			}
			if desc != "" {
				s["description"] = desc
			}
			for kw, val := range extra {
				s[kw] = val
			}
			// An open object (a Kubernetes type such as resources) is
			// checked by the API server, not by the keys of its default.
			if ap, ok := extra["additionalProperties"]; ok && ap != false {
				delete(s, "properties")
			}
			props[k.Value] = s
		}
		if err := errors.Join(errs...); err != nil {
			return nil, err
		}
		s := map[string]any{"type": "object"}
		if len(props) > 0 {
			s["properties"] = props
			s["additionalProperties"] = false
		}
		return s, nil
	case yaml.SequenceNode:
		s := map[string]any{"type": "array"}
		if len(n.Content) > 0 {
			item, err := schemaOf(n.Content[0], path+"[0]")
			if err != nil {
				return nil, err
			}
			delete(item, "default")
			s["items"] = item
		}
		return s, nil
	case yaml.ScalarNode:
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("%s: line %d: %w", name(path), n.Line, err)
		}
		s := map[string]any{}
		switch v.(type) {
		case nil:
			return s, nil // any type
		case bool:
			s["type"] = "boolean"
		case int, int64, uint64:
			s["type"] = "integer"
		case float64:
			s["type"] = "number"
		case string:
			s["type"] = "string"
		default:
			return nil, fmt.Errorf("%s: line %d: unsupported value %s", name(path), n.Line, n.Tag)
		}
		s["default"] = v
		return s, nil
	}
	return nil, fmt.Errorf("%s: unsupported YAML node", name(path))
}

func name(path string) string {
	if path == "" {
		return "values"
	}
	return path
}

// comment splits a key's head comment into its description (the last
// paragraph, without "#" and the "-- " marker) and the keywords of its
// @schema lines.
func comment(c string) (string, map[string]any, error) {
	if c == "" {
		return "", nil, nil
	}
	paras := strings.Split(c, "\n\n")
	var words []string
	extra := map[string]any{}
	for _, line := range strings.Split(paras[len(paras)-1], "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "#"))
		if rest, ok := strings.CutPrefix(line, "@schema"); ok {
			var kw map[string]any
			if err := json.Unmarshal([]byte(rest), &kw); err != nil {
				return "", nil, fmt.Errorf("@schema %s: %v", strings.TrimSpace(rest), err)
			}
			for k, v := range kw {
				extra[k] = v
			}
			continue
		}
		line = strings.TrimPrefix(line, "-- ")
		if line != "" && line != "--" {
			words = append(words, line)
		}
	}
	return strings.Join(words, " "), extra, nil
}
