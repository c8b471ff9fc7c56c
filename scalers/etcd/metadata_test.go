package etcd

import (
	"maps"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// kedaValid is KEDA's validEtcdMetadata.
var kedaValid = map[string]string{"endpoints": "172.0.0.1:2379,172.0.0.2:2379,172.0.0.3:2379", "watchKey": "length",
	"value": "5.5", "activationValue": "0.5", "watchProgressNotifyInterval": "600"}

// TestParseMetadataKEDA is every case of KEDA's
// parseEtcdMetadataTestDataset with KEDA's verdict and endpoints.
func TestParseMetadataKEDA(t *testing.T) {
	tests := []struct {
		name      string
		md        map[string]string
		endpoints []string
		bad       []string
	}{
		{"three endpoints", map[string]string{"endpoints": "172.0.0.1:2379,172.0.0.2:2379,172.0.0.3:2379", "watchKey": "length", "value": "5.5", "activationValue": "0.5", "watchProgressNotifyInterval": "600"},
			[]string{"172.0.0.1:2379", "172.0.0.2:2379", "172.0.0.3:2379"}, nil},
		{"one endpoint", map[string]string{"endpoints": "172.0.0.1:2379", "watchKey": "var", "value": "5.5", "activationValue": "0.5", "watchProgressNotifyInterval": "600"},
			[]string{"172.0.0.1:2379"}, nil},
		{"endpoints missed", map[string]string{"endpoints": "", "watchKey": "length", "value": "5", "activationValue": "0", "watchProgressNotifyInterval": "600"}, nil, []string{"endpoints: required"}},
		{"watchKey missed", map[string]string{"endpoints": "172.0.0.1:2379", "watchKey": "", "value": "5", "activationValue": "0", "watchProgressNotifyInterval": "600"}, nil, []string{"watchKey: required"}},
		{"value invalid", map[string]string{"endpoints": "172.0.0.1:2379", "watchKey": "length", "value": "a", "activationValue": "0", "watchProgressNotifyInterval": "600"}, nil, []string{`value "a"`}},
		{"activationValue invalid", map[string]string{"endpoints": "172.0.0.1:2379", "watchKey": "length", "value": "5", "activationValue": "b", "watchProgressNotifyInterval": "600"}, nil, []string{`activationValue "b"`}},
		{"watchProgressNotifyInterval invalid", map[string]string{"endpoints": "172.0.0.1:2379", "watchKey": "length", "value": "5", "activationValue": "0", "watchProgressNotifyInterval": "0"}, nil, []string{`watchProgressNotifyInterval "0"`}},
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
			if diff := cmp.Diff(tt.endpoints, m.Endpoints); diff != "" {
				t.Errorf("endpoints (-want +got):\n%s", diff)
			}
		})
	}
}

// TestParseAuthParamsKEDA is every case of KEDA's
// parseEtcdAuthParamsTestDataset (KEDA reads them from a
// TriggerAuthentication; an external scaler gets them as metadata), with
// KEDA's verdict and tls value. KEDA's placeholder PEM ("caaa") parses:
// the material is checked when the scaler is built (TestNewChecksTLS).
func TestParseAuthParamsKEDA(t *testing.T) {
	tests := []struct {
		name   string
		params map[string]string
		tls    string
		bad    []string
	}{
		{"TLS only", map[string]string{"tls": "enable", "ca": "caaa", "cert": "ceert", "key": "keey"}, TLSEnable, nil},
		{"cert/key and a public CA", map[string]string{"tls": "enable", "cert": "ceert", "key": "keey"}, TLSEnable, nil},
		{"cert/key, key password, public CA", map[string]string{"tls": "enable", "cert": "ceert", "key": "keey", "keyPassword": "keeyPassword"}, TLSEnable, nil},
		{"CA only", map[string]string{"tls": "enable", "ca": "caaa"}, TLSEnable, nil},
		{"missing cert", map[string]string{"tls": "enable", "ca": "caaa", "key": "keey"}, "", []string{"key (secret, not shown): given without cert"}},
		{"missing key", map[string]string{"tls": "enable", "ca": "caaa", "cert": "ceert"}, "", []string{"cert (secret, not shown): given without key"}},
		{"TLS invalid", map[string]string{"tls": "yes", "ca": "caaa", "cert": "ceert", "key": "keey"}, "", []string{`tls "yes"`}},
		{"username and password", map[string]string{"username": "root", "password": "admin"}, TLSDisable, nil},
		{"missing password", map[string]string{"username": "root"}, "", []string{"password: required with username"}},
		{"missing username", map[string]string{"password": "admin"}, "", []string{"username: required with password"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := maps.Clone(kedaValid)
			maps.Copy(in, tt.params)
			m, err := ParseMetadata(in)
			if tt.bad != nil {
				scalertest.CheckErr(t, err, scalers.ErrInvalidConfig, tt.bad...)
				if strings.Contains(err.Error(), "admin") || strings.Contains(err.Error(), "keey") {
					t.Errorf("error shows a secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if m.TLS != tt.tls {
				t.Errorf("tls = %q, want %q", m.TLS, tt.tls)
			}
			for key, s := range map[string]scalers.Secret{"ca": m.TLSConfig.CA, "cert": m.TLSConfig.Cert, "key": m.TLSConfig.Key, "keyPassword": m.TLSConfig.KeyPassword} {
				if got := s.MustValue(); got != tt.params[key] {
					t.Errorf("%s = %q, want %q", key, got, tt.params[key])
				}
			}
		})
	}
}

// TestMetricNameKEDA: KEDA's TestEtcdGetMetricSpecForScaling ("s0-etcd-length",
// "s1-etcd-var"; KEDA adds the "sN-"), and KEDA's normalization.
func TestMetricNameKEDA(t *testing.T) {
	for _, tt := range []struct {
		md   map[string]string
		want string
	}{
		{kedaValid, "etcd-length"},
		{scalertest.WithKeys(kedaValid, "endpoints", "172.0.0.1:2379", "watchKey", "var"), "etcd-var"},
		{scalertest.WithKeys(kedaValid, "watchKey", "/jobs/queue.length"), "etcd--jobs-queue-length"},
	} {
		s, err := New(t.Context(), scalers.Config{Type: Type, Metadata: tt.md})
		if err != nil {
			t.Fatal(err)
		}
		want := []scalers.MetricSpec{{Name: tt.want, Target: 5.5}}
		if diff := cmp.Diff(want, s.MetricSpecs()); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		_ = s.Close()
	}
}

// TestParseMetadata: defaults and our own checks.
func TestParseMetadata(t *testing.T) {
	got, err := ParseMetadata(map[string]string{"endpoints": "e:2379", "watchKey": "k", "value": "2"})
	if err != nil {
		t.Fatal(err)
	}
	want := Metadata{Endpoints: []string{"e:2379"}, WatchKey: "k", Value: 2, WatchProgressNotifyInterval: DefaultWatchProgressNotifyInterval, TLS: TLSDisable}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(Metadata{}, "TLSConfig", "Password")); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	md := func(kv ...string) map[string]string { return scalertest.WithKeys(kedaValid, kv...) }
	for _, tt := range []struct {
		name string
		md   map[string]string
		bad  []string
	}{
		{"value 0", md("value", "0"), []string{`value "0"`}},
		{"value Inf", md("value", "+Inf"), []string{`value "+Inf"`}},
		{"activation NaN", md("activationValue", "NaN"), []string{`activationValue "NaN"`}},
		{"negative timeout", md("timeout", "-1"), []string{`timeout "-1"`}},
		{"a path", md("endpoints", "e:2379/x"), []string{`endpoints "e:2379/x": item 1: expected host:port`}},
		{"no port", md("endpoints", "a:1,e"), []string{`endpoints "e": item 2: expected host:port`}},
		{"bad port", md("endpoints", "e:99999"), []string{`endpoints "e:99999": item 1: the port`}},
		{"bad scheme", md("endpoints", "unix://x:1"), []string{`endpoints "unix://x:1": item 1: expected host:port or http(s)://host:port, the scheme`}},
		{"user info", md("endpoints", "http://u:pw@e:1"), []string{`item 1: expected host:port or http(s)://host:port, without a path, user info`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseMetadata(tt.md)
			scalertest.CheckErr(t, err, scalers.ErrInvalidConfig, tt.bad...)
		})
	}
	for _, ok := range []string{"https://e:2379", "http://[::1]:2379", "10.0.0.1:2379"} {
		if _, err := ParseMetadata(md("endpoints", ok)); err != nil {
			t.Errorf("endpoints %s refused: %v", ok, err)
		}
	}
}

// TestNewChecksTLS: with tls=enable, TLS material that is not PEM is a
// configuration error naming the key when the scaler is built, never
// showing the material; with tls=disable it is not used.
func TestNewChecksTLS(t *testing.T) {
	_, err := New(t.Context(), scalers.Config{Metadata: scalertest.WithKeys(kedaValid, "tls", "enable", "ca", "caaa-secret")})
	scalertest.CheckErr(t, err, scalers.ErrInvalidConfig, "ca (secret, not shown): no PEM certificate found")
	if strings.Contains(err.Error(), "caaa") {
		t.Errorf("error shows the CA: %v", err)
	}
	s, err := New(t.Context(), scalers.Config{Metadata: scalertest.WithKeys(kedaValid, "ca", "caaa")})
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	many := strings.Repeat("e:1,", 200) + "e:1"
	_, err = New(t.Context(), scalers.Config{Metadata: scalertest.WithKeys(kedaValid, "endpoints", many)})
	scalertest.CheckErr(t, err, scalers.ErrInvalidConfig, "endpoints: 201 items, more than the limit of 100")
}
