package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestAnalytics(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			s := open(t, b.url(t), Options{})
			ctx := testCtx(t)
			t0 := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
			for _, tenant := range []TenantID{"acme", "globex"} {
				newTenant(t, s, tenant)
				mustUpdate(t, s, tenant, func(tx Tx) error {
					if _, err := tx.CreateCluster(Cluster{ID: "c2", Name: "two"}); err != nil {
						return err
					}
					for _, sc := range []Scaler{{Name: "api", Namespace: "dev", Cluster: "c2"}, {Name: "web", Namespace: "prod", Cluster: "c1"}} {
						sc.Spec = spec(5)
						if _, err := tx.CreateScaler(sc); err != nil {
							return err
						}
					}
					// web: 2 -> 4 -> 6 -> 3 in the window, one before and
					// one at its end (excluded); api: one up; gone: a
					// scaler that does not exist.
					evs := []ScalingEvent{
						{ID: "w0", Scaler: "web", Time: t0.Add(-time.Minute), FromReplicas: 1, ToReplicas: 9},
						{ID: "w1", Scaler: "web", Time: t0, FromReplicas: 2, ToReplicas: 4},
						{ID: "w2", Scaler: "web", Time: t0.Add(time.Minute), FromReplicas: 4, ToReplicas: 6},
						{ID: "w3", Scaler: "web", Time: t0.Add(2 * time.Minute), FromReplicas: 6, ToReplicas: 3},
						{ID: "w4", Scaler: "web", Time: t0.Add(time.Hour), FromReplicas: 3, ToReplicas: 1},
						{ID: "a1", Scaler: "api", Time: t0.Add(30 * time.Second), FromReplicas: 1, ToReplicas: 2},
						{ID: "g1", Scaler: "gone", Time: t0, FromReplicas: 1, ToReplicas: 2},
					}
					if tenant == "globex" {
						evs = evs[:2] // globex's events must not count for acme
						for i := range evs {
							evs[i].ID = "gx-" + evs[i].ID
						}
					}
					for _, e := range evs {
						if _, _, err := tx.RecordEvent(e); err != nil {
							return err
						}
					}
					return nil
				})
			}
			window := TrendFilter{From: t0, To: t0.Add(time.Hour)}
			l, err := s.EventTrends(ctx, "acme", window, Page{})
			if err != nil {
				t.Fatal(err)
			}
			want := []EventTrend{
				{Scaler: "api", Start: t0, Events: 1, ScaleUps: 1, MinReplicas: 2, MaxReplicas: 2, LastReplicas: 2, FirstAt: t0.Add(30 * time.Second), LastAt: t0.Add(30 * time.Second)},
				{Scaler: "web", Start: t0, Events: 3, ScaleUps: 2, ScaleDowns: 1, MinReplicas: 3, MaxReplicas: 6, LastReplicas: 3, FirstAt: t0, LastAt: t0.Add(2 * time.Minute)},
			}
			if diff := cmp.Diff(want, l.Items); diff != "" || l.NextPageToken != "" {
				t.Fatalf("trends (-want +got):\n%s next %q", diff, l.NextPageToken)
			}
			// Paged by scaler name.
			p1, err := s.EventTrends(ctx, "acme", window, Page{Limit: 1})
			if err != nil || len(p1.Items) != 1 || p1.NextPageToken == "" {
				t.Fatalf("page 1: %+v %v", p1, err)
			}
			p2, err := s.EventTrends(ctx, "acme", window, Page{Limit: 1, Token: p1.NextPageToken})
			if err != nil || len(p2.Items) != 1 || p2.Items[0].Scaler != "web" || p2.NextPageToken != "" {
				t.Fatalf("page 2: %+v %v", p2, err)
			}
			other := window
			other.Namespace = "prod"
			_, err = s.EventTrends(ctx, "acme", other, Page{Limit: 1, Token: p1.NextPageToken})
			wantErr(t, "a page token of another filter", err, ErrPageToken)
			for name, f := range map[string]TrendFilter{"namespace": other, "cluster": {From: t0, To: t0.Add(time.Hour), Cluster: "c1"}, "scaler": {From: t0, To: t0.Add(time.Hour), Scaler: "web"}} {
				l, err := s.EventTrends(ctx, "acme", f, Page{})
				if err != nil || len(l.Items) != 1 || l.Items[0].Scaler != "web" {
					t.Fatalf("by %s: %+v %v", name, l.Items, err)
				}
			}
			// Buckets of a minute: web's three events one in each, api's
			// in the first; paged by scaler and bucket.
			perMinute := window
			perMinute.Interval = time.Minute
			b, err := s.EventTrends(ctx, "acme", perMinute, Page{})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, tr := range b.Items {
				got = append(got, fmt.Sprintf("%s %s %d/%d/%d %d-%d last %d", tr.Scaler, tr.Start.Sub(t0), tr.Events, tr.ScaleUps, tr.ScaleDowns, tr.MinReplicas, tr.MaxReplicas, tr.LastReplicas))
			}
			wantBuckets := []string{"api 0s 1/1/0 2-2 last 2", "web 0s 1/1/0 4-4 last 4", "web 1m0s 1/1/0 6-6 last 6", "web 2m0s 1/0/1 3-3 last 3"}
			if diff := cmp.Diff(wantBuckets, got); diff != "" {
				t.Fatalf("buckets (-want +got):\n%s", diff)
			}
			var paged []string
			var minuteToken string
			for tok := ""; ; {
				l, err := s.EventTrends(ctx, "acme", perMinute, Page{Limit: 1, Token: tok})
				if err != nil || len(l.Items) != 1 {
					t.Fatalf("a page of buckets: %+v %v", l, err)
				}
				paged = append(paged, fmt.Sprint(l.Items[0].Scaler, " ", l.Items[0].Start.Sub(t0)))
				if tok = l.NextPageToken; tok == "" {
					break
				}
				minuteToken = tok
			}
			if want := []string{"api 0s", "web 0s", "web 1m0s", "web 2m0s"}; !cmp.Equal(want, paged) {
				t.Fatalf("paged buckets %v, want %v", paged, want)
			}
			_, err = s.EventTrends(ctx, "acme", TrendFilter{From: t0, To: t0.Add(time.Hour), Interval: time.Second}, Page{})
			wantErr(t, "3,600 buckets", err, ErrInvalid)
			_, err = s.EventTrends(ctx, "acme", window, Page{Token: minuteToken})
			wantErr(t, "a page token of another interval", err, ErrPageToken)

			g, err := s.EventTrends(ctx, "globex", window, Page{})
			if err != nil || len(g.Items) != 1 || g.Items[0].Events != 1 {
				t.Fatalf("globex's trends: %+v %v", g.Items, err)
			}
			_, err = s.EventTrends(ctx, "acme", TrendFilter{From: t0, To: t0}, Page{})
			wantErr(t, "an empty window", err, ErrInvalid)

			last, err := s.LatestEvent(ctx, "acme", "web")
			if err != nil || last.ID != "w4" {
				t.Fatalf("latest event of web: %+v %v", last, err)
			}
			_, err = s.LatestEvent(ctx, "globex", "api")
			wantErr(t, "latest event of a scaler without events", err, ErrNotFound)

			sl, err := s.ScalersWhere(ctx, "acme", ScalerFilter{Cluster: "c2"}, Page{})
			if err != nil || len(sl.Items) != 1 || sl.Items[0].Name != "api" {
				t.Fatalf("scalers of c2: %+v %v", sl.Items, err)
			}
			sl, err = s.ScalersWhere(ctx, "acme", ScalerFilter{Namespace: "prod", Cluster: "c2"}, Page{})
			if err != nil || len(sl.Items) != 0 {
				t.Fatalf("scalers of prod in c2: %+v %v", sl.Items, err)
			}
			sl, err = s.ScalersWhere(ctx, "acme", ScalerFilter{}, Page{Limit: 1})
			if err != nil || len(sl.Items) != 1 || sl.NextPageToken == "" {
				t.Fatalf("all scalers, page 1: %+v %v", sl, err)
			}
			_, err = s.ScalersWhere(ctx, "acme", ScalerFilter{Namespace: "prod"}, Page{Token: sl.NextPageToken})
			wantErr(t, "a page token of another filter", err, ErrPageToken)
			verifyLog(t, s)
		})
	}
}

// TestReadsAfterClose: every read is ErrClosed once the store is closed,
// not database/sql's "sql: database is closed".
func TestReadsAfterClose(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			s := open(t, b.url(t), Options{})
			newTenant(t, s, "acme")
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			a := s.Admin()
			reads := map[string]func() error{
				"Tenant":       func() error { _, err := s.Tenant(ctx, "acme"); return err },
				"Token":        func() error { _, err := s.Token(ctx, "acme", "x"); return err },
				"Tokens":       func() error { _, err := s.Tokens(ctx, "acme", Page{}); return err },
				"Cluster":      func() error { _, err := s.Cluster(ctx, "acme", "c1"); return err },
				"Clusters":     func() error { _, err := s.Clusters(ctx, "acme", Page{}); return err },
				"Scaler":       func() error { _, err := s.Scaler(ctx, "acme", "web"); return err },
				"Scalers":      func() error { _, err := s.Scalers(ctx, "acme", Page{}); return err },
				"ScalersWhere": func() error { _, err := s.ScalersWhere(ctx, "acme", ScalerFilter{Namespace: "x"}, Page{}); return err },
				"Event":        func() error { _, err := s.Event(ctx, "acme", "e"); return err },
				"Events":       func() error { _, err := s.Events(ctx, "acme", EventFilter{}, Page{}); return err },
				"LatestEvent":  func() error { _, err := s.LatestEvent(ctx, "acme", "web"); return err },
				"EventTrends": func() error {
					_, err := s.EventTrends(ctx, "acme", TrendFilter{From: time.Unix(1, 0), To: time.Unix(2, 0)}, Page{})
					return err
				},
				"AuditRecord":      func() error { _, err := s.AuditRecord(ctx, "acme", 1); return err },
				"AuditRecords":     func() error { _, err := s.AuditRecords(ctx, "acme", Page{}); return err },
				"Admin.Tenants":    func() error { _, err := a.Tenants(ctx, Page{}); return err },
				"Admin.Head":       func() error { _, err := a.Head(ctx); return err },
				"Admin.Log":        func() error { _, err := a.Log(ctx, 1, 10); return err },
				"Admin.Hashes":     func() error { _, err := a.Hashes(ctx).ReadHashes([]int64{0}); return err },
				"Admin.Checkpoint": func() error { _, err := a.Checkpoint(ctx, 1); return err },
				"Admin.LatestCheckpoint": func() error {
					_, err := a.LatestCheckpoint(ctx)
					return err
				},
				"Admin.AddCheckpoint": func() error {
					return a.AddCheckpoint(ctx, Checkpoint{TreeSize: 1, Note: []byte("n"), Time: time.Now()})
				},
				"Admin.Source.Scan": func() error {
					return a.Source(ctx).Scan(ctx, func(*AuditRecord) error { return nil })
				},
				"TouchToken": func() error { return s.TouchToken(ctx, "acme", "x", time.Now()) },
			}
			for name, read := range reads {
				err := read()
				if !errors.Is(err, ErrClosed) {
					t.Errorf("%s after Close: %v, want ErrClosed", name, err)
				}
			}
		})
	}
}
