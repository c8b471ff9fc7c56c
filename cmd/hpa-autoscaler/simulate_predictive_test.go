package main

import (
	"bytes"
	"encoding/json"
	"testing"
)

// TestSimulatePredictiveBar replays nyc_taxi with a capacity of 1,000 per
// replica, a target utilization of 0.7 and pods ready after 5 minutes:
// the predictive policy must serve at least 95% of the demand the reactive
// one leaves unserved, with at most 5% more replica-hours.
func TestSimulatePredictiveBar(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"simulate", "--trace", traceFile(t, "nab/nyc_taxi.csv"), "--capacity-per-replica", "1000",
		"--target-utilization", "0.7", "--startup-delay", "5m", "--policy", "both", "--json"}, nil, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit code %d, stderr %q", code, stderr.String())
	}
	var report struct {
		Policies []struct {
			Name           string  `json:"name"`
			UnservedDemand float64 `json:"unservedDemand"`
			ReplicaHours   float64 `json:"replicaHours"`
		} `json:"policies"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &report); err != nil {
		t.Fatal(err)
	}
	if len(report.Policies) != 2 || report.Policies[0].Name != "reactive" || report.Policies[1].Name != "predictive" {
		t.Fatalf("got %+v, want reactive and predictive", report.Policies)
	}
	re, pr := report.Policies[0], report.Policies[1]
	served := 1 - pr.UnservedDemand/re.UnservedDemand
	extra := pr.ReplicaHours/re.ReplicaHours - 1
	t.Logf("reactive: unserved %.1f, %.1f replica-hours; predictive: unserved %.1f (%.1f%% of reactive's served), %.1f replica-hours (%+.2f%%)",
		re.UnservedDemand, re.ReplicaHours, pr.UnservedDemand, 100*served, pr.ReplicaHours, 100*extra)
	if served < 0.95 {
		t.Errorf("predictive serves %.1f%% of the demand reactive leaves unserved, want at least 95%%", 100*served)
	}
	if extra > 0.05 {
		t.Errorf("predictive uses %+.2f%% replica-hours, want at most +5%%", 100*extra)
	}
}
