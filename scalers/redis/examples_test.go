package redis

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// TestExamples parses the trigger metadata of the KEDA examples, so the
// documented files stay valid for the scaler they name.
func TestExamples(t *testing.T) {
	tests := []struct {
		file     string
		wantType string
		parse    func(map[string]string) error
	}{
		{"redis.yaml", "redis", func(md map[string]string) error {
			_, err := parseListMeta(md, standalone, scalers.Limits{})
			return err
		}},
		{"redis-streams.yaml", "redis-streams", func(md map[string]string) error {
			_, err := parseStreamsMeta(md, standalone, scalers.Limits{})
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			md := scalertest.KEDATrigger(t, tc.file)
			want := []string{tc.wantType, "hpa-autoscaler.hpa-system:9443"}
			if diff := cmp.Diff(want, []string{md["scalerType"], md["scalerAddress"]}); diff != "" {
				t.Fatalf("scalerType and scalerAddress of %s (-want +got):\n%s", tc.file, diff)
			}
			if err := tc.parse(md); err != nil {
				t.Fatalf("metadata of %s: %v", tc.file, err)
			}
		})
	}
}
