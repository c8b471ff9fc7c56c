package natsjetstream

import (
	"fmt"
	"testing"
	"time"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/custom"
)

// TestCustomSource: a custom trigger uses the nats-jetstream type as a
// source (lagThreshold has KEDA's default, so a source needs none).
func TestCustomSource(t *testing.T) {
	n := testenv.StartNATS(t, testenv.NATSOptions{})
	setUp(t, n, 3)
	r := scalers.NewRegistry()
	r.MustRegister(Type, New)
	r.MustRegister(custom.Type, custom.NewFactory(r))
	s, err := r.New(t.Context(), scalers.Config{Type: custom.Type, Metadata: map[string]string{
		"expression": "lag * 2.0", "threshold": "1",
		"source.lag.type": Type, "source.lag.natsServerMonitoringEndpoint": n.MonitorAddr(),
		"source.lag.account": "$G", "source.lag.stream": "orders", "source.lag.consumer": "workers",
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
