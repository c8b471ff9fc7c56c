package externalscaler

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hpa-autoscaler/hpa-autoscaler/predictor"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/predictive"
)

func TestParsePredictiveMeta(t *testing.T) {
	opts := func(o predictor.MetricStreamsOptions) *predictive.Options {
		return &predictive.Options{MetricStreamsOptions: o.WithDefaults()}
	}
	md := func(kv ...string) map[string]string {
		m := map[string]string{"scalerType": "redis"}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name    string
		md      map[string]string
		want    *predictive.Options
		wantErr string
	}{
		{name: "off by default", md: md()},
		{name: "off, keys still checked", md: md("predictive", "false", "lookAhead", "5m")},
		{name: "defaults", md: md("predictive", "true"),
			want: opts(predictor.MetricStreamsOptions{LookAhead: 15 * time.Minute, ConfidenceThreshold: 0.8})},
		{name: "every key", md: md("predictive", " TRUE ", "lookAhead", "1h30m", "confidenceThreshold", "0.5", "startupDelay", "90s", "historyStep", "30m"),
			want: opts(predictor.MetricStreamsOptions{LookAhead: 90 * time.Minute, ConfidenceThreshold: 0.5, StartupDelay: 90 * time.Second, Step: 30 * time.Minute})},
		{name: "days", md: md("predictive", "true", "lookAhead", "1d", "historyStep", "1h"),
			want: opts(predictor.MetricStreamsOptions{LookAhead: 24 * time.Hour, Step: time.Hour})},
		{name: "threshold 0 is any calibrated forecast", md: md("predictive", "true", "confidenceThreshold", "0", "startupDelay", "0"),
			want: opts(predictor.MetricStreamsOptions{ConfidenceThreshold: -1})},
		{name: "threshold 1", md: md("predictive", "true", "confidenceThreshold", "1"),
			want: opts(predictor.MetricStreamsOptions{ConfidenceThreshold: 1})},
		{name: "not a boolean", md: md("predictive", "yes"),
			wantErr: `invalid metadata: predictive "yes": not a boolean (want "true" or "false")`},
		{name: "bad lookAhead", md: md("predictive", "true", "lookAhead", "soon"),
			wantErr: `invalid metadata: lookAhead "soon": not a duration (e.g. "15m", "1h30m" or "1d")`},
		{name: "zero lookAhead", md: md("predictive", "true", "lookAhead", "0s"),
			wantErr: `invalid metadata: lookAhead "0s": want a positive duration`},
		{name: "negative startupDelay", md: md("predictive", "true", "startupDelay", "-1m"),
			wantErr: `invalid metadata: startupDelay "-1m": not a duration (e.g. "15m", "1h30m" or "1d")`},
		{name: "threshold over 1", md: md("predictive", "true", "confidenceThreshold", "1.5"),
			wantErr: `invalid metadata: confidenceThreshold "1.5": want 0 to 1`},
		{name: "threshold NaN", md: md("predictive", "true", "confidenceThreshold", "NaN"),
			wantErr: `invalid metadata: confidenceThreshold "NaN": not a number (want 0 to 1)`},
		{name: "step too fine", md: md("predictive", "true", "historyStep", "10ms"),
			wantErr: `invalid metadata: historyStep "10ms": want 1s to 1d`},
		{name: "window too long for the step", md: md("predictive", "true", "lookAhead", "2d"),
			wantErr: `invalid metadata: lookAhead "2d": with startupDelay 0s: 2881 steps of historyStep 1m, want at most 1440`},
		{name: "every error at once", md: md("predictive", "maybe", "lookAhead", "x", "confidenceThreshold", "-0.1"),
			wantErr: `invalid metadata: predictive "maybe": not a boolean (want "true" or "false"); lookAhead "x": not a duration (e.g. "15m", "1h30m" or "1d"); confidenceThreshold "-0.1": want 0 to 1`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseServerMeta(tc.md, DefaultPollInterval)
			if tc.wantErr != "" {
				if !errors.Is(err, scalers.ErrInvalidConfig) {
					t.Fatalf("error %v: want an ErrInvalidConfig", err)
				}
				if diff := cmp.Diff(tc.wantErr, err.Error()); diff != "" {
					t.Errorf("error (-want +got):\n%s", diff)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if diff := cmp.Diff(tc.want, got.predictive); diff != "" {
				t.Errorf("predictive options (-want +got):\n%s", diff)
			}
		})
	}
}

func TestScalerMetadataDropsPredictiveKeys(t *testing.T) {
	in := map[string]string{"scalerType": "metrics-api", "predictive": "true", "lookAhead": "5m", "confidenceThreshold": "0.5",
		"startupDelay": "1m", "historyStep": "1m", "url": "http://x"}
	if diff := cmp.Diff(map[string]string{"url": "http://x"}, scalerMetadata(in)); diff != "" {
		t.Errorf("scalerMetadata (-want +got):\n%s", diff)
	}
}

// FuzzParsePredictiveMeta: the predictive keys are client input; parsing
// never panics, errors are ErrInvalidConfig, and accepted options are
// valid for the predictor.
func FuzzParsePredictiveMeta(f *testing.F) {
	for _, s := range [][4]string{{"true", "15m", "0.8", "1m"}, {"1", "1d", "0", "0"}, {"true", "1e308h", "NaN", "-1s"}, {"false", "", "", ""}, {"true", "0.0001ns", "1", "1w"}} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	f.Fuzz(func(t *testing.T, on, look, conf, step string) {
		sm, err := parseServerMeta(map[string]string{"scalerType": "r", "predictive": on, "lookAhead": look, "confidenceThreshold": conf, "historyStep": step}, DefaultPollInterval)
		if err != nil {
			if !errors.Is(err, scalers.ErrInvalidConfig) {
				t.Fatalf("error %v: not an ErrInvalidConfig", err)
			}
			return
		}
		if sm.predictive != nil {
			if err := sm.predictive.Validate(); err != nil {
				t.Fatalf("accepted options that do not validate: %v", err)
			}
		}
	})
}
