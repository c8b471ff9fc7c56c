package custom

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/metricsapi"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/prometheus"
)

// FuzzParseMetadata feeds the flat parser metadata built from "key=value"
// lines. It must never panic; every error is an ErrInvalidConfig; a Config
// it accepts passes Validate and survives a round trip through Metadata.
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

// secretKeys are the keys of a custom trigger that may carry a secret: a
// prometheus source's (p, with the design's url alias), a metrics-api
// source's (m) and an external source's headers (e).
var secretKeys = append(append(
	scalertest.PrefixSecretKeys("source.p.", append(scalertest.HTTPAuthSecretKeys("basic", "bearer", "custom", "tls", "oauth"),
		scalertest.SecretKey{Key: "serverAddress", Kind: scalertest.SecretURL},
		scalertest.SecretKey{Key: "url", Kind: scalertest.SecretURL},
		scalertest.SecretKey{Key: "customHeaders", Kind: scalertest.SecretMapValue},
		scalertest.SecretKey{Key: "queryParameters", Kind: scalertest.SecretMapValue})),
	scalertest.PrefixSecretKeys("source.m.", append(scalertest.HTTPAuthSecretKeys("basic", "bearer", "apiKey", "custom", "tls"),
		scalertest.SecretKey{Key: "url", Kind: scalertest.SecretURL}))...),
	scalertest.SecretKey{Key: "source.e.headers"},
	scalertest.SecretKey{Key: "source.e.url", Kind: scalertest.SecretURL},
)

// FuzzSecretNeverShown places a known secret in every key of a source that
// may carry one, around fuzzed metadata, and fails if it appears in an
// error (of the parse, of the sources' build, or of a call whose sources
// talk to a server that echoes their requests) or in a log line.
func FuzzSecretNeverShown(f *testing.F) {
	for _, seed := range []struct {
		in, wrap string
	}{
		{"", "http://|h:9090"},
		{"", "http://u:|@[::1"},    // a URL that does not parse
		{"", "Authorization: |"},   // a design header
		{"", "|\r\nX-Injected: 1"}, // a header value net/http refuses
		{"source.p.serverAddress=", "http://|h"},
		{"expression=p + m + e + x\nsource.x.type=nope", "|"},
	} {
		for pos := range secretKeys {
			f.Add(pos, seed.in, seed.wrap)
		}
	}
	echo := scalertest.Echo(http.StatusUnprocessableEntity, func(echo string) string {
		b, _ := json.Marshal(map[string]string{"status": "error", "errorType": "execution", "error": echo})
		return string(b)
	})
	reg := scalers.NewRegistry()
	reg.MustRegister(Type, NewFactory(reg))
	reg.MustRegister("prometheus", func(ctx context.Context, cfg scalers.Config) (scalers.Scaler, error) {
		return prometheus.NewWithOptions(ctx, cfg, prometheus.Options{Transport: echo})
	}, scalers.WithDefaultTarget(prometheus.DefaultTarget))
	reg.MustRegister(metricsapi.Type, func(ctx context.Context, cfg scalers.Config) (scalers.Scaler, error) {
		return metricsapi.NewWithOptions(ctx, cfg, metricsapi.Options{Transport: echo})
	}, scalers.WithDefaultTarget(metricsapi.DefaultTarget))
	base := map[string]string{
		"expression": "p + m + e", "threshold": "1",
		"source.p.type": "prometheus", "source.p.serverAddress": "http://prom:9090", "source.p.query": "up",
		"source.p.oauthTokenURI": "http://idp/token", "source.p.clientID": "c",
		"source.m.type": "metrics-api", "source.m.url": "http://stats/x", "source.m.valueLocation": "v",
		"source.e.type": "external", "source.e.url": "http://ext/x",
	}
	f.Fuzz(func(t *testing.T, pos int, in, wrap string) {
		md := scalertest.SecretMetadata(base, secretKeys, pos, in, wrap)
		logs := &scalertest.LogLines{}
		s, err := reg.New(t.Context(), scalers.Config{Type: Type, Metadata: md, Logger: slog.New(logs)})
		if err == nil {
			_, err = s.Metrics(t.Context())
			_ = s.Close()
		}
		scalertest.CheckNoSecret(t, err, logs)
	})
}
