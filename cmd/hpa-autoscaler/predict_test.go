package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func traceFile(tb testing.TB, name string) string {
	tb.Helper()
	return filepath.Join("..", "..", "examples", "traces", name)
}

func TestPredictBacktestJSON(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"predict", "--trace", traceFile(t, "nab/ec2_cpu_utilization_5f5533.csv"), "--horizon", "30m", "--backtest", "--json"}, nil, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit code %d, stderr %q", code, stderr.String())
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr is not a terminal, want no progress bar; got %q", stderr.String())
	}
	var got struct {
		Horizon  string `json:"horizon"`
		Selected string `json:"selected"`
		Models   []struct {
			Name       string   `json:"name"`
			MAPE       *float64 `json:"mape"`
			SMAPE      *float64 `json:"smape"`
			Coverage80 *float64 `json:"coverage80"`
		} `json:"models"`
	}
	dec := json.NewDecoder(&stdout)
	if err := dec.Decode(&got); err != nil {
		t.Fatal(err)
	}
	// The rows and the selection are those of the predictor's golden
	// backtest of this trace (predictor/testdata/golden.json).
	type summary struct {
		Horizon, Selected string
		Models            []string
	}
	want := summary{Horizon: "30m", Selected: "seasonal-analog", Models: []string{
		"naive", "ses", "seasonal-naive", "seasonal-ratio", "seasonal-analog", "holt-winters-additive", "holt-winters-multiplicative", "auto",
	}}
	sum := summary{Horizon: got.Horizon, Selected: got.Selected}
	for _, m := range got.Models {
		sum.Models = append(sum.Models, m.Name)
		if m.MAPE == nil || m.SMAPE == nil || m.Coverage80 == nil {
			t.Errorf("%s: missing figures %+v", m.Name, m)
			continue
		}
		// Written as "not within the range" so that a NaN fails too.
		if !(*m.SMAPE >= 0 && *m.SMAPE <= 200) || !(*m.Coverage80 >= 0 && *m.Coverage80 <= 1) {
			t.Errorf("%s: figures out of range: sMAPE %v coverage %v", m.Name, *m.SMAPE, *m.Coverage80)
		}
	}
	if diff := cmp.Diff(want, sum); diff != "" {
		t.Errorf("backtest report (-want +got):\n%s", diff)
	}
}

func TestPredictForecastJSON(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"predict", "--trace", traceFile(t, "nab/nyc_taxi.csv"), "--horizon", "2h", "--json"}, nil, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit code %d, stderr %q", code, stderr.String())
	}
	var got struct {
		Model    string `json:"model"`
		Forecast []struct {
			Timestamp string  `json:"timestamp"`
			Value     float64 `json:"value"`
			Lower     float64 `json:"lower"`
			Upper     float64 `json:"upper"`
		} `json:"forecast"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	// The trace's last point is 2015-01-31 23:30:00; the forecast goes on
	// in the trace's own format. The model is the one selected for
	// nyc_taxi at 30m and 1h too (predictor/testdata/golden.json).
	type summary struct {
		Model      string
		Timestamps []string
	}
	want := summary{Model: "seasonal-analog", Timestamps: []string{"2015-02-01 00:00:00", "2015-02-01 00:30:00", "2015-02-01 01:00:00", "2015-02-01 01:30:00"}}
	sum := summary{Model: got.Model}
	for i, p := range got.Forecast {
		sum.Timestamps = append(sum.Timestamps, p.Timestamp)
		if !(p.Lower <= p.Value && p.Value <= p.Upper) || !(p.Value > 0) {
			t.Errorf("point %d: value %v outside [%v, %v] or not above 0", i, p.Value, p.Lower, p.Upper)
		}
	}
	if diff := cmp.Diff(want, sum); diff != "" {
		t.Errorf("forecast (-want +got):\n%s", diff)
	}
}

func TestPredictTable(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"predict", "--trace", traceFile(t, "nab/elb_request_count_8c0756.csv"), "--horizon", "1h", "--backtest"}, nil, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit code %d, stderr %q", code, stderr.String())
	}
	for _, want := range []string{"horizon 1h (12 steps)", "MAPE", "sMAPE", "coverage80", "naive", "auto", "selected now:"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("table does not contain %q:\n%s", want, stdout.String())
		}
	}
}

func TestPredictBadInput(t *testing.T) {
	short := filepath.Join(t.TempDir(), "short.csv")
	if err := os.WriteFile(short, []byte("timestamp,value\n2026-01-01 00:00:00,1\n2026-01-01 00:05:00,2\n2026-01-01 00:10:00,3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "bad.csv")
	if err := os.WriteFile(bad, []byte("timestamp,value\n2026-01-01 00:00:00,abc\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	nyc := traceFile(t, "nab/nyc_taxi.csv")
	// The operating system's own words for a missing file.
	_, missing := os.Open("/nonexistent.csv")
	tests := []struct {
		name string
		args []string
		want string // the whole message on stderr, after "error: "
	}{
		{name: "no trace", args: []string{"predict"}, want: "--trace: required (a CSV demand trace)"},
		{name: "missing file", args: []string{"predict", "--trace", "/nonexistent.csv"}, want: fmt.Sprintf("--trace: %v", missing)},
		{name: "bad value", args: []string{"predict", "--trace", bad}, want: fmt.Sprintf(`--trace: %s: line 2: value "abc": not a finite number`, bad)},
		{name: "bad horizon", args: []string{"predict", "--trace", nyc, "--horizon", "soon"}, want: `--horizon: horizon "soon": want a number before each unit (such as "30m" or "1h30m")`},
		{name: "horizon not a multiple of the step", args: []string{"predict", "--trace", nyc, "--horizon", "45m"}, want: "--horizon: horizon 45m: not a multiple of the series step 30m"},
		{name: "horizon shorter than the step", args: []string{"predict", "--trace", nyc, "--horizon", "10m"}, want: "--horizon: horizon 10m: shorter than the series step 30m"},
		{name: "horizon too many steps", args: []string{"predict", "--trace", traceFile(t, "azure_llm/azure_llm_conv_requests_per_second.csv"), "--horizon", "30m"}, want: "--horizon 30m: 1800 steps of 1s, want at most 1440"},
		{name: "unknown model", args: []string{"predict", "--trace", nyc, "--models", "prophet"}, want: `--models "prophet": want some of naive, ses, seasonal-naive, seasonal-ratio, seasonal-analog, holt-winters-additive, holt-winters-multiplicative`},
		{name: "bad under-weight", args: []string{"predict", "--trace", nyc, "--under-weight", "0"}, want: "--under-weight 0: want a finite number > 0"},
		{name: "too short to backtest", args: []string{"predict", "--trace", short, "--horizon", "5m", "--backtest"}, want: fmt.Sprintf("--trace %s: series too short: 3 points of 5m cover 10m; --backtest scores from 1w after the start (--warmup)", short)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), tc.args, nil, &stdout, &stderr)
			if code != 2 {
				t.Fatalf("exit code %d, want 2 (stderr %q)", code, stderr.String())
			}
			if diff := cmp.Diff("error: "+tc.want+"\n", stderr.String()); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
		})
	}
}
