package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
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
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("keys: got %v, want %v", keys, want)
	}
	if p["name"] != "reactive" || p["unservedDemand"] != 100.0 || p["unservedIntervals"] != 2.0 || p["scalingActions"] != 1.0 || p["peakReplicas"] != 3.0 {
		t.Errorf("got %v, want reactive with 100 unserved over 2 intervals, 1 action, peak 3", p)
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
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "no trace", args: []string{"simulate", "--capacity-per-replica", "1"}, want: "--trace: required"},
		{name: "no capacity", args: []string{"simulate", "--trace", tr}, want: "--capacity-per-replica 0"},
		{name: "bad utilization", args: []string{"simulate", "--trace", tr, "--capacity-per-replica", "1", "--target-utilization", "70"}, want: "--target-utilization 70"},
		{name: "missing trace file", args: []string{"simulate", "--trace", "nope.csv", "--capacity-per-replica", "1"}, want: "--trace: open nope.csv"},
		{name: "unknown policy", args: []string{"simulate", "--trace", tr, "--capacity-per-replica", "1", "--policy", "oracle"}, want: `--policy: policy "oracle"`},
		{name: "bad plot name", args: []string{"simulate", "--trace", tr, "--capacity-per-replica", "1", "--plot", "x.gif"}, want: "--plot: plot file"},
		{name: "bad spec", args: []string{"simulate", "--trace", tr, "--capacity-per-replica", "1", "--spec", "nope.yaml"}, want: "--spec: open nope.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(t.Context(), tt.args, nil, &stdout, &stderr); code != 2 {
				t.Fatalf("exit code: got %d, want 2 (stderr %q)", code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("stderr %q does not mention %q", stderr.String(), tt.want)
			}
		})
	}
}
