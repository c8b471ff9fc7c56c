package redis

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// secretFiles allows the directories of md's <key>File keys, as the
// server's --secret-file-dir would.
func secretFiles(tb testing.TB, md map[string]string) scalers.FileAccess {
	tb.Helper()
	a, err := scalers.NewFileAccess(scalertest.FileDirs(md)...)
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

// newScaler builds a scaler with factory f and closes it when the test
// ends; it may read the files md's <key>File keys name.
func newScaler(tb testing.TB, f scalers.Factory, md map[string]string) scalers.Scaler {
	tb.Helper()
	s, err := f(context.Background(), scalers.Config{Type: "redis", Metadata: md, SecretFiles: secretFiles(tb, md)})
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
	ctx, cancel := context.WithTimeout(tb.Context(), waitLimit)
	defer cancel()
	m, err := s.Metrics(ctx)
	if err != nil {
		tb.Fatalf("Metrics: %v", err)
	}
	names := make([]string, len(m.Values))
	for i, v := range m.Values {
		names[i] = v.Name
	}
	if diff := cmp.Diff([]string{s.MetricSpecs()[0].Name}, names); diff != "" {
		tb.Fatalf("Metrics value names (-want +got):\n%s", diff)
	}
	return m.Values[0].Value, m.Active
}

// wantMetric checks the value and activity of s.
func wantMetric(tb testing.TB, s scalers.Scaler, value float64, active bool) {
	tb.Helper()
	got, gotActive := metric(tb, s)
	if diff := cmp.Diff(state{value, active}, state{got, gotActive}); diff != "" {
		tb.Errorf("metric (-want +got):\n%s", diff)
	}
}

// state is what one Metrics call of a single-metric scaler reports.
type state struct {
	Value  float64
	Active bool
}

// waitLimit bounds every wait for something another process brings about
// (Redis answering again after a restart, a rotated password in use) and
// every call expected to fail. It asserts nothing about how long that
// takes: it is far above what an idle machine needs.
const waitLimit = 30 * time.Second

// wantMetricEventually waits until s reports value and active, for
// recovery after a restart or a rotation.
func wantMetricEventually(tb testing.TB, what string, s scalers.Scaler, value float64, active bool) {
	tb.Helper()
	want := state{value, active}
	scalertest.Eventually(tb, waitLimit, what, func() error {
		m, err := s.Metrics(tb.Context())
		if err != nil {
			return err
		}
		if len(m.Values) != 1 {
			return fmt.Errorf("got values %+v, want one", m.Values)
		}
		if got := (state{m.Values[0].Value, m.Active}); got != want {
			return fmt.Errorf("got %+v, want %+v", got, want)
		}
		return nil
	})
}

// wantError checks that Metrics fails with an error that Is kind.
func wantError(tb testing.TB, s scalers.Scaler, kind error) error {
	tb.Helper()
	return wantErrorWithin(tb, s, kind, waitLimit)
}

// wantErrorWithin is wantError for a call given a deadline of limit, for
// failures that are a handshake that never completes (TLS to a plaintext
// server): the caller's deadline must end the call.
func wantErrorWithin(tb testing.TB, s scalers.Scaler, kind error, limit time.Duration) error {
	tb.Helper()
	ctx, cancel := context.WithTimeout(tb.Context(), limit)
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
