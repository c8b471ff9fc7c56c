package v1_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
)

// TestExamplesDecode: every Scaler under examples/scalers/ decodes into the
// Go types with no unknown field (the API server test in controller/
// applies them for real, with the CRD's validation).
func TestExamplesDecode(t *testing.T) {
	root := repoRoot(t)
	files, err := filepath.Glob(filepath.Join(root, "examples", "scalers", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	design, err := filepath.Glob(filepath.Join(root, "examples", "scalers", "design", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, design...)
	if len(files) < 15 {
		t.Fatalf("%d examples, expected the design's 5 and one per scaler type", len(files))
	}
	for _, f := range files {
		t.Run(strings.TrimPrefix(f, root+"/"), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var s v1.Scaler
			if err := yaml.UnmarshalStrict(raw, &s); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if s.Kind != "Scaler" || s.APIVersion != v1.GroupVersion.String() {
				t.Errorf("kind %q apiVersion %q", s.Kind, s.APIVersion)
			}
			if (s.Spec.ScalerSpec == nil) == (len(s.Spec.Triggers) == 0) {
				t.Error("exactly one of scalerSpec or triggers expected")
			}
		})
	}
}
