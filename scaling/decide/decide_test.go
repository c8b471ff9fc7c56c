package decide

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
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
// requires a null (or absent) answer. A want without keys asserts nothing,
// so it is an error in the test data.
func compareWant(tb testing.TB, got, want map[string]any) {
	tb.Helper()
	if len(want) == 0 {
		tb.Fatal("the case has no want: it would assert nothing")
	}
	picked := make(map[string]any, len(want))
	for k := range want {
		// An absent key reads as nil: it matches a null want and fails any
		// other.
		picked[k] = got[k]
	}
	if diff := cmp.Diff(want, picked); diff != "" {
		tb.Errorf("answer (-want +got):\n%s", diff)
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
	if len(file.Cases) == 0 {
		t.Fatal("keda_executor.yaml: no cases")
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
				// The file holds the whole message (and a final newline).
				if diff := cmp.Diff(strings.TrimSuffix(string(wantErr), "\n"), derr.Error()); diff != "" {
					t.Errorf("error (-want +got):\n%s", diff)
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
		want string // the whole message
	}{
		{name: "empty", req: ``, want: "invalid decision request: request: empty, expected a JSON object"},
		{name: "not an object", req: `[1]`, want: "invalid decision request: request: array is not a valid decide.Request"},
		{name: "syntax", req: `{"now":`, want: "invalid decision request: request: truncated JSON"},
		{name: "two objects", req: `{"now":"2026-11-27T12:00:00Z","currentReplicas":1,"maxReplicas":2,"metricDesiredReplicas":1} {}`, want: "invalid decision request: request: expected one JSON object, found more data after it"},
		{name: "wrong type", req: `{"now":"2026-11-27T12:00:00Z","currentReplicas":"three"}`, want: "invalid decision request: currentReplicas: string is not a valid int32"},
		{name: "out of range", req: `{"now":"2026-11-27T12:00:00Z","currentReplicas":3000000000}`, want: "invalid decision request: currentReplicas: number 3000000000 is not a valid int32"},
		{name: "unknown field with others", req: `{"now":"2026-11-27T12:00:00Z","currentReplica":3,"maxReplicas":2,"metricDesiredReplicas":1}`, want: "invalid decision request:\ncurrentReplica: unknown field\ncurrentReplicas: missing: required"},
		{name: "missing now", req: `{"currentReplicas":1,"maxReplicas":2,"metricDesiredReplicas":1}`, want: "invalid decision request:\nnow: missing: expected an RFC 3339 time such as 2026-11-27T12:00:00Z"},
		{name: "max below min", req: `{"now":"2026-11-27T12:00:00Z","currentReplicas":1,"minReplicas":3,"maxReplicas":2,"metricDesiredReplicas":1}`, want: "invalid decision request:\nmaxReplicas: 2: expected at least minReplicas (3)"},
		{name: "no metrics", req: `{"now":"2026-11-27T12:00:00Z","currentReplicas":1,"maxReplicas":2}`, want: "invalid decision request:\nmetrics: missing: give metrics (with current values) or metricDesiredReplicas"},
		{name: "metrics and proposal", req: `{"now":"2026-11-27T12:00:00Z","currentReplicas":1,"maxReplicas":2,"metricDesiredReplicas":1,"metrics":[{"type":"External","external":{"metric":{"name":"x"},"target":{"type":"Value","value":"1"}},"current":{"valuesMilli":[1]}}]}`, want: "invalid decision request:\nmetricDesiredReplicas: not allowed together with metrics: give one of them"},
		{name: "empty policies", req: `{"now":"2026-11-27T12:00:00Z","currentReplicas":1,"maxReplicas":2,"metricDesiredReplicas":1,"behavior":{"scaleUp":{"policies":[]}}}`, want: "invalid decision request:\nbehavior.scaleUp.policies: empty: expected at least one policy"},
		{name: "bad window", req: `{"now":"2026-11-27T12:00:00Z","currentReplicas":1,"maxReplicas":2,"metricDesiredReplicas":1,"behavior":{"scaleDown":{"stabilizationWindowSeconds":3601}}}`, want: "invalid decision request:\nbehavior.scaleDown.stabilizationWindowSeconds: 3601: expected 0 to 3600"},
		{name: "negative tolerance", req: `{"now":"2026-11-27T12:00:00Z","currentReplicas":1,"maxReplicas":2,"metricDesiredReplicas":1,"behavior":{"scaleUp":{"tolerance":"-0.1"}}}`, want: "invalid decision request:\nbehavior.scaleUp.tolerance: -100m: expected a value of at least 0"},
		{name: "unknown gate", req: `{"now":"2026-11-27T12:00:00Z","currentReplicas":1,"maxReplicas":2,"metricDesiredReplicas":1,"featureGates":{"HPAScaleFromMars":true}}`, want: "invalid decision request:\nfeatureGates.HPAScaleFromMars: unknown feature gate: expected HPAScaleToZero or HPAConfigurableTolerance"},
		{name: "target disagreement", req: `{"now":"2026-11-27T12:00:00Z","currentReplicas":1,"maxReplicas":2,"metrics":[{"type":"External","external":{"metric":{"name":"x"},"target":{"type":"Value","value":"1"}},"targetMilli":2000,"current":{"valuesMilli":[1]}}]}`, want: "invalid decision request:\nmetrics[0].external.target: targetMilli 2000 and value 1 (1000 milli) disagree"},
		{name: "missing requests", req: `{"now":"2026-11-27T12:00:00Z","currentReplicas":1,"maxReplicas":2,"metrics":[{"type":"Resource","resource":{"name":"cpu","target":{"type":"Utilization","averageUtilization":50}},"current":{"podValuesMilli":[1]}}]}`, want: "invalid decision request:\nmetrics[0].current.podRequestsMilli: missing: required for a Utilization target"},
		{name: "request count", req: `{"now":"2026-11-27T12:00:00Z","currentReplicas":1,"maxReplicas":2,"metrics":[{"type":"Resource","resource":{"name":"cpu","target":{"type":"Utilization","averageUtilization":50}},"current":{"podValuesMilli":[1,2],"podRequestsMilli":[1]}}]}`, want: "invalid decision request:\nmetrics[0].current.podRequestsMilli: 1 values: expected one per pod (2)"},
		{name: "overflow", req: `{"now":"2026-11-27T12:00:00Z","currentReplicas":1,"maxReplicas":2,"metrics":[{"type":"Pods","pods":{"metric":{"name":"x"},"target":{"type":"AverageValue","averageValue":"1"}},"current":{"podValuesMilli":[9223372036854775807,1]}}]}`, want: "invalid decision request:\nmetrics[0].current.podValuesMilli: sum overflows int64"},
		{name: "negative pod value and request", req: `{"now":"2026-11-27T12:00:00Z","currentReplicas":1,"maxReplicas":2,"metrics":[{"type":"Resource","resource":{"name":"cpu","target":{"type":"Utilization","averageUtilization":50}},"current":{"podValuesMilli":[1,-2],"podRequestsMilli":[-3,4]}}]}`,
			want: "invalid decision request:\nmetrics[0].current.podValuesMilli[1]: -2: expected 0 or more\nmetrics[0].current.podRequestsMilli[0]: -3: expected 0 or more"},
		{name: "requests overflow", req: `{"now":"2026-11-27T12:00:00Z","currentReplicas":1,"maxReplicas":2,"metrics":[{"type":"Resource","resource":{"name":"cpu","target":{"type":"Utilization","averageUtilization":50}},"current":{"podValuesMilli":[1,1],"podRequestsMilli":[9223372036854775807,1]}}]}`, want: "invalid decision request:\nmetrics[0].current.podRequestsMilli: sum overflows int64"},
		{name: "negative secondsAgo", req: `{"now":"2026-11-27T12:00:00Z","currentReplicas":1,"maxReplicas":2,"metricDesiredReplicas":1,"scaleUpEvents":[{"secondsAgo":-1,"replicaChange":1}]}`, want: "invalid decision request:\nscaleUpEvents[0].secondsAgo: -1: expected a number of seconds of at least 0"},
		{name: "keda mixed with hpa keys", req: `{"now":"2026-11-27T12:00:00Z","maxReplicas":3,"keda":{"currentReplicas":1}}`, want: "invalid decision request:\nmaxReplicas: not allowed in a keda (activation-only) request"},
		{name: "keda without current", req: `{"now":"2026-11-27T12:00:00Z","keda":{}}`, want: "invalid decision request:\nkeda.currentReplicas: missing: required"},
		{name: "fallback behavior", req: `{"now":"2026-11-27T12:00:00Z","currentReplicas":1,"maxReplicas":2,"metricDesiredReplicas":1,"fallback":{"behavior":"guess"}}`, want: "invalid decision request:\nfallback.behavior: \"guess\": expected static, currentReplicas, currentReplicasIfHigher, currentReplicasIfLower or lastKnownValue"},
		{name: "budget price", req: `{"now":"2026-11-27T12:00:00Z","currentReplicas":1,"maxReplicas":2,"metricDesiredReplicas":1,"budget":{"maxCostPerHour":1,"pricePerReplicaHour":0}}`, want: "invalid decision request:\nbudget.pricePerReplicaHour: 0: expected a price greater than 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeBytes([]byte(tt.req))
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want an ErrInvalid error", err)
			}
			if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
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
