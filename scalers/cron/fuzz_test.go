package cron

import (
	"errors"
	"testing"
	"time"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

func isInvalid(err error) bool { return errors.Is(err, scalers.ErrInvalidConfig) }

// FuzzParseMetadata: any metadata either parses into a window whose
// answers are 0 or desiredReplicas at any instant, or is refused with an
// ErrInvalidConfig; never a panic.
func FuzzParseMetadata(f *testing.F) {
	for _, seed := range []string{
		"timezone=Etc/UTC\nstart=0 0 * * Thu\nend=59 23 * * Thu\ndesiredReplicas=10",
		"timezone=Etc/UTC\nstart=0 */2 * * *\nend=0 1-23/2 * * *\ndesiredReplicas=10",
		"timezone=Europe/Berlin\nstart=30 2 * * *\nend=0 4 * * *\ndesiredReplicas=3",
		"timezone=America/New_York\nstart=0 22 ? * MON-FRI\nend=0 6 * JAN-DEC SUN\ndesiredReplicas=1",
		"timezone=Asia/Kolkata\nstart=-30 * * * *\nend=45 * * * *\ndesiredReplicas=10",
		"timezone=Local\nstart=@daily\nend=TZ=UTC 0 1 * * *\ndesiredReplicas=-1",
		"timezone=../../etc/passwd\nstart=0 0 30 2 *\nend=0,1,2 * * * *\ndesiredReplicas=9223372036854775807",
	} {
		f.Add(seed, int64(1764979200))
	}
	f.Fuzz(func(t *testing.T, in string, unix int64) {
		md := scalertest.LinesToMap(in)
		m, err := ParseMetadata(md)
		if err != nil {
			if !isInvalid(err) {
				t.Fatalf("error %v does not wrap ErrInvalidConfig", err)
			}
			return
		}
		if m.DesiredReplicas <= 0 || m.Start == m.End || m.loc == nil {
			t.Fatalf("accepted invalid metadata: %+v", m)
		}
		// Any instant within a few centuries of now.
		now := time.Unix(unix%(1<<34), 0)
		if r := NewWindow(m).Replicas(now); r != 0 && r != m.DesiredReplicas {
			t.Fatalf("replicas %d, want 0 or %d", r, m.DesiredReplicas)
		}
		if m.MetricName() == "" {
			t.Fatal("empty metric name")
		}
	})
}
