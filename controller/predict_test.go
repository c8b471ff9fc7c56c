package controller

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	testingclock "k8s.io/utils/clock/testing"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/metricsapi"
	"github.com/hpa-autoscaler/hpa-autoscaler/scaling"
)

// TestForecastFloor: with advanced.predictiveScaling the trigger's scaler
// is wrapped by scalers/predictive; the values the agent reads feed its
// forecast, and just before the hourly rise the decision is raised to the
// forecast floor (rule ForecastFloor, its confidence in the reason). Half
// an hour before, the floor is the quiet level and the metric decides.
func TestForecastFloor(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	clk := testingclock.NewFakeClock(t0)
	// 40 tasks in the first 20 minutes of each hour of the fake clock, 10
	// in the rest.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		v := 10
		if clk.Now().Minute() < 20 {
			v = 40
		}
		fmt.Fprintf(w, `{"tasks": %d}`, v)
	}))
	defer srv.Close()
	reg := scalers.NewRegistry()
	reg.MustRegister(metricsapi.Type, metricsapi.New)
	m, err := newMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	r := &Reconciler{o: Options{Registry: reg, Clock: clk, Logger: slog.New(slog.DiscardHandler)}, metrics: m}
	s := &v1.Scaler{ObjectMeta: metav1.ObjectMeta{Name: "worker", Namespace: "shop"}}
	ps := &v1.PredictiveScaling{Enabled: true, LookAheadMinutes: 5, ConfidenceThreshold: ptrTo(0.8)}
	tr := &trigState{name: "tasks", typ: metricsapi.Type, path: "spec.scalerSpec", metricType: "AverageValue",
		metadata: map[string]string{"url": srv.URL, "valueLocation": "tasks", "targetValue": "5"}}
	r.build(t.Context(), s, tr, policy{predictive: ps})
	if tr.err != nil {
		t.Fatal(tr.err)
	}
	defer tr.close()
	spec := &scaling.Spec{MinReplicas: 1, MaxReplicas: 20, Metrics: tr.metrics, Controller: scaling.DefaultControllerConfig(), Features: scaling.DefaultFeatureGates()}
	st := &scalerState{triggers: []*trigState{tr}, spec: spec, pol: policy{predictive: ps}}

	// Twelve hours read as the agent reads, every 30 s.
	for end := t0.Add(12 * time.Hour); clk.Now().Before(end); clk.Step(30 * time.Second) {
		if v := r.measureOne(t.Context(), s, tr, nil, clk.Now()); v[0].Failed {
			t.Fatalf("read at %v: %s", clk.Now(), tr.lastErr)
		}
	}
	decide := func(at time.Time) (*scaling.Decision, string) {
		for ; clk.Now().Before(at); clk.Step(30 * time.Second) {
			r.measureOne(t.Context(), s, tr, nil, clk.Now())
		}
		values := r.measureOne(t.Context(), s, tr, nil, clk.Now())
		floor, note := forecastFloor(st, clk.Now())
		obs := scaling.Observed{CurrentReplicas: 2, StatusReplicas: 2, ReadyPodCount: 2, Metrics: values, ForecastFloor: floor}
		var d scaling.Decision
		scaling.Decide(spec, &obs, nil, clk.Now(), &d)
		reason, _ := explain(&d, st, note)
		return &d, reason
	}

	// 12:30: the window (5 min) holds the quiet level only: a floor of 2,
	// and the metric's 2 (10 tasks / 5) decides.
	d, reason := decide(t0.Add(12*time.Hour + 30*time.Minute))
	if d.Rule == scaling.RuleForecastFloor || d.ForecastFloor != 2 || d.DesiredReplicas != 2 {
		t.Errorf("in the quiet part: rule %s, floor %d, desired %d (%s)", d.Rule, d.ForecastFloor, d.DesiredReplicas, reason)
	}
	// 12:57: the window reaches the rise at 13:00: 40 tasks / 5 per
	// replica, before the metric sees it.
	d, reason = decide(t0.Add(12*time.Hour + 57*time.Minute))
	if d.Rule != scaling.RuleForecastFloor || d.DesiredReplicas != 8 {
		t.Fatalf("before the rise: rule %s, desired %d (%s)", d.Rule, d.DesiredReplicas, reason)
	}
	if !strings.Contains(reason, "raised to the forecast floor 8 (trigger tasks, metric ") || !strings.Contains(reason, "forecast peak 40, confidence 1.00") {
		t.Errorf("reason %q", reason)
	}

	// A wrapper without history gives no floor, and says why.
	strict := &trigState{name: "tasks", typ: metricsapi.Type, path: "spec.scalerSpec", metricType: "AverageValue",
		metadata: map[string]string{"url": srv.URL, "valueLocation": "tasks", "targetValue": "5"}}
	r.build(t.Context(), s, strict, policy{predictive: &v1.PredictiveScaling{Enabled: true, ConfidenceThreshold: ptrTo(1.0)}})
	defer strict.close()
	if floor, note := forecastFloor(&scalerState{triggers: []*trigState{strict}}, clk.Now()); floor != 0 || !strings.Contains(note, "no values recorded yet") {
		t.Errorf("a new wrapper: floor %d, note %q", floor, note)
	}
}
