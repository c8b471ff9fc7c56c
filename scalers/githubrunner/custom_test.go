package githubrunner

import (
	"testing"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/custom"
)

// TestCustomSource: a custom trigger uses the github-runner type as a
// source (targetWorkflowQueueLength has KEDA's default, so a source needs
// none), against the fake API.
func TestCustomSource(t *testing.T) {
	f := kedaServer(t, "foo")
	r := scalers.NewRegistry()
	r.MustRegister(Type, New)
	r.MustRegister(custom.Type, custom.NewFactory(r))
	s, err := r.New(t.Context(), scalers.Config{Type: custom.Type, Metadata: map[string]string{
		"expression": "jobs * 3.0", "threshold": "1",
		"source.jobs.type": Type, "source.jobs.githubApiURL": f.URL, "source.jobs.owner": "testOwner",
		"source.jobs.runnerScope": "repo", "source.jobs.labels": "foo", "source.jobs.personalAccessToken": "testpat",
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m, err := s.Metrics(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Values) != 1 || m.Values[0].Value != 6 {
		t.Fatalf("metrics %+v, want 6", m)
	}
}
