package metricsapi

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// exampleMetadata reads the trigger metadata of a ScaledObject under
// examples/keda. Keys ending in File point at paths inside the cluster; they
// are pointed at a temporary file here.
func exampleMetadata(tb testing.TB, name string) map[string]string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", "keda", name))
	if err != nil {
		tb.Fatal(err)
	}
	var so struct {
		Spec struct {
			Triggers []struct {
				Type     string
				Metadata map[string]string
			}
		}
	}
	if err := yaml.Unmarshal(b, &so); err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	if len(so.Spec.Triggers) != 1 || so.Spec.Triggers[0].Type != "external" {
		tb.Fatalf("%s: want one external trigger, got %+v", name, so.Spec.Triggers)
	}
	md := so.Spec.Triggers[0].Metadata
	for k := range md {
		if strings.HasSuffix(k, "File") {
			p := filepath.Join(tb.TempDir(), k)
			if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
				tb.Fatal(err)
			}
			md[k] = p
		}
	}
	return md
}

func TestExampleParses(t *testing.T) {
	md := exampleMetadata(t, "metrics-api.yaml")
	if md["scalerType"] != Type {
		t.Fatalf("scalerType: got %q, want %q", md["scalerType"], Type)
	}
	if _, err := ParseMetadata(md); err != nil {
		t.Fatalf("examples/keda/metrics-api.yaml: %v", err)
	}
}
