package predictive

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/hpa-autoscaler/hpa-autoscaler/predictor"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/metricsapi"
)

var t0 = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

// errText is err's message, or "" for no error: a cmp.Diff of messages
// then also tells a missing error from a different one.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// floorView is what a test asserts of a combined floor: everything but
// the peaks and confidences.
type floorView struct {
	Replicas int32
	OK       bool
	Metric   string
	Metrics  []metricFloor
}

type metricFloor struct {
	Metric   string
	Replicas int32
	OK       bool
	Reason   string
}

func viewFloor(f predictor.CombinedFloor) floorView {
	v := floorView{Replicas: f.Replicas, OK: f.OK, Metric: f.Metric}
	for _, m := range f.Metrics {
		v.Metrics = append(v.Metrics, metricFloor{m.Metric, m.Replicas, m.OK, m.Reason})
	}
	return v
}

// statsServer serves {"tasks": N} where N follows an hourly pattern of the
// fake clock: 40 tasks in the first 20 minutes of each hour, 10 in the
// rest. fail makes it answer 500.
type statsServer struct {
	*httptest.Server
	clock *testingclock.FakePassiveClock
	fail  atomic.Bool
	noisy atomic.Bool
	hits  atomic.Int64
}

// jitter is a reproducible ±20% factor per minute (splitmix64 of the
// minute).
func jitter(t time.Time) float64 {
	z := uint64(t.Unix()/60) + 0x9E3779B97F4A7C15
	z = (z ^ z>>30) * 0xBF58476D1CE4E5B9
	z = (z ^ z>>27) * 0x94D049BB133111EB
	z ^= z >> 31
	return 0.8 + 0.4*float64(z>>11)/float64(1<<53)
}

func tasksAt(t time.Time) float64 {
	if t.Minute() < 20 {
		return 40
	}
	return 10
}

func newStatsServer(tb testing.TB, clk *testingclock.FakePassiveClock) *statsServer {
	tb.Helper()
	s := &statsServer{clock: clk}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.hits.Add(1)
		if s.fail.Load() {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		v := tasksAt(s.clock.Now())
		if s.noisy.Load() {
			v *= jitter(s.clock.Now())
		}
		fmt.Fprintf(w, `{"tasks": %g}`, v)
	}))
	tb.Cleanup(s.Close)
	return s
}

// metricsAPI is a real metrics-api scaler against srv, with a target of 5
// tasks per replica.
func metricsAPI(tb testing.TB, srv *statsServer) scalers.Scaler {
	tb.Helper()
	s, err := metricsapi.New(tb.(interface{ Context() context.Context }).Context(), scalers.Config{
		Type:     metricsapi.Type,
		Metadata: map[string]string{"url": srv.URL, "valueLocation": "tasks", "targetValue": "5"},
		Name:     "worker", Namespace: "shop",
	})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// poll fetches every 30 s of fake time for d.
func poll(tb testing.TB, s scalers.Scaler, clk *testingclock.FakePassiveClock, d time.Duration) {
	tb.Helper()
	ctx := tb.(interface{ Context() context.Context }).Context()
	for end := clk.Now().Add(d); clk.Now().Before(end); clk.SetTime(clk.Now().Add(30 * time.Second)) {
		if _, err := s.Metrics(ctx); err != nil {
			tb.Fatal(err)
		}
	}
}

func TestMetricsPassThroughAndRecord(t *testing.T) {
	clk := testingclock.NewFakePassiveClock(t0)
	srv := newStatsServer(t, clk)
	inner := metricsAPI(t, srv)
	s, err := New(inner, Options{Clock: clk, MetricStreamsOptions: predictor.MetricStreamsOptions{LookAhead: 5 * time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(inner.MetricSpecs(), s.MetricSpecs()); diff != "" {
		t.Errorf("metric specs, want the wrapped scaler's (-want +got):\n%s", diff)
	}
	m, err := s.Metrics(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	name := inner.MetricSpecs()[0].Name
	type fetched struct {
		Value  float64
		Found  bool
		Active bool
	}
	v, ok := m.Value(name)
	if diff := cmp.Diff(fetched{40, true, true}, fetched{v, ok, m.Active}); diff != "" {
		t.Errorf("metrics %+v, want %s = 40 and active (-want +got):\n%s", m, name, diff)
	}
	poll(t, s, clk, 10*time.Minute)
	f, err := s.Forecast(name, 1)
	if err != nil {
		t.Fatal(err)
	}
	// Polls at 30 s up to 00:09:30: the minutes up to 00:08 are complete
	// steps, 00:09 is still being sampled and is the first step forecast
	// (naive after a flat start).
	type forecast struct {
		Start  time.Time
		Values []float64
	}
	if diff := cmp.Diff(forecast{t0.Add(9 * time.Minute), []float64{40}}, forecast{f.Start, f.Values}); diff != "" {
		t.Errorf("forecast (-want +got):\n%s", diff)
	}

	// A failing fetch records nothing and passes the error through.
	srv.fail.Store(true)
	clk.SetTime(clk.Now().Add(5 * time.Minute))
	if _, err := s.Metrics(t.Context()); !errors.Is(err, scalers.ErrUnavailable) {
		t.Fatalf("fetch from a failing source: got %v, want ErrUnavailable", err)
	}
	if f2, _ := s.Forecast(name, 1); !f2.Start.Equal(f.Start) {
		t.Errorf("a failed fetch moved the history to %v", f2.Start)
	}
	_, err = s.Forecast("nope", 1)
	if diff := cmp.Diff(`metric "nope": series too short: no values recorded`, errText(err)); diff != "" {
		t.Errorf("unknown metric: error (-want +got):\n%s", diff)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// The wrapped scaler's own error (its words are its package's).
	if _, err := s.Metrics(t.Context()); !errors.Is(err, scalers.ErrClosed) {
		t.Errorf("Metrics after Close: got %v, want ErrClosed", err)
	}
}

func TestFloorAnticipatesTheRise(t *testing.T) {
	clk := testingclock.NewFakePassiveClock(t0)
	srv := newStatsServer(t, clk)
	s, err := New(metricsAPI(t, srv), Options{Clock: clk, MetricStreamsOptions: predictor.MetricStreamsOptions{LookAhead: 3 * time.Minute, StartupDelay: 2 * time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	none := floorView{Metrics: []metricFloor{{Metric: s.MetricSpecs()[0].Name, Reason: "no values recorded yet"}}}
	if diff := cmp.Diff(none, viewFloor(s.Floor(clk.Now()))); diff != "" {
		t.Errorf("floor before any value (-want +got):\n%s", diff)
	}
	// Twelve hours of the hourly pattern.
	poll(t, s, clk, 12*time.Hour)
	now := clk.Now() // 12:00: the start of a high block
	if got := tasksAt(now); got != 40 {
		t.Fatalf("test setup: at %v the pattern is %v, want the start of a high block", now, got)
	}
	tests := []struct {
		name string
		at   time.Time
		want int32
	}{
		// Half an hour before the next rise (at 13:00), the window holds
		// only the quiet level: 10 tasks / 5 per replica.
		{name: "in the quiet part", at: now.Add(30 * time.Minute), want: 2},
		// 4 minutes before the rise the window (3m look-ahead + 2m
		// start-up) reaches it: 40 tasks / 5 per replica.
		{name: "just before the rise", at: now.Add(56 * time.Minute), want: 8},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Keep polling up to the moment of the decision.
			poll(t, s, clk, tc.at.Sub(clk.Now()))
			f := s.Floor(clk.Now())
			name := s.MetricSpecs()[0].Name
			want := floorView{Replicas: tc.want, OK: true, Metric: name, Metrics: []metricFloor{{Metric: name, Replicas: tc.want, OK: true}}}
			if diff := cmp.Diff(want, viewFloor(f)); diff != "" {
				t.Fatalf("floor at %s (-want +got):\n%s", clk.Now().Format("15:04"), diff)
			}
			// Written as "not at least" so that a NaN fails too.
			if c := f.Metrics[0].Confidence; !(c >= 0.8) {
				t.Errorf("floor with confidence %.2f, want at least 0.8", c)
			}
		})
	}
}

func TestConfidenceThreshold(t *testing.T) {
	// Noisy demand gives intervals of some width: a threshold of 0.99
	// refuses the forecast, and says why.
	clk := testingclock.NewFakePassiveClock(t0)
	srv := newStatsServer(t, clk)
	srv.noisy.Store(true)
	s, err := New(metricsAPI(t, srv), Options{Clock: clk, MetricStreamsOptions: predictor.MetricStreamsOptions{LookAhead: 3 * time.Minute, ConfidenceThreshold: 0.99}})
	if err != nil {
		t.Fatal(err)
	}
	poll(t, s, clk, 6*time.Hour+57*time.Minute)
	// The jitter is reproducible: so is the confidence.
	want := floorView{Metrics: []metricFloor{{Metric: s.MetricSpecs()[0].Name, Reason: "confidence 0.82 below the threshold 0.99"}}}
	if diff := cmp.Diff(want, viewFloor(s.Floor(clk.Now()))); diff != "" {
		t.Errorf("floor (-want +got):\n%s", diff)
	}
}

func TestOptionsValidate(t *testing.T) {
	_, err := New(nil, Options{})
	if diff := cmp.Diff("predictive: no scaler to wrap", errText(err)); diff != "" {
		t.Errorf("nil scaler: error (-want +got):\n%s", diff)
	}
	clk := testingclock.NewFakePassiveClock(t0)
	inner := metricsAPI(t, newStatsServer(t, clk))
	_, err = New(inner, Options{MetricStreamsOptions: predictor.MetricStreamsOptions{Step: -time.Second, LookAhead: -time.Minute, StartupDelay: -time.Second, ConfidenceThreshold: 2}})
	// Every problem at once, one a line.
	want := "predictive options: step -1s: want a positive duration\n" +
		"lookAhead -1m0s: want a positive duration\n" +
		"startupDelay -1s: want >= 0\n" +
		"confidenceThreshold 2: want 0..1"
	if diff := cmp.Diff(want, errText(err)); diff != "" {
		t.Errorf("bad options: error (-want +got):\n%s", diff)
	}
	// The window (now + lookAhead + startupDelay) touches 3601 steps of 1s.
	_, err = New(inner, Options{MetricStreamsOptions: predictor.MetricStreamsOptions{Step: time.Second, LookAhead: time.Hour}})
	if diff := cmp.Diff("predictive options: lookAhead 1h0m0s plus startupDelay 0s: 3601 steps of 1s, want at most 1440", errText(err)); diff != "" {
		t.Errorf("too long a window: error (-want +got):\n%s", diff)
	}
}

// pushing is a scalers.PushScaler over a real scaler (no scaler type in
// the project pushes yet): its Run reports one activity change.
type pushing struct{ scalers.Scaler }

func (pushing) Run(ctx context.Context, active chan<- bool) {
	select {
	case active <- true:
	case <-ctx.Done():
	}
	<-ctx.Done()
}

func TestWrapKeepsPush(t *testing.T) {
	clk := testingclock.NewFakePassiveClock(t0)
	inner := metricsAPI(t, newStatsServer(t, clk))
	plain, err := Wrap(inner, Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := plain.(scalers.PushScaler); ok {
		t.Error("a scaler that cannot push became a PushScaler")
	}
	wrapped, err := Wrap(pushing{inner}, Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	ps, ok := wrapped.(scalers.PushScaler)
	if !ok {
		t.Fatal("a PushScaler lost its Run")
	}
	ctx, cancel := context.WithCancel(t.Context())
	active := make(chan bool)
	done := make(chan struct{})
	go func() { ps.Run(ctx, active); close(done) }()
	if v := <-active; !v {
		t.Error("pushed false, want true")
	}
	cancel()
	<-done
	if wrapped.(*PushScaler).Unwrap() == nil {
		t.Error("Unwrap returned nil")
	}
}

// TestConcurrentUse fetches and asks for floors from many goroutines at
// once (run with -race): the history stays in time order and complete.
func TestConcurrentUse(t *testing.T) {
	clk := testingclock.NewFakePassiveClock(t0)
	srv := newStatsServer(t, clk)
	s, err := New(metricsAPI(t, srv), Options{Clock: clk, MetricStreamsOptions: predictor.MetricStreamsOptions{LookAhead: 3 * time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	name := s.MetricSpecs()[0].Name
	const workers, rounds = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds)
	var mu sync.Mutex // the fake clock is advanced by one worker at a time
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				if w == 0 {
					mu.Lock()
					clk.SetTime(clk.Now().Add(15 * time.Second))
					mu.Unlock()
				}
				if _, err := s.Metrics(t.Context()); err != nil {
					errs <- err
					return
				}
				_ = s.Floor(clk.Now())
				_, _ = s.Forecast(name, 1)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := srv.hits.Load(); got != workers*rounds {
		t.Errorf("%d fetches reached the source, want %d", got, workers*rounds)
	}
	// Worker 0 moved the clock 50 × 15 s = 12.5 minutes: 12 complete
	// steps, whatever the interleaving.
	f, err := s.Forecast(name, 1)
	if err != nil {
		t.Fatal(err)
	}
	if want := t0.Add(12 * time.Minute); !f.Start.Equal(want) {
		t.Errorf("after the concurrent fetches the forecast starts at %v, want %v", f.Start, want)
	}
}

// outer is another decorator around a predictive scaler.
type outer struct{ scalers.Scaler }

func (o outer) Unwrap() scalers.Scaler { return o.Scaler }

func TestFind(t *testing.T) {
	clk := testingclock.NewFakePassiveClock(t0)
	inner := metricsAPI(t, newStatsServer(t, clk))
	plain, err := Wrap(inner, Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	pushed, err := Wrap(pushing{inner}, Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		s    scalers.Scaler
		want *Scaler
	}{
		{"the wrapper itself", plain, plain.(*Scaler)},
		{"a push wrapper", pushed, pushed.(*PushScaler).Scaler},
		{"under another decorator", outer{plain}, plain.(*Scaler)},
		{"not wrapped", inner, nil},
		{"nil", nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := Find(tc.s)
			if got != tc.want || ok != (tc.want != nil) {
				t.Errorf("Find: got %p (found %v), want %p", got, ok, tc.want)
			}
		})
	}
	var f Floorer = plain.(*Scaler)
	if floor := f.Floor(clk.Now()); floor.OK || len(floor.Metrics) != 1 || floor.Metrics[0].Reason != "no values recorded yet" {
		t.Errorf("floor of a new wrapper: got %+v, want none, with the reason", floor)
	}
}

// TestSeedWarmStart: a wrapper seeded with the past of another forecasts
// as that one does, whatever it recorded live before the past came.
func TestSeedWarmStart(t *testing.T) {
	clk := testingclock.NewFakePassiveClock(t0)
	srv := newStatsServer(t, clk)
	opts := Options{Clock: clk, MetricStreamsOptions: predictor.MetricStreamsOptions{LookAhead: 3 * time.Minute}}
	long, err := New(metricsAPI(t, srv), opts)
	if err != nil {
		t.Fatal(err)
	}
	name := long.MetricSpecs()[0].Name
	// Six hours of polls every 30 s: the past the new instance is given.
	var past []Sample
	for end := clk.Now().Add(6 * time.Hour); clk.Now().Before(end); clk.SetTime(clk.Now().Add(30 * time.Second)) {
		if _, err := long.Metrics(t.Context()); err != nil {
			t.Fatal(err)
		}
		past = append(past, Sample{clk.Now(), tasksAt(clk.Now())})
	}
	wopts := opts
	wopts.WarmStart = true
	fresh, err := New(metricsAPI(t, srv), wopts)
	if err != nil {
		t.Fatal(err)
	}
	// Both poll on for ten minutes before the past arrives; the fresh one
	// is given one sample too many (at its first live one's time): dropped.
	both := func(d time.Duration) {
		for end := clk.Now().Add(d); clk.Now().Before(end); clk.SetTime(clk.Now().Add(30 * time.Second)) {
			for _, s := range []*Scaler{long, fresh} {
				if _, err := s.Metrics(t.Context()); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	both(10 * time.Minute)
	past = append(past, Sample{t0.Add(6 * time.Hour), 1e6})
	n, err := fresh.Seed(map[string][]Sample{name: past})
	if err != nil {
		t.Fatal(err)
	}
	if want := len(past) - 1; n != want {
		t.Errorf("Seed took %d past samples, want %d", n, want)
	}
	if _, err := fresh.Seed(nil); !errors.Is(err, ErrNoWarmStart) {
		t.Errorf("second Seed: got %v, want ErrNoWarmStart", err)
	}
	both(5 * time.Minute)
	want, err := long.Forecast(name, 3)
	if err != nil {
		t.Fatal(err)
	}
	got, err := fresh.Forecast(name, 3)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("forecast of the seeded wrapper, want the one that saw it all (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(viewFloor(long.Floor(clk.Now())), viewFloor(fresh.Floor(clk.Now()))); diff != "" {
		t.Errorf("floor of the seeded wrapper (-want +got):\n%s", diff)
	}
	plain, err := New(metricsAPI(t, srv), opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plain.Seed(nil); !errors.Is(err, ErrNoWarmStart) {
		t.Errorf("Seed without WarmStart: got %v, want ErrNoWarmStart", err)
	}
}
