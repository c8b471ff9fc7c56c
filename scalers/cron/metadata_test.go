package cron

import (
	"errors"
	"testing"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// The valid metadata of KEDA's cron_scaler_test.go.
var (
	kedaThursday = map[string]string{"timezone": "Etc/UTC", "start": "0 0 * * Thu", "end": "59 23 * * Thu", "desiredReplicas": "10"}
	kedaEvenHour = map[string]string{"timezone": "Etc/UTC", "start": "0 */2 * * *", "end": "0 1-23/2 * * *", "desiredReplicas": "10"}
	kedaCommas   = map[string]string{"timezone": "Etc/UTC", "start": "0,30 * * * *", "end": "15,45 * * * *", "desiredReplicas": "10"}
)

// TestParseMetadataKEDA is every case of KEDA's TestCronParseMetadata,
// with KEDA's verdict, and the key our error names.
func TestParseMetadataKEDA(t *testing.T) {
	kolkata := func(start, end string) map[string]string {
		return map[string]string{"timezone": "Asia/Kolkata", "start": start, "end": end, "desiredReplicas": "10"}
	}
	tests := []struct {
		name string
		md   map[string]string
		bad  []string // keys the error names; nil: valid
	}{
		{"empty", map[string]string{}, []string{"timezone", "start", "end", "desiredReplicas"}},
		{"thursday", kedaThursday, nil},
		{"even hours", kedaEvenHour, nil},
		{"commas", kedaCommas, nil},
		{"no desiredReplicas", map[string]string{"timezone": "Asia/Kolkata", "start": "30 * * * *", "end": "45 * * * *"}, []string{"desiredReplicas"}},
		{"no timezone", map[string]string{"start": "30 * * * *", "end": "45 * * * *", "desiredReplicas": "10"}, []string{"timezone"}},
		{"start range", kolkata("30-33 * * * *", "45 * * * *"), nil},
		{"end range", kolkata("30 * * * *", "45-50 * * * *"), nil},
		{"negative start minute", kolkata("-30 * * * *", "45 * * * *"), []string{"start"}},
		{"negative end minute", kolkata("30 * * * *", "-50 * * * *"), []string{"end"}},
		{"negative month", kolkata("30 * * * *", "50 * * -3 *"), []string{"end"}},
		{"same start and end", kolkata("30 * * * *", "30 * * * *"), []string{"end"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseMetadata(tt.md)
			if tt.bad == nil {
				if err != nil {
					t.Fatalf("KEDA accepts it, we refuse: %v", err)
				}
				return
			}
			scalertest.CheckErr(t, err, scalers.ErrInvalidConfig, tt.bad...)
		})
	}
}

// TestParseMetadataStricter: what KEDA accepts (and then fails or
// misbehaves on) that we refuse when the trigger is parsed; each case is
// listed in docs/scalers/cron.md.
func TestParseMetadataStricter(t *testing.T) {
	tests := []struct {
		name string
		md   map[string]string
		want []string
	}{
		{"unknown zone", scalertest.WithKeys(kedaThursday, "timezone", "Mars/Olympus"), []string{`timezone "Mars/Olympus"`, "unknown time zone"}},
		{"local zone", scalertest.WithKeys(kedaThursday, "timezone", "Local"), []string{`timezone "Local"`, "server's own zone"}},
		{"negative replicas", scalertest.WithKeys(kedaThursday, "desiredReplicas", "-2"), []string{`desiredReplicas "-2": must be > 0`}},
		{"zero replicas", scalertest.WithKeys(kedaThursday, "desiredReplicas", "0"), []string{`desiredReplicas "0"`}},
		{"not a number", scalertest.WithKeys(kedaThursday, "desiredReplicas", "ten"), []string{`desiredReplicas "ten": not an integer`}},
		{"never fires", scalertest.WithKeys(kedaThursday, "start", "0 0 30 2 *"), []string{`start "0 0 30 2 *": matches no date`}},
		{"six fields", scalertest.WithKeys(kedaThursday, "start", "0 0 0 * * *"), []string{`start "0 0 0 * * *": not a five-field cron schedule`}},
		{"descriptor", scalertest.WithKeys(kedaThursday, "end", "@daily"), []string{`end "@daily"`}},
		{"zone prefix", scalertest.WithKeys(kedaThursday, "end", "CRON_TZ=Asia/Tokyo 0 1 * * *"), []string{"time zone prefix"}},
		{"all at once", map[string]string{"timezone": "X/Y", "start": "61 * * * *", "end": "x", "desiredReplicas": "0"}, []string{"timezone", "start", "end", "desiredReplicas"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseMetadata(tt.md)
			scalertest.CheckErr(t, err, scalers.ErrInvalidConfig, tt.want...)
		})
	}
}

// TestMetricNameKEDA: KEDA's TestCronGetMetricSpecForScaling, without the
// "sN-" prefix KEDA adds itself.
func TestMetricNameKEDA(t *testing.T) {
	tests := []struct {
		md   map[string]string
		want string // KEDA's, prefix removed
	}{
		{kedaThursday, "cron-Etc-UTC-00xxThu-5923xxThu"},
		{kedaEvenHour, "cron-Etc-UTC-0xSl2xxx-01-23Sl2xxx"},
		{kedaCommas, "cron-Etc-UTC-0Cm30xxxx-15Cm45xxxx"},
		{map[string]string{"timezone": "America/Argentina/Buenos_Aires", "start": "0 8 ? * MON-FRI", "end": "0 18 ? * MON-FRI", "desiredReplicas": "3"},
			"cron-America-Argentina-Buenos_Aires-08QmxMON-FRI-018QmxMON-FRI"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			s, err := New(t.Context(), scalers.Config{Metadata: tt.md})
			if err != nil {
				t.Fatal(err)
			}
			specs := s.MetricSpecs()
			if len(specs) != 1 || specs[0].Name != tt.want || specs[0].Target != 1 {
				t.Errorf("specs %+v, want one named %q with target 1", specs, tt.want)
			}
		})
	}
}

func TestParseMetadataValues(t *testing.T) {
	m, err := ParseMetadata(kedaThursday)
	if err != nil {
		t.Fatal(err)
	}
	if m.Timezone != "Etc/UTC" || m.Start != "0 0 * * Thu" || m.End != "59 23 * * Thu" || m.DesiredReplicas != 10 {
		t.Errorf("parsed %+v", m)
	}
	if m.loc == nil || m.loc.String() != "Etc/UTC" {
		t.Errorf("location %v", m.loc)
	}
	if _, err := ParseMetadata(scalertest.WithKeys(kedaThursday, "desiredReplicas", "x")); !errors.Is(err, scalers.ErrInvalidConfig) {
		t.Errorf("error %v", err)
	}
}
