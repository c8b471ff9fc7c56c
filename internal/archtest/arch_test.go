// Package archtest checks the import rules of docs/architecture.md on the
// packages as they are: a package that imports a layer it must not fails
// the suite.
package archtest

import (
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const module = "github.com/hpa-autoscaler/hpa-autoscaler"

// allowed maps a package (or a prefix ending in "/...") to the packages of
// ours its non-test code may import (prefixes ending in "/..." allowed).
// The most specific entry wins.
var allowed = map[string][]string{
	"scalers":                {},
	"scalers/...":            {"scalers"},
	"scalers/custom":         {"scalers"},
	"scalers/shared":         {"scalers"},
	"scalers/postgresql":     {"scalers", "scalers/shared"},
	"scalers/mysql":          {"scalers", "scalers/shared"},
	"scalers/cron":           {"scalers"},
	"scalers/natsjetstream":  {"scalers"},
	"scalers/etcd":           {"scalers"},
	"scalers/beanstalkd":     {"scalers"},
	"scalers/githubrunner":   {"scalers"},
	"scalers/predictive":     {"scalers", "predictor/..."},
	"scaling":                {},
	"scaling/...":            {"scaling/..."},
	"scaling/scalerspec":     {"scaling/...", "api/..."},
	"predictor":              {"predictor/..."},
	"predictor/...":          {"predictor/..."},
	"demand":                 {},
	"simulate":               {"scaling/...", "predictor/...", "demand", "api/..."},
	"externalscaler":         {"scalers/..."},
	"api/...":                {},
	"controller":             {"api/...", "scalers/...", "scaling/...", "predictor/...", "controller/triggers", "controller/backendlink"},
	"controller/...":         {"api/...", "scalers/...", "scaling/...", "predictor/..."},
	"controller/backendlink": {"api/...", "proto/...", "scaling/..."},
	"controller/linktest":    {"proto/..."},
	"proto/...":              {},
	"internal/...":           {},
	"backend/audit":          {},
	"backend/store":          {"backend/audit", "api/..."},
	"backend/store/...":      {"backend/audit", "backend/store", "api/..."},
	"backend/auth":           {"backend/store"},
	"backend/api":            {"backend/...", "api/...", "scaling/..."},
	"backend/history":        {"backend/store", "predictor/...", "demand"},
	"backend/cost":           {"backend/store", "api/...", "scaling/..."},
	"backend/agentsvc":       {"backend/...", "api/...", "proto/...", "scaling/...", "predictor/..."},
	"cmd/...":                {"..."},
	"hack/image":             {},
	"hack/valuesschema":      {"internal/valuesschema"},
	"internal/valuesschema":  {},
	"internal/charttest":     {},
}

// rule returns the entry that governs pkg.
func rule(pkg string) ([]string, bool) {
	if r, ok := allowed[pkg]; ok {
		return r, true
	}
	best := ""
	for k := range allowed {
		prefix, ok := strings.CutSuffix(k, "/...")
		if ok && strings.HasPrefix(pkg, prefix+"/") && len(k) > len(best) {
			best = k
		}
	}
	if best == "" {
		return nil, false
	}
	return allowed[best], true
}

func permits(list []string, imp string) bool {
	return slices.ContainsFunc(list, func(a string) bool {
		if a == "..." {
			return true
		}
		if prefix, ok := strings.CutSuffix(a, "/..."); ok {
			return imp == prefix || strings.HasPrefix(imp, prefix+"/")
		}
		return imp == a
	})
}

func TestImportRules(t *testing.T) {
	cmd := exec.Command("go", "list", "-json=ImportPath,Imports", "./...")
	cmd.Dir = filepath.Join("..", "..")
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	var violations, ungoverned []string
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkg := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		list, ok := rule(pkg)
		if !ok {
			ungoverned = append(ungoverned, pkg)
			continue
		}
		for _, imp := range p.Imports {
			ours, ok := strings.CutPrefix(imp, module+"/")
			if ok && !permits(list, ours) {
				violations = append(violations, pkg+" imports "+ours)
			}
		}
	}
	if diff := cmp.Diff([]string(nil), violations); diff != "" {
		t.Errorf("imports against docs/architecture.md (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string(nil), ungoverned); diff != "" {
		t.Errorf("packages without a rule here (add them to allowed and to docs/architecture.md):\n%s", diff)
	}
}

func TestRuleLookup(t *testing.T) {
	tests := []struct {
		pkg, imp string
		want     bool
	}{
		{"scalers/redis", "scalers", true},
		{"scalers/redis", "scalers/custom", false},
		{"scalers/postgresql", "scalers/shared", true},
		{"scalers/cron", "scalers/shared", false},
		{"scalers/natsjetstream", "scalers", true},
		{"scalers/natsjetstream", "scalers/shared", false},
		{"scalers/etcd", "scalers", true},
		{"scalers/etcd", "scalers/shared", false},
		{"scalers/beanstalkd", "scalers", true},
		{"scalers/beanstalkd", "scalers/shared", false},
		{"scalers/githubrunner", "scalers", true},
		{"scalers/githubrunner", "scalers/shared", false},
		{"scalers/mysql", "scalers/postgresql", false},
		{"scalers/predictive", "predictor", true},
		{"scalers/predictive", "predictor/period", true},
		{"predictor", "scalers", false},
		{"predictor", "predictor/period", true},
		{"scaling", "demand", false},
		{"scaling/decide", "scaling/hpa", true},
		{"simulate", "demand", true},
		{"simulate", "scalers", false},
		{"externalscaler", "scalers/predictive", true},
		{"externalscaler", "controller", false},
		{"cmd/hpa-autoscaler", "externalscaler", true},
	}
	for _, tc := range tests {
		list, ok := rule(tc.pkg)
		if got := ok && permits(list, tc.imp); got != tc.want {
			t.Errorf("%s may import %s: got %v, want %v", tc.pkg, tc.imp, got, tc.want)
		}
	}
}
