package api

import (
	"encoding/json"
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/hpa-autoscaler/hpa-autoscaler/backend/store"
)

// TestEfficiencyUsageAndReplay: acme's scaler web (one redis trigger,
// AverageValue, target 5 in its status) has 3 one-minute cost samples
// of 2 replicas of 1 vCPU and 1 GiB and a stored history of 20, 20, 5.
// By hand:
//   - actual: 3 × 2 replica-minutes = 0.1 replica-hours;
//   - reactive: from 2, 20/5 → 4 at once, 4, then 5/5 = 1 held at 4 by
//     the default 5-minute scale-down stabilization: 12 replica-minutes
//     = 0.2 replica-hours; ratio 0.5;
//   - requested: 2 cores × 3 min = 0.1 core-hours, 0.1 GiB-hours; used:
//     null (a redis trigger says nothing of usage), so no score.
//
// globex's web, with other samples and history, changes none of it.
func TestEfficiencyUsageAndReplay(t *testing.T) {
	each(t, func(t *testing.T, db dbURL) {
		f := newFixture(t, db, Options{})
		op, v := f.tokens["acme/operator"], f.tokens["acme/viewer"]
		status := `{"currentReplicas": 2, "desiredReplicas": 4, "triggers": [{"name": "redis", "type": "redis", "value": "5", "target": "5", "active": true, "healthy": true}]}`
		f.want(f.do("PUT", "/api/v1/scalers/web/status", op, status), http.StatusOK)
		f.want(f.do("PUT", "/api/v1/scalers/web/status", f.tokens["globex/admin"], status), http.StatusOK)
		t0 := f.now.Truncate(time.Hour).Add(-2 * time.Hour)
		put := func(tenant store.TenantID, replicasMilli int64, vals ...float64) {
			t.Helper()
			var cs []store.CostSample
			var hs []store.HistorySample
			for i, val := range vals {
				at := t0.Add(time.Duration(i) * time.Minute)
				cs = append(cs, store.CostSample{Cluster: "c1", Namespace: "prod", Workload: "web", Start: at, Step: time.Minute, ReplicasMilli: replicasMilli, CPUMilli: 1000, MemoryBytes: 1 << 30, CPUMicros: 10, RAMMicros: 1})
				hs = append(hs, store.HistorySample{Tenant: tenant, Series: store.SeriesKey{Cluster: "c1", Namespace: "prod", Scaler: "web", Trigger: "redis"}, Time: at, Step: time.Minute, Value: val, Samples: 1})
			}
			if err := f.store.RecordCostSamples(t.Context(), tenant, cs); err != nil {
				t.Fatal(err)
			}
			if err := f.store.AppendHistory(t.Context(), hs); err != nil {
				t.Fatal(err)
			}
		}
		put("acme", 2000, 20, 20, 5)
		put("globex", 7000, 500, 500, 500, 500)

		get := func(q string) ScalerEfficiency {
			t.Helper()
			r := f.do("GET", "/api/v1/analytics/efficiency?"+q, v, nil)
			f.want(r, http.StatusOK)
			var ef Efficiency
			if err := json.Unmarshal(r.body, &ef); err != nil || len(ef.Items) != 1 {
				t.Fatalf("efficiency?%s: %s", q, r.body)
			}
			return ef.Items[0]
		}
		near := func(p *float64, want float64) bool { return p != nil && math.Abs(*p-want) < 1e-9 }
		e := get("from=" + qtime(t0) + "&to=" + qtime(t0.Add(time.Hour)))
		if !near(&e.ActualReplicaHours, 0.1) || !near(e.ReactiveReplicaHours, 0.2) || !near(e.ReplicaHoursRatio, 0.5) || e.ReplayTruncated ||
			!near(&e.RequestedCPUCoreHours, 0.1) || !near(&e.RequestedMemoryByteHours, 0.1*(1<<30)) ||
			e.UsedCPUCoreHours != nil || e.UsedMemoryByteHours != nil || e.CPUUtilization != nil || e.EfficiencyScore != nil {
			t.Fatalf("web's efficiency %+v", e)
		}
		// More than 31 days: the replay and the samples stop there,
		// said.
		e = get("from=" + qtime(t0) + "&to=" + qtime(t0.Add(40*24*time.Hour)))
		if !e.ReplayTruncated || !near(e.ReactiveReplicaHours, 0.2) {
			t.Fatalf("40 days: %+v", e)
		}
		// Before the history: nothing to replay, said.
		e = get("from=" + qtime(t0.Add(-2*time.Hour)) + "&to=" + qtime(t0.Add(-time.Hour)))
		if e.ReactiveReplicaHours != nil || e.ReactiveNote == "" || e.ActualReplicaHours != 0 {
			t.Fatalf("before the history: %+v", e)
		}
	})
}

// TestEfficiencyPageBudget: the items past the page's replay budget
// keep their status and cost and say why they have no replay.
func TestEfficiencyPageBudget(t *testing.T) {
	f := newFixture(t, sqliteURL, Options{})
	if err := f.store.Update(t.Context(), "acme", "test", func(tx store.Tx) error {
		_, err := tx.CreateScaler(store.Scaler{Name: "zeta", Namespace: "prod", Cluster: "c1", Spec: validSpec()})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	old := efficiencyPageSteps
	efficiencyPageSteps = 60 // one scaler's hour
	t.Cleanup(func() { efficiencyPageSteps = old })
	t0 := f.now.Truncate(time.Hour).Add(-2 * time.Hour)
	r := f.do("GET", "/api/v1/analytics/efficiency?from="+qtime(t0)+"&to="+qtime(t0.Add(time.Hour)), f.tokens["acme/viewer"], nil)
	f.want(r, http.StatusOK)
	var ef Efficiency
	if err := json.Unmarshal(r.body, &ef); err != nil || len(ef.Items) != 2 {
		t.Fatalf("efficiency: %s", r.body)
	}
	if ef.Items[0].ReactiveNote == "" || ef.Items[1].ReactiveNote != "the page's replay budget is spent: ask a smaller page or a shorter window" {
		t.Fatalf("notes %q, %q", ef.Items[0].ReactiveNote, ef.Items[1].ReactiveNote)
	}
}
