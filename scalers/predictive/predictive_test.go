package predictive

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"

	"github.com/hpa-autoscaler/hpa-autoscaler/predictor"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/metricsapi"
)

var t0 = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

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
	if got, want := fmt.Sprint(s.MetricSpecs()), fmt.Sprint(inner.MetricSpecs()); got != want {
		t.Errorf("metric specs %s, want the wrapped scaler's %s", got, want)
	}
	m, err := s.Metrics(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	name := inner.MetricSpecs()[0].Name
	if v, ok := m.Value(name); !ok || v != 40 || !m.Active {
		t.Errorf("metrics %+v, want %s = 40 and active", m, name)
	}
	poll(t, s, clk, 10*time.Minute)
	f, err := s.Forecast(name, 1)
	if err != nil {
		t.Fatal(err)
	}
	// Polls at 30 s up to 00:09:30: the minutes up to 00:08 are complete
	// steps, 00:09 is still being sampled and is the first step forecast.
	if !f.Start.Equal(t0.Add(9*time.Minute)) || f.Values[0] != 40 {
		t.Errorf("forecast from %v = %v, want from %v = 40 (naive after a flat start)", f.Start, f.Values[0], t0.Add(9*time.Minute))
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
	if _, err := s.Forecast("nope", 1); err == nil || !strings.Contains(err.Error(), `metric "nope"`) {
		t.Errorf("unknown metric: got %v, want an error naming it", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Metrics(t.Context()); err == nil {
		t.Error("Metrics after Close: got no error")
	}
}

func TestFloorAnticipatesTheRise(t *testing.T) {
	clk := testingclock.NewFakePassiveClock(t0)
	srv := newStatsServer(t, clk)
	s, err := New(metricsAPI(t, srv), Options{Clock: clk, MetricStreamsOptions: predictor.MetricStreamsOptions{LookAhead: 3 * time.Minute, StartupDelay: 2 * time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	if f := s.Floor(clk.Now()); f.OK || len(f.Metrics) != 1 || f.Metrics[0].Reason != "no values recorded yet" {
		t.Errorf("floor before any value: got %+v, want none with a reason", f)
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
			if !f.OK || f.Replicas != tc.want {
				t.Fatalf("floor at %s: got %d (ok %v, %+v), want %d", clk.Now().Format("15:04"), f.Replicas, f.OK, f.Metrics, tc.want)
			}
			if f.Metric != s.MetricSpecs()[0].Name || f.Metrics[0].Confidence < 0.8 {
				t.Errorf("floor set by %q with confidence %.2f, want the metric and at least 0.8", f.Metric, f.Metrics[0].Confidence)
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
	f := s.Floor(clk.Now())
	if f.OK || !strings.Contains(f.Metrics[0].Reason, "below the threshold 0.99") {
		t.Errorf("got %+v, want no floor below the threshold", f)
	}
}

func TestOptionsValidate(t *testing.T) {
	_, err := New(nil, Options{})
	if err == nil || !strings.Contains(err.Error(), "no scaler") {
		t.Errorf("nil scaler: got %v", err)
	}
	clk := testingclock.NewFakePassiveClock(t0)
	inner := metricsAPI(t, newStatsServer(t, clk))
	_, err = New(inner, Options{MetricStreamsOptions: predictor.MetricStreamsOptions{Step: -time.Second, LookAhead: -time.Minute, StartupDelay: -time.Second, ConfidenceThreshold: 2}})
	if err == nil {
		t.Fatal("got no error")
	}
	for _, want := range []string{"step -1s", "lookAhead -1m0s", "startupDelay -1s", "confidenceThreshold 2"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if _, err := New(inner, Options{MetricStreamsOptions: predictor.MetricStreamsOptions{Step: time.Second, LookAhead: time.Hour}}); err == nil || !strings.Contains(err.Error(), "want at most 1440") {
		t.Errorf("too long a window: got %v", err)
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
