package cost

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/store"
	"github.com/hpa-autoscaler/hpa-autoscaler/scaling"
)

// pod is one vCPU and 1 GiB: 35,848 micro-units per replica-hour at the
// default on-demand prices.
var pod = Requests{CPUMilli: 1000, MemoryBytes: 1 << 30}

func costSpec(maxCostPerHour string, spot bool) *v1.ScalerSpec {
	return &v1.ScalerSpec{Advanced: &v1.Advanced{CostOptimization: &v1.CostOptimization{Enabled: true, SpotInstancesEnabled: spot,
		CostThresholds: &v1.CostThresholds{MaxCostPerHour: maxCostPerHour}}}}
}

func engineSpec(minReplicas int32, b *scaling.Budget) *scaling.Spec {
	return &scaling.Spec{MinReplicas: minReplicas, MaxReplicas: 50,
		Metrics:    []scaling.MetricSpec{{Name: "queue", Type: scaling.ExternalMetric, Target: scaling.AverageValueTarget, TargetMilli: 10_000}},
		Controller: scaling.DefaultControllerConfig(), Features: scaling.DefaultFeatureGates(), Budget: b}
}

// decide runs the engine: current replicas and a queue of total
// (milli-units; 10,000 per replica).
func decide(spec *scaling.Spec, cur int32, total int64) scaling.Decision {
	obs := &scaling.Observed{CurrentReplicas: cur, StatusReplicas: cur, ReadyPodCount: cur, Metrics: []scaling.MetricValue{{ValuesMilli: []int64{total}}}}
	var h scaling.History
	h.MarkWritten()
	var d scaling.Decision
	scaling.Decide(spec, obs, &h, time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC), &d)
	return d
}

func TestCapInTheEngine(t *testing.T) {
	s := openStore(t, nil)
	c := &Capper{Store: s, Prices: DefaultTable}
	now := time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC)
	w := Workload{Tenant: "acme", Cluster: "c1", Namespace: "prod", Name: "web"}
	// 0.50 per hour / 0.035848 per replica-hour = 13.9: 13 replicas.
	cp, err := c.Cap(testCtx(t), CapInput{Workload: w, Spec: costSpec("0.50", false), Requests: pod}, now)
	if err != nil {
		t.Fatal(err)
	}
	if !cp.Valid || cp.MaxReplicas != 13 || cp.PricePerReplicaHour != 35_848 || cp.MaxCostPerHour != 500_000 || cp.Source != "maxCostPerHour" || cp.TableHash != DefaultTable().Hash() {
		t.Fatalf("cap %+v", cp)
	}
	if got := cp.Budget().MaxReplicas(); got != cp.MaxReplicas {
		t.Fatalf("the engine's count %d, the cap's %d", got, cp.MaxReplicas)
	}
	tests := []struct {
		name     string
		min, cur int32
		total    int64
		want     int32
		budget   bool // the rule is BudgetCap
	}{
		{name: "a scale-up is clamped", min: 1, cur: 10, total: 200_000, want: 13, budget: true},
		{name: "a scale-up within the cap is not", min: 1, cur: 10, total: 120_000, want: 12},
		{name: "a scale-down is never blocked", min: 1, cur: 20, total: 50_000, want: 5},
		{name: "minReplicas above the cap holds", min: 15, cur: 15, total: 400_000, want: 15, budget: true},
		{name: "a scale-down to minReplicas", min: 2, cur: 12, total: 0, want: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := decide(engineSpec(tt.min, cp.Budget()), tt.cur, tt.total)
			if d.DesiredReplicas != tt.want || (d.Rule == scaling.RuleBudgetCap) != tt.budget || !d.HasBudgetCap {
				t.Fatalf("desired %d rule %s (cap %v), want %d budget %v", d.DesiredReplicas, d.Rule, d.HasBudgetCap, tt.want, tt.budget)
			}
			if !tt.budget {
				// The same decision without a budget: the budget changed nothing.
				if free := decide(engineSpec(tt.min, nil), tt.cur, tt.total); free.DesiredReplicas != d.DesiredReplicas {
					t.Fatalf("without a budget %d, with %d", free.DesiredReplicas, d.DesiredReplicas)
				}
			}
		})
	}

	// The audit record of a BudgetCap decision carries the price
	// table's hash, the price and the cap.
	d := decide(engineSpec(1, cp.Budget()), 10, 200_000)
	var seq int64
	if err := s.Update(testCtx(t), "acme", "agent-c1", func(tx store.Tx) error {
		var err error
		seq, err = tx.Append("decision", "scalers/web", DecisionPayload("d-1", w, &d, cp, now))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	rec, err := s.AuditRecord(testCtx(t), "acme", seq)
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Payload DecisionRecord `json:"payload"`
	}
	if err := json.Unmarshal(rec.Body, &body); err != nil {
		t.Fatalf("body %s: %v", rec.Body, err)
	}
	p := body.Payload
	if rec.Kind != "decision" || p.Rule != "BudgetCap" || p.DesiredReplicas != 13 || p.Budget == nil || p.Budget.PriceTableHash != DefaultTable().Hash() ||
		p.Budget.PricePerReplicaHourMicros != 35_848 || p.Budget.MaxReplicas != 13 || p.Budget.MaxCostPerHourMicros != 500_000 || p.Budget.Source != "maxCostPerHour" {
		t.Fatalf("audit record %s", rec.Body)
	}
}

func TestCapSources(t *testing.T) {
	month := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC) // 31 days: 744 hours
	s := openStore(t, nil)
	w := Workload{Tenant: "acme", Cluster: "c1", Namespace: "prod", Name: "web"}
	c := &Capper{Store: s, Prices: DefaultTable}
	ctx := testCtx(t)
	// Without a cap configured, none; costOptimization off ignores
	// maxCostPerHour.
	for name, spec := range map[string]*v1.ScalerSpec{"no spec": nil, "disabled": {Advanced: &v1.Advanced{CostOptimization: &v1.CostOptimization{CostThresholds: &v1.CostThresholds{MaxCostPerHour: "1"}}}}} {
		cp, err := c.Cap(ctx, CapInput{Workload: w, Spec: spec, Requests: pod}, month)
		if err != nil || cp.Valid || cp.Budget() != nil {
			t.Fatalf("%s: %+v %v", name, cp, err)
		}
	}
	// Nothing requested: nothing priced, no cap.
	if cp, err := c.Cap(ctx, CapInput{Workload: w, Spec: costSpec("0.01", false)}, month); err != nil || cp.Valid {
		t.Fatalf("no requests: %+v %v", cp, err)
	}
	if _, err := c.Cap(ctx, CapInput{Workload: w, Spec: costSpec("-1", false), Requests: pod}, month); err == nil || !strings.Contains(err.Error(), "costThresholds.maxCostPerHour") {
		t.Fatalf("bad maxCostPerHour: %v", err)
	}
	// Spot prices with spotInstancesEnabled in a spot pool: 6655 + 892.
	spotTable, err := ParseTable([]byte("nodePools: [{name: spot, capacityType: spot}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	cs := &Capper{Store: s, Prices: func() *Table { return spotTable }}
	if cp, err := cs.Cap(ctx, CapInput{Workload: w, Spec: costSpec("1", true), Requests: pod}, month); err != nil || cp.PricePerReplicaHour != 7_547 || cp.MaxReplicas != 132 {
		t.Fatalf("spot: %+v %v", cp, err)
	}
	if cp, err := cs.Cap(ctx, CapInput{Workload: w, Spec: costSpec("1", false), Requests: pod}, month); err != nil || cp.PricePerReplicaHour != 35_848 {
		t.Fatalf("spot off: %+v %v", cp, err)
	}

	// A monthly budget of 744.00 at the month's start: 1.00 per hour,
	// 27 replicas (1 / 0.035848 = 27.9).
	if err := s.Update(ctx, "acme", "test", func(tx store.Tx) error {
		if _, err := tx.CreateBudget(store.Budget{ID: "web", Name: "web", Scope: store.ScopeWorkload, Namespace: "prod", Workload: "web", MonthlyMicros: 744_000_000}); err != nil {
			return err
		}
		// Another namespace's and another cluster's budgets do not apply.
		if _, err := tx.CreateBudget(store.Budget{ID: "dev", Name: "dev", Scope: store.ScopeNamespace, Namespace: "dev", MonthlyMicros: 0}); err != nil {
			return err
		}
		_, err := tx.CreateBudget(store.Budget{ID: "c2", Name: "c2", Scope: store.ScopeTenant, Cluster: "c2", MonthlyMicros: 0})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	cp, err := c.Cap(ctx, CapInput{Workload: w, Requests: pod}, month)
	if err != nil || !cp.Valid || cp.MaxCostPerHour != 1_000_000 || cp.MaxReplicas != 27 || cp.Source != "budget/web" {
		t.Fatalf("monthly budget: %+v %v", cp, err)
	}
	// The tighter of the two applies.
	if cp, err := c.Cap(ctx, CapInput{Workload: w, Spec: costSpec("0.50", false), Requests: pod}, month); err != nil || cp.Source != "maxCostPerHour" || cp.MaxReplicas != 13 {
		t.Fatalf("both: %+v %v", cp, err)
	}
	// Mid-month (372 hours left) with 372.00 spent: (744 − 372) / 372 = 1.00 per hour.
	mid := month.Add(372 * time.Hour)
	if err := s.RecordCostSamples(ctx, "acme", []store.CostSample{
		{Cluster: "c1", Namespace: "prod", Workload: "web", Start: month, Step: time.Hour, ReplicasMilli: 1000, CPUMicros: 300_000_000, RAMMicros: 72_000_000},
		// Not this workload's: not spent from its budget.
		{Cluster: "c1", Namespace: "prod", Workload: "api", Start: month, Step: time.Hour, ReplicasMilli: 1000, CPUMicros: 700_000_000},
		// Last month's: not this month's.
		{Cluster: "c1", Namespace: "prod", Workload: "web", Start: month.Add(-time.Hour), Step: time.Hour, ReplicasMilli: 1000, CPUMicros: 700_000_000},
	}); err != nil {
		t.Fatal(err)
	}
	if cp, err := c.Cap(ctx, CapInput{Workload: w, Requests: pod}, mid); err != nil || cp.MaxCostPerHour != 1_000_000 {
		t.Fatalf("mid-month: %+v %v", cp, err)
	}
	// Overspent: a cap of 0; the engine keeps minReplicas.
	if err := s.Update(ctx, "acme", "test", func(tx store.Tx) error {
		b, err := tx.Budget("web")
		if err != nil {
			return err
		}
		b.MonthlyMicros = 100_000_000
		_, err = tx.UpdateBudget(b)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	cp, err = c.Cap(ctx, CapInput{Workload: w, Requests: pod}, mid)
	if err != nil || !cp.Valid || cp.MaxReplicas != 0 || cp.MaxCostPerHour != 0 {
		t.Fatalf("overspent: %+v %v", cp, err)
	}
	if d := decide(engineSpec(3, cp.Budget()), 10, 200_000); d.DesiredReplicas != 3 || d.Rule != scaling.RuleBudgetCap {
		t.Fatalf("overspent in the engine: %d %s", d.DesiredReplicas, d.Rule)
	}
}

func TestHourlyCap(t *testing.T) {
	dec := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name          string
		amount, spent Micros
		now           time.Time
		want          Micros
	}{
		{"month start", 744_000_000, 0, dec, 1_000_000},
		{"half spent at half", 744_000_000, 372_000_000, dec.Add(372 * time.Hour), 1_000_000},
		{"floored", 1_000_000, 0, dec, 1_344}, // 1 / 744 = 0.0013440...
		{"overspent", 1, 2, dec, 0},
		{"last seconds", 60_000_000, 0, dec.AddDate(0, 1, 0).Add(-time.Second), 3_600_000_000}, // the last minute spends the rest: 60 per minute
		{"February", 672_000_000, 0, time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC), 1_000_000},
	} {
		if got := HourlyCap(c.amount, c.spent, c.now); got != c.want {
			t.Errorf("%s: HourlyCap = %d, want %d", c.name, got, c.want)
		}
	}
	if maxReplicas(1, 0) != math.MaxInt32 {
		t.Fatal("a zero price caps nothing")
	}
}
