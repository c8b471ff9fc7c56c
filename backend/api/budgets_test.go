package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hpa-autoscaler/hpa-autoscaler/backend/cost"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/store"
)

func TestBudgets(t *testing.T) {
	each(t, func(t *testing.T, db dbURL) {
		f := newFixture(t, db, Options{})
		ad, v := f.tokens["acme/admin"], f.tokens["acme/viewer"]
		r := f.do("POST", "/api/v1/budgets", ad, BudgetBody{ID: "web", Scope: "workload", Namespace: "prod", Workload: "web", MonthlyAmount: "1250.5"})
		f.want(r, http.StatusCreated)
		var b Budget
		if err := json.Unmarshal(r.body, &b); err != nil || b.MonthlyAmount != "1250.50" || b.MonthlyAmountMicros != 1_250_500_000 || b.Name != "web" || b.ResourceVersion != 1 {
			t.Fatalf("created %s", r.body)
		}
		// A generated id.
		r = f.do("POST", "/api/v1/budgets", ad, BudgetBody{Name: "all", Scope: "tenant", Cluster: "c1", MonthlyAmount: "0.000001"})
		f.want(r, http.StatusCreated)
		var gen Budget
		if err := json.Unmarshal(r.body, &gen); err != nil || !strings.HasPrefix(gen.ID, "b-") || gen.MonthlyAmountMicros != 1 {
			t.Fatalf("generated %s", r.body)
		}
		// Viewers read, admins write. One budget shows its month: 0.50
		// spent of 1250.50 on March 4th 05:06:07 (the fixture's now),
		// 666h53m53s left: 1250.00 / 666.898... = 1.874349 per hour.
		month := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		if err := f.store.RecordCostSamples(t.Context(), "acme", []store.CostSample{
			{Cluster: "c1", Namespace: "prod", Workload: "web", Start: month, Step: time.Minute, ReplicasMilli: 1000, CPUMicros: 400_000, RAMMicros: 100_000},
			{Cluster: "c1", Namespace: "prod", Workload: "web", Start: month.Add(-time.Minute), Step: time.Minute, ReplicasMilli: 1000, CPUMicros: 9_000_000},
		}); err != nil {
			t.Fatal(err)
		}
		r = f.do("GET", "/api/v1/budgets/web", v, nil)
		f.want(r, http.StatusOK)
		var one Budget
		if err := json.Unmarshal(r.body, &one); err != nil || one.Month == nil || one.Month.Spent != "0.50" || one.Month.Remaining != "1250.00" ||
			one.Month.HourlyCapMicros != 1_874_349 || !one.Month.Start.Equal(month) || !one.Month.End.Equal(month.AddDate(0, 1, 0)) {
			t.Fatalf("one budget %s", r.body)
		}
		f.want(f.do("POST", "/api/v1/budgets", v, BudgetBody{Scope: "tenant", MonthlyAmount: "1"}), http.StatusForbidden)
		f.want(f.do("POST", "/api/v1/budgets", f.tokens["acme/operator"], BudgetBody{Scope: "tenant", MonthlyAmount: "1"}), http.StatusForbidden)
		f.want(f.do("POST", "/api/v1/budgets", ad, BudgetBody{ID: "web", Scope: "tenant", MonthlyAmount: "1"}), http.StatusConflict)
		// Paged.
		r = f.do("GET", "/api/v1/budgets?limit=1", v, nil)
		f.want(r, http.StatusOK)
		var l List[Budget]
		if err := json.Unmarshal(r.body, &l); err != nil || len(l.Items) != 1 || l.NextPageToken == "" || l.Items[0].ID != gen.ID {
			t.Fatalf("first page %s", r.body)
		}
		r = f.do("GET", "/api/v1/budgets?limit=1&pageToken="+l.NextPageToken, v, nil)
		l = List[Budget]{}
		if err := json.Unmarshal(r.body, &l); err != nil || len(l.Items) != 1 || l.NextPageToken != "" || l.Items[0].ID != "web" {
			t.Fatalf("second page %s", r.body)
		}
		// PUT: the path's id, the version read when none is given, a
		// stale one is 409.
		r = f.do("PUT", "/api/v1/budgets/web", ad, BudgetBody{Scope: "namespace", Namespace: "prod", MonthlyAmount: "99"})
		f.want(r, http.StatusOK)
		b = Budget{}
		if err := json.Unmarshal(r.body, &b); err != nil || b.Scope != "namespace" || b.Workload != "" || b.ResourceVersion != 2 || b.MonthlyAmount != "99.00" {
			t.Fatalf("put %s", r.body)
		}
		f.want(f.do("PUT", "/api/v1/budgets/web", ad, BudgetBody{Scope: "tenant", MonthlyAmount: "1", ResourceVersion: 1}), http.StatusConflict)
		f.want(f.do("PUT", "/api/v1/budgets/nope", ad, BudgetBody{Scope: "tenant", MonthlyAmount: "1"}), http.StatusNotFound)
		// Errors name the field.
		for _, c := range []struct {
			method, path string
			body         any
			field        string
		}{
			{"POST", "/api/v1/budgets", BudgetBody{Scope: "pod", MonthlyAmount: "1"}, "scope"},
			{"POST", "/api/v1/budgets", BudgetBody{MonthlyAmount: "1"}, "scope"},
			{"POST", "/api/v1/budgets", BudgetBody{Scope: "namespace", MonthlyAmount: "1"}, "namespace"},
			{"POST", "/api/v1/budgets", BudgetBody{Scope: "workload", Namespace: "prod", MonthlyAmount: "1"}, "workload"},
			{"POST", "/api/v1/budgets", BudgetBody{Scope: "tenant", Namespace: "prod", MonthlyAmount: "1"}, "namespace"},
			{"POST", "/api/v1/budgets", BudgetBody{Scope: "tenant", MonthlyAmount: "-5"}, "monthlyAmount"},
			{"POST", "/api/v1/budgets", BudgetBody{Scope: "tenant", MonthlyAmount: "1.0000001"}, "monthlyAmount"},
			{"POST", "/api/v1/budgets", BudgetBody{Scope: "tenant"}, "monthlyAmount"},
			{"POST", "/api/v1/budgets", `{"scope": "tenant", "monthlyAmount": 5}`, "monthlyAmount"},
			{"POST", "/api/v1/budgets", `{"scope": "tenant", "monthlyAmount": "5", "currency": "EUR"}`, "currency"},
			{"POST", "/api/v1/budgets", BudgetBody{Scope: "tenant", MonthlyAmount: "1", ResourceVersion: 3}, "resourceVersion"},
			{"PUT", "/api/v1/budgets/web", BudgetBody{ID: "other", Scope: "tenant", MonthlyAmount: "1"}, "id"},
			{"DELETE", "/api/v1/budgets/web?resourceVersion=x", nil, "resourceVersion"},
		} {
			r := f.do(c.method, c.path, ad, c.body)
			f.want(r, http.StatusBadRequest)
			if e := r.err(); e.Field != c.field || e.Code != CodeInvalid {
				t.Errorf("%s %s %v: %s, want field %s", c.method, c.path, c.body, r.body, c.field)
			}
		}
		f.want(f.do("DELETE", "/api/v1/budgets/web?resourceVersion=1", ad, nil), http.StatusConflict)
		f.want(f.do("DELETE", "/api/v1/budgets/web", ad, nil), http.StatusNoContent)
		f.want(f.do("GET", "/api/v1/budgets/web", v, nil), http.StatusNotFound)
		// Each change is in the audit log.
		var kinds []string
		l2, err := f.store.AuditRecords(t.Context(), "acme", store.Page{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range l2.Items {
			if strings.HasPrefix(rec.Kind, "budget.") {
				kinds = append(kinds, rec.Kind)
			}
		}
		if strings.Join(kinds, ",") != "budget.create,budget.create,budget.update,budget.delete" {
			t.Fatalf("audit kinds %v", kinds)
		}
	})
}

type fixedPrices struct{ t *cost.Table }

func (p fixedPrices) Currency() string       { return p.t.Currency() }
func (p fixedPrices) PriceTableHash() string { return p.t.Hash() }

func TestCostAnalysis(t *testing.T) {
	each(t, func(t *testing.T, db dbURL) {
		tb := cost.DefaultTable()
		f := newFixture(t, db, Options{Cost: fixedPrices{tb}})
		v := f.tokens["acme/viewer"]
		day := f.now.Truncate(24 * time.Hour).Add(-24 * time.Hour) // yesterday, 00:00
		sample := func(cluster, ns, wl string, at time.Duration, cpu, ram int64, spot int64) store.CostSample {
			return store.CostSample{Cluster: cluster, Namespace: ns, Workload: wl, Start: day.Add(at), Step: time.Minute, ReplicasMilli: 2000, CPUMilli: 1000, MemoryBytes: 1 << 30,
				SpotPPM: spot, CPUMicros: cpu, RAMMicros: ram, PriceTable: tb.Hash()}
		}
		if err := f.store.RecordCostSamples(t.Context(), "acme", []store.CostSample{
			sample("c1", "prod", "web", 0, 1054, 141, 0), sample("c1", "prod", "web", time.Minute, 1054, 141, 0),
			sample("c1", "prod", "api", 0, 500, 50, 1_000_000), sample("c2", "dev", "web", 25*time.Hour, 1, 1, 0),
		}); err != nil {
			t.Fatal(err)
		}
		// globex's costs are not acme's.
		if err := f.store.RecordCostSamples(t.Context(), "globex", []store.CostSample{sample("c1", "prod", "web", 0, 999_999, 0, 0)}); err != nil {
			t.Fatal(err)
		}
		get := func(q string) Cost {
			t.Helper()
			r := f.do("GET", "/api/v1/analytics/cost?"+q, v, nil)
			f.want(r, http.StatusOK)
			var c Cost
			if err := json.Unmarshal(r.body, &c); err != nil {
				t.Fatal(err)
			}
			return c
		}
		c := get("window=7d&aggregate=namespace&step=1d")
		if !c.Configured || c.Currency != "USD" || c.PriceTable != tb.Hash() || c.Aggregate != "namespace" || c.Step != "24h0m0s" || !c.From.Equal(f.now.Add(-7*24*time.Hour)) {
			t.Fatalf("header %+v", c)
		}
		if len(c.Items) != 2 || c.Items[0].Name != "dev" || c.Items[1].Name != "prod" || c.Items[1].TotalCostMicros != 1054*2+141*2+550 || c.TotalCostMicros != c.Items[1].TotalCostMicros+2 {
			t.Fatalf("namespaces %+v", c.Items)
		}
		prod := c.Items[1]
		// 3 samples of 2 replicas of 1 vCPU and 1 GiB for 1 minute: 0.1 core-hours, 0.1 GiB-hours, 0.1 replica-hours, a third spot.
		if prod.CPUCoreHours < 0.09999 || prod.CPUCoreHours > 0.10001 || prod.RAMByteHours != 0.1*(1<<30) || prod.ReplicaHours < 0.09999 || prod.ReplicaHours > 0.10001 ||
			prod.SpotShare < 0.333 || prod.SpotShare > 0.334 || prod.CPUCost != 0.002608 || !prod.End.Equal(prod.Start.Add(24*time.Hour)) {
			t.Fatalf("prod %+v", prod)
		}
		// The efficiency report's cost side: acme's scaler web (c1/prod).
		r := f.do("GET", "/api/v1/analytics/efficiency?from="+qtime(day)+"&to="+qtime(day.Add(48*time.Hour)), v, nil)
		f.want(r, http.StatusOK)
		var ef Efficiency
		if err := json.Unmarshal(r.body, &ef); err != nil || len(ef.Items) != 1 || ef.Items[0].Cost == nil || ef.Items[0].Cost.TotalCostMicros != 2*(1054+141) ||
			ef.Items[0].Cost.ReplicaHours < 0.0666 || ef.Items[0].Cost.ReplicaHours > 0.0667 {
			t.Fatalf("efficiency %s", r.body)
		}
		w := get("window=7d&scaler=web&cluster=c1")
		if w.Aggregate != "workload" || len(w.Items) != 1 || w.Items[0].Name != "c1/prod/web" || w.Items[0].TotalCostMicros != 2*(1054+141) {
			t.Fatalf("workload %+v", w.Items)
		}
		ten := get("from=" + qtime(day) + "&to=" + qtime(day.Add(48*time.Hour)) + "&aggregate=tenant&step=1h")
		if len(ten.Items) != 2 || ten.Items[0].Name != "acme" || ten.Items[1].TotalCostMicros != 2 {
			t.Fatalf("tenant %+v", ten.Items)
		}
		for _, c := range []struct{ q, field string }{
			{"window=0d", "window"}, {"window=abc", "window"}, {"window=400d", "window"}, {"window=7d&from=" + qtime(day), "window"},
			{"aggregate=pod", "aggregate"}, {"step=1s", "step"}, {"window=7d&step=1m", "step"}, {"window=30s", "window"},
		} {
			r := f.do("GET", "/api/v1/analytics/cost?"+c.q, v, nil)
			f.want(r, http.StatusBadRequest)
			if e := r.err(); e.Field != c.field {
				t.Errorf("?%s: %s, want field %s", c.q, r.body, c.field)
			}
		}
	})
}

func FuzzBudgetBody(f *testing.F) {
	fuzzDecoder(f, func(b *BudgetBody) error { _, err := budgetIn(*b); return err },
		BudgetBody{ID: "b", Scope: "workload", Namespace: "prod", Workload: "web", MonthlyAmount: "1250.00"}, BudgetBody{Scope: "tenant", MonthlyAmount: "-1"})
}

// FuzzCostQuery: window= and step= never panic and answer nil or a 400
// naming the parameter.
func FuzzCostQuery(f *testing.F) {
	for _, s := range []string{"window=7d", "window=24h&step=1h", "step=1d", "window=0d", "window=-1h", "step=1ns", "window=99999999999d", "window=1.5d", "step=9223372036854775807ns"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, _ := url.ParseQuery(raw)
		for _, name := range []string{"window", "step"} {
			d, ok, err := durationParam(q, name)
			var e *Error
			switch {
			case err != nil && (!errors.As(err, &e) || e.Field != name || e.Status != http.StatusBadRequest):
				t.Fatalf("%s: error %v", name, err)
			case err == nil && ok && d < time.Minute:
				t.Fatalf("%s: %v accepted", name, d)
			}
		}
	})
}
