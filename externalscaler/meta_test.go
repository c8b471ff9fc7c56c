package externalscaler

import (
	"errors"
	"hash/maphash"
	"strings"
	"testing"
	"time"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

func TestParseServerMeta(t *testing.T) {
	tests := []struct {
		name     string
		md       map[string]string
		wantType string
		wantPoll time.Duration
		wantErr  []string
	}{
		{name: "defaults", md: map[string]string{"scalerType": "redis"}, wantType: "redis", wantPoll: 5 * time.Second},
		{name: "Go duration", md: map[string]string{"scalerType": "redis", "pollInterval": "1m30s"}, wantType: "redis", wantPoll: 90 * time.Second},
		{name: "milliseconds", md: map[string]string{"scalerType": "redis", "pollInterval": "500ms"}, wantType: "redis", wantPoll: 500 * time.Millisecond},
		{name: "plain seconds", md: map[string]string{"scalerType": "redis", "pollInterval": "2.5"}, wantType: "redis", wantPoll: 2500 * time.Millisecond},
		{name: "spaces trimmed", md: map[string]string{"scalerType": " redis ", "pollInterval": " 10 "}, wantType: "redis", wantPoll: 10 * time.Second},
		{name: "empty poll is the default", md: map[string]string{"scalerType": "redis", "pollInterval": ""}, wantType: "redis", wantPoll: 5 * time.Second},
		{name: "lower bound", md: map[string]string{"scalerType": "r", "pollInterval": "100ms"}, wantType: "r", wantPoll: 100 * time.Millisecond},
		{name: "upper bound", md: map[string]string{"scalerType": "r", "pollInterval": "3600"}, wantType: "r", wantPoll: time.Hour},
		{name: "missing type", md: map[string]string{}, wantErr: []string{"scalerType: required key is missing"}},
		{name: "not a duration", md: map[string]string{"scalerType": "r", "pollInterval": "fast"},
			wantErr: []string{`pollInterval "fast": not a duration`}},
		{name: "too small", md: map[string]string{"scalerType": "r", "pollInterval": "0"},
			wantErr: []string{`pollInterval "0": must be between 100ms and 1h0m0s`}},
		{name: "negative", md: map[string]string{"scalerType": "r", "pollInterval": "-5s"},
			wantErr: []string{`pollInterval "-5s": must be between`}},
		{name: "huge number", md: map[string]string{"scalerType": "r", "pollInterval": "1e300"},
			wantErr: []string{`pollInterval "1e300": must be between`}},
		{name: "NaN", md: map[string]string{"scalerType": "r", "pollInterval": "NaN"},
			wantErr: []string{`pollInterval "NaN": must be between`}},
		{name: "every error at once", md: map[string]string{"pollInterval": "2h"},
			wantErr: []string{"scalerType: required key is missing", `pollInterval "2h": must be between`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseServerMeta(tc.md, DefaultPollInterval)
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatalf("got %+v, want an error", got)
				}
				if !errors.Is(err, scalers.ErrInvalidConfig) {
					t.Errorf("error %v: not an ErrInvalidConfig", err)
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q: want it to contain %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if got.scalerType != tc.wantType || got.pollInterval != tc.wantPoll {
				t.Errorf("got type %q poll %v, want %q %v", got.scalerType, got.pollInterval, tc.wantType, tc.wantPoll)
			}
		})
	}
}

func TestScalerMetadataDropsServerKeys(t *testing.T) {
	in := map[string]string{"scalerType": "redis", "pollInterval": "5s", "listName": "jobs", "scalerAddress": "x:9443"}
	got := scalerMetadata(in)
	if _, ok := got["scalerType"]; ok {
		t.Error("scalerType passed to the scaler")
	}
	if _, ok := got["pollInterval"]; ok {
		t.Error("pollInterval passed to the scaler")
	}
	if got["listName"] != "jobs" || got["scalerAddress"] != "x:9443" {
		t.Errorf("scaler keys: got %v, want listName and scalerAddress kept", got)
	}
	if len(in) != 4 {
		t.Errorf("input modified: %v", in)
	}
}

// FuzzParseServerMeta: metadata is client input; parsing never panics, and
// a success is within bounds.
func FuzzParseServerMeta(f *testing.F) {
	for _, s := range []string{"5s", "2.5", "", "1e300", "-1", "NaN", "1h0m0.000000001s", "100ms", "0x10", "+Inf", "9223372036.854775807"} {
		f.Add("redis", s)
	}
	f.Fuzz(func(t *testing.T, typ, poll string) {
		sm, err := parseServerMeta(map[string]string{"scalerType": typ, "pollInterval": poll}, DefaultPollInterval)
		if err != nil {
			if !errors.Is(err, scalers.ErrInvalidConfig) {
				t.Fatalf("error %v: not an ErrInvalidConfig", err)
			}
			return
		}
		if sm.pollInterval < minPollInterval || sm.pollInterval > maxPollInterval {
			t.Fatalf("pollInterval %q: accepted %v, out of bounds", poll, sm.pollInterval)
		}
	})
}

func TestFingerprintIgnoresOrder(t *testing.T) {
	seed := maphash.MakeSeed()
	a := map[string]string{"a": "1", "b": "2", "c": "3"}
	b := map[string]string{"c": "3", "b": "2", "a": "1"}
	swapped := map[string]string{"a": "2", "b": "1", "c": "3"}
	if fingerprint(seed, a) != fingerprint(seed, b) {
		t.Error("same maps: fingerprints differ")
	}
	if fingerprint(seed, a) == fingerprint(seed, swapped) {
		t.Error("swapped values: same fingerprint")
	}
}
