package scalers

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRegistryDefaultTarget(t *testing.T) {
	r := NewRegistry()
	f := func(context.Context, Config) (Scaler, error) { return nil, nil }
	r.MustRegister("with-target", f, WithDefaultTarget(func(md map[string]string) {
		if md["threshold"] == "" {
			md["threshold"] = "1"
		}
	}))
	r.MustRegister("without", f)
	tests := []struct {
		name string
		typ  string
		md   map[string]string
		want map[string]string
	}{
		{"blank target filled", "with-target", map[string]string{"query": "up"}, map[string]string{"query": "up", "threshold": "1"}},
		{"given target kept", "with-target", map[string]string{"threshold": "7"}, map[string]string{"threshold": "7"}},
		{"type without a default", "without", map[string]string{"query": "up"}, map[string]string{"query": "up"}},
		{"unknown type", "nats", map[string]string{"query": "up"}, map[string]string{"query": "up"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r.FillDefaultTarget(tc.typ, tc.md)
			if diff := cmp.Diff(tc.want, tc.md); diff != "" {
				t.Errorf("metadata (-want +got):\n%s", diff)
			}
		})
	}
}
