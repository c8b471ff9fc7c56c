package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
	if got.Horizon != "30m" || got.Selected == "" || len(got.Models) < 2 {
		t.Fatalf("got %+v, want horizon 30m, a selection and model rows", got)
	}
	names := map[string]bool{}
	for _, m := range got.Models {
		names[m.Name] = true
		if m.MAPE == nil || m.SMAPE == nil || m.Coverage80 == nil {
			t.Errorf("%s: missing figures %+v", m.Name, m)
			continue
		}
		if *m.SMAPE < 0 || *m.SMAPE > 200 || *m.Coverage80 < 0 || *m.Coverage80 > 1 {
			t.Errorf("%s: figures out of range: sMAPE %v coverage %v", m.Name, *m.SMAPE, *m.Coverage80)
		}
	}
	if last := got.Models[len(got.Models)-1].Name; last != "auto" {
		t.Errorf("last row %q, want auto", last)
	}
	if !names["naive"] || !names[got.Selected] {
		t.Errorf("rows %v: want naive and the selected %q among them", names, got.Selected)
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
	if got.Model == "" || len(got.Forecast) != 4 {
		t.Fatalf("got %+v, want a model and 4 half-hour points", got)
	}
	// The trace's last point is 2015-01-31 23:30:00; the forecast goes on
	// in the trace's own format.
	want := []string{"2015-02-01 00:00:00", "2015-02-01 00:30:00", "2015-02-01 01:00:00", "2015-02-01 01:30:00"}
	for i, p := range got.Forecast {
		if p.Timestamp != want[i] {
			t.Errorf("point %d: timestamp %q, want %q", i, p.Timestamp, want[i])
		}
		if !(p.Lower <= p.Value && p.Value <= p.Upper) || p.Value <= 0 {
			t.Errorf("point %d: value %v outside [%v, %v]", i, p.Value, p.Lower, p.Upper)
		}
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
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "no trace", args: []string{"predict"}, want: "--trace: required"},
		{name: "missing file", args: []string{"predict", "--trace", "/nonexistent.csv"}, want: "--trace: open /nonexistent.csv"},
		{name: "bad value", args: []string{"predict", "--trace", bad}, want: `line 2: value "abc": not a finite number`},
		{name: "bad horizon", args: []string{"predict", "--trace", nyc, "--horizon", "soon"}, want: `--horizon: horizon "soon"`},
		{name: "horizon not a multiple of the step", args: []string{"predict", "--trace", nyc, "--horizon", "45m"}, want: "horizon 45m: not a multiple of the series step 30m"},
		{name: "horizon shorter than the step", args: []string{"predict", "--trace", nyc, "--horizon", "10m"}, want: "shorter than the series step 30m"},
		{name: "horizon too many steps", args: []string{"predict", "--trace", traceFile(t, "azure_llm/azure_llm_conv_requests_per_second.csv"), "--horizon", "30m"}, want: "--horizon 30m: 1800 steps of 1s, want at most 1440"},
		{name: "unknown model", args: []string{"predict", "--trace", nyc, "--models", "prophet"}, want: `models: "prophet"`},
		{name: "bad under-weight", args: []string{"predict", "--trace", nyc, "--under-weight", "0"}, want: "--under-weight 0"},
		{name: "too short to backtest", args: []string{"predict", "--trace", short, "--horizon", "5m", "--backtest"}, want: "series too short: 3 points of 5m cover 10m; --backtest scores from 1w after the start"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), tc.args, nil, &stdout, &stderr)
			if code != 2 {
				t.Fatalf("exit code %d, want 2 (stderr %q)", code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("stderr %q, want it to contain %q", stderr.String(), tc.want)
			}
		})
	}
}
