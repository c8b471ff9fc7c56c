package predictor

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseHorizon(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		format  string
		wantErr string
	}{
		{in: "30m", want: 30 * time.Minute, format: "30m"},
		{in: "1h", want: time.Hour, format: "1h"},
		{in: "60m", want: time.Hour, format: "1h"},
		{in: "1h30m", want: 90 * time.Minute, format: "1h30m"},
		{in: " 90s ", want: 90 * time.Second, format: "1m30s"},
		{in: "1d", want: 24 * time.Hour, format: "1d"},
		{in: "1.5d", want: 36 * time.Hour, format: "1d12h"},
		{in: "2w", want: 14 * 24 * time.Hour, format: "2w"},
		{in: "1w2d3h", want: 9*24*time.Hour + 3*time.Hour, format: "1w2d3h"},
		{in: "250ms", want: 250 * time.Millisecond, format: "250ms"},
		{in: "", wantErr: `empty horizon: want a duration such as "30m", "1h" or "1d"`},
		{in: "30", wantErr: `horizon "30": missing unit after 30 (want ns, us, ms, s, m, h, d or w)`},
		{in: "m", wantErr: `horizon "m": want a number before each unit (such as "30m" or "1h30m")`},
		{in: "-5m", wantErr: `horizon "-5m": want a number before each unit (such as "30m" or "1h30m")`},
		{in: "5x", wantErr: `horizon "5x": unknown unit "x" (want ns, us, ms, s, m, h, d or w)`},
		{in: "1..5h", wantErr: `horizon "1..5h": "1..5" is not a number`},
		{in: "0m", wantErr: `horizon "0m": want a positive duration`},
		{in: "53w", wantErr: `horizon "53w": longer than 52w2d`},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseHorizon(tc.in)
			if diff := cmp.Diff(tc.wantErr, errText(err)); diff != "" {
				t.Fatalf("error (-want +got):\n%s", diff)
			}
			if err != nil {
				return
			}
			if got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
			if f := FormatHorizon(got); f != tc.format {
				t.Errorf("FormatHorizon: got %q, want %q", f, tc.format)
			}
		})
	}
}

func TestHorizonSteps(t *testing.T) {
	tests := []struct {
		h, step time.Duration
		want    int
		wantErr string
	}{
		{h: 30 * time.Minute, step: 30 * time.Minute, want: 1},
		{h: time.Hour, step: 30 * time.Minute, want: 2},
		{h: time.Hour, step: 5 * time.Minute, want: 12},
		{h: 45 * time.Minute, step: 30 * time.Minute, wantErr: "horizon 45m: not a multiple of the series step 30m"},
		{h: time.Minute, step: 5 * time.Minute, wantErr: "horizon 1m: shorter than the series step 5m"},
		{h: time.Minute, step: 0, wantErr: "series step 0s: want a positive duration"},
	}
	for _, tc := range tests {
		t.Run(FormatHorizon(tc.h)+"/"+FormatHorizon(tc.step), func(t *testing.T) {
			got, err := HorizonSteps(tc.h, tc.step)
			if diff := cmp.Diff(tc.wantErr, errText(err)); diff != "" {
				t.Fatalf("error (-want +got):\n%s", diff)
			}
			if err == nil && got != tc.want {
				t.Fatalf("got %d steps, want %d", got, tc.want)
			}
		})
	}
}

// FuzzParseHorizon: any input is either rejected with an error or gives a
// positive horizon within the limit that FormatHorizon writes back to the
// same value.
func FuzzParseHorizon(f *testing.F) {
	for _, s := range []string{"30m", "1h", "1d12h", "2w", "1.5d", "90s", "250ms", "", "5x", "-1h", "1e3h", "9999999999w", "0.0000001ns"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseHorizon(s)
		if err != nil {
			if d != 0 {
				t.Fatalf("error %v with a horizon %v", err, d)
			}
			return
		}
		if d <= 0 || d > MaxHorizon {
			t.Fatalf("%q: horizon %v outside (0, %v]", s, d, MaxHorizon)
		}
		back, err := ParseHorizon(FormatHorizon(d))
		if err != nil || back != d {
			t.Fatalf("%q: %v formats as %q, which parses as %v, %v", s, d, FormatHorizon(d), back, err)
		}
	})
}
