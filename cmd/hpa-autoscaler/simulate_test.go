package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSimulateJSON(t *testing.T) {
	tr := filepath.Join("..", "..", "simulate", "testdata", "steps.csv")
	plot := filepath.Join(t.TempDir(), "out.svg")
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"simulate", "--trace", tr, "--capacity-per-replica", "100", "--target-utilization", "1",
		"--startup-delay", "30s", "--price-per-replica-hour", "3.6", "--json", "--plot", plot}, nil, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit code %d, stderr %q", code, stderr.String())
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr is not a terminal, want no progress bar; got %q", stderr.String())
	}
	var report map[string][]map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &report); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, stdout.String())
	}
	if len(report) != 1 || len(report["policies"]) != 1 {
		t.Fatalf("got %v, want {\"policies\": [one]}", report)
	}
	p := report["policies"][0]
	var keys []string
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	want := []string{"cost", "name", "peakReplicas", "replicaHours", "scalingActions", "unservedDemand", "unservedIntervals"}
	if diff := cmp.Diff(want, keys); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}
	// Reactive misses 100 over 2 intervals with 1 action and a peak of 3
	// (simulate's TestSimulateByHand works them out); the replica-hours
	// and cost follow from them and are checked there.
	picked := map[string]any{}
	for _, k := range []string{"name", "unservedDemand", "unservedIntervals", "scalingActions", "peakReplicas"} {
		picked[k] = p[k]
	}
	wantFigures := map[string]any{"name": "reactive", "unservedDemand": 100.0, "unservedIntervals": 2.0, "scalingActions": 1.0, "peakReplicas": 3.0}
	if diff := cmp.Diff(wantFigures, picked); diff != "" {
		t.Errorf("policy report (-want +got):\n%s", diff)
	}
	if fi, err := os.Stat(plot); err != nil || fi.Size() == 0 {
		t.Errorf("plot not written: %v", err)
	}
}

func TestSimulateCompareSpecs(t *testing.T) {
	tr := filepath.Join("..", "..", "examples", "traces", "nab", "nyc_taxi.csv")
	specs := filepath.Join("..", "..", "examples", "simulate")
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"simulate", "--trace", tr, "--capacity-per-replica", "500", "--interval", "5m",
		"--spec", filepath.Join(specs, "hpa-legacy.yaml"), "--spec", filepath.Join(specs, "hpa-v2-behavior.yaml")}, nil, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit code %d, stderr %q", code, stderr.String())
	}
	for _, want := range []string{"policy", "unserved demand", "reactive/hpa-legacy", "reactive/hpa-v2-behavior"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("table does not mention %q:\n%s", want, stdout.String())
		}
	}
}

func TestSimulateUsageErrors(t *testing.T) {
	tr := filepath.Join("..", "..", "simulate", "testdata", "steps.csv")
	// The operating system's own words for a missing file.
	missing := func(name string) error {
		_, err := os.Open(name)
		return err
	}
	tests := []struct {
		name string
		args []string
		want string // the whole message on stderr, after "error: "
	}{
		{name: "no trace", args: []string{"simulate", "--capacity-per-replica", "1"}, want: "--trace: required (a CSV file of timestamp,value)"},
		{name: "no capacity", args: []string{"simulate", "--trace", tr}, want: "--capacity-per-replica 0: expected a number greater than 0"},
		{name: "bad utilization", args: []string{"simulate", "--trace", tr, "--capacity-per-replica", "1", "--target-utilization", "70"}, want: "--target-utilization 70: expected a fraction in (0, 1]"},
		{name: "missing trace file", args: []string{"simulate", "--trace", "nope.csv", "--capacity-per-replica", "1"}, want: fmt.Sprintf("--trace: %v", missing("nope.csv"))},
		{name: "unknown policy", args: []string{"simulate", "--trace", tr, "--capacity-per-replica", "1", "--policy", "oracle"}, want: `--policy: policy "oracle": expected one of both, predictive, reactive`},
		{name: "bad plot name", args: []string{"simulate", "--trace", tr, "--capacity-per-replica", "1", "--plot", "x.gif"}, want: `--plot: plot file "x.gif": expected a .svg or .png name`},
		{name: "bad spec", args: []string{"simulate", "--trace", tr, "--capacity-per-replica", "1", "--spec", "nope.yaml"}, want: fmt.Sprintf("--spec: %v", missing("nope.yaml"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(t.Context(), tt.args, nil, &stdout, &stderr); code != 2 {
				t.Fatalf("exit code: got %d, want 2 (stderr %q)", code, stderr.String())
			}
			if diff := cmp.Diff("error: "+tt.want+"\n", stderr.String()); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
		})
	}
}
