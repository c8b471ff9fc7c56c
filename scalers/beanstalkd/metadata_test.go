package beanstalkd

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

const kedaServer = "localhost:3000"

// TestParseMetadataKEDA is every case of KEDA's testBeanstalkdMetadata
// with KEDA's verdict and includeDelayed.
func TestParseMetadataKEDA(t *testing.T) {
	tests := []struct {
		name    string
		md      map[string]string
		delayed bool
		timeout time.Duration
		bad     []string
	}{
		{"nothing passed", map[string]string{}, false, 0, []string{"server: required", "tube: required", "value: required"}},
		{"properly formed", map[string]string{"server": kedaServer, "tube": "delayed", "value": "1", "includeDelayed": "true"}, true, 0, nil},
		{"no includeDelayed", map[string]string{"server": kedaServer, "tube": "no-delayed", "value": "1"}, false, 0, nil},
		{"missing server", map[string]string{"tube": "stats-tube", "value": "1", "includeDelayed": "true"}, false, 0, []string{"server: required"}},
		{"missing tube", map[string]string{"server": kedaServer, "value": "1", "includeDelayed": "true"}, false, 0, []string{"tube: required"}},
		{"missing value", map[string]string{"server": kedaServer, "tube": "stats-tube", "includeDelayed": "true"}, false, 0, []string{"value: required"}},
		{"invalid value", map[string]string{"server": kedaServer, "tube": "stats-tube", "value": "lots", "includeDelayed": "true"}, false, 0, []string{`value "lots"`}},
		{"valid timeout", map[string]string{"server": kedaServer, "tube": "stats-tube", "value": "1", "includeDelayed": "true", "timeout": "1000"}, true, time.Second, nil},
		{"invalid timeout", map[string]string{"server": kedaServer, "tube": "stats-tube", "value": "1", "includeDelayed": "true", "timeout": "-1"}, false, 0, []string{`timeout "-1"`}},
		{"activationValue passed", map[string]string{"server": kedaServer, "tube": "stats-tube", "value": "1", "activationValue": "10"}, false, 0, nil},
		{"invalid activationValue passed", map[string]string{"server": kedaServer, "tube": "stats-tube", "value": "1", "activationValue": "AA"}, false, 0, []string{`activationValue "AA"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseMetadata(tt.md)
			if tt.bad != nil {
				scalertest.CheckErr(t, err, scalers.ErrInvalidConfig, tt.bad...)
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if m.IncludeDelayed != tt.delayed || m.Timeout != tt.timeout {
				t.Errorf("includeDelayed %v timeout %v, want %v %v", m.IncludeDelayed, m.Timeout, tt.delayed, tt.timeout)
			}
		})
	}
}

// TestMetricNameKEDA: KEDA's TestBeanstalkdGetMetricSpecForScaling
// ("s0-beanstalkd-no-delayed", "s1-beanstalkd-delayed"; KEDA adds the
// "sN-"), and KEDA's escaping and normalization.
func TestMetricNameKEDA(t *testing.T) {
	for _, tt := range []struct{ tube, want string }{
		{"no-delayed", "beanstalkd-no-delayed"},
		{"delayed", "beanstalkd-delayed"},
		{"a/b.c(d)$e+f;g", "beanstalkd-a-2Fb-c-28d-29-24e-2Bf-3Bg"},
	} {
		s, err := New(t.Context(), scalers.Config{Type: Type, Metadata: map[string]string{"server": kedaServer, "tube": tt.tube, "value": "1"}})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]scalers.MetricSpec{{Name: tt.want, Target: 1}}, s.MetricSpecs()); diff != "" {
			t.Errorf("%s: (-want +got):\n%s", tt.tube, diff)
		}
		_ = s.Close()
	}
}

// TestParseMetadata: our own checks of the server and the tube, which
// would otherwise reach the protocol.
func TestParseMetadata(t *testing.T) {
	md := func(kv ...string) map[string]string {
		return scalertest.WithKeys(map[string]string{"server": kedaServer, "tube": "jobs", "value": "2"}, kv...)
	}
	for _, tt := range []struct {
		name string
		md   map[string]string
		bad  []string
	}{
		{"value 0", md("value", "0"), []string{`value "0"`}},
		{"value Inf", md("value", "Inf"), []string{`value "Inf"`}},
		{"no port", md("server", "beanstalkd"), []string{`server "beanstalkd": expected host:port`}},
		{"a scheme", md("server", "tcp://b:11300"), []string{`server "tcp://b:11300": expected host:port`}},
		{"bad port", md("server", "b:0"), []string{`server "b:0"`}},
		{"a command in the tube", md("tube", "jobs\r\nkick 100"), []string{`tube "jobs\r\nkick 100": beanstalkd's names`}},
		{"a space", md("tube", "a b"), []string{`tube "a b"`}},
		{"leading dash", md("tube", "-x"), []string{`tube "-x": starts with '-'`}},
		{"too long", md("tube", string(make([]byte, 201))), []string{"longer than beanstalkd's 200 bytes"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseMetadata(tt.md)
			scalertest.CheckErr(t, err, scalers.ErrInvalidConfig, tt.bad...)
		})
	}
}
