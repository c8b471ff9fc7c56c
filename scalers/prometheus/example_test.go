package prometheus

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
)

func TestExamplesParse(t *testing.T) {
	tests := []struct {
		file string
		// modes and, with oauth, the token endpoint, client and scopes
		want []string
	}{
		{file: "prometheus.yaml", want: []string{"bearer"}},
		{file: "prometheus-oauth.yaml", want: []string{"oauth",
			"https://idp.example/realms/platform/protocol/openid-connect/token", "keda-prometheus", "metrics.read"}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			md := scalertest.KEDATrigger(t, tc.file)
			// Keys ending in File point at paths inside the cluster.
			scalertest.StandInFiles(t, md, "x")
			if md["scalerType"] != Type {
				t.Fatalf("scalerType: got %q, want %q", md["scalerType"], Type)
			}
			m, err := ParseMetadata(md, secretFiles(t, md))
			if err != nil {
				t.Fatalf("examples/keda/%s: %v", tc.file, err)
			}
			got := m.Auth.Modes
			if m.Auth.Enabled("oauth") {
				got = append(got, m.Auth.OAuth.TokenURI, m.Auth.OAuth.ClientID)
				got = append(got, m.Auth.OAuth.Scopes...)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("authModes and OAuth2 keys (-want +got):\n%s", diff)
			}
		})
	}
}
