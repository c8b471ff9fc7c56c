package store

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestHistory(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			s := open(t, b.url(t), Options{})
			newTenant(t, s, "acme")
			newTenant(t, s, "other")
			k := SeriesKey{Cluster: "c1", Namespace: "shop", Scaler: "web", Trigger: "rps"}
			t0 := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
			var batch []HistorySample
			for i := range 180 { // three hours of minutes
				batch = append(batch, HistorySample{Tenant: "acme", Series: k, Time: t0.Add(time.Duration(i) * time.Minute), Step: time.Minute, Value: float64(i), Samples: 2})
			}
			// The same key in another tenant is another series.
			batch = append(batch, HistorySample{Tenant: "other", Series: k, Time: t0, Step: time.Minute, Value: -1, Samples: 1})
			if err := s.AppendHistory(ctx, batch); err != nil {
				t.Fatalf("AppendHistory: %v", err)
			}
			// Written again: replaced, not doubled.
			if err := s.AppendHistory(ctx, []HistorySample{{Tenant: "acme", Series: k, Time: t0, Step: time.Minute, Value: 0.5, Samples: 4}}); err != nil {
				t.Fatalf("AppendHistory again: %v", err)
			}
			pts, err := s.ReadHistory(ctx, "acme", k, t0, t0.Add(3*time.Hour))
			if err != nil || len(pts) != 180 {
				t.Fatalf("ReadHistory = %d points, %v; want 180", len(pts), err)
			}
			if pts[0] != (HistoryPoint{Time: t0, Step: time.Minute, Value: 0.5, Samples: 4}) || pts[179].Value != 179 {
				t.Fatalf("ReadHistory: first %+v, last %+v", pts[0], pts[179])
			}
			other, err := s.ReadHistory(ctx, "other", k, t0, t0.Add(time.Hour))
			if err != nil || len(other) != 1 || other[0].Value != -1 {
				t.Fatalf("ReadHistory of the other tenant = %+v, %v", other, err)
			}
			series, err := s.HistorySeries(ctx, "acme", 0, 0)
			if err != nil || len(series) != 1 || series[0].Key != k {
				t.Fatalf("HistorySeries = %+v, %v", series, err)
			}
			if more, err := s.HistorySeries(ctx, "acme", series[0].ID, 10); err != nil || len(more) != 0 {
				t.Fatalf("HistorySeries after the last = %+v, %v", more, err)
			}

			// Downsample the first two hours to hourly averages (the third
			// hour holds the cut: left alone), and delete nothing yet.
			res, err := s.PruneHistory(ctx, "acme", PruneOptions{DownsampleBefore: t0.Add(2*time.Hour + 30*time.Minute), DownsampleStep: time.Hour})
			if err != nil || res.Downsampled != 120 || res.Deleted != 0 {
				t.Fatalf("PruneHistory = %+v, %v; want 120 downsampled", res, err)
			}
			pts, err = s.ReadHistory(ctx, "acme", k, t0, t0.Add(3*time.Hour))
			if err != nil || len(pts) != 62 {
				t.Fatalf("after downsampling: %d points, %v; want 2 hours + 60 minutes", len(pts), err)
			}
			// Hour 0: minute 0 (0.5, 4 samples) and minutes 1..59 (2 each).
			want0 := (0.5*4 + 2*float64(59*60/2)) / (4 + 2*59)
			if diff := cmp.Diff(HistoryPoint{Time: t0, Step: time.Hour, Value: want0, Samples: 4 + 2*59}, pts[0]); diff != "" {
				t.Errorf("hour 0 (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(HistoryPoint{Time: t0.Add(time.Hour), Step: time.Hour, Value: 89.5, Samples: 120}, pts[1]); diff != "" {
				t.Errorf("hour 1 (-want +got):\n%s", diff)
			}
			// A late minute of hour 1 merges into its hourly row.
			if err := s.AppendHistory(ctx, []HistorySample{{Tenant: "acme", Series: k, Time: t0.Add(90 * time.Minute), Step: time.Minute, Value: 1000, Samples: 120}}); err != nil {
				t.Fatal(err)
			}
			if res, err := s.PruneHistory(ctx, "acme", PruneOptions{DownsampleBefore: t0.Add(2 * time.Hour), DownsampleStep: time.Hour}); err != nil || res.Downsampled != 1 {
				t.Fatalf("second PruneHistory = %+v, %v", res, err)
			}
			pts, _ = s.ReadHistory(ctx, "acme", k, t0.Add(time.Hour), t0.Add(time.Hour+time.Minute))
			if len(pts) != 1 || pts[0].Value != (89.5*120+1000*120)/240 || pts[0].Samples != 240 {
				t.Fatalf("merged hour 1 = %+v", pts)
			}

			// Retention: everything before the third hour goes.
			res, err = s.PruneHistory(ctx, "acme", PruneOptions{RetainFrom: t0.Add(2 * time.Hour)})
			if err != nil || res.Deleted != 2 {
				t.Fatalf("PruneHistory retention = %+v, %v; want the 2 hourly rows deleted", res, err)
			}
			if pts, _ := s.ReadHistory(ctx, "other", k, t0, t0.Add(time.Hour)); len(pts) != 1 {
				t.Fatalf("the other tenant's history was pruned: %+v", pts)
			}
		})
	}
}

func TestHistoryInvalid(t *testing.T) {
	s := open(t, backends[0].url(t), Options{})
	ctx := testCtx(t)
	newTenant(t, s, "acme")
	t0 := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	k := SeriesKey{Scaler: "web", Trigger: "rps"}
	cases := []struct {
		name string
		s    HistorySample
	}{
		{"no scaler", HistorySample{Tenant: "acme", Series: SeriesKey{Trigger: "x"}, Time: t0, Step: time.Minute, Samples: 1}},
		{"no step", HistorySample{Tenant: "acme", Series: k, Time: t0, Samples: 1}},
		{"no samples", HistorySample{Tenant: "acme", Series: k, Time: t0, Step: time.Minute}},
		{"bad tenant", HistorySample{Tenant: "A", Series: k, Time: t0, Step: time.Minute, Samples: 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := s.AppendHistory(ctx, []HistorySample{c.s}); !errors.Is(err, ErrInvalid) {
				t.Fatalf("AppendHistory = %v; want ErrInvalid", err)
			}
		})
	}
	// A tenant that does not exist: the foreign key.
	if err := s.AppendHistory(ctx, []HistorySample{{Tenant: "nobody", Series: k, Time: t0, Step: time.Minute, Value: 1, Samples: 1}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("AppendHistory of an unknown tenant = %v; want ErrInvalid", err)
	}
}
