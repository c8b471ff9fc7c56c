package cron

import (
	"testing"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/custom"
)

// TestCustomSource: a custom trigger uses the cron type as a source.
func TestCustomSource(t *testing.T) {
	r := scalers.NewRegistry()
	r.MustRegister(Type, New)
	r.MustRegister(custom.Type, custom.NewFactory(r))
	s, err := r.New(t.Context(), scalers.Config{Type: custom.Type, Metadata: map[string]string{
		"expression": "always + 1.0", "threshold": "1",
		"source.always.type": Type, "source.always.timezone": "Etc/UTC",
		"source.always.start": "0 0 1 1 *", "source.always.end": "* * * * *", "source.always.desiredReplicas": "4",
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// The next end (every minute) never comes after the next start (1
	// January): always open, 4 + 1.
	name := s.MetricSpecs()[0].Name
	if m, err := s.Metrics(t.Context()); err != nil {
		t.Error(err)
	} else if v, ok := m.Value(name); !ok || v != 5 || !m.Active {
		t.Errorf("metrics %+v, want %s 5, active", m, name)
	}
}
