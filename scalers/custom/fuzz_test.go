package custom

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// FuzzParseMetadata feeds the flat parser metadata built from "key=value"
// lines. It must never panic; every error is an ErrInvalidConfig; a Config
// it accepts survives a round trip through both spellings.
func FuzzParseMetadata(f *testing.F) {
	f.Add("expression=a + b\nthreshold=2\nsource.a.type=redis\nsource.a.listName=jobs\nsource.b.type=prometheus")
	f.Add("expression=x\nthreshold=0\nsource.9x.type=redis\nsource..type=a\nsource.x=1\nsource.y.=2")
	f.Add("expression=has(sources.q) ? q : 0.0\nthreshold=1e3\nactivationThreshold=-2\nsource.q.type=external\nsource.q.headers=A: b")
	f.Add("source.sources.type=custom\nsource.in.type=\nthreshold=NaN\nthreshold=Inf")
	f.Fuzz(func(t *testing.T, text string) {
		cfg, err := ParseMetadata(scalertest.LinesToMap(text))
		if err != nil {
			if !errors.Is(err, scalers.ErrInvalidConfig) {
				t.Fatalf("error is not ErrInvalidConfig: %v", err)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("ParseMetadata accepted a Config Validate rejects: %v", err)
		}
		again, err := ParseMetadata(cfg.Metadata())
		if err != nil {
			t.Fatalf("ParseMetadata(Metadata()) = %v", err)
		}
		if diff := cmp.Diff(normalize(cfg), normalize(again)); diff != "" {
			t.Fatalf("flat round trip (-first +second):\n%s", diff)
		}
		fromSpec, err := FromSpec(cfg.Spec())
		if err != nil {
			t.Fatalf("FromSpec(Spec()) = %v", err)
		}
		if diff := cmp.Diff(normalize(cfg), normalize(fromSpec)); diff != "" {
			t.Fatalf("spec round trip (-flat +spec):\n%s", diff)
		}
	})
}

// normalize drops the source metadata values that the flat spelling cannot
// tell from absent ones (blank values).
func normalize(c Config) Config {
	out := c
	out.Sources = nil
	for _, s := range c.Sources {
		md := map[string]string{}
		for k, v := range s.Metadata {
			if strings.TrimSpace(v) != "" {
				md[k] = v
			}
		}
		s.Metadata = md
		out.Sources = append(out.Sources, s)
	}
	return out
}

// FuzzCompile compiles arbitrary expressions: Compile must never panic and
// only return *CompileError values; what compiles must evaluate within the
// limits, with or without failed sources, without panicking.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{
		"a + b", "(a * b > 300) ||\n(c > 1000 && b > 0.6)", "has(sources.a) ? a : 0.0",
		"sources.?a.orValue(0.0)", "math.greatest(a, b, c)", "cel.bind(x, a, x * x)",
		"size(sources)", "sources.all(k, sources[k] > 0.0)", "a * 2", "'x'", "[1,2,3].map(x, x * 2).size()",
		"int(a) / 0", "a / 0.0", "dyn(a)", "1u + uint(b)", "{'a': 1}.a", "'a'.matches('[')",
		nestedComprehensions(3), doublingString(20), "((((a))))", "a ? b : c", "!a", "-a",
		"sources[?'a'].hasValue()", "optional.of(a).orValue(b)", "b\"abc\"", "`a`", "a.b.c",
	} {
		f.Add(s)
	}
	names := []string{"a", "b", "c"}
	c, err := NewCompiler(Limits{})
	if err != nil {
		f.Fatalf("NewCompiler: %v", err)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		p, err := c.Compile(expr, names)
		if err != nil {
			var ce *CompileError
			if !errors.As(err, &ce) || len(ce.Issues) == 0 || ce.Error() == "" {
				t.Fatalf("got %T %v, want a *CompileError with issues", err, err)
			}
			return
		}
		for _, in := range [][]Input{
			{{Value: 1}, {Value: -2.5}, {Value: 1e9}},
			{{Err: errDown}, {Value: 0}, {Err: errDown}},
		} {
			if _, err := p.Eval(t.Context(), in); err != nil &&
				!errors.Is(err, scalers.ErrNoData) && !errors.Is(err, scalers.ErrUnavailable) {
				t.Fatalf("Eval error wraps neither ErrNoData nor ErrUnavailable: %v", err)
			}
		}
	})
}

// FuzzFromSpec decodes scalerSpec.custom from JSON (as the API server hands
// it over) and converts it: FromSpec must never panic, its errors are
// ErrInvalidConfig, and what it accepts reads back the same from the flat
// spelling.
func FuzzFromSpec(f *testing.F) {
	f.Add(`{"expression":"a + b","threshold":1.5,"metricSources":[{"name":"a","type":"prometheus","configuration":{"query":"up","url":"http://p"}},{"name":"b","type":"external"}]}`)
	f.Add(`{"expression":" ","threshold":-1,"activationThreshold":2,"metricSources":[{"name":"","type":""},{"name":"in","type":"custom"},{"name":"in"}]}`)
	f.Add(`{"expression":"x","threshold":1e308,"metricSources":null}`)
	f.Fuzz(func(t *testing.T, raw string) {
		var spec Spec
		if err := json.Unmarshal([]byte(raw), &spec); err != nil {
			return
		}
		cfg, err := FromSpec(spec)
		if err != nil {
			if !errors.Is(err, scalers.ErrInvalidConfig) {
				t.Fatalf("error is not ErrInvalidConfig: %v", err)
			}
			return
		}
		flat, err := ParseMetadata(cfg.Metadata())
		if err != nil {
			t.Fatalf("ParseMetadata(Metadata()) of an accepted spec: %v", err)
		}
		if diff := cmp.Diff(normalize(cfg), normalize(flat)); diff != "" {
			t.Fatalf("spec -> flat (-spec +flat):\n%s", diff)
		}
	})
}
