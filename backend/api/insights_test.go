package api

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

const reportedStatus = `{"currentReplicas": 3, "desiredReplicas": 4,
  "lastActiveTime": "2026-03-04T05:00:00Z",
  "triggers": [
    {"name": "queue", "type": "redis", "metric": "s0-redis-jobs", "value": "150", "target": "50", "active": true, "healthy": true, "lastSuccessTime": "2026-03-04T05:06:00Z"},
    {"name": "cpu", "type": "cpu", "value": "n/a", "target": "0", "active": false, "healthy": false, "consecutiveFailures": 2}
  ],
  "lastDecision": {"time": "2026-03-04T05:06:00Z", "currentReplicas": 3, "desiredReplicas": 4, "hpaDesiredReplicas": 4,
    "rule": "MetricProposal", "reason": "queue 150 over a target of 50", "recommendations": [{"trigger": "queue", "replicas": 4, "value": "150", "target": "50"}]}}`

func TestScalerMetricsAndRecommendations(t *testing.T) {
	each(t, func(t *testing.T, db dbURL) {
		f := newFixture(t, db, Options{})
		op, v := f.tokens["acme/operator"], f.tokens["acme/viewer"]

		// Before any report: zeros, no triggers, no decision, no event.
		r := f.do("GET", "/api/v1/scalers/web/recommendations", v, nil)
		f.want(r, http.StatusOK)
		if want := `"lastDecision":null,"lastEvent":null,"forecast":null,"prediction":{"configured":false`; !strings.Contains(string(r.body), want) {
			t.Fatalf("recommendations before a report: %s, want %s", r.body, want)
		}
		r = f.do("GET", "/api/v1/scalers/web/metrics", v, nil)
		f.want(r, http.StatusOK)
		if !strings.Contains(string(r.body), `"triggers":[]`) {
			t.Fatalf("metrics before a report: %s", r.body)
		}

		f.want(f.do("PUT", "/api/v1/scalers/web/status", op, reportedStatus), http.StatusOK)
		for i, to := range []int32{2, 4} {
			ev := EventBody{ID: fmt.Sprintf("e%d", i), Time: f.now.Add(time.Duration(i) * time.Minute), FromReplicas: to - 1, ToReplicas: to, Rule: "MetricProposal", Reason: "queue"}
			f.want(f.do("POST", "/api/v1/scalers/web/events", op, ev), http.StatusCreated)
		}

		r = f.do("GET", "/api/v1/scalers/web/metrics", v, nil)
		f.want(r, http.StatusOK)
		var m Metrics
		if err := json.Unmarshal(r.body, &m); err != nil {
			t.Fatal(err)
		}
		if m.Scaler != "web" || m.CurrentReplicas != 3 || m.DesiredReplicas != 4 || len(m.Triggers) != 2 || m.LastActiveTime == nil {
			t.Fatalf("metrics %s", r.body)
		}
		q := m.Triggers[0]
		if q.Name != "queue" || q.Value != "150" || q.Target != "50" || q.Utilization == nil || *q.Utilization != 3 || !q.Active ||
			q.LastSuccessTime == nil || !q.LastSuccessTime.Equal(time.Date(2026, 3, 4, 5, 6, 0, 0, time.UTC)) {
			t.Fatalf("queue trigger %+v", q)
		}
		// Not numbers, or a target of 0: no utilisation, not a made-up one.
		if c := m.Triggers[1]; c.Utilization != nil || c.ConsecutiveFailures != 2 || c.Healthy {
			t.Fatalf("cpu trigger %+v", c)
		}

		r = f.do("GET", "/api/v1/scalers/web/recommendations", v, nil)
		f.want(r, http.StatusOK)
		var rec Recommendations
		if err := json.Unmarshal(r.body, &rec); err != nil {
			t.Fatal(err)
		}
		if rec.DesiredReplicas != 4 || rec.LastDecision == nil || rec.LastDecision.Rule != "MetricProposal" || len(rec.LastDecision.Recommendations) != 1 ||
			rec.LastEvent == nil || rec.LastEvent.ID != "e1" || rec.LastEvent.ToReplicas != 4 || rec.Forecast != nil || rec.Prediction.Configured || rec.Prediction.Reason == "" {
			t.Fatalf("recommendations %s", r.body)
		}
		f.want(f.do("GET", "/api/v1/scalers/nope/metrics", v, nil), http.StatusNotFound)
		f.want(f.do("GET", "/api/v1/scalers/nope/recommendations", v, nil), http.StatusNotFound)
		// Another tenant's scaler of the same name is its own.
		r = f.do("GET", "/api/v1/scalers/web/metrics", f.tokens["globex/admin"], nil)
		f.want(r, http.StatusOK)
		if strings.Contains(string(r.body), "150") {
			t.Fatalf("acme's values in globex's answer: %s", r.body)
		}
	})
}

func TestAnalytics(t *testing.T) {
	each(t, func(t *testing.T, db dbURL) {
		f := newFixture(t, db, Options{})
		op, v := f.tokens["acme/operator"], f.tokens["acme/viewer"]
		ad := f.tokens["acme/admin"]
		f.want(f.do("POST", "/api/v1/clusters", ad, ClusterBody{ID: "c2", Name: "two"}), http.StatusCreated)
		api := scalerBody("api")
		api.Cluster, api.Namespace = "c2", "dev"
		f.want(f.do("POST", "/api/v1/scalers", op, api), http.StatusCreated)
		f.want(f.do("PUT", "/api/v1/scalers/web/status", op, reportedStatus), http.StatusOK)
		t0 := f.now.Add(-time.Hour)
		evs := []EventBody{
			{ID: "w1", Time: t0, FromReplicas: 1, ToReplicas: 3},
			{ID: "w2", Time: t0.Add(time.Minute), FromReplicas: 3, ToReplicas: 5},
			{ID: "w3", Time: t0.Add(2 * time.Minute), FromReplicas: 5, ToReplicas: 2},
			{ID: "old", Time: f.now.Add(-48 * time.Hour), FromReplicas: 1, ToReplicas: 9},
		}
		for _, e := range evs {
			f.want(f.do("POST", "/api/v1/scalers/web/events", op, e), http.StatusCreated)
		}
		f.want(f.do("POST", "/api/v1/scalers/api/events", op, EventBody{ID: "a1", Time: t0, FromReplicas: 2, ToReplicas: 1}), http.StatusCreated)
		// globex's events are not acme's.
		f.want(f.do("POST", "/api/v1/scalers/web/events", f.tokens["globex/admin"], EventBody{ID: "g1", Time: t0, FromReplicas: 1, ToReplicas: 7}), http.StatusCreated)

		// The default window: the last 24 hours before now.
		r := f.do("GET", "/api/v1/analytics/trends", v, nil)
		f.want(r, http.StatusOK)
		var tr Trends
		if err := json.Unmarshal(r.body, &tr); err != nil {
			t.Fatal(err)
		}
		if !tr.To.Equal(f.now) || !tr.From.Equal(f.now.Add(-24*time.Hour)) || len(tr.Items) != 2 {
			t.Fatalf("trends %s", r.body)
		}
		want := ScalerTrend{Scaler: "web", Start: f.now.Add(-24 * time.Hour), Events: 3, ScaleUps: 2, ScaleDowns: 1, MinReplicas: 2, MaxReplicas: 5, LastReplicas: 2, FirstEventAt: t0, LastEventAt: t0.Add(2 * time.Minute)}
		if w := tr.Items[1]; !w.FirstEventAt.Equal(want.FirstEventAt) || !w.LastEventAt.Equal(want.LastEventAt) || !w.Start.Equal(want.Start) {
			t.Fatalf("web's times %+v", w)
		} else {
			w.FirstEventAt, w.LastEventAt, w.Start = want.FirstEventAt, want.LastEventAt, want.Start
			if w != want {
				t.Fatalf("web's trend %+v, want %+v", w, want)
			}
		}
		if a := tr.Items[0]; a.Scaler != "api" || a.ScaleDowns != 1 || a.LastReplicas != 1 {
			t.Fatalf("api's trend %+v", a)
		}
		from := qtime(f.now.Add(-72 * time.Hour))
		r = f.do("GET", "/api/v1/analytics/trends?scaler=web&from="+from, v, nil)
		if err := json.Unmarshal(r.body, &tr); err != nil || len(tr.Items) != 1 || tr.Items[0].Events != 4 || tr.Items[0].MaxReplicas != 9 {
			t.Fatalf("web's trend over three days: %s", r.body)
		}
		// Per minute from t0: web's events one in each bucket.
		r = f.do("GET", "/api/v1/analytics/trends?scaler=web&interval=1m&from="+qtime(t0), v, nil)
		tr = Trends{}
		if err := json.Unmarshal(r.body, &tr); err != nil || len(tr.Items) != 3 || !tr.Items[2].Start.Equal(t0.Add(2*time.Minute)) || tr.Items[2].LastReplicas != 2 {
			t.Fatalf("web's trend per minute: %s", r.body)
		}
		for _, bad := range []string{"interval=fast", "interval=500ms", "interval=-1h", "interval=1m"} { // 1m: 1,440 buckets in a day
			r = f.do("GET", "/api/v1/analytics/trends?"+bad, v, nil)
			f.want(r, http.StatusBadRequest)
			if r.err().Field != "interval" {
				t.Fatalf("trends?%s: %s", bad, r.body)
			}
		}
		r = f.do("GET", "/api/v1/analytics/trends?namespace=dev", v, nil)
		if err := json.Unmarshal(r.body, &tr); err != nil || len(tr.Items) != 1 || tr.Items[0].Scaler != "api" {
			t.Fatalf("trends of dev: %s", r.body)
		}
		r = f.do("GET", "/api/v1/analytics/trends?limit=1", v, nil)
		if err := json.Unmarshal(r.body, &tr); err != nil || len(tr.Items) != 1 || tr.NextPageToken == "" {
			t.Fatalf("trends page 1: %s", r.body)
		}
		r = f.do("GET", "/api/v1/analytics/trends?limit=1&pageToken="+tr.NextPageToken, v, nil)
		tr = Trends{}
		if err := json.Unmarshal(r.body, &tr); err != nil || len(tr.Items) != 1 || tr.Items[0].Scaler != "web" || tr.NextPageToken != "" {
			t.Fatalf("trends page 2: %s", r.body)
		}

		r = f.do("GET", "/api/v1/analytics/efficiency", v, nil)
		f.want(r, http.StatusOK)
		var ef Efficiency
		if err := json.Unmarshal(r.body, &ef); err != nil || len(ef.Items) != 2 {
			t.Fatalf("efficiency %s", r.body)
		}
		w := ef.Items[1]
		if w.Scaler != "web" || w.CurrentReplicas != 3 || w.DesiredReplicas != 4 || w.MinReplicas != 1 || w.MaxReplicas != 5 || w.AtMaxReplicas || w.AtMinReplicas ||
			w.ReplicaUtilization == nil || *w.ReplicaUtilization != 0.6 || len(w.Triggers) != 2 || w.Triggers[0].Utilization == nil || *w.Triggers[0].Utilization != 3 || w.Triggers[1].Utilization != nil {
			t.Fatalf("web's efficiency %+v", w)
		}
		// api has no status yet: 0 replicas, at its minimum? 0 <= 1, yes.
		if a := ef.Items[0]; a.Scaler != "api" || !a.AtMinReplicas || len(a.Triggers) != 0 {
			t.Fatalf("api's efficiency %+v", a)
		}
		for q, n := range map[string]int{"cluster=c2": 1, "scaler=web": 1, "scaler=web&namespace=dev": 0, "scaler=nope": 0, "namespace=prod&cluster=c1": 1} {
			r = f.do("GET", "/api/v1/analytics/efficiency?"+q, v, nil)
			ef = Efficiency{}
			if err := json.Unmarshal(r.body, &ef); err != nil || len(ef.Items) != n {
				t.Fatalf("efficiency?%s: %s, want %d items", q, r.body, n)
			}
		}

		for _, path := range []string{"/api/v1/analytics/cost", "/api/v1/analytics/predictions"} {
			r = f.do("GET", path+"?scaler=web", v, nil)
			f.want(r, http.StatusOK)
			if !strings.Contains(string(r.body), `"configured":false`) || !strings.Contains(string(r.body), `"items":[]`) {
				t.Fatalf("%s: %s", path, r.body)
			}
		}

		for _, c := range []struct{ query, field string }{
			{"from=yesterday", "from"},
			{"to=2026-13-01T00:00:00Z", "to"},
			{"from=1969-12-31T00:00:00Z&to=1970-01-02T00:00:00Z", "from"},
			{"from=" + qtime(f.now), "from"},      // not before to (now)
			{"from=2020-01-01T00:00:00Z", "from"}, // longer than 366 days
			{"limit=0", "limit"},                  // the page
			{"pageToken=%21", "pageToken"},        // not base64url
			{"pageToken=" + base64.RawURLEncoding.EncodeToString([]byte{1, 4, 0, 1, 'w'}), "pageToken"}, // of the scalers' list
			{"namespace=" + strings.Repeat("n", 254), "namespace"},
			{"cluster=a%00b", "cluster"},
			{"scaler=%FF", "scaler"},
		} {
			for _, path := range []string{"/api/v1/analytics/cost", "/api/v1/analytics/efficiency", "/api/v1/analytics/predictions", "/api/v1/analytics/trends"} {
				if c.field == "pageToken" && !strings.HasSuffix(path, "trends") {
					continue // only trends and efficiency page the store
				}
				r := f.do("GET", path+"?"+c.query, v, nil)
				f.want(r, http.StatusBadRequest)
				if e := r.err(); e.Field != c.field || e.Code != CodeInvalid {
					t.Fatalf("%s?%s: %s, want field %s", path, c.query, r.body, c.field)
				}
			}
		}
	})
}

// qtime is t as a query parameter.
func qtime(t time.Time) string { return strings.ReplaceAll(t.Format(time.RFC3339Nano), "+", "%2B") }
