package postgresql

import (
	"testing"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/custom"
)

// TestCustomSource: a custom trigger uses the postgresql type as a source
// without a targetQueryValue of its own (DefaultTarget fills it).
func TestCustomSource(t *testing.T) {
	url := newDB(t)
	r := scalers.NewRegistry()
	r.MustRegister(Type, NewPools(PoolsOptions{}).Factory(), scalers.WithDefaultTarget(DefaultTarget))
	r.MustRegister(custom.Type, custom.NewFactory(r))
	s, err := r.New(t.Context(), scalers.Config{Type: custom.Type, Metadata: map[string]string{
		"expression": "queued * 2.0", "threshold": "1",
		"source.queued.type": Type, "source.queued.connection": url,
		"source.queued.query": "SELECT count(*) FROM jobs WHERE state = 'queued'",
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
		t.Errorf("metrics %+v, want 6", m)
	}
}
