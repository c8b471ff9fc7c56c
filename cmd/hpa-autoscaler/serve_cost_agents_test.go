package main

import (
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/agentsvc"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/cost"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/store"
)

// TestCostAgents: an inventory's workload is held and recorded at every
// step; the budget cap of a Scaler comes from its stored spec and the
// inventory's pod requests; a Scaler the store no longer has is
// forgotten.
func TestCostAgents(t *testing.T) {
	ctx := t.Context()
	s, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "hpa.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	spec := v1.ScalerSpec{TargetRef: v1.TargetRef{Kind: "Deployment", Name: "web"}, Scaling: v1.Scaling{MaxReplicas: 50},
		Advanced: &v1.Advanced{CostOptimization: &v1.CostOptimization{Enabled: true, CostThresholds: &v1.CostThresholds{MaxCostPerHour: "0.50"}}}}
	if err := s.Update(ctx, "acme", "test", func(tx store.Tx) error {
		if _, err := tx.CreateTenant("Acme"); err != nil {
			return err
		}
		if _, err := tx.CreateCluster(store.Cluster{ID: "c1", Name: "one"}); err != nil {
			return err
		}
		_, err := tx.CreateScaler(store.Scaler{Name: "prod.web", Namespace: "prod", Cluster: "c1", Spec: spec})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	rec, err := cost.NewRecorder(cost.RecorderOptions{Store: s})
	if err != nil {
		t.Fatal(err)
	}
	rt := &costRuntime{Recorder: rec, Capper: &cost.Capper{Store: s, Prices: cost.DefaultTable, Rates: rec}}
	a := newCostAgents(rt, s, cost.DefaultTable, slog.New(slog.DiscardHandler))
	ref := agentsvc.ScalerRef{Tenant: "acme", Cluster: "c1", Namespace: "prod", Name: "web"}
	t0 := time.Date(2026, 12, 8, 10, 0, 0, 0, time.UTC)
	a.ObserveWorkload(ref, t0, agentsvc.Workload{CurrentReplicas: 3, DesiredReplicas: 3, CPUMillis: 1000, MemoryBytes: 1 << 30})
	// No new inventory: the held one is recorded each minute.
	for i := 1; i <= 3; i++ {
		a.tick(ctx, t0.Add(time.Duration(i)*time.Minute), i == 1)
	}
	if err := rec.Flush(ctx, t0.Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	rows, err := s.CostAllocations(ctx, "acme", store.CostFilter{From: t0, To: t0.Add(time.Hour), Step: time.Minute, Aggregate: store.AggregateWorkload})
	if err != nil {
		t.Fatal(err)
	}
	// 4 steps of 3 replicas × (31611 + 4237) / 60: 1580.55 -> 1581 CPU, 211.85 -> 212 RAM.
	if len(rows) != 4 || rows[3].Workload != "web" || rows[3].CPUMicros != 1581 || rows[3].RAMMicros != 212 {
		t.Fatalf("rows %+v", rows)
	}
	// 0.50 / 0.035848 per replica-hour: 13 replicas.
	c, err := a.BudgetCap(ctx, ref, t0)
	if err != nil || c.MaxReplicas != 13 || c.PricePerReplicaHourMicros != 35_848 || c.PriceTableHash != cost.DefaultTable().Hash() || c.Currency != "USD" {
		t.Fatalf("cap %+v %v", c, err)
	}
	// A Scaler the store does not have: no cap; after the hourly check
	// it is no longer recorded.
	if err := s.Update(ctx, "acme", "test", func(tx store.Tx) error { return tx.DeleteScaler("prod.web", 0) }); err != nil {
		t.Fatal(err)
	}
	if c, err := a.BudgetCap(ctx, ref, t0); err != nil || c.MaxReplicas != 0 {
		t.Fatalf("deleted scaler's cap %+v %v", c, err)
	}
	a.tick(ctx, t0.Add(time.Hour), true)
	if len(a.held) != 0 {
		t.Fatalf("held %v", a.held)
	}
}
