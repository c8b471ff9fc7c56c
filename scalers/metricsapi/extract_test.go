package metricsapi

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

func readTestdata(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestExtractValue(t *testing.T) {
	inputJSON := readTestdata(t, "answer.json")
	inputYAML := readTestdata(t, "answer.yaml")
	inputXML := readTestdata(t, "answer.xml")
	inputProm := readTestdata(t, "answer.prom")

	tests := []struct {
		name    string
		input   []byte
		format  string
		loc     string
		want    float64
		wantErr error
		wantMsg string
	}{
		// The cases of KEDA's own test, with the same inputs.
		{name: "json number", input: inputJSON, format: FormatJSON, loc: "count", want: 2.43},
		{name: "json string number", input: inputJSON, format: FormatJSON, loc: "components.0.str", want: 64},
		{name: "json {}.[].{}", input: inputJSON, format: FormatJSON, loc: "components.0.tasks", want: 32},
		{name: "json quantity", input: inputJSON, format: FormatJSON, loc: "components.0.k", want: 1000},
		{name: "json milli quantity", input: inputJSON, format: FormatJSON, loc: "components.0.milli", want: 0.1},
		{name: "json NaN string", input: inputJSON, format: FormatJSON, loc: "components.0.wrong", wantErr: scalers.ErrNoData,
			wantMsg: `valueLocation "components.0.wrong": the string "NaN" is not a number or a quantity (such as 1.5, 100m, 2k)`},
		{name: "json gjson query", input: inputJSON, format: FormatJSON, loc: `components.#(id=="b").tasks`, want: 7},
		{name: "json gjson modifier", input: []byte(" 12.5 "), format: FormatJSON, loc: "@this", want: 12.5},
		{name: "json missing", input: inputJSON, format: FormatJSON, loc: "components.5.tasks", wantErr: scalers.ErrNoData, wantMsg: `valueLocation "components.5.tasks": not found in the answer`},
		{name: "json object", input: inputJSON, format: FormatJSON, loc: "components.0", wantErr: scalers.ErrNoData, wantMsg: `valueLocation "components.0": is an object, expected a number or a quantity string`},
		{name: "json array", input: inputJSON, format: FormatJSON, loc: "components", wantErr: scalers.ErrNoData, wantMsg: `valueLocation "components": is an array, expected a number or a quantity string`},
		{name: "json bool", input: inputJSON, format: FormatJSON, loc: "ok", wantErr: scalers.ErrNoData, wantMsg: `valueLocation "ok": is a boolean, expected a number or a quantity string`},
		{name: "json null", input: inputJSON, format: FormatJSON, loc: "nothing", wantErr: scalers.ErrNoData, wantMsg: `valueLocation "nothing": is null, expected a number or a quantity string`},
		{name: "json huge number", input: []byte(`{"n":1e999}`), format: FormatJSON, loc: "n", wantErr: scalers.ErrNoData, wantMsg: `valueLocation "n": +Inf is not a usable value`},
		{name: "json malformed", input: []byte(`{"count": 2.43`), format: FormatJSON, loc: "count", wantErr: scalers.ErrUnavailable, wantMsg: `malformed answer: not valid JSON: the answer does not parse`},
		{name: "json empty", input: nil, format: FormatJSON, loc: "count", wantErr: scalers.ErrUnavailable, wantMsg: `malformed answer: not valid JSON: the answer does not parse`},

		{name: "yaml number", input: inputYAML, format: FormatYAML, loc: "count", want: 2.43},
		{name: "yaml string number", input: inputYAML, format: FormatYAML, loc: "components.0.str", want: 64},
		{name: "yaml {}.[].{}", input: inputYAML, format: FormatYAML, loc: "components.0.tasks", want: 32},
		{name: "yaml quantity", input: inputYAML, format: FormatYAML, loc: "components.0.k", want: 1000},
		{name: "yaml NaN string", input: inputYAML, format: FormatYAML, loc: "components.0.wrong", wantErr: scalers.ErrNoData, wantMsg: `valueLocation "components.0.wrong": the string "NaN" is not a number or a quantity (such as 1.5, 100m, 2k)`},
		{name: "yaml .nan", input: []byte("v: .nan\n"), format: FormatYAML, loc: "v", wantErr: scalers.ErrNoData, wantMsg: `valueLocation "v": NaN is not a usable value`},
		{name: "yaml big int", input: []byte("v: 18446744073709551615\n"), format: FormatYAML, loc: "v", want: 18446744073709551615},
		{name: "yaml int key", input: []byte("1: {v: 3}\n"), format: FormatYAML, loc: "1.v", want: 3},
		{name: "yaml top-level list", input: []byte("- 4\n- 5\n"), format: FormatYAML, loc: "1", want: 5},
		{name: "yaml missing key", input: inputYAML, format: FormatYAML, loc: "components.0.nope", wantErr: scalers.ErrNoData, wantMsg: `valueLocation "components.0.nope": key "nope" not found under "components.0"`},
		{name: "yaml index out of range", input: inputYAML, format: FormatYAML, loc: "components.9.tasks", wantErr: scalers.ErrNoData, wantMsg: `valueLocation "components.9.tasks": index 9 out of range, "components" has 1 items`},
		{name: "yaml list needs index", input: inputYAML, format: FormatYAML, loc: "components.tasks", wantErr: scalers.ErrNoData, wantMsg: `valueLocation "components.tasks": "components" is a list, expected an index instead of "tasks"`},
		{name: "yaml path past a value", input: inputYAML, format: FormatYAML, loc: "count.more", wantErr: scalers.ErrNoData, wantMsg: `valueLocation "count.more": "count" is a value (a float64), it has no key "more"`},
		{name: "yaml mapping", input: inputYAML, format: FormatYAML, loc: "components.0", wantErr: scalers.ErrNoData, wantMsg: `valueLocation "components.0": is a mapping, expected a number or a quantity string`},
		{name: "yaml bool", input: []byte("v: true"), format: FormatYAML, loc: "v", wantErr: scalers.ErrNoData, wantMsg: `valueLocation "v": is a boolean, expected a number or a quantity string`},
		{name: "yaml malformed", input: []byte("a: [1, 2"), format: FormatYAML, loc: "a", wantErr: scalers.ErrUnavailable, wantMsg: `malformed answer: not valid YAML: yaml: line 1: did not find expected ',' or ']'`},
		{name: "yaml empty", input: nil, format: FormatYAML, loc: "a", wantErr: scalers.ErrUnavailable, wantMsg: `malformed answer: not valid YAML: the answer is empty`},

		{name: "xml number", input: inputXML, format: FormatXML, loc: "stats.count", want: 2.43},
		{name: "xml nested", input: inputXML, format: FormatXML, loc: "stats.components.component.0.tasks", want: 32},
		{name: "xml index of repeated element", input: inputXML, format: FormatXML, loc: "stats.components.component.1.tasks", want: 7},
		{name: "xml quantity with spaces", input: inputXML, format: FormatXML, loc: "stats.memory", want: 2048},
		{name: "xml namespaced", input: inputXML, format: FormatXML, loc: "stats.queue", want: 5},
		{name: "xml single element with index 0", input: inputXML, format: FormatXML, loc: "stats.0.count", want: 2.43},
		{name: "xml repeated needs index", input: inputXML, format: FormatXML, loc: "stats.components.component.tasks", wantErr: scalers.ErrNoData,
			wantMsg: `valueLocation "stats.components.component.tasks": <component> appears 2 times under "stats.components", add an index (e.g. stats.components.component.0)`},
		{name: "xml index out of range", input: inputXML, format: FormatXML, loc: "stats.components.component.2.tasks", wantErr: scalers.ErrNoData, wantMsg: `valueLocation "stats.components.component.2.tasks": index 2 out of range, <component> appears 2 times under "stats.components"`},
		{name: "xml wrong root", input: inputXML, format: FormatXML, loc: "root.count", wantErr: scalers.ErrNoData, wantMsg: `valueLocation "root.count": the root element is <stats>, not <root>`},
		{name: "xml missing", input: inputXML, format: FormatXML, loc: "stats.nope", wantErr: scalers.ErrNoData, wantMsg: `valueLocation "stats.nope": no element <nope> under "stats"`},
		{name: "xml not a leaf", input: inputXML, format: FormatXML, loc: "stats.components", wantErr: scalers.ErrNoData, wantMsg: `valueLocation "stats.components": is an element with child elements, expected a number or a quantity`},
		{name: "xml not numeric", input: inputXML, format: FormatXML, loc: "stats.name", wantErr: scalers.ErrNoData, wantMsg: `valueLocation "stats.name": the string "worker" is not a number or a quantity (such as 1.5, 100m, 2k)`},
		{name: "xml malformed", input: []byte("<a><b>1</a>"), format: FormatXML, loc: "a.b", wantErr: scalers.ErrUnavailable, wantMsg: `malformed answer: not valid XML: XML syntax error on line 1: element <b> closed by </a>`},
		{name: "xml two roots", input: []byte("<a>1</a><b>2</b>"), format: FormatXML, loc: "a", wantErr: scalers.ErrUnavailable, wantMsg: `malformed answer: not valid XML: more than one root element`},
		{name: "xml empty", input: []byte("  "), format: FormatXML, loc: "a", wantErr: scalers.ErrUnavailable, wantMsg: `malformed answer: not valid XML: no root element`},

		{name: "prometheus no labels", input: inputProm, format: FormatPrometheus, loc: "random_metric", want: 10},
		{name: "prometheus one label", input: inputProm, format: FormatPrometheus, loc: `backend_queue_size{queueName="one"}`, want: 1},
		{name: "prometheus first match", input: inputProm, format: FormatPrometheus, loc: `backend_queue_size{queueName="two"}`, want: 2},
		{name: "prometheus several labels", input: inputProm, format: FormatPrometheus, loc: `backend_queue_size{queueName="two", instance="zero"}`, want: 20},
		{name: "prometheus __name__", input: inputProm, format: FormatPrometheus, loc: `{__name__="backend_queue_size",queueName='one'}`, want: 1},
		{name: "prometheus regexp", input: inputProm, format: FormatPrometheus, loc: `backend_queue_size{queueName=~"t.*",instance!~"rand.*"}`, want: 20},
		{name: "prometheus not equal", input: inputProm, format: FormatPrometheus, loc: "backend_queue_size{queueName!=`zero`}", want: 1},
		{name: "prometheus gauge", input: inputProm, format: FormatPrometheus, loc: "temperature", want: -3.5},
		{name: "prometheus histogram", input: inputProm, format: FormatPrometheus, loc: "latency_seconds", wantErr: scalers.ErrNoData, wantMsg: `valueLocation "latency_seconds": metric latency_seconds is a histogram, expected a gauge, counter or untyped metric`},
		{name: "prometheus metric missing", input: inputProm, format: FormatPrometheus, loc: "nope", wantErr: scalers.ErrNoData, wantMsg: `valueLocation "nope": metric nope not found in the answer`},
		{name: "prometheus no series matches", input: inputProm, format: FormatPrometheus, loc: `backend_queue_size{queueName="nine"}`, wantErr: scalers.ErrNoData, wantMsg: `valueLocation "backend_queue_size{queueName=\"nine\"}": no series of backend_queue_size matches the label matchers (4 series)`},
		{name: "prometheus NaN", input: []byte("x NaN\n"), format: FormatPrometheus, loc: "x", wantErr: scalers.ErrNoData, wantMsg: `valueLocation "x": NaN is not a usable value`},
		{name: "prometheus CRLF, no final newline", input: []byte("x 1\r\ny 2"), format: FormatPrometheus, loc: "y", want: 2},
		{name: "prometheus malformed", input: []byte("x{a=1} 1\n"), format: FormatPrometheus, loc: "x", wantErr: scalers.ErrUnavailable, wantMsg: `malformed answer: not valid Prometheus text format: text format parsing error in line 1: expected '"' at start of label value, found '1'`},
		{name: "prometheus bad selector", input: inputProm, format: FormatPrometheus, loc: `x{a=b}`, wantErr: scalers.ErrInvalidConfig, wantMsg: `invalid metadata: valueLocation "x{a=b}": not a metric selector such as queue_length{queue="jobs"}: at position 5: expected a quoted string`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ExtractValue(tc.input, tc.format, tc.loc)
			if tc.wantErr != nil {
				scalertest.CheckErr(t, err, tc.wantErr)
				scalertest.CheckMessage(t, err, tc.wantMsg)
				return
			}
			if err != nil {
				t.Fatalf("ExtractValue: %v", err)
			}
			if got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseSelector(t *testing.T) {
	tests := []struct {
		in      string
		want    string // name and matchers, for comparison
		wantErr string
	}{
		{in: "up", want: "up"},
		{in: " ns:rule:rate5m { } ", want: "ns:rule:rate5m"},
		{in: `q{a="1",b!="2",c=~"3|4",d!~'5',}`, want: `q a="1" b!="2" c=~"3|4" d!~"5"`},
		{in: `q{a="say \"hi\"\n"}`, want: `q a="say \"hi\"\n"`},
		{in: `q{a='it\'s "x"'}`, want: `q a="it's \"x\""`},
		{in: "q{a=`raw\\n`}", want: `q a="raw\\n"`},
		{in: `{__name__="q", a="1"}`, want: `q a="1"`},
		{in: ``, wantErr: `not a metric selector such as queue_length{queue="jobs"}: no metric name`},
		{in: `{a="1"}`, wantErr: `not a metric selector such as queue_length{queue="jobs"}: no metric name`},
		{in: `q{__name__="r"}`, wantErr: `not a metric selector such as queue_length{queue="jobs"}: the metric name is given twice`},
		{in: `{__name__=~"q"}`, wantErr: `not a metric selector such as queue_length{queue="jobs"}: the metric name (__name__) must be matched with =`},
		{in: `q{a="1"`, wantErr: `not a metric selector such as queue_length{queue="jobs"}: at position 8: expected , or }`},
		{in: `q{a}`, wantErr: `not a metric selector such as queue_length{queue="jobs"}: at position 4: expected =, !=, =~ or !~ after a`},
		{in: `q{="1"}`, wantErr: `not a metric selector such as queue_length{queue="jobs"}: at position 3: expected a label name`},
		{in: `q{a="1}`, wantErr: `not a metric selector such as queue_length{queue="jobs"}: at position 5: unterminated string`},
		{in: `q{a="\q"}`, wantErr: `not a metric selector such as queue_length{queue="jobs"}: at position 5: invalid string "\q"`},
		{in: `q extra`, wantErr: `not a metric selector such as queue_length{queue="jobs"}: at position 3: unexpected "extra"`},
		{in: `q[5m]`, wantErr: `not a metric selector such as queue_length{queue="jobs"}: at position 2: unexpected "[5m]"`},
		{in: `9q`, wantErr: `not a metric selector such as queue_length{queue="jobs"}: at position 1: unexpected "9q"`},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			sel, err := parseSelector(tc.in)
			if tc.wantErr != "" {
				scalertest.CheckMessage(t, err, tc.wantErr)
				return
			}
			if err != nil {
				t.Fatalf("parseSelector: %v", err)
			}
			parts := []string{sel.name}
			for _, m := range sel.matchers {
				parts = append(parts, m.label+m.op+`"`+strings.ReplaceAll(strings.ReplaceAll(strings.ReplaceAll(m.value, `\`, `\\`), `"`, `\"`), "\n", `\n`)+`"`)
			}
			if got := strings.Join(parts, " "); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestParseNumber(t *testing.T) {
	tests := []struct {
		in      string
		want    float64
		wantErr string
	}{
		{in: "42", want: 42},
		{in: " -1.5e3 ", want: -1500},
		{in: "0.1234567891234", want: 0.1234567891234},
		{in: "100m", want: 0.1},
		{in: "1k", want: 1000},
		{in: "2Ki", want: 2048},
		{in: "1.5G", want: 1.5e9},
		{in: "+5", want: 5},
		{in: "NaN", wantErr: `valueLocation "loc": the string "NaN" is not a number or a quantity (such as 1.5, 100m, 2k)`},
		{in: "Inf", wantErr: `valueLocation "loc": the string "Inf" is not a number or a quantity (such as 1.5, 100m, 2k)`},
		{in: "0x10", wantErr: `valueLocation "loc": the string "0x10" is not a number or a quantity (such as 1.5, 100m, 2k)`},
		{in: "", wantErr: `valueLocation "loc": the string "" is not a number or a quantity (such as 1.5, 100m, 2k)`},
		{in: "1e400", wantErr: `valueLocation "loc": +Inf is not a usable value`},
		{in: "1.2.3", wantErr: `valueLocation "loc": the string "1.2.3" is not a number or a quantity (such as 1.5, 100m, 2k)`},
		{in: strings.Repeat("9", 100) + "x", wantErr: `valueLocation "loc": the string "` + strings.Repeat("9", 100) + `x" is not a number or a quantity (such as 1.5, 100m, 2k)`},
		{in: strings.Repeat("9", 1<<20) + "x", wantErr: `valueLocation "loc": the string "` + strings.Repeat("9", 120) + `…" (1048577 bytes) is not a number or a quantity (such as 1.5, 100m, 2k)`},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseNumber("loc", tc.in)
			if tc.wantErr != "" {
				scalertest.CheckMessage(t, err, tc.wantErr)
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func BenchmarkExtractValue(b *testing.B) {
	for _, bc := range []struct {
		format, file, loc string
	}{
		{FormatJSON, "answer.json", "components.0.tasks"},
		{FormatYAML, "answer.yaml", "components.0.tasks"},
		{FormatXML, "answer.xml", "stats.components.component.1.tasks"},
		{FormatPrometheus, "answer.prom", `backend_queue_size{queueName="two", instance="zero"}`},
	} {
		body := readTestdata(b, bc.file)
		l, err := compileLocation(bc.format, bc.loc)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(bc.format, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := l.value(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
