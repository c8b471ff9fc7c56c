package externalscaler

import (
	"errors"
	"hash/maphash"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

func TestParseServerMeta(t *testing.T) {
	const (
		missing = "invalid metadata: scalerType: required key is missing (the scaler type, e.g. redis)"
		between = "must be between 100ms and 1h0m0s"
	)
	tests := []struct {
		name    string
		md      map[string]string
		want    serverMeta
		wantErr string
	}{
		{name: "defaults", md: map[string]string{"scalerType": "redis"}, want: serverMeta{scalerType: "redis", pollInterval: 5 * time.Second}},
		{name: "Go duration", md: map[string]string{"scalerType": "redis", "pollInterval": "1m30s"}, want: serverMeta{scalerType: "redis", pollInterval: 90 * time.Second}},
		{name: "milliseconds", md: map[string]string{"scalerType": "redis", "pollInterval": "500ms"}, want: serverMeta{scalerType: "redis", pollInterval: 500 * time.Millisecond}},
		{name: "plain seconds", md: map[string]string{"scalerType": "redis", "pollInterval": "2.5"}, want: serverMeta{scalerType: "redis", pollInterval: 2500 * time.Millisecond}},
		{name: "spaces trimmed", md: map[string]string{"scalerType": " redis ", "pollInterval": " 10 "}, want: serverMeta{scalerType: "redis", pollInterval: 10 * time.Second}},
		{name: "empty poll is the default", md: map[string]string{"scalerType": "redis", "pollInterval": ""}, want: serverMeta{scalerType: "redis", pollInterval: 5 * time.Second}},
		{name: "lower bound", md: map[string]string{"scalerType": "r", "pollInterval": "100ms"}, want: serverMeta{scalerType: "r", pollInterval: 100 * time.Millisecond}},
		{name: "upper bound", md: map[string]string{"scalerType": "r", "pollInterval": "3600"}, want: serverMeta{scalerType: "r", pollInterval: time.Hour}},
		{name: "missing type", md: map[string]string{}, wantErr: missing},
		{name: "not a duration", md: map[string]string{"scalerType": "r", "pollInterval": "fast"},
			wantErr: `invalid metadata: pollInterval "fast": not a duration (e.g. "10s", "500ms" or a number of seconds)`},
		{name: "too small", md: map[string]string{"scalerType": "r", "pollInterval": "0"},
			wantErr: `invalid metadata: pollInterval "0": ` + between},
		{name: "negative", md: map[string]string{"scalerType": "r", "pollInterval": "-5s"},
			wantErr: `invalid metadata: pollInterval "-5s": ` + between},
		{name: "huge number", md: map[string]string{"scalerType": "r", "pollInterval": "1e300"},
			wantErr: `invalid metadata: pollInterval "1e300": ` + between},
		{name: "NaN", md: map[string]string{"scalerType": "r", "pollInterval": "NaN"},
			wantErr: `invalid metadata: pollInterval "NaN": ` + between},
		{name: "every error at once", md: map[string]string{"pollInterval": "2h"},
			wantErr: missing + `; pollInterval "2h": ` + between},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseServerMeta(tc.md, DefaultPollInterval)
			if tc.wantErr != "" {
				if err == nil {
					t.Fatalf("got %+v, want error %q", got, tc.wantErr)
				}
				if !errors.Is(err, scalers.ErrInvalidConfig) {
					t.Errorf("error %v: not an ErrInvalidConfig", err)
				}
				if diff := cmp.Diff(tc.wantErr, err.Error()); diff != "" {
					t.Errorf("error (-want +got):\n%s", diff)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(serverMeta{})); diff != "" {
				t.Errorf("parseServerMeta (-want +got):\n%s", diff)
			}
		})
	}
}

func TestScalerMetadataDropsServerKeys(t *testing.T) {
	in := map[string]string{"scalerType": "redis", "pollInterval": "5s", "listName": "jobs", "scalerAddress": "x:9443"}
	got := scalerMetadata(in)
	if diff := cmp.Diff(map[string]string{"listName": "jobs", "scalerAddress": "x:9443"}, got); diff != "" {
		t.Errorf("scalerMetadata (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"scalerType": "redis", "pollInterval": "5s", "listName": "jobs", "scalerAddress": "x:9443"}, in); diff != "" {
		t.Errorf("input modified (-want +got):\n%s", diff)
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
