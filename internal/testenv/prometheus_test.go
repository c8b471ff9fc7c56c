package testenv

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"
)

// promInstant runs an instant query with plain HTTP (this package does not
// depend on the client library the scalers use) and returns the values of
// the vector result.
func promInstant(tb testing.TB, p *Prometheus, query string) []float64 {
	tb.Helper()
	resp, err := http.Get(p.URL + "/api/v1/query?query=" + url.QueryEscape(query))
	if err != nil {
		tb.Fatalf("query %q: %v", query, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var r struct {
		Status string
		Data   struct {
			Result []struct {
				Value [2]any
			}
		}
	}
	if err := json.Unmarshal(body, &r); err != nil || r.Status != "success" {
		tb.Fatalf("query %q: status %s, body %s", query, resp.Status, body)
	}
	var out []float64
	for _, s := range r.Data.Result {
		str, _ := s.Value[1].(string)
		f, err := strconv.ParseFloat(str, 64)
		if err != nil {
			tb.Fatalf("query %q: value %v: %v", query, s.Value[1], err)
		}
		out = append(out, f)
	}
	return out
}

func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestPrometheusLifecycle(t *testing.T) {
	target := NewMetricsTarget(t)
	target.Set(`testenv_gauge{kind="a"}`, 7)
	p := StartPrometheus(t, PrometheusOptions{Targets: []string{target.Addr()}, RemoteWriteReceiver: true})

	// The scraped gauge shows up, and a change shows up after a scrape.
	waitFor(t, "scraped gauge = 7", func() bool {
		v := promInstant(t, p, `testenv_gauge{kind="a"}`)
		return len(v) == 1 && v[0] == 7
	})
	target.Set(`testenv_gauge{kind="a"}`, 11)
	waitFor(t, "scraped gauge = 11", func() bool {
		v := promInstant(t, p, `testenv_gauge{kind="a"}`)
		return len(v) == 1 && v[0] == 11
	})

	// Remote write.
	if err := p.RemoteWrite(t.Context(),
		RemoteSample{Labels: map[string]string{"__name__": "pushed", "x": "1"}, Value: 1.5},
		RemoteSample{Labels: map[string]string{"__name__": "pushed", "x": "2"}, Value: 2.5},
	); err != nil {
		t.Fatalf("remote write: %v", err)
	}
	if got := promInstant(t, p, `sum(pushed)`); len(got) != 1 || got[0] != 4 {
		t.Fatalf("sum(pushed) = %v, want [4]", got)
	}

	// Stop and Restart keep the port and the data.
	p.Stop()
	if _, err := http.Get(p.URL + "/-/ready"); err == nil {
		t.Fatalf("server still answers after Stop")
	}
	if err := p.Restart(); err != nil {
		t.Fatalf("restart: %v", err)
	}
	if got := promInstant(t, p, `sum(pushed)`); len(got) != 1 || got[0] != 4 {
		t.Fatalf("after restart sum(pushed) = %v, want [4]", got)
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
	want := "a 1.5\nb{x=\"1\"} 2\n"
	if string(body) != want {
		t.Fatalf("got %q, want %q", body, want)
	}
	if got := fmt.Sprint(formatSampleValue(1e300), formatSampleValue(-1/zero())); got != "1e+300-Inf" {
		t.Fatalf("got %q, want %q", got, "1e+300-Inf")
	}
}

func zero() float64 { return 0 }
