package simulate

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseSpec: any file gives a spec or an error, never a panic, and an
// accepted spec is one the engine can run (bounds in order).
func FuzzParseSpec(f *testing.F) {
	for _, dir := range []string{"../examples/simulate", "../examples/scalers/design"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
		for _, p := range files {
			if raw, err := os.ReadFile(p); err == nil {
				f.Add(raw)
			}
		}
	}
	f.Add([]byte("spec:\n  scaling:\n    maxReplicas: 5\n    cooldownPeriod: soon\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		ns, err := ParseSpec(raw, SpecOptions{PricePerReplicaHour: 0.1})
		if err != nil {
			return
		}
		if s := ns.Spec; s.MinReplicas < 0 || s.MaxReplicas < 1 || s.MinReplicas > s.MaxReplicas {
			t.Fatalf("accepted bounds min %d max %d", s.MinReplicas, s.MaxReplicas)
		}
	})
}
