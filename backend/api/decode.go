package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
)

// decode reads one JSON value of T from the body, at most max bytes:
// a bigger body is 413, an unknown field or a wrong type 400 naming the
// field (as a path from the top: spec.scaling.maxReplicas).
func decode[T any](r *http.Request, max int64) (T, error) {
	var v T
	data, err := io.ReadAll(io.LimitReader(r.Body, max+1))
	if err != nil {
		return v, invalid("", "reading body: %v", err)
	}
	if int64(len(data)) > max {
		return v, &Error{Status: http.StatusRequestEntityTooLarge, Code: CodeTooLarge, Message: fmt.Sprintf("body larger than %d bytes", max)}
	}
	return v, decodeBytes(data, &v)
}

func decodeBytes(data []byte, v any) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return invalid("", "empty body: want a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err, data, reflect.TypeOf(v).Elem())
	}
	if dec.More() {
		return invalid("", "trailing data after the JSON value")
	}
	if _, err := dec.Token(); err != io.EOF {
		return invalid("", "trailing data after the JSON value")
	}
	return nil
}

func jsonError(err error, data []byte, t reflect.Type) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		field := te.Field
		return invalid(field, "got JSON %s, want %s", te.Value, typeName(te.Type))
	case errors.As(err, &se):
		return invalid("", "malformed JSON at byte %d", se.Offset)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// encoding/json names the key only: find its path.
		var raw any
		if json.Unmarshal(data, &raw) == nil {
			if p := unknownPath(raw, t, ""); p != "" {
				return invalid(p, "unknown field")
			}
		}
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return invalid(name, "unknown field")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return invalid("", "truncated JSON")
	}
	return invalid("", "bad JSON: %v", err)
}

func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return t.String()
}

// unknownPath is the path of the first key of raw that type t has no
// field for ("" when there is none).
func unknownPath(raw any, t reflect.Type, path string) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch v := raw.(type) {
	case map[string]any:
		switch t.Kind() {
		case reflect.Map:
			for k, e := range v {
				if p := unknownPath(e, t.Elem(), join(path, k)); p != "" {
					return p
				}
			}
		case reflect.Struct:
			fields := jsonFields(t)
			for k, e := range v {
				ft, ok := fields[k]
				if !ok {
					for name, f := range fields {
						if strings.EqualFold(name, k) {
							ft, ok = f, true
							break
						}
					}
				}
				if !ok {
					return join(path, k)
				}
				if p := unknownPath(e, ft, join(path, k)); p != "" {
					return p
				}
			}
		}
	case []any:
		if t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
			for i, e := range v {
				if p := unknownPath(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); p != "" {
					return p
				}
			}
		}
	}
	return ""
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

// jsonFields maps a struct's JSON names (embedded structs flattened) to
// their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range jsonFields(ft) {
					m[k] = v
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		m[name] = f.Type
	}
	return m
}
