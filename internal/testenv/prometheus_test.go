package testenv

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
)

// promInstant runs an instant query with plain HTTP (this package does not
// depend on the client library the scalers use) and returns the values of
// the vector result.
func promInstant(ctx context.Context, p *Prometheus, query string) ([]float64, error) {
	var r struct {
		Status string `json:"status"`
		Data   struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := p.get(ctx, "/api/v1/query?query="+url.QueryEscape(query), &r); err != nil {
		return nil, fmt.Errorf("query %q: %w", query, err)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("query %q: status %q", query, r.Status)
	}
	out := []float64{}
	for _, s := range r.Data.Result {
		str, _ := s.Value[1].(string)
		f, err := strconv.ParseFloat(str, 64)
		if err != nil {
			return nil, fmt.Errorf("query %q: value %v: %w", query, s.Value[1], err)
		}
		out = append(out, f)
	}
	return out, nil
}

// wantQuery waits until query gives want (NaN compares equal to NaN).
func wantQuery(tb testing.TB, p *Prometheus, query string, want ...float64) {
	tb.Helper()
	scalertest.Eventually(tb, time.Minute, fmt.Sprintf("%s to be %v", query, want), func() error {
		got, err := promInstant(tb.Context(), p, query)
		if err != nil {
			return err
		}
		if diff := cmp.Diff(want, got, cmp.Comparer(sameFloat)); diff != "" {
			return fmt.Errorf("(-want +got):\n%s", diff)
		}
		return nil
	})
}

func sameFloat(a, b float64) bool { return a == b || (math.IsNaN(a) && math.IsNaN(b)) }

func TestPrometheusLifecycle(t *testing.T) {
	target := NewMetricsTarget(t)
	target.Set(`testenv_gauge{kind="a"}`, 7)
	p := StartPrometheus(t, PrometheusOptions{Targets: []string{target.Addr()}, RemoteWriteReceiver: true})

	// StartPrometheus waited for a first scrape: the gauge is there.
	got, err := promInstant(t.Context(), p, `testenv_gauge{kind="a"}`)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]float64{7}, got); diff != "" {
		t.Errorf("right after the start (-want +got):\n%s", diff)
	}
	// A change shows up after a later scrape.
	target.Set(`testenv_gauge{kind="a"}`, 11)
	wantQuery(t, p, `testenv_gauge{kind="a"}`, 11)

	// Remote write: the samples are in the head block once it answers.
	if err := p.RemoteWrite(t.Context(),
		RemoteSample{Labels: map[string]string{"__name__": "pushed", "x": "1"}, Value: 1.5},
		RemoteSample{Labels: map[string]string{"__name__": "pushed", "x": "2"}, Value: 2.5},
	); err != nil {
		t.Fatalf("remote write: %v", err)
	}
	got, err = promInstant(t.Context(), p, `sum(pushed)`)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]float64{4}, got); diff != "" {
		t.Errorf("sum(pushed) (-want +got):\n%s", diff)
	}

	// Stop and Restart keep the port and the data.
	p.Stop()
	if err := p.probe(); err == nil {
		t.Fatalf("server still ready after Stop")
	}
	if err := p.Restart(); err != nil {
		t.Fatalf("restart: %v", err)
	}
	got, err = promInstant(t.Context(), p, `sum(pushed)`)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]float64{4}, got); diff != "" {
		t.Errorf("sum(pushed) after the restart (-want +got):\n%s", diff)
	}
}

func TestMetricsTargetFormat(t *testing.T) {
	target := NewMetricsTarget(t)
	target.Set(`b{x="1"}`, 2)
	target.Set(`a`, 1.5)
	target.Set(`c`, 0)
	target.Delete(`c`)
	resp, err := http.Get(target.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if diff := cmp.Diff("a 1.5\nb{x=\"1\"} 2\n", string(body)); diff != "" {
		t.Errorf("page (-want +got):\n%s", diff)
	}
	tests := []struct {
		v    float64
		want string
	}{
		{1e300, "1e+300"},
		{math.Inf(-1), "-Inf"},
		{math.Inf(1), "+Inf"},
		{math.NaN(), "NaN"},
		{0.25, "0.25"},
	}
	for _, tt := range tests {
		if got := formatSampleValue(tt.v); got != tt.want {
			t.Errorf("formatSampleValue(%v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}
