package redis

import (
	"os"
	"path/filepath"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestExamples parses the trigger metadata of the KEDA examples, so the
// documented files stay valid for the scaler they name.
func TestExamples(t *testing.T) {
	tests := []struct {
		file     string
		wantType string
		parse    func(map[string]string) error
	}{
		{"redis.yaml", "redis", func(md map[string]string) error { _, err := parseListMeta(md, standalone); return err }},
		{"redis-streams.yaml", "redis-streams", func(md map[string]string) error { _, err := parseStreamsMeta(md, standalone); return err }},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("..", "..", "examples", "keda", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			var so struct {
				Spec struct {
					Triggers []struct {
						Type     string            `json:"type"`
						Metadata map[string]string `json:"metadata"`
					} `json:"triggers"`
				} `json:"spec"`
			}
			if err := yaml.Unmarshal(raw, &so); err != nil {
				t.Fatalf("parse %s: %v", tc.file, err)
			}
			if len(so.Spec.Triggers) != 1 {
				t.Fatalf("got %d triggers, want 1", len(so.Spec.Triggers))
			}
			tr := so.Spec.Triggers[0]
			if tr.Type != "external" || tr.Metadata["scalerType"] != tc.wantType ||
				tr.Metadata["scalerAddress"] != "hpa-autoscaler.hpa-system:9443" {
				t.Fatalf("trigger = %s %v, want external with scalerType %s", tr.Type, tr.Metadata, tc.wantType)
			}
			if err := tc.parse(tr.Metadata); err != nil {
				t.Fatalf("metadata of %s: %v", tc.file, err)
			}
		})
	}
}
