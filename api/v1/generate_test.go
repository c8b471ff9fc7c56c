package v1_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

// repoRoot is the directory of the module's go.mod.
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test's directory")
		}
		dir = parent
	}
}

// controllerGen returns the pinned controller-gen of the Makefile
// (bin/tools/controller-gen-<version>), installing it as make generate does
// when it is missing.
func controllerGen(t testing.TB, root string) string {
	t.Helper()
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^CONTROLLER_GEN_VERSION := (\S+)$`).FindSubmatch(mk)
	if m == nil {
		t.Fatal("Makefile has no CONTROLLER_GEN_VERSION line")
	}
	bin := filepath.Join(root, "bin", "tools", "controller-gen-"+string(m[1]))
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	cmd := exec.Command("make", "-C", root, "bin/tools/controller-gen-"+string(m[1]))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("installing controller-gen %s: %v\n%s", m[1], err, out)
	}
	return bin
}

// TestGeneratedFilesUpToDate fails when zz_generated.deepcopy.go or the CRD
// YAML under config/crd/ is not what make generate writes from the types.
func TestGeneratedFilesUpToDate(t *testing.T) {
	root := repoRoot(t)
	gen := controllerGen(t, root)

	run := func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command(gen, args...)
		cmd.Dir = root
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("controller-gen %v: %v\n%s", args, err, stderr.Bytes())
		}
		return out
	}

	deepcopy := run("object", "paths=./api/...", "output:object:stdout")
	have, err := os.ReadFile(filepath.Join(root, "api", "v1", "zz_generated.deepcopy.go"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(deepcopy, have) {
		t.Error("api/v1/zz_generated.deepcopy.go is stale: run make generate")
	}

	dir := t.TempDir()
	run("crd:allowDangerousTypes=true", "paths=./api/...", "output:crd:artifacts:config="+dir)
	want, err := os.ReadFile(filepath.Join(dir, "autoscaling.hpa-agent.io_scalers.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	have, err = os.ReadFile(filepath.Join(root, "config", "crd", "autoscaling.hpa-agent.io_scalers.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(want, have) {
		t.Error("config/crd/autoscaling.hpa-agent.io_scalers.yaml is stale: run make generate")
	}
}
