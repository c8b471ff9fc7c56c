package store

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The cost tables are a tenant's (reviewed by TestEveryQueryNamesItsTenant
// and TestMigrationsGiveEveryTenantTableATenant).
var _ = addTenantTables("budgets", "cost_samples")

func addTenantTables(tables ...string) bool {
	tenantTables = append(tenantTables, tables...)
	return true
}

func TestCost(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			s := open(t, b.url(t), Options{})
			newTenant(t, s, "acme")
			newTenant(t, s, "globex")
			t.Run("budgets", func(t *testing.T) { testBudgets(t, s) })
			t.Run("samples", func(t *testing.T) { testCostSamples(t, s) })
			verifyLog(t, s)
		})
	}
}

func testBudgets(t *testing.T, s Store) {
	ctx := testCtx(t)
	var created Budget
	mustUpdate(t, s, "acme", func(tx Tx) error {
		var err error
		created, err = tx.CreateBudget(Budget{ID: "b1", Name: "web", Scope: ScopeWorkload, Namespace: "prod", Workload: "web", MonthlyMicros: 1_250_000_000})
		return err
	})
	if created.ResourceVersion != 1 || created.CreatedAt.IsZero() {
		t.Fatalf("created %+v", created)
	}
	got, err := s.Budget(ctx, "acme", "b1")
	if err != nil || got.MonthlyMicros != 1_250_000_000 || got.Scope != ScopeWorkload || got.Workload != "web" {
		t.Fatalf("Budget: %+v %v", got, err)
	}
	// Another tenant's budget is not found, and its id is free there.
	if _, err := s.Budget(ctx, "globex", "b1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("globex reads acme's budget: %v", err)
	}
	mustUpdate(t, s, "globex", func(tx Tx) error {
		_, err := tx.CreateBudget(Budget{ID: "b1", Name: "all", Scope: ScopeTenant, MonthlyMicros: 1})
		return err
	})
	// A duplicate, a stale version, bad fields.
	for name, fn := range map[string]func(tx Tx) error{
		"duplicate": func(tx Tx) error {
			_, err := tx.CreateBudget(Budget{ID: "b1", Name: "x", Scope: ScopeTenant})
			return err
		},
		"stale": func(tx Tx) error {
			_, err := tx.UpdateBudget(Budget{ID: "b1", Name: "x", Scope: ScopeTenant, ResourceVersion: 7})
			return err
		},
		"missing": func(tx Tx) error { return tx.DeleteBudget("nope", 0) },
	} {
		err := s.Update(ctx, "acme", "tok_test", fn)
		want := map[string]error{"duplicate": ErrConflict, "stale": ErrConflict, "missing": ErrNotFound}[name]
		if !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", name, err, want)
		}
	}
	for _, bad := range []Budget{
		{ID: "x", Name: "x", Scope: "cluster"},
		{ID: "x", Name: "x", Scope: ScopeNamespace},
		{ID: "x", Name: "x", Scope: ScopeTenant, Namespace: "prod"},
		{ID: "x", Name: "x", Scope: ScopeTenant, MonthlyMicros: -1},
		{ID: "", Name: "x", Scope: ScopeTenant},
	} {
		err := s.Update(ctx, "acme", "tok_test", func(tx Tx) error { _, err := tx.CreateBudget(bad); return err })
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("CreateBudget(%+v): %v, want invalid", bad, err)
		}
	}
	mustUpdate(t, s, "acme", func(tx Tx) error {
		b, err := tx.Budget("b1")
		if err != nil {
			return err
		}
		b.MonthlyMicros = 2_000_000
		b.Scope, b.Workload = ScopeNamespace, ""
		if _, err := tx.UpdateBudget(b); err != nil {
			return err
		}
		_, err = tx.CreateBudget(Budget{ID: "b2", Name: "team", Scope: ScopeTenant, Cluster: "c1", MonthlyMicros: 3})
		return err
	})
	l, err := s.Budgets(ctx, "acme", Page{Limit: 1})
	if err != nil || len(l.Items) != 1 || l.Items[0].ID != "b1" || l.Items[0].ResourceVersion != 2 || l.Items[0].Scope != ScopeNamespace || l.NextPageToken == "" {
		t.Fatalf("first page: %+v %v", l, err)
	}
	l, err = s.Budgets(ctx, "acme", Page{Token: l.NextPageToken})
	if err != nil || len(l.Items) != 1 || l.Items[0].ID != "b2" || l.NextPageToken != "" {
		t.Fatalf("second page: %+v %v", l, err)
	}
	if !l.Items[0].Covers("c1", "any", "thing") || l.Items[0].Covers("c2", "any", "thing") {
		t.Fatal("a tenant budget of cluster c1 covers c1's workloads only")
	}
	mustUpdate(t, s, "acme", func(tx Tx) error { return tx.DeleteBudget("b2", 1) })
	if _, err := s.Budget(ctx, "acme", "b2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted budget: %v", err)
	}
	kinds := auditKinds(t, s, "acme")
	var budgetKinds []string
	for _, k := range kinds {
		if len(k) > 7 && k[:7] == "budget." {
			budgetKinds = append(budgetKinds, k)
		}
	}
	if diff := cmp.Diff([]string{"budget.create", "budget.update", "budget.create", "budget.delete"}, budgetKinds); diff != "" {
		t.Fatalf("audit kinds (-want +got):\n%s", diff)
	}
}

func testCostSamples(t *testing.T, s Store) {
	ctx := testCtx(t)
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	sample := func(cluster, ns, wl string, minute int, cpu int64) CostSample {
		return CostSample{Cluster: cluster, Namespace: ns, Workload: wl, Start: t0.Add(time.Duration(minute) * time.Minute), Step: time.Minute,
			ReplicasMilli: 2000, CPUMilli: 500, MemoryBytes: 1 << 30, SpotPPM: 500_000, CPUMicros: cpu, RAMMicros: 10, GPUMicros: 0, PriceTable: "abc"}
	}
	samples := []CostSample{
		sample("c1", "prod", "web", 0, 100), sample("c1", "prod", "web", 1, 100), sample("c1", "prod", "api", 0, 50),
		sample("c2", "prod", "web", 0, 7), sample("c1", "dev", "web", 90, 1000),
	}
	if err := s.RecordCostSamples(ctx, "acme", samples); err != nil {
		t.Fatal(err)
	}
	// A resend of a step replaces it (here with another cost).
	if err := s.RecordCostSamples(ctx, "acme", []CostSample{sample("c1", "prod", "web", 1, 200)}); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordCostSamples(ctx, "globex", []CostSample{sample("c1", "prod", "web", 0, 999_999)}); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordCostSamples(ctx, "acme", []CostSample{{Cluster: "c1", Namespace: "n", Workload: "w", Start: t0, Step: 0}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("step 0: %v", err)
	}
	all := func(agg CostAggregate, step time.Duration, f CostFilter) []CostAllocation {
		t.Helper()
		f.From, f.To, f.Step, f.Aggregate = t0, t0.Add(2*time.Hour), step, agg
		out, err := s.CostAllocations(ctx, "acme", f)
		if err != nil {
			t.Fatalf("CostAllocations(%s): %v", agg, err)
		}
		return out
	}
	ten := all(AggregateTenant, 0, CostFilter{})
	if len(ten) != 1 || ten[0].CPUMicros != 100+200+50+7+1000 || ten[0].RAMMicros != 50 || !ten[0].Start.Equal(t0) {
		t.Fatalf("tenant: %+v", ten)
	}
	// 5 samples of 2 replicas for 60 s: 600,000 milli-replica-seconds, half spot.
	if ten[0].ReplicaMilliSeconds != 600_000 || ten[0].SpotReplicaMilliSeconds != 300_000 || ten[0].CPUMilliCoreSeconds != 5*2*500*60 || ten[0].RAMKiBSeconds != 5*2*(1<<20)*60 {
		t.Fatalf("tenant quantities: %+v", ten[0])
	}
	hourly := all(AggregateTenant, time.Hour, CostFilter{})
	if len(hourly) != 2 || hourly[0].CPUMicros != 357 || hourly[1].CPUMicros != 1000 || !hourly[1].Start.Equal(t0.Add(time.Hour)) {
		t.Fatalf("hourly: %+v", hourly)
	}
	cl := all(AggregateCluster, 0, CostFilter{})
	if len(cl) != 2 || cl[0].Cluster != "c1" || cl[0].CPUMicros != 1350 || cl[1].Cluster != "c2" || cl[1].Namespace != "" {
		t.Fatalf("clusters: %+v", cl)
	}
	ns := all(AggregateNamespace, 0, CostFilter{})
	if len(ns) != 2 || ns[0].Namespace != "dev" || ns[1].Namespace != "prod" || ns[1].CPUMicros != 357 {
		t.Fatalf("namespaces: %+v", ns)
	}
	wl := all(AggregateWorkload, 0, CostFilter{Namespace: "prod", Cluster: "c1"})
	if len(wl) != 2 || wl[0].Workload != "api" || wl[1].Workload != "web" || wl[1].CPUMicros != 300 {
		t.Fatalf("workloads: %+v", wl)
	}
	if one := all(AggregateWorkload, 0, CostFilter{Workload: "api"}); len(one) != 1 || one[0].CPUMicros != 50 {
		t.Fatalf("one workload: %+v", one)
	}
	// Retention: the steps before 01:30 go, acme's only.
	if n, err := s.PruneCostSamples(ctx, "acme", t0.Add(90*time.Minute)); err != nil || n != 4 {
		t.Fatalf("PruneCostSamples: %d %v", n, err)
	}
	if left := all(AggregateTenant, 0, CostFilter{}); len(left) != 1 || left[0].CPUMicros != 1000 {
		t.Fatalf("after the prune: %+v", left)
	}
	if g, err := s.CostAllocations(ctx, "globex", CostFilter{From: t0, To: t0.Add(time.Hour)}); err != nil || len(g) != 1 {
		t.Fatalf("globex's samples after acme's prune: %+v %v", g, err)
	}
	for _, bad := range []CostFilter{
		{From: t0, To: t0},
		{From: t0, To: t0.Add(time.Hour), Step: time.Second},
		{From: t0, To: t0.Add(time.Hour), Aggregate: "pod"},
		{From: t0, To: t0.Add(2000 * time.Minute), Step: time.Minute},
	} {
		if _, err := s.CostAllocations(ctx, "acme", bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("CostAllocations(%+v): %v, want invalid", bad, err)
		}
	}
}
