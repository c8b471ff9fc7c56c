package decide

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the golden answers in testdata/golden")

func evaluateJSON(tb testing.TB, request []byte) (map[string]any, []byte) {
	tb.Helper()
	d, err := DecodeBytes(request)
	if err != nil {
		tb.Fatalf("decode: %v", err)
	}
	var buf bytes.Buffer
	if err := Write(&buf, Evaluate(d)); err != nil {
		tb.Fatalf("write: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		tb.Fatalf("answer is not JSON: %v", err)
	}
	return m, buf.Bytes()
}

// compareWant checks every key of want against the answer; a null want
// requires a null (or absent) answer.
func compareWant(tb testing.TB, got, want map[string]any) {
	tb.Helper()
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		w := want[k]
		g, ok := got[k]
		if w == nil {
			if ok && g != nil {
				tb.Errorf("%s: got %v, want null", k, g)
			}
			continue
		}
		if !ok {
			tb.Errorf("%s: missing from the answer, want %v", k, w)
			continue
		}
		if !reflect.DeepEqual(g, w) {
			tb.Errorf("%s: got %v, want %v", k, g, w)
		}
	}
}

func TestUpstreamHorizontal(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "upstream_horizontal.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Cases []struct {
			Name    string          `json:"name"`
			Source  string          `json:"source"`
			Request json.RawMessage `json:"request"`
			Want    map[string]any  `json:"want"`
		} `json:"cases"`
	}
	if err := yaml.UnmarshalStrict(raw, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Cases) < 50 {
		t.Fatalf("got %d cases, want the full upstream table", len(file.Cases))
	}
	for _, c := range file.Cases {
		t.Run(c.Name, func(t *testing.T) {
			got, _ := evaluateJSON(t, c.Request)
			compareWant(t, got, c.Want)
		})
	}
}

func TestKEDARequests(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "testdata", "keda_executor.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Cases []struct {
			Name string          `json:"name"`
			Keda json.RawMessage `json:"keda"`
			Want map[string]any  `json:"want"`
		} `json:"cases"`
	}
	if err := yaml.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	for _, c := range file.Cases {
		t.Run(c.Name, func(t *testing.T) {
			req := []byte(`{"now":"2026-11-27T12:00:00Z","keda":` + string(c.Keda) + `}`)
			got, _ := evaluateJSON(t, req)
			compareWant(t, got, c.Want)
		})
	}
}

func goldenRequests(tb testing.TB) []string {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "golden", "*.request.json"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no golden requests: %v", err)
	}
	return files
}

func TestGolden(t *testing.T) {
	for _, reqFile := range goldenRequests(t) {
		base := strings.TrimSuffix(reqFile, ".request.json")
		t.Run(filepath.Base(base), func(t *testing.T) {
			req, err := os.ReadFile(reqFile)
			if err != nil {
				t.Fatal(err)
			}
			if wantErr, err := os.ReadFile(base + ".error.txt"); err == nil {
				_, derr := DecodeBytes(req)
				if !errors.Is(derr, ErrInvalid) {
					t.Fatalf("got %v, want an ErrInvalid error", derr)
				}
				for _, line := range strings.Split(strings.TrimSpace(string(wantErr)), "\n") {
					if !strings.Contains(derr.Error(), line) {
						t.Errorf("error %q does not mention %q", derr, line)
					}
				}
				return
			}
			_, got := evaluateJSON(t, req)
			if *update {
				if err := os.WriteFile(base+".answer.json", got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(base + ".answer.json")
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("answer differs from %s.answer.json:\ngot:\n%s\nwant:\n%s", filepath.Base(base), got, want)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		req  string
		want []string
	}{
		{name: "empty", req: ``, want: []string{"request: empty"}},
		{name: "not an object", req: `[1]`, want: []string{"request: array is not a valid decide.Request"}},
		{name: "syntax", req: `{"now":`, want: []string{"request: truncated JSON"}},
		{name: "two objects", req: `{"now":"2026-11-27T12:00:00Z","currentReplicas":1,"maxReplicas":2,"metricDesiredReplicas":1} {}`, want: []string{"found more data"}},
		{name: "wrong type", req: `{"now":"2026-11-27T12:00:00Z","currentReplicas":"three"}`, want: []string{"currentReplicas: string is not a valid int32"}},
		{name: "out of range", req: `{"now":"2026-11-27T12:00:00Z","currentReplicas":3000000000}`, want: []string{"currentReplicas: number 3000000000 is not a valid int32"}},
		{name: "unknown field with others", req: `{"now":"2026-11-27T12:00:00Z","currentReplica":3,"maxReplicas":2,"metricDesiredReplicas":1}`, want: []string{"currentReplica: unknown field", "currentReplicas: missing"}},
		{name: "missing now", req: `{"currentReplicas":1,"maxReplicas":2,"metricDesiredReplicas":1}`, want: []string{"now: missing"}},
		{name: "max below min", req: `{"now":"2026-11-27T12:00:00Z","currentReplicas":1,"minReplicas":3,"maxReplicas":2,"metricDesiredReplicas":1}`, want: []string{"maxReplicas: 2: expected at least minReplicas (3)"}},
		{name: "no metrics", req: `{"now":"2026-11-27T12:00:00Z","currentReplicas":1,"maxReplicas":2}`, want: []string{"metrics: missing"}},
		{name: "metrics and proposal", req: `{"now":"2026-11-27T12:00:00Z","currentReplicas":1,"maxReplicas":2,"metricDesiredReplicas":1,"metrics":[{"type":"External","external":{"metric":{"name":"x"},"target":{"type":"Value","value":"1"}},"current":{"valuesMilli":[1]}}]}`, want: []string{"metricDesiredReplicas: not allowed together with metrics"}},
		{name: "empty policies", req: `{"now":"2026-11-27T12:00:00Z","currentReplicas":1,"maxReplicas":2,"metricDesiredReplicas":1,"behavior":{"scaleUp":{"policies":[]}}}`, want: []string{"behavior.scaleUp.policies: empty"}},
		{name: "bad window", req: `{"now":"2026-11-27T12:00:00Z","currentReplicas":1,"maxReplicas":2,"metricDesiredReplicas":1,"behavior":{"scaleDown":{"stabilizationWindowSeconds":3601}}}`, want: []string{"behavior.scaleDown.stabilizationWindowSeconds: 3601: expected 0 to 3600"}},
		{name: "negative tolerance", req: `{"now":"2026-11-27T12:00:00Z","currentReplicas":1,"maxReplicas":2,"metricDesiredReplicas":1,"behavior":{"scaleUp":{"tolerance":"-0.1"}}}`, want: []string{"behavior.scaleUp.tolerance: -100m: expected a value of at least 0"}},
		{name: "unknown gate", req: `{"now":"2026-11-27T12:00:00Z","currentReplicas":1,"maxReplicas":2,"metricDesiredReplicas":1,"featureGates":{"HPAScaleFromMars":true}}`, want: []string{"featureGates.HPAScaleFromMars: unknown feature gate"}},
		{name: "target disagreement", req: `{"now":"2026-11-27T12:00:00Z","currentReplicas":1,"maxReplicas":2,"metrics":[{"type":"External","external":{"metric":{"name":"x"},"target":{"type":"Value","value":"1"}},"targetMilli":2000,"current":{"valuesMilli":[1]}}]}`, want: []string{"metrics[0].external.target: targetMilli 2000 and value 1 (1000 milli) disagree"}},
		{name: "missing requests", req: `{"now":"2026-11-27T12:00:00Z","currentReplicas":1,"maxReplicas":2,"metrics":[{"type":"Resource","resource":{"name":"cpu","target":{"type":"Utilization","averageUtilization":50}},"current":{"podValuesMilli":[1]}}]}`, want: []string{"metrics[0].current.podRequestsMilli: missing"}},
		{name: "request count", req: `{"now":"2026-11-27T12:00:00Z","currentReplicas":1,"maxReplicas":2,"metrics":[{"type":"Resource","resource":{"name":"cpu","target":{"type":"Utilization","averageUtilization":50}},"current":{"podValuesMilli":[1,2],"podRequestsMilli":[1]}}]}`, want: []string{"metrics[0].current.podRequestsMilli: 1 values: expected one per pod (2)"}},
		{name: "overflow", req: `{"now":"2026-11-27T12:00:00Z","currentReplicas":1,"maxReplicas":2,"metrics":[{"type":"Pods","pods":{"metric":{"name":"x"},"target":{"type":"AverageValue","averageValue":"1"}},"current":{"podValuesMilli":[9223372036854775807,1]}}]}`, want: []string{"metrics[0].current.podValuesMilli: sum overflows int64"}},
		{name: "negative pod value and request", req: `{"now":"2026-11-27T12:00:00Z","currentReplicas":1,"maxReplicas":2,"metrics":[{"type":"Resource","resource":{"name":"cpu","target":{"type":"Utilization","averageUtilization":50}},"current":{"podValuesMilli":[1,-2],"podRequestsMilli":[-3,4]}}]}`,
			want: []string{"metrics[0].current.podValuesMilli[1]: -2: expected 0 or more", "metrics[0].current.podRequestsMilli[0]: -3: expected 0 or more"}},
		{name: "requests overflow", req: `{"now":"2026-11-27T12:00:00Z","currentReplicas":1,"maxReplicas":2,"metrics":[{"type":"Resource","resource":{"name":"cpu","target":{"type":"Utilization","averageUtilization":50}},"current":{"podValuesMilli":[1,1],"podRequestsMilli":[9223372036854775807,1]}}]}`, want: []string{"metrics[0].current.podRequestsMilli: sum overflows int64"}},
		{name: "negative secondsAgo", req: `{"now":"2026-11-27T12:00:00Z","currentReplicas":1,"maxReplicas":2,"metricDesiredReplicas":1,"scaleUpEvents":[{"secondsAgo":-1,"replicaChange":1}]}`, want: []string{"scaleUpEvents[0].secondsAgo: -1: expected a number of seconds of at least 0"}},
		{name: "keda mixed with hpa keys", req: `{"now":"2026-11-27T12:00:00Z","maxReplicas":3,"keda":{"currentReplicas":1}}`, want: []string{"maxReplicas: not allowed in a keda"}},
		{name: "keda without current", req: `{"now":"2026-11-27T12:00:00Z","keda":{}}`, want: []string{"keda.currentReplicas: missing"}},
		{name: "fallback behavior", req: `{"now":"2026-11-27T12:00:00Z","currentReplicas":1,"maxReplicas":2,"metricDesiredReplicas":1,"fallback":{"behavior":"guess"}}`, want: []string{"fallback.behavior: \"guess\""}},
		{name: "budget price", req: `{"now":"2026-11-27T12:00:00Z","currentReplicas":1,"maxReplicas":2,"metricDesiredReplicas":1,"budget":{"maxCostPerHour":1,"pricePerReplicaHour":0}}`, want: []string{"budget.pricePerReplicaHour: 0: expected a price greater than 0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeBytes([]byte(tt.req))
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want an ErrInvalid error", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	for _, file := range goldenRequests(f) {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"now":"2026-11-27T12:00:00Z","keda":{"currentReplicas":0,"triggers":[{"value":1,"activationThreshold":0}]}}`))
	f.Add([]byte(`{"now":"2026-11-27T12:00:00Z","currentReplicas":5,"statusReplicas":0,"readyPodCount":0,"minReplicas":0,"maxReplicas":9,"metrics":[{"type":"Object","object":{"describedObject":{"kind":"x","name":"y"},"metric":{"name":"m"},"target":{"type":"AverageValue"}},"targetMilli":1,"current":{"valueMilli":-9223372036854775808}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := DecodeBytes(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		var buf bytes.Buffer
		if err := Write(&buf, Evaluate(d)); err != nil {
			t.Fatalf("answer cannot be written: %v", err)
		}
		if d.Keda != nil {
			return
		}
		var a Answer
		if err := json.Unmarshal(buf.Bytes(), &a); err != nil {
			t.Fatalf("answer is not valid JSON: %v", err)
		}
		// Once current is within [min, max], so is the decision.
		cur, lo, hi := d.Observed.CurrentReplicas, d.Spec.MinReplicas, d.Spec.MaxReplicas
		if d.Spec.Activation == nil && cur >= lo && cur <= hi && cur > 0 && (a.DesiredReplicas < lo || a.DesiredReplicas > hi) {
			t.Fatalf("desired %d outside [%d, %d] from current %d", a.DesiredReplicas, lo, hi, cur)
		}
	})
}
