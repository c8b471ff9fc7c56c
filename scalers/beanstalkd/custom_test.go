package beanstalkd

import (
	"fmt"
	"testing"
	"time"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/custom"
)

// TestCustomSource: a custom trigger uses the beanstalkd type as a source
// against a real beanstalkd.
func TestCustomSource(t *testing.T) {
	b := testenv.StartBeanstalkd(t, testenv.BeanstalkdOptions{})
	if _, err := b.Put(t.Context(), "jobs", 3, 0); err != nil {
		t.Fatal(err)
	}
	r := scalers.NewRegistry()
	r.MustRegister(Type, New)
	r.MustRegister(custom.Type, custom.NewFactory(r))
	s, err := r.New(t.Context(), scalers.Config{Type: custom.Type, Metadata: map[string]string{
		"expression": "jobs * 2.0", "threshold": "1",
		"source.jobs.type": Type, "source.jobs.server": b.Addr(), "source.jobs.tube": "jobs", "source.jobs.value": "1",
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	scalertest.Eventually(t, 30*time.Second, "custom value 6", func() error {
		m, err := s.Metrics(t.Context())
		if err != nil {
			return err
		}
		if len(m.Values) != 1 || m.Values[0].Value != 6 {
			return fmt.Errorf("metrics %+v, want 6", m)
		}
		return nil
	})
}
