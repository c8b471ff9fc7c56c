package redis

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// newScaler builds a scaler with factory f and closes it when the test
// ends.
func newScaler(tb testing.TB, f scalers.Factory, md map[string]string) scalers.Scaler {
	tb.Helper()
	s, err := f(context.Background(), scalers.Config{Type: "redis", Metadata: md})
	if err != nil {
		tb.Fatalf("new scaler from %v: %v", redactedMD(md), err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// redactedMD hides password values in test failure messages too.
func redactedMD(md map[string]string) map[string]string {
	out := make(map[string]string, len(md))
	for k, v := range md {
		if k == "password" || k == "passwordFromEnv" || k == "sentinelPassword" || k == "sentinelPasswordFromEnv" {
			v = "[redacted]"
		}
		out[k] = v
	}
	return out
}

// metric fetches the one metric of s and the activity.
func metric(tb testing.TB, s scalers.Scaler) (float64, bool) {
	tb.Helper()
	m, err := s.Metrics(context.Background())
	if err != nil {
		tb.Fatalf("Metrics: %v", err)
	}
	if len(m.Values) != 1 || m.Values[0].Name != s.MetricSpecs()[0].Name {
		tb.Fatalf("Metrics values = %+v, want one value named %s", m.Values, s.MetricSpecs()[0].Name)
	}
	return m.Values[0].Value, m.Active
}

// wantMetric checks the value and activity of s.
func wantMetric(tb testing.TB, s scalers.Scaler, value float64, active bool) {
	tb.Helper()
	got, gotActive := metric(tb, s)
	if got != value || gotActive != active {
		tb.Errorf("got value %v active %t, want %v active %t", got, gotActive, value, active)
	}
}

// wantError checks that Metrics fails with an error that Is kind.
func wantError(tb testing.TB, s scalers.Scaler, kind error) error {
	tb.Helper()
	// A bounded wait: some failures (TLS to a plaintext server) are a
	// handshake that never completes.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := s.Metrics(ctx)
	if err == nil {
		tb.Fatalf("Metrics succeeded, want an error wrapping %v", kind)
	}
	if !errors.Is(err, kind) {
		tb.Fatalf("Metrics error %q does not wrap %v", err, kind)
	}
	return err
}

// eventually polls cond until it holds; it fails after a generous deadline.
// It serves recovery checks (a reconnect after a restart), not timing.
func eventually(tb testing.TB, what string, cond func() error) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s: still failing after 20s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// client returns a go-redis client for setting up data, closed when the
// test ends.
func client(tb testing.TB, r *testenv.Redis, db int) *redis.Client {
	tb.Helper()
	c := redis.NewClient(&redis.Options{
		Addr: r.Addr(), Password: r.Password(), DB: db, DisableIdentity: true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	})
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// must fails the test on a setup error.
func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatalf("setup: %v", err)
	}
}

func redisZ(member string, score float64) redis.Z { return redis.Z{Score: score, Member: member} }

func redisXAdd(stream string) *redis.XAddArgs {
	return &redis.XAddArgs{Stream: stream, Values: map[string]any{"f": "v"}}
}
