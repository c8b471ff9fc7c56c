package beanstalkd

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

func build(t *testing.T, server string, kv ...string) *Scaler {
	t.Helper()
	md := scalertest.WithKeys(map[string]string{"server": server, "tube": "jobs", "value": "5"}, kv...)
	s, err := New(t.Context(), scalers.Config{Type: Type, Metadata: md, Timeouts: scalers.Timeouts{Default: 2 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s.(*Scaler)
}

func waitJobs(t *testing.T, s *Scaler, want float64, active bool) {
	t.Helper()
	scalertest.Eventually(t, 30*time.Second, fmt.Sprintf("%v jobs, active %v", want, active), func() error {
		m, err := s.Metrics(t.Context())
		if err != nil {
			return err
		}
		if len(m.Values) != 1 || m.Values[0].Value != want || m.Active != active || m.Values[0].Name != "beanstalkd-jobs" {
			return fmt.Errorf("got %+v", m)
		}
		return nil
	})
}

// TestRealServer: against beanstalkd 1.12: a tube that does not exist
// counts 0; ready and reserved jobs count, buried ones do not, delayed
// ones only with includeDelayed; activation is strictly above
// activationValue.
func TestRealServer(t *testing.T) {
	b := testenv.StartBeanstalkd(t, testenv.BeanstalkdOptions{})
	s := build(t, b.Addr(), "activationValue", "3")
	withDelayed := build(t, b.Addr(), "includeDelayed", "true")
	waitJobs(t, s, 0, false)

	ctx := t.Context()
	if _, err := b.Put(ctx, "jobs", 3, 0); err != nil {
		t.Fatal(err)
	}
	waitJobs(t, s, 3, false) // 3 is not above 3
	if _, err := b.Put(ctx, "jobs", 2, time.Hour); err != nil {
		t.Fatal(err)
	}
	waitJobs(t, s, 3, false)
	waitJobs(t, withDelayed, 5, true)
	if _, err := b.Put(ctx, "jobs", 1, 0); err != nil {
		t.Fatal(err)
	}
	waitJobs(t, s, 4, true)

	release, err := b.Reserve(ctx, "jobs", 2)
	if err != nil {
		t.Fatal(err)
	}
	waitJobs(t, s, 4, true) // 2 ready + 2 reserved
	release()
	if err := b.Bury(ctx, "jobs"); err != nil {
		t.Fatal(err)
	}
	waitJobs(t, s, 3, false) // the buried job is not counted
	other := build(t, b.Addr(), "tube", "other")
	m, err := other.Metrics(ctx)
	if err != nil || m.Values[0].Value != 0 || m.Active {
		t.Errorf("a tube that does not exist: %+v, %v", m, err)
	}
	// Concurrent calls share the one connection.
	scalertest.Concurrently(t, 8, 20, func() error {
		v, err := s.Value(ctx)
		if err == nil && v != 3 {
			err = fmt.Errorf("value %v", v)
		}
		return err
	})
}

// TestRealServerOutage: the server stopped, calls fail with
// ErrUnavailable within the bound; back on the same port with its binlog,
// the next call dials again and reads the same jobs.
func TestRealServerOutage(t *testing.T) {
	b := testenv.StartBeanstalkd(t, testenv.BeanstalkdOptions{Binlog: true})
	if _, err := b.Put(t.Context(), "jobs", 4, 0); err != nil {
		t.Fatal(err)
	}
	s := build(t, b.Addr())
	waitJobs(t, s, 4, true)
	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"the server closed the connection", "connect: connection refused"} {
		err := scalertest.ReturnsWithin(t, s.Bound(), fmt.Sprintf("call %d while the server is down", i+1), func() error {
			_, err := s.Metrics(context.Background())
			return err
		})
		scalertest.CheckErr(t, err, scalers.ErrUnavailable, `beanstalkd: tube "jobs" at "`+b.Addr()+`": `, want)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	waitJobs(t, s, 4, true)
}

// TestHostilePeers: a server that drops connections, one that speaks
// another protocol and one that never answers cost a call its bound, no
// more, and each is reported as unavailable or as a wrong answer.
func TestHostilePeers(t *testing.T) {
	for _, tt := range []struct {
		name     string
		addr     string
		sentinel error
		msg      string
	}{
		{"dropper", scalertest.NewDropper(t).Addr(), scalers.ErrUnavailable, "the server closed the connection"},
		{"banner", scalertest.NewBanner(t, "SSH-2.0-OpenSSH_9.2\r\n").Addr(), scalers.ErrNoData, `unexpected answer: "SSH-2.0-OpenSSH_9.2"`},
		{"http", scalertest.NewBanner(t, "HTTP/1.1 400 Bad Request\r\n\r\n").Addr(), scalers.ErrNoData, `unexpected answer: "HTTP/1.1 400 Bad Request"`},
		{"black hole", scalertest.NewBlackHole(t).Addr(), scalers.ErrUnavailable, "stats-tube: no answer within 500ms"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := build(t, tt.addr, "timeout", "500")
			err := scalertest.ReturnsWithin(t, s.Bound(), "a call to a "+tt.name, func() error { _, err := s.Value(t.Context()); return err })
			scalertest.CheckErr(t, err, tt.sentinel, tt.msg)
		})
	}
}

// TestCallerCancels: a caller that gives up while the server is silent
// gets its own context's error at once, not the bound.
func TestCallerCancels(t *testing.T) {
	s := build(t, scalertest.NewBlackHole(t).Addr(), "timeout", "20000")
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	err := scalertest.ReturnsWithin(t, 200*time.Millisecond, "a cancelled call", func() error { _, err := s.Value(ctx); return err })
	scalertest.CheckErr(t, err, context.DeadlineExceeded, "stats-tube")
}

// TestClosed: after Close, calls fail with ErrClosed.
func TestClosed(t *testing.T) {
	b := testenv.StartBeanstalkd(t, testenv.BeanstalkdOptions{})
	s := build(t, b.Addr())
	waitJobs(t, s, 0, false)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := s.Metrics(t.Context())
	scalertest.CheckErr(t, err, scalers.ErrClosed)
}
