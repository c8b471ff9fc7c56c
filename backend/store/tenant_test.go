package store

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Tables of a tenant's data: every query that names one must say which
// tenant (an INSERT lists tenant_id; a SELECT, UPDATE or DELETE has
// "tenant_id = ?" for each such table it names).
var tenantTables = []string{"tenants", "tokens", "clusters", "scalers", "scaling_events", "audit_records", "history_series", "history_samples"}

// Global tables: the one audit log that spans the tenants (hashes and
// checkpoints hold nothing of a tenant), and the schema's version.
var globalTables = []string{"audit_head", "tlog_hashes", "audit_checkpoints", "schema_migrations", "sqlite_master"}

// The queries allowed to span tenants, by their marker. A new one is a
// decision to review: add it here.
var crossTenant = []string{
	"the global log, for the verifier and system admins",
	"the list of tenants, for system admins",
}

var (
	sqlStart    = regexp.MustCompile(`(?is)^\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\b`)
	tableRef    = regexp.MustCompile(`(?i)\b(?:FROM|JOIN|UPDATE)\s+([a-z_]+)`)
	insertRef   = regexp.MustCompile(`(?i)\bINSERT\s+INTO\s+([a-z_]+)\s*\(([^)]*)\)`)
	tenantEq    = regexp.MustCompile(`(?i)\btenant_id\s*=\s*\?`)
	crossMarker = regexp.MustCompile(`/\* cross-tenant: ([^*]+) \*/`)
)

// packageQueries returns every SQL text of the package's non-test code:
// the value of each constant string expression (literals, constants and
// their concatenations with +) that starts like a query, with where it is.
// (A query built at run time, like the multi-row inserts, is checked by
// its constant prefix.)
func packageQueries(t *testing.T) map[string]string {
	t.Helper()
	fset := token.NewFileSet()
	var files []*ast.File
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	// The string constants of the package (any scope: names are unique
	// enough here), folded until nothing changes.
	consts := map[string]ast.Expr{}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			if d, ok := n.(*ast.GenDecl); ok && d.Tok == token.CONST {
				for _, sp := range d.Specs {
					vs := sp.(*ast.ValueSpec)
					for i, name := range vs.Names {
						if i < len(vs.Values) {
							consts[name.Name] = vs.Values[i]
						}
					}
				}
			}
			return true
		})
	}
	var eval func(e ast.Expr, depth int) (string, bool)
	eval = func(e ast.Expr, depth int) (string, bool) {
		if depth > 20 {
			return "", false
		}
		switch e := e.(type) {
		case *ast.BasicLit:
			if e.Kind != token.STRING {
				return "", false
			}
			s, err := strconv.Unquote(e.Value)
			return s, err == nil
		case *ast.Ident:
			if v, ok := consts[e.Name]; ok {
				return eval(v, depth+1)
			}
		case *ast.ParenExpr:
			return eval(e.X, depth+1)
		case *ast.BinaryExpr:
			if e.Op != token.ADD {
				return "", false
			}
			x, ok1 := eval(e.X, depth+1)
			y, ok2 := eval(e.Y, depth+1)
			return x + y, ok1 && ok2
		}
		return "", false
	}
	out := map[string]string{}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			e, ok := n.(ast.Expr)
			if !ok {
				return true
			}
			s, ok := eval(e, 0)
			if !ok {
				return true // visit the constant parts of a dynamic query
			}
			if sqlStart.MatchString(s) {
				out[s] = fset.Position(e.Pos()).String()
			}
			return false // the largest constant expression only
		})
	}
	return out
}

func TestEveryQueryNamesItsTenant(t *testing.T) {
	queries := packageQueries(t)
	if len(queries) < 30 {
		t.Fatalf("found %d queries in the package; the scan is broken", len(queries))
	}
	t.Logf("%d queries reviewed", len(queries))
	var markers []string
	for q, where := range queries {
		if m := crossMarker.FindStringSubmatch(q); m != nil {
			markers = append(markers, m[1])
			continue
		}
		classify := func(table string) (tenant bool) {
			switch {
			case slices.Contains(tenantTables, table):
				return true
			case slices.Contains(globalTables, table):
			default:
				t.Errorf("%s: query names table %q, which is neither a tenant's nor global: add it to this test\n%s", where, table, q)
			}
			return false
		}
		// Each INSERT into a tenant's table lists tenant_id.
		for _, m := range insertRef.FindAllStringSubmatch(q, -1) {
			if classify(strings.ToLower(m[1])) && !slices.Contains(strings.Fields(strings.ReplaceAll(m[2], ",", " ")), "tenant_id") {
				t.Errorf("%s: INSERT into %s without tenant_id:\n%s", where, m[1], q)
			}
		}
		// Each other reference to one has its tenant_id = ?.
		var tenantRefs int
		for _, m := range tableRef.FindAllStringSubmatch(q, -1) {
			if classify(strings.ToLower(m[1])) {
				tenantRefs++
			}
		}
		if got := len(tenantEq.FindAllString(q, -1)); got < tenantRefs {
			t.Errorf("%s: query names %d tenant tables but has %d \"tenant_id = ?\":\n%s", where, tenantRefs, got, q)
		}
	}
	slices.Sort(markers)
	want := slices.Clone(crossTenant)
	slices.Sort(want)
	if diff := cmp.Diff(want, markers); diff != "" {
		t.Errorf("cross-tenant queries (-reviewed +found):\n%s", diff)
	}
}

// TestReviewCatchesAMissingTenant runs the review on queries that must
// fail it, so that a regex gone lax does not pass everything.
func TestReviewCatchesAMissingTenant(t *testing.T) {
	bad := []string{
		`SELECT name FROM scalers WHERE name = ?`,
		`UPDATE tokens SET revoked_us = ? WHERE token_id = ?`,
		`DELETE FROM clusters WHERE cluster_id = ?`,
		`INSERT INTO scalers (name, spec) VALUES (?, ?)`,
		`WITH r AS (INSERT INTO audit_records (seq, body) VALUES (?, ?)) UPDATE audit_head SET seq = ?`,
		`SELECT s.name FROM scalers s JOIN scaling_events e ON e.scaler = s.name WHERE s.tenant_id = ?`,
	}
	for _, q := range bad {
		if m := insertRef.FindStringSubmatch(q); m != nil {
			if strings.Contains(m[2], "tenant_id") {
				t.Errorf("review passes %q", q)
			}
			continue
		}
		if len(tenantEq.FindAllString(q, -1)) >= len(tableRef.FindAllString(q, -1)) {
			t.Errorf("review passes %q", q)
		}
	}
}

// TestMigrationsGiveEveryTenantTableATenant reads the schema: each
// CREATE TABLE of a tenant's table has tenant_id NOT NULL, and no table
// is left unclassified.
func TestMigrationsGiveEveryTenantTableATenant(t *testing.T) {
	create := regexp.MustCompile(`(?is)CREATE TABLE (?:IF NOT EXISTS )?([a-z_]+) \((.*?)\n\)`)
	for _, dialect := range []string{"sqlite", "postgres"} {
		files, _ := filepath.Glob(filepath.Join("migrations", dialect, "*.sql"))
		if len(files) == 0 {
			t.Fatalf("no migrations for %s", dialect)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range create.FindAllStringSubmatch(string(b), -1) {
				table, body := m[1], m[2]
				switch {
				case slices.Contains(tenantTables, table):
					if !regexp.MustCompile(`(?m)^\s*tenant_id\s+TEXT\s+NOT NULL`).MatchString(body) {
						t.Errorf("%s: table %s has no tenant_id TEXT NOT NULL", f, table)
					}
				case slices.Contains(globalTables, table):
				default:
					t.Errorf("%s: table %s is neither a tenant's nor global: classify it in this test", f, table)
				}
			}
		}
	}
}
