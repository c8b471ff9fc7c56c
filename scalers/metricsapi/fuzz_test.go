package metricsapi

import (
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

func FuzzParseMetadata(f *testing.F) {
	for _, seed := range []string{
		"url=http://dummy:1230/api/v1/\nvalueLocation=metric.test\ntargetValue=42",
		"url=http://dummy:1230/api/v1/\nvalueLocation=metric\ntargetValue=aa",
		"url=http://d/\nvalueLocation=metric\ntargetValue=1\nactivationTargetValue=aa\ntimeout=1000",
		"url=http://d/\nvalueLocation=q{a=\"1\",b=~'x.*'}\nformat=prometheus\ntargetValue=1",
		"url=http://d/\nvalueLocation=a..b\nformat=yaml\ntargetValue=1",
		"url=http://d/\nvalueLocation=a.0.b\nformat=xml\ntargetValue=1\nunsafeSsl=true",
		"url=http://d/\nvalueLocation=v\ntargetValue=1\nauthMode=apiKey\napiKey=k\nmethod=query\nkeyParamName=custom",
		"url=http://d/\nvalueLocation=v\ntargetValue=1\nauthMode=apiKey,tls\napiKey=k\ncert=c\nkey=k",
		"url=http://d/\nvalueLocation=v\ntargetValue=1\naggregateFromKubeServiceEndpoints=true",
		"url=http://d/\nvalueLocation=v\ntargetValue=NaN\nactivationTargetValue=NaN",
		"url=http://d/\nvalueLocation=v\ntargetValue=1\nauthModes=oauth\noauthTokenURI=http://idp\nclientID=c",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		m, err := ParseMetadata(scalertest.LinesToMap(in))
		if err != nil {
			if !errors.Is(err, scalers.ErrInvalidConfig) {
				t.Fatalf("error %v does not wrap ErrInvalidConfig", err)
			}
			return
		}
		// !(x > 0) rather than x <= 0: a NaN target must fail too.
		if !(m.TargetValue > 0) || m.Timeout < 0 || m.loc == nil || math.IsInf(m.TargetValue, 0) || math.IsNaN(m.ActivationTargetValue) {
			t.Fatalf("accepted invalid metadata: %+v", m)
		}
		s, err := NewWithOptions(t.Context(), scalers.Config{Metadata: scalertest.LinesToMap(in)}, Options{Transport: scalertest.Answer(200, nil, `{"v":1}`)})
		if err != nil {
			t.Fatalf("ParseMetadata accepted what New refuses: %v", err)
		}
		_ = s.Close()
	})
}

// fuzzExtract checks the contract of ExtractValue for one format: no panic,
// every error wraps a sentinel, every value is finite.
func fuzzExtract(t *testing.T, format string, body []byte, loc string) {
	v, err := ExtractValue(body, format, loc)
	if err != nil {
		if !errors.Is(err, scalers.ErrNoData) && !errors.Is(err, scalers.ErrUnavailable) && !errors.Is(err, scalers.ErrInvalidConfig) {
			t.Fatalf("error %v wraps no sentinel", err)
		}
		return
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		t.Fatalf("got non-finite value %v", v)
	}
}

func FuzzExtractJSON(f *testing.F) {
	f.Add([]byte(`{"components":[{"id": "82328e93e", "tasks": 32, "str": "64", "k":"1k","wrong":"NaN"}],"count":2.43}`), "components.0.k")
	f.Add([]byte(`{"a":{"b":[1,2,{"c":"100m"}]}}`), "a.b.2.c")
	f.Add([]byte(`[1e999, -0, "2Ki", true, null]`), "0")
	f.Add([]byte(`42`), "@this")
	f.Add([]byte(`{"a":"`+strings.Repeat("9", 40)+`E9"}`), "a")
	f.Fuzz(func(t *testing.T, body []byte, loc string) { fuzzExtract(t, FormatJSON, body, loc) })
}

func FuzzExtractYAML(f *testing.F) {
	f.Add([]byte(`{components: [{id: 82328e93e, tasks: 32, str: '64', k: 1k, wrong: NaN}], count: 2.43}`), "components.0.k")
	f.Add([]byte("a:\n  b:\n    - 1\n    - c: 100m\n"), "a.b.1.c")
	f.Add([]byte("1: {2: .inf}\n---\nx: 1\n"), "1.2")
	f.Add([]byte("a: &x [*x]\n"), "a.0")
	f.Add([]byte("- !!binary aGVsbG8=\n- 2001-12-14t21:59:43.10-05:00\n"), "1")
	f.Fuzz(func(t *testing.T, body []byte, loc string) { fuzzExtract(t, FormatYAML, body, loc) })
}

func FuzzExtractXML(f *testing.F) {
	f.Add([]byte(`<stats><count>2.43</count><c><t>1</t></c><c><t>2k</t></c></stats>`), "stats.c.1.t")
	f.Add([]byte(`<?xml version="1.0"?><!-- x --><a xmlns:p="u"><p:b> 5 </p:b></a>`), "a.b")
	f.Add([]byte(`<a><![CDATA[7]]></a>`), "a")
	f.Add([]byte(`<!DOCTYPE a [<!ENTITY e "1">]><a>&e;</a>`), "a")
	f.Fuzz(func(t *testing.T, body []byte, loc string) { fuzzExtract(t, FormatXML, body, loc) })
}

func FuzzExtractPrometheus(f *testing.F) {
	f.Add([]byte("# TYPE q counter\nq{a=\"1\"} 1\nq{a=\"2\",b=\"x\"} 2\nother 3"), `q{a="2"}`)
	f.Add([]byte("# HELP g x\n# TYPE g gauge\ng NaN\ng{l=\"\\\"\"} -Inf 123\n"), `g{l=~".*"}`)
	f.Add([]byte("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n"), "h")
	f.Add([]byte("{\"utf8.name\"} 1\n"), `{__name__="utf8.name"}`)
	f.Fuzz(func(t *testing.T, body []byte, loc string) { fuzzExtract(t, FormatPrometheus, body, loc) })
}

// secretKeys are the keys of a metrics-api trigger that may carry a
// secret.
var secretKeys = append(scalertest.HTTPAuthSecretKeys(authModes...),
	scalertest.SecretKey{Key: "url", Kind: scalertest.SecretURL},
)

// FuzzSecretNeverShown places a known secret in every key that may carry
// one, around fuzzed metadata, and fails if it appears in an error (of the
// parse, or of a request to a server that echoes the request in its
// status line and body) or in a log line.
func FuzzSecretNeverShown(f *testing.F) {
	for _, seed := range []struct {
		in, wrap string
	}{
		{"", "http://|stats:8080/x"},
		{"", "https://u:|@[::1"},   // a URL that does not parse
		{"", "http://h/|x"},        // the user info in the path
		{"", "|\r\nX-Injected: 1"}, // a header value net/http refuses
		{"method=query", "|&x=1"},
		{"timeout=1h\nformat=xml\nvalueLocation=a.b", "ftp://|h:99999"},
	} {
		for pos := range secretKeys {
			f.Add(pos, seed.in, seed.wrap)
		}
	}
	base := map[string]string{"url": "http://stats:8080/x", "valueLocation": "v", "targetValue": "1"}
	echo := scalertest.Echo(http.StatusBadGateway, func(echo string) string { return echo })
	f.Fuzz(func(t *testing.T, pos int, in, wrap string) {
		md := scalertest.SecretMetadata(base, secretKeys, pos, in, wrap)
		logs := &scalertest.LogLines{}
		s, err := NewWithOptions(t.Context(), scalers.Config{Metadata: md, Logger: slog.New(logs)}, Options{Transport: echo})
		if err == nil {
			_, err = s.Metrics(t.Context())
			_ = s.Close()
		}
		scalertest.CheckNoSecret(t, err, logs)
	})
}
