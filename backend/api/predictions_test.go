package api

import (
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/history"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/store"
)

// predictorFixture is a fixture whose server has a history.Service over
// the fixture's store, with acme's scaler web's trigger "queue" given
// 200 steps of history (a pattern the trackers learn).
func predictorFixture(t *testing.T, db dbURL) (*fixture, *history.Service, *clocktesting.FakeClock) {
	t.Helper()
	f := newFixture(t, db, Options{})
	clk := clocktesting.NewFakeClock(f.now.Add(-200 * time.Minute).Truncate(time.Minute))
	svc, err := history.New(history.Options{Store: f.store, Clock: clk, Window: 240, RebuildEvery: time.Hour, DownsampleAfter: 6 * time.Hour,
		Retention: 12 * time.Hour, MaintainEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	k := history.Key{Tenant: "acme", Cluster: "c1", Namespace: "prod", Scaler: "web", Trigger: "queue"}
	start := clk.Now()
	for i := range 200 {
		at := start.Add(time.Duration(i) * time.Minute)
		clk.SetTime(at)
		svc.Observe(k, at, 100+20*math.Sin(2*math.Pi*float64(i)/30))
		if err := svc.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	clk.SetTime(f.now)
	if err := svc.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	h, err := New(Options{Store: f.store, Now: func() time.Time { return f.now }, Predictor: svc})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	f.h, f.url = h, srv.URL
	// The trackers are rebuilt in the background.
	deadline := time.Now().Add(time.Minute)
	for {
		rec, err := svc.Recommend(history.Request{Scaler: history.ScalerKey{Tenant: "acme", Cluster: "c1", Namespace: "prod", Scaler: "web"},
			Triggers: []history.TriggerTarget{{Trigger: "queue", PerReplica: 50}}, Now: f.now})
		if err == nil && rec.Triggers[0].HistorySteps >= 200 { // every step fed: a build of fewer still answers while the next one runs
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no tracker of the 200 steps of acme's queue within a minute: %+v, %v", rec, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return f, svc, clk
}

func TestPredictions(t *testing.T) {
	each(t, func(t *testing.T, db dbURL) {
		f, svc, clk := predictorFixture(t, db)
		op, v := f.tokens["acme/operator"], f.tokens["acme/viewer"]
		f.want(f.do("PUT", "/api/v1/scalers/web/status", op, reportedStatus), http.StatusOK)
		// The reported values went into the history: queue's 150 at its
		// lastSuccessTime (05:06), not cpu's "n/a".
		clk.SetTime(f.now.Add(time.Minute))
		if err := svc.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		at := time.Date(2026, 3, 4, 5, 6, 0, 0, time.UTC)
		pts, err := f.store.ReadHistory(t.Context(), "acme", store.SeriesKey{Cluster: "c1", Namespace: "prod", Scaler: "web", Trigger: "queue"}, at, at.Add(time.Minute))
		if err != nil || len(pts) != 1 || pts[0].Value != 150 {
			t.Fatalf("the reported queue value in the history: %+v, %v", pts, err)
		}
		if pts, _ := f.store.ReadHistory(t.Context(), "acme", store.SeriesKey{Cluster: "c1", Namespace: "prod", Scaler: "web", Trigger: "cpu"}, at.Add(-time.Hour), at.Add(time.Hour)); len(pts) != 0 {
			t.Fatalf("cpu's n/a recorded: %+v", pts)
		}

		r := f.do("GET", "/api/v1/scalers/web/recommendations", v, nil)
		f.want(r, http.StatusOK)
		var rec ScalerRecommendations
		if err := json.Unmarshal(r.body, &rec); err != nil {
			t.Fatal(err)
		}
		if !rec.Prediction.Configured || rec.Forecast == nil || rec.DesiredReplicas != 4 || rec.LastDecision == nil {
			t.Fatalf("recommendations %s", r.body)
		}
		fc := rec.Forecast
		if len(fc.Triggers) != 2 || fc.LookAhead != "15m0s" || fc.ConfidenceThreshold != 0.8 || fc.Enabled || fc.Floor {
			t.Fatalf("forecast %s", r.body)
		}
		q, c := fc.Triggers[0], fc.Triggers[1]
		if q.Trigger != "queue" || q.Model == "" || q.Target != 50 || q.HistorySteps < 200 || len(q.Points) == 0 || !q.Calibrated {
			t.Fatalf("queue forecast %+v", q)
		}
		for _, p := range q.Points {
			if !(p.Lower <= p.Value && p.Value <= p.Upper) || p.At.Before(f.now.Add(-time.Minute)) {
				t.Fatalf("queue forecast point %+v", p)
			}
		}
		if c.Trigger != "cpu" || c.Replicas != nil || !strings.Contains(c.Reason, "not enough history") {
			t.Fatalf("cpu forecast (no history) %+v", c)
		}

		// predictiveScaling enabled with threshold 0 (any calibrated
		// forecast): the floor applies, set by the queue's forecast.
		body := scalerBody("web")
		zero := 0.0
		body.Spec.Advanced = &v1.Advanced{PredictiveScaling: &v1.PredictiveScaling{Enabled: true, LookAheadMinutes: 10, ConfidenceThreshold: &zero}}
		var sc Scaler
		if err := json.Unmarshal(f.do("GET", "/api/v1/scalers/web", v, nil).body, &sc); err != nil {
			t.Fatal(err)
		}
		body.ResourceVersion = sc.ResourceVersion
		f.want(f.do("PUT", "/api/v1/scalers/web", op, body), http.StatusOK)
		r = f.do("GET", "/api/v1/scalers/web/recommendations", v, nil)
		f.want(r, http.StatusOK)
		rec = ScalerRecommendations{}
		if err := json.Unmarshal(r.body, &rec); err != nil {
			t.Fatal(err)
		}
		fc = rec.Forecast
		if !fc.Enabled || !fc.Floor || fc.Trigger != "queue" || fc.Replicas < 2 || fc.Model == "" || fc.LookAhead != "10m0s" || fc.ConfidenceThreshold != 0 || fc.Triggers[0].Replicas == nil {
			t.Fatalf("forecast with predictiveScaling enabled: %s", r.body)
		}

		// The analytics: one item per scaler, the same forecast.
		r = f.do("GET", "/api/v1/analytics/predictions?namespace=prod", v, nil)
		f.want(r, http.StatusOK)
		var ps ScalerPredictions
		if err := json.Unmarshal(r.body, &ps); err != nil {
			t.Fatal(err)
		}
		if !ps.Configured || len(ps.Items) != 1 || ps.Items[0].Scaler != "web" || len(ps.Items[0].Forecasts) != 1 || ps.Items[0].Forecasts[0].Replicas != fc.Replicas {
			t.Fatalf("predictions %s", r.body)
		}

		// Another tenant's scaler of the same name: none of acme's
		// history.
		g := f.tokens["globex/admin"]
		f.want(f.do("PUT", "/api/v1/scalers/web/status", g, reportedStatus), http.StatusOK)
		r = f.do("GET", "/api/v1/scalers/web/recommendations", g, nil)
		f.want(r, http.StatusOK)
		rec = ScalerRecommendations{}
		if err := json.Unmarshal(r.body, &rec); err != nil {
			t.Fatal(err)
		}
		if rec.Forecast == nil || rec.Forecast.Triggers[0].HistorySteps != 0 || rec.Forecast.Triggers[0].Model != "" || rec.Forecast.Floor {
			t.Fatalf("globex sees a forecast from acme's history: %s", r.body)
		}
	})
}
