package metricsapi

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// yamlLocator walks a dot-separated path through a YAML document: a
// segment is a mapping key, or the index of a sequence item
// ("components.0.tasks").
type yamlLocator struct {
	loc  string
	segs []string
}

func (l yamlLocator) value(body []byte) (float64, error) {
	var doc any
	// The first document counts, as with yaml.Unmarshal.
	if err := yaml.NewDecoder(bytes.NewReader(body)).Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return 0, malformed(FormatYAML, errors.New("the answer is empty"))
		}
		return 0, malformed(FormatYAML, err)
	}
	cur := doc
	for i, seg := range l.segs {
		at := strings.Join(l.segs[:i], ".")
		switch node := cur.(type) {
		case map[string]any:
			v, ok := node[seg]
			if !ok {
				return 0, noValue(l.loc, "key %s not found%s", scalers.Quote(seg), under(at))
			}
			cur = v
		case map[any]any:
			v, ok := lookupAnyKey(node, seg)
			if !ok {
				return 0, noValue(l.loc, "key %s not found%s", scalers.Quote(seg), under(at))
			}
			cur = v
		case []any:
			idx, err := strconv.Atoi(seg)
			if err != nil || idx < 0 {
				return 0, noValue(l.loc, "%s is a list, expected an index instead of %s", describeAt(at), scalers.Quote(seg))
			}
			if idx >= len(node) {
				return 0, noValue(l.loc, "index %d out of range, %s has %d items", idx, describeAt(at), len(node))
			}
			cur = node[idx]
		default:
			return 0, noValue(l.loc, "%s is a value (%s), it has no key %s", describeAt(at), yamlType(cur), scalers.Quote(seg))
		}
	}
	switch v := cur.(type) {
	case int:
		return float64(v), nil
	case int64:
		return float64(v), nil
	case uint64:
		return float64(v), nil
	case float64:
		return finite(l.loc, v)
	case string:
		return parseNumber(l.loc, v)
	}
	return 0, noValue(l.loc, "is %s, expected a number or a quantity string", yamlType(cur))
}

// lookupAnyKey finds a key of a mapping whose keys are not all strings
// (e.g. 1: x), comparing by the key's text.
func lookupAnyKey(m map[any]any, seg string) (any, bool) {
	for k, v := range m {
		if fmt.Sprint(k) == seg {
			return v, true
		}
	}
	return nil, false
}

func under(at string) string {
	if at == "" {
		return " at the top level"
	}
	return " under " + scalers.Quote(at)
}

func describeAt(at string) string {
	if at == "" {
		return "the top level"
	}
	return scalers.Quote(at)
}

func yamlType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case map[string]any, map[any]any:
		return "a mapping"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("a %T", v)
}
