package history

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/hpa-autoscaler/hpa-autoscaler/backend/store"
)

type backend struct {
	name string
	url  func(t testing.TB) string
}

var backends = []backend{
	{"sqlite", func(t testing.TB) string { return "sqlite:" + filepath.Join(t.TempDir(), "store.db") }},
	{"postgres", func(t testing.TB) string { return pg.Get(t).NewDatabase(t) }},
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// openStore opens a store on url with tenant "acme", closed when the test
// ends.
func openStore(t testing.TB, url string, tenants ...store.TenantID) store.Store {
	t.Helper()
	s, err := store.Open(testCtx(t), url, store.Options{})
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	for _, id := range tenants {
		if err := s.Update(testCtx(t), id, "test", func(tx store.Tx) error {
			_, err := tx.CreateTenant("Tenant " + string(id))
			return err
		}); err != nil {
			t.Fatalf("create tenant %s: %v", id, err)
		}
	}
	return s
}

// start starts a Service, closed when the test ends (before its store).
func start(t testing.TB, o Options) *Service {
	t.Helper()
	s, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Start(testCtx(t)); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// testOptions: small windows so that a test sees rebuilds, retention and
// downsampling in a few hundred steps.
func testOptions(st Store, clk *clocktesting.FakeClock) Options {
	return Options{Store: st, Clock: clk, Window: 240, RebuildEvery: time.Hour, DownsampleAfter: 6 * time.Hour, Retention: 12 * time.Hour,
		Horizon: 20 * time.Minute, MaintainEvery: -1, Tick: time.Second}
}

var t0 = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

// demand is a daily-ish pattern with a one-hour period and noise.
func demandAt(rng *rand.Rand, i int) float64 {
	return 100 + 40*math.Sin(2*math.Pi*float64(i)/60) + 3*rng.NormFloat64()
}

// feed observes steps [from, to) of key at 4 samples a step (15s apart),
// moving the clock, and flushes after each step: the recording goroutine
// reads the clock when it handles a tick, and must not see the clock past
// a step before it took the step's samples (in production the clock does
// not run ahead of the queue by a step).
func feed(t testing.TB, s *Service, clk *clocktesting.FakeClock, k Key, rng *rand.Rand, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		v := demandAt(rng, i)
		for j := range 4 {
			at := t0.Add(time.Duration(i)*time.Minute + time.Duration(j)*15*time.Second)
			clk.SetTime(at)
			// The sample's deviations cancel: the step's average is v.
			if !s.Observe(k, at, v+float64(j%2*2-1)) {
				t.Fatalf("Observe shed a sample at step %d", i)
			}
		}
		if err := s.Flush(testCtx(t)); err != nil {
			t.Fatalf("Flush: %v", err)
		}
	}
	clk.SetTime(t0.Add(time.Duration(to) * time.Minute))
	if err := s.Flush(testCtx(t)); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}

func request(now time.Time) Request {
	return Request{Scaler: ScalerKey{Tenant: "acme", Cluster: "c1", Namespace: "shop", Scaler: "web"},
		Triggers:  []TriggerTarget{{Trigger: "rps", PerReplica: 10}, {Trigger: "none", PerReplica: 5}},
		LookAhead: 10 * time.Minute, StartupDelay: time.Minute, ConfidenceThreshold: 0.5, Now: now}
}

// TestWarmStart: the history survives a restart, and the trackers rebuilt
// from it at the start forecast exactly what the ones before the restart
// did, for the same series and now; then both go on alike.
func TestWarmStart(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			url := b.url(t)
			st := openStore(t, url, "acme")
			clk := clocktesting.NewFakeClock(t0)
			k := request(t0).Scaler.Trigger("rps")
			rng := rand.New(rand.NewPCG(7, 8))

			s1 := start(t, testOptions(st, clk))
			// 400 steps: several rebuild points (every 60) and a window
			// (240) smaller than the history.
			feed(t, s1, clk, k, rng, 0, 400)
			if err := s1.WaitWarm(testCtx(t)); err != nil {
				t.Fatal(err)
			}
			waitBuilt(t, s1, k)
			now := clk.Now().Add(20 * time.Second)
			before, err := s1.Recommend(request(now))
			if err != nil {
				t.Fatal(err)
			}
			if !before.Triggers[0].Calibrated || len(before.Triggers[0].Points) == 0 {
				t.Fatalf("before the restart: no calibrated forecast: %+v", before.Triggers[0])
			}
			if before.Triggers[1].OK || before.Triggers[1].Reason != "not enough history: no values recorded" {
				t.Fatalf("a trigger without history: %+v", before.Triggers[1])
			}
			if err := s1.Close(); err != nil {
				t.Fatal(err)
			}
			pts, err := st.ReadHistory(testCtx(t), "acme", k.seriesKey(), t0, clk.Now())
			if err != nil || len(pts) != 400 {
				t.Fatalf("stored %d steps, %v; want 400", len(pts), err)
			}
			if pts[7].Value != demandAt(rand.New(rand.NewPCG(7, 8)), 0) && pts[0].Samples != 4 {
				t.Fatalf("first stored step %+v", pts[0])
			}

			// A new process on the same database.
			st.Close()
			st2 := openStore(t, url)
			s2 := start(t, testOptions(st2, clk))
			if err := s2.WaitWarm(testCtx(t)); err != nil {
				t.Fatal(err)
			}
			after, err := s2.Recommend(request(now))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(before, after); diff != "" {
				t.Fatalf("recommendation before and after the restart (-before +after):\n%s", diff)
			}

			// Both go on alike: the same 100 steps into a third service
			// that never restarted.
			st3 := openStore(t, b.url(t), "acme")
			clk3 := clocktesting.NewFakeClock(t0)
			s3 := start(t, testOptions(st3, clk3))
			rng3 := rand.New(rand.NewPCG(7, 8))
			feed(t, s3, clk3, k, rng3, 0, 400)
			feed(t, s3, clk3, k, rng3, 400, 500)
			feed(t, s2, clk, k, rng, 400, 500)
			waitBuilt(t, s2, k)
			waitBuilt(t, s3, k)
			now = clk.Now().Add(10 * time.Second)

			r2, _ := s2.Recommend(request(now))
			r3, _ := s3.Recommend(request(now))
			if diff := cmp.Diff(r3, r2); diff != "" {
				t.Fatalf("restarted vs never restarted, 100 steps on (-never +restarted):\n%s", diff)
			}
			if r2.Triggers[0].HistorySteps == 0 {
				t.Fatalf("no history: %+v", r2.Triggers[0])
			}
			t.Logf("floor %d (%s); rps model %s, confidence %.2f, %d steps", r2.Floor, r2.Reason, r2.Triggers[0].Model, r2.Triggers[0].Confidence, r2.Triggers[0].HistorySteps)
		})
	}
}

// waitBuilt waits until the series' tracker is the replay of its steps
// (the builder is asynchronous).
func waitBuilt(t testing.TB, s *Service, k Key) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		s.mu.RLock()
		ser := s.series[k]
		s.mu.RUnlock()
		if ser != nil {
			ser.mu.Lock()
			ok := ser.built && !ser.stale && !ser.queued && !ser.load
			ser.mu.Unlock()
			if ok {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("series %s: its tracker was not rebuilt within a minute", k)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestStepsAveragedAndBatched: several samples of a step are averaged,
// each step is written once, many series per transaction.
func TestStepsAveragedAndBatched(t *testing.T) {
	st := openStore(t, backends[0].url(t), "acme", "beta")
	clk := clocktesting.NewFakeClock(t0)
	reg := prometheus.NewRegistry()
	o := testOptions(st, clk)
	o.Registerer = reg
	s := start(t, o)
	keys := []Key{{Tenant: "acme", Scaler: "a", Trigger: "x"}, {Tenant: "acme", Namespace: "n", Scaler: "a", Trigger: "y"}, {Tenant: "beta", Cluster: "c", Scaler: "a", Trigger: "x"}}
	for i, k := range keys {
		s.Observe(k, t0.Add(time.Second), 1)
		s.Observe(k, t0.Add(50*time.Second), 2+float64(i))
		s.Observe(k, t0.Add(70*time.Second), 10) // the next step
	}
	// Late: a step before the open one.
	s.Observe(keys[0], t0.Add(30*time.Second), 100)
	// The samples are handled before the clock moves: a tick of the moved
	// clock could otherwise be taken before them (select picks among
	// ready cases at random) and close step 0 under them.
	if err := s.Flush(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	clk.SetTime(t0.Add(2 * time.Minute))
	if err := s.Flush(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	for i, k := range keys {
		pts, err := st.ReadHistory(testCtx(t), k.Tenant, k.seriesKey(), t0, t0.Add(time.Hour))
		want := []store.HistoryPoint{{Time: t0, Step: time.Minute, Value: (1 + 2 + float64(i)) / 2, Samples: 2}, {Time: t0.Add(time.Minute), Step: time.Minute, Value: 10, Samples: 1}}
		if diff := cmp.Diff(want, pts); err != nil || diff != "" {
			t.Errorf("series %s: %v (-want +got):\n%s", k, err, diff)
		}
	}
	if got := s.Stats().Written; got != 6 {
		t.Errorf("steps written %v, want 6", got)
	}
	if got := s.Stats().Shed[reasonLate]; got != 1 {
		t.Errorf("late samples shed %d, want 1", got)
	}
	// A bad key and a bad value are shed, counted.
	s.Observe(Key{Tenant: "acme"}, t0.Add(3*time.Minute), 1)
	s.Observe(keys[0], t0.Add(3*time.Minute), math.NaN())
	if err := s.Flush(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if got := s.Stats().Shed[reasonInvalid]; got != 2 {
		t.Errorf("invalid samples shed %d, want 2", got)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "hpa_history_samples_shed_total" && len(mf.GetMetric()) != len(reasons) {
			t.Errorf("shed metric has %d series, want one per reason (%d)", len(mf.GetMetric()), len(reasons))
		}
	}
}

// TestObserveSheds: with the queue full, Observe returns at once and
// counts what it shed.
func TestObserveSheds(t *testing.T) {
	st := openStore(t, backends[0].url(t), "acme")
	o := testOptions(st, clocktesting.NewFakeClock(t0))
	o.QueueSize = 4
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	// Not started: nothing drains the queue.
	k := Key{Tenant: "acme", Scaler: "a", Trigger: "x"}
	accepted := 0
	for i := range 10 {
		if s.Observe(k, t0.Add(time.Duration(i)*time.Second), 1) {
			accepted++
		}
	}
	if accepted != 4 || s.Stats().Shed[reasonQueueFull] != 6 {
		t.Fatalf("accepted %d, shed %v; want 4 and 6 queue_full", accepted, s.Stats().Shed)
	}
}

// TestSeriesCapAndEviction: beyond MaxSeries a new series is recorded
// without a tracker, beyond MaxRecorded it is shed; an idle one is
// evicted, which makes room.
func TestSeriesCapAndEviction(t *testing.T) {
	st := openStore(t, backends[0].url(t), "acme")
	clk := clocktesting.NewFakeClock(t0)
	o := testOptions(st, clk)
	o.MaxSeries, o.MaxRecorded, o.IdleAfter = 2, 3, 10*time.Minute
	s := start(t, o)
	key := func(name string) Key { return Key{Tenant: "acme", Scaler: "s", Trigger: name} }
	for i, name := range []string{"a", "b", "c", "d"} {
		s.Observe(key(name), t0.Add(time.Duration(i)*time.Second), 1)
	}
	clk.SetTime(t0.Add(time.Minute))
	if err := s.Flush(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Series != 3 || st.Tracked != 2 || st.Shed[reasonSeriesCap] != 1 {
		t.Fatalf("stats %+v; want 3 series, 2 tracked and 1 shed at the cap", st)
	}
	// c is recorded, without a tracker, and Recommend says so.
	if pts, err := st.ReadHistory(testCtx(t), "acme", key("c").seriesKey(), t0, t0.Add(time.Hour)); err != nil || len(pts) != 1 {
		t.Fatalf("c's history: %+v, %v", pts, err)
	}
	rec, err := s.Recommend(Request{Scaler: ScalerKey{Tenant: "acme", Scaler: "s"}, Triggers: []TriggerTarget{{Trigger: "c", PerReplica: 1}}, Now: clk.Now()})
	if err != nil || !strings.Contains(rec.Triggers[0].Reason, "without a tracker") {
		t.Fatalf("Recommend for c: %+v, %v", rec, err)
	}
	// Series b goes on; a and c go idle and are evicted at a tick.
	for m := 1; m <= 12; m++ {
		at := t0.Add(time.Duration(m) * time.Minute)
		clk.SetTime(at)
		s.Observe(key("b"), at, 1)
		if err := s.Flush(testCtx(t)); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(time.Minute)
	for s.Stats().Series != 1 {
		clk.Step(o.Tick) // the tick evicts
		if time.Now().After(deadline) {
			t.Fatalf("a and c were not evicted: %+v", s.Stats())
		}
		time.Sleep(time.Millisecond)
	}
	s.Observe(key("d"), clk.Now(), 1)
	if err := s.Flush(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Series != 2 || st.Tracked != 2 {
		t.Fatalf("after eviction: %+v; want room for d, with a tracker", st)
	}
}

// TestMaintain: retention and downsampling through the service.
func TestMaintain(t *testing.T) {
	st := openStore(t, backends[0].url(t), "acme")
	clk := clocktesting.NewFakeClock(t0)
	o := testOptions(st, clk)
	k := Key{Tenant: "acme", Scaler: "a", Trigger: "x"}
	var steps []store.HistorySample
	for i := range 24 * 60 {
		steps = append(steps, store.HistorySample{Tenant: "acme", Series: k.seriesKey(), Time: t0.Add(time.Duration(i) * time.Minute), Step: time.Minute, Value: 1, Samples: 1})
	}
	if err := st.AppendHistory(testCtx(t), steps); err != nil {
		t.Fatal(err)
	}
	s := start(t, o)
	clk.SetTime(t0.Add(24 * time.Hour))
	res, err := s.Maintain(testCtx(t))
	// Retention 12h: hours 0-11 deleted; downsampled after 6h: hours
	// 12-17 replaced by 6 hourly rows; hours 18-23 kept by the minute.
	if err != nil || res.Deleted != 12*60 || res.Downsampled != 6*60 {
		t.Fatalf("Maintain = %+v, %v", res, err)
	}
	pts, _ := st.ReadHistory(testCtx(t), "acme", k.seriesKey(), t0, t0.Add(24*time.Hour))
	if len(pts) != 6+6*60 || pts[0].Step != time.Hour || pts[0].Time != t0.Add(12*time.Hour) || pts[0].Samples != 60 {
		t.Fatalf("after Maintain: %d points, first %+v", len(pts), pts[0])
	}
}

func TestOptionsValidate(t *testing.T) {
	cases := []struct {
		name string
		o    Options
	}{
		{"no store", Options{}},
		{"downsample inside the window", Options{Store: fakeStore{}, DownsampleAfter: time.Hour}},
		{"retention before downsampling", Options{Store: fakeStore{}, Retention: 24 * time.Hour}},
		{"horizon too long", Options{Store: fakeStore{}, Horizon: 48 * time.Hour}},
		{"negative step", Options{Store: fakeStore{}, Step: -time.Second}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := c.o.Validate(); err == nil {
				t.Fatal("Validate passed")
			} else {
				t.Log(err)
			}
		})
	}
	if err := (Options{Store: fakeStore{}}).Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
}

// fakeStore only fills Options.Store for Validate (never called).
type fakeStore struct{ Store }

// TestRecommendLeavesOutTheSampledStep: once the step in progress has a
// sample, its value is observed (the reactive recommendation serves it)
// and the floor's window starts at its end, as predictor.Stream does on
// the KEDA path and in simulate; before that the window starts at now.
func TestRecommendLeavesOutTheSampledStep(t *testing.T) {
	st := openStore(t, backends[0].url(t), "acme")
	clk := clocktesting.NewFakeClock(t0)
	k := request(t0).Scaler.Trigger("rps")
	s := start(t, testOptions(st, clk))
	feed(t, s, clk, k, rand.New(rand.NewPCG(7, 8)), 0, 400)
	if err := s.WaitWarm(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	waitBuilt(t, s, k)
	now := clk.Now().Add(20 * time.Second) // in step 400, not sampled yet
	clk.SetTime(now)
	stepEnd := now.Truncate(time.Minute).Add(time.Minute)
	end := now.Add(request(now).LookAhead + request(now).StartupDelay)
	peak := func(pts []Point, from time.Time) float64 {
		p := 0.0
		for _, pt := range pts {
			if pt.Time.Add(time.Minute).After(from) && pt.Time.Before(end) {
				p = math.Max(p, pt.Upper)
			}
		}
		return p
	}
	before, err := s.Recommend(request(now))
	if err != nil {
		t.Fatal(err)
	}
	tf := before.Triggers[0]
	if !tf.Calibrated || tf.Points[0].Time != now.Truncate(time.Minute) || tf.Peak != peak(tf.Points, now) {
		t.Fatalf("before a sample of step 400: %+v, want the window from now (peak %v)", tf, peak(tf.Points, now))
	}
	if !s.Observe(k, now, 100) {
		t.Fatal("Observe shed the sample")
	}
	if err := s.Flush(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	after, err := s.Recommend(request(now))
	if err != nil {
		t.Fatal(err)
	}
	ta := after.Triggers[0]
	if diff := cmp.Diff(tf.Points, ta.Points); diff != "" {
		t.Fatalf("the forecast changed with a sample of the open step (-before +after):\n%s", diff)
	}
	if want := peak(ta.Points, stepEnd); ta.Peak != want || want == peak(ta.Points, now) && tf.Points[0].Upper > want {
		t.Fatalf("after a sample of step 400: peak %v, want %v (the window from %s)", ta.Peak, want, stepEnd)
	}
	// A window that ends within the step in progress: its floor came
	// from that step's upper bound alone; once the step is sampled there
	// is no forecast step left in it, so no floor.
	short := request(now)
	short.LookAhead, short.StartupDelay = 10*time.Second, 0
	short.Now = now
	r, err := s.Recommend(short)
	if err != nil {
		t.Fatal(err)
	}
	if r.Triggers[0].OK || !strings.Contains(r.Triggers[0].Reason, "ends within the step in progress") {
		t.Fatalf("a window within the sampled step: %+v, want no floor", r.Triggers[0])
	}
	t.Logf("floor %d from now, %d from the sampled step's end (step 400's upper bound %.1f); within the step: %s", tf.Floor, ta.Floor, tf.Points[0].Upper, r.Triggers[0].Reason)
}
