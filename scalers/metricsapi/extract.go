package metricsapi

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// The answer formats of the format key.
const (
	FormatJSON       = "json"
	FormatYAML       = "yaml"
	FormatXML        = "xml"
	FormatPrometheus = "prometheus"
)

// locator reads the number at a compiled valueLocation out of an answer.
type locator interface {
	value(body []byte) (float64, error)
}

// compileLocation checks valueLocation for format once, at configuration
// time. Its errors are plain messages; the caller names the key.
func compileLocation(format, loc string) (locator, error) {
	switch format {
	case FormatJSON:
		return jsonLocator{path: loc}, nil
	case FormatYAML:
		segs, err := splitPath(loc)
		if err != nil {
			return nil, err
		}
		return yamlLocator{loc: loc, segs: segs}, nil
	case FormatXML:
		segs, err := splitPath(loc)
		if err != nil {
			return nil, err
		}
		return xmlLocator{loc: loc, segs: segs}, nil
	case FormatPrometheus:
		sel, err := parseSelector(loc)
		if err != nil {
			return nil, err
		}
		return promLocator{loc: loc, sel: sel}, nil
	}
	return nil, fmt.Errorf("unknown format %s", scalers.Quote(format))
}

// ExtractValue reads the number at valueLocation out of an answer in format
// (json, yaml, xml or prometheus). An answer that cannot be parsed is an
// error wrapping scalers.ErrUnavailable; a location that is absent or does
// not hold a finite number is an error wrapping scalers.ErrNoData; both
// name the location. A bad valueLocation is an error wrapping
// scalers.ErrInvalidConfig.
func ExtractValue(body []byte, format, valueLocation string) (float64, error) {
	l, err := compileLocation(format, valueLocation)
	if err != nil {
		return 0, scalers.Invalid(scalers.NewFieldError("valueLocation", valueLocation, err.Error()))
	}
	return l.value(body)
}

// splitPath splits a dot-separated path of the yaml and xml formats.
func splitPath(loc string) ([]string, error) {
	segs := strings.Split(loc, ".")
	for _, s := range segs {
		if s == "" {
			return nil, errors.New("empty path segment (expected dot-separated keys, e.g. components.0.tasks)")
		}
	}
	return segs, nil
}

// malformed is an answer that is not in the expected format.
func malformed(format string, err error) error {
	// A decoder's message may quote the answer at length.
	return scalers.Unavailable("malformed answer", fmt.Errorf("not valid %s: %s", formatName(format), scalers.Excerpt(err.Error())))
}

func formatName(format string) string {
	switch format {
	case FormatJSON:
		return "JSON"
	case FormatYAML:
		return "YAML"
	case FormatXML:
		return "XML"
	}
	return "Prometheus text format"
}

// locErr is an answer without a usable value at the location.
type locErr struct {
	loc, msg string
}

func noValue(loc, format string, args ...any) error {
	return &locErr{loc: loc, msg: fmt.Sprintf(format, args...)}
}

func (e *locErr) Error() string        { return "valueLocation " + scalers.Quote(e.loc) + ": " + e.msg }
func (e *locErr) Is(target error) bool { return target == scalers.ErrNoData }

// parseNumber reads a number or a Kubernetes quantity ("100m", "1k",
// "2Ki") from a string, as KEDA does for string values.
func parseNumber(loc, s string) (float64, error) {
	t := strings.TrimSpace(s)
	if plainDecimal(t) {
		// Exact for plain decimals; a quantity keeps only 9 decimal places.
		if f, err := strconv.ParseFloat(t, 64); err == nil {
			return finite(loc, f)
		}
	}
	q, err := resource.ParseQuantity(t)
	if err != nil {
		return 0, noValue(loc, "the string %s is not a number or a quantity (such as 1.5, 100m, 2k)", scalers.Quote(s))
	}
	return finite(loc, q.AsApproximateFloat64())
}

// plainDecimal reports whether s only has the characters of a decimal
// number with an exponent, so ParseFloat cannot read "Inf", "NaN" or hex.
func plainDecimal(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !strings.ContainsRune("0123456789+-.eE", r) {
			return false
		}
	}
	return true
}

func finite(loc string, f float64) (float64, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, noValue(loc, "%v is not a usable value", f)
	}
	return f, nil
}

type jsonLocator struct{ path string }

func (l jsonLocator) value(body []byte) (float64, error) {
	if !gjson.ValidBytes(body) {
		return 0, malformed(FormatJSON, errors.New("the answer does not parse"))
	}
	r := gjson.GetBytes(body, l.path)
	switch r.Type {
	case gjson.Number:
		// gjson reads a number too large for a float64 as ±Inf.
		return finite(l.path, r.Num)
	case gjson.String:
		return parseNumber(l.path, r.Str)
	case gjson.True, gjson.False:
		return 0, noValue(l.path, "is a boolean, expected a number or a quantity string")
	case gjson.JSON:
		if r.IsArray() {
			return 0, noValue(l.path, "is an array, expected a number or a quantity string")
		}
		return 0, noValue(l.path, "is an object, expected a number or a quantity string")
	}
	if r.Exists() {
		return 0, noValue(l.path, "is null, expected a number or a quantity string")
	}
	return 0, noValue(l.path, "not found in the answer")
}
