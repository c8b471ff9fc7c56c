package redis

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

func TestListLengthByType(t *testing.T) {
	r := testenv.StartRedis(t)
	rdb := client(t, r, 0)
	ctx := t.Context()
	must(t, rdb.RPush(ctx, "list", "a", "b", "c").Err())
	must(t, rdb.SAdd(ctx, "set", "a", "b", "c", "d").Err())
	must(t, rdb.ZAdd(ctx, "zset", redisZ("a", 1), redisZ("b", 2)).Err())
	must(t, rdb.HSet(ctx, "hash", "a", 1, "b", 2, "c", 3, "d", 4, "e", 5).Err())
	must(t, rdb.Set(ctx, "string", "x", 0).Err())
	must(t, rdb.XAdd(ctx, redisXAdd("stream")).Err())

	tests := []struct {
		name       string
		key        string
		activation string
		want       float64
		wantActive bool
	}{
		{"list", "list", "0", 3, true},
		{"set", "set", "0", 4, true},
		{"sorted set", "zset", "0", 2, true},
		{"hash", "hash", "0", 5, true},
		{"missing key is 0 and inactive", "missing", "0", 0, false},
		{"at the activation threshold is inactive", "list", "3", 3, false},
		{"above the activation threshold is active", "list", "2", 3, true},
		{"negative activation makes an empty list active", "missing", "-1", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newScaler(t, NewList, map[string]string{"address": r.Addr(), "listName": tc.key, "activationListLength": tc.activation})
			wantMetric(t, s, tc.want, tc.wantActive)
			// A second call answers from the remembered type.
			wantMetric(t, s, tc.want, tc.wantActive)
		})
	}
	for _, key := range []string{"string", "stream"} {
		t.Run("unsupported type "+key, func(t *testing.T) {
			s := newScaler(t, NewList, map[string]string{"address": r.Addr(), "listName": key})
			err := wantError(t, s, scalers.ErrNoData)
			want := classified{Msg: `redis list "` + key + `" at ` + r.Addr() + `: key "` + key + `" holds a ` + key +
				`; expected a list, set, sorted set or hash`, NoData: true}
			if diff := cmp.Diff(want, classify(err)); diff != "" {
				t.Errorf("Metrics error (-want +got):\n%s", diff)
			}
		})
	}
}

func TestListFollowsTypeChanges(t *testing.T) {
	r := testenv.StartRedis(t)
	rdb := client(t, r, 0)
	ctx := t.Context()
	s := newScaler(t, NewList, map[string]string{"address": r.Addr(), "listName": "q"})

	must(t, rdb.RPush(ctx, "q", "a", "b").Err())
	wantMetric(t, s, 2, true)
	must(t, rdb.RPush(ctx, "q", "c").Err())
	wantMetric(t, s, 3, true) // fresh on every call

	must(t, rdb.Del(ctx, "q").Err())
	must(t, rdb.SAdd(ctx, "q", "a", "b", "c", "d", "e").Err())
	wantMetric(t, s, 5, true)

	must(t, rdb.Del(ctx, "q").Err())
	wantMetric(t, s, 0, false) // a deleted set reads as an empty queue

	must(t, rdb.Set(ctx, "q", "v", 0).Err())
	wantError(t, s, scalers.ErrNoData)

	must(t, rdb.Del(ctx, "q").Err())
	must(t, rdb.HSet(ctx, "q", "f", "v").Err())
	wantMetric(t, s, 1, true)
}

func TestListDatabaseIndex(t *testing.T) {
	r := testenv.StartRedis(t)
	must(t, client(t, r, 0).RPush(t.Context(), "jobs", "a").Err())
	must(t, client(t, r, 3).RPush(t.Context(), "jobs", "a", "b", "c").Err())
	tests := []struct {
		db   string
		want float64
	}{
		{"0", 1},
		{"3", 3},
		{"5", 0},
	}
	for _, tc := range tests {
		t.Run("db "+tc.db, func(t *testing.T) {
			s := newScaler(t, NewList, map[string]string{"address": r.Addr(), "listName": "jobs", "databaseIndex": tc.db})
			wantMetric(t, s, tc.want, tc.want > 0)
		})
	}
}

func TestListPassword(t *testing.T) {
	const pw = "correct-horse-battery"
	r := testenv.StartRedisWith(t, testenv.RedisOptions{Password: pw})
	rdb := client(t, r, 0)
	must(t, rdb.RPush(t.Context(), "jobs", "a", "b").Err())
	must(t, rdb.Do(t.Context(), "ACL", "SETUSER", "scaler", "on", ">user-pass-123", "~jobs", "+llen", "+type", "+scard", "+zcard", "+hlen").Err())
	pwFile := filepath.Join(t.TempDir(), "password")
	must(t, os.WriteFile(pwFile, []byte(pw+"\n"), 0o600))

	good := []struct {
		name string
		md   map[string]string
	}{
		{"inline", map[string]string{"password": pw}},
		{"resolved from env by KEDA", map[string]string{"passwordFromEnv": pw}},
		{"file", map[string]string{"passwordFile": pwFile}},
		{"ACL user with only the read commands", map[string]string{"username": "scaler", "password": "user-pass-123"}},
	}
	for _, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			tc.md["address"], tc.md["listName"] = r.Addr(), "jobs"
			wantMetric(t, newScaler(t, NewList, tc.md), 2, true)
		})
	}
	// Redis's own words follow "login failed: ".
	bad := []struct {
		name string
		md   map[string]string
		want string
	}{
		{"no password", map[string]string{}, "login failed: NOAUTH Authentication required."},
		{"wrong password", map[string]string{"password": "wrong-password-xyz"},
			"login failed: WRONGPASS invalid username-password pair or user is disabled."},
		{"unknown user", map[string]string{"username": "nobody", "password": pw},
			"login failed: WRONGPASS invalid username-password pair or user is disabled."},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			tc.md["address"], tc.md["listName"] = r.Addr(), "jobs"
			err := wantError(t, newScaler(t, NewList, tc.md), scalers.ErrUnavailable)
			want := classified{Msg: `redis list "jobs" at ` + r.Addr() + ": " + tc.want, Unavailable: true}
			if diff := cmp.Diff(want, classify(err)); diff != "" {
				t.Errorf("Metrics error (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDatabaseOutOfRange: a databaseIndex the server does not have is a
// configuration error (retrying cannot help), found at the first call.
func TestDatabaseOutOfRange(t *testing.T) {
	r := testenv.StartRedis(t) // 16 databases, Redis's default
	for _, typ := range []string{"redis", "redis-streams", "redis-sentinel"} {
		t.Run(typ, func(t *testing.T) {
			addr := r.Addr()
			md := map[string]string{"address": addr, "listName": "jobs", "stream": "events", "databaseIndex": "16"}
			where := addr
			if typ == "redis-sentinel" {
				sent := testenv.StartRedisSentinel(t, r, testenv.SentinelOptions{})
				md["address"], md["sentinelMaster"] = sent.Addr(), "mymaster"
				where = `master "mymaster" via ` + sent.Addr()
			}
			s := newScaler(t, Factory(typ), md)
			_, err := s.Metrics(t.Context())
			what := map[string]string{"redis": `redis list "jobs"`, "redis-streams": `redis stream "events"`, "redis-sentinel": `redis sentinel list "jobs"`}[typ]
			want := what + " at " + where + ` db 16: databaseIndex "16": the server has no such database (ERR DB index is out of range)`
			if err == nil || !errors.Is(err, scalers.ErrInvalidConfig) || errors.Is(err, scalers.ErrUnavailable) {
				t.Fatalf("Metrics: %v, want an error wrapping ErrInvalidConfig only", err)
			}
			if diff := cmp.Diff(want, err.Error()); diff != "" {
				t.Errorf("Metrics error (-want +got):\n%s", diff)
			}
		})
	}
}

// TestListPasswordFileRotation rotates the Redis password and the mounted
// file: new connections use the file's current content.
func TestListPasswordFileRotation(t *testing.T) {
	r := testenv.StartRedisWith(t, testenv.RedisOptions{Password: "first-password"})
	admin := client(t, r, 0)
	ctx := t.Context()
	must(t, admin.RPush(ctx, "jobs", "a").Err())
	pwFile := filepath.Join(t.TempDir(), "password")
	must(t, os.WriteFile(pwFile, []byte("first-password"), 0o600))
	s := newScaler(t, NewList, map[string]string{"address": r.Addr(), "listName": "jobs", "passwordFile": pwFile})
	wantMetric(t, s, 1, true)

	// Rotate on the server and drop every connection: the file still has
	// the old password, so reconnecting fails.
	must(t, admin.ConfigSet(ctx, "requirepass", "second-password").Err())
	must(t, admin.Do(ctx, "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes").Err())
	err := wantError(t, s, scalers.ErrUnavailable)
	if strings.Contains(err.Error(), "first-password") || strings.Contains(err.Error(), "second-password") {
		t.Errorf("error %q reveals a password", err)
	}

	// The file is updated (as the kubelet does for a mounted Secret): the
	// next connection uses it, with no rebuild of the scaler.
	writeFileNewMtime(t, pwFile, "second-password")
	wantMetricEventually(t, "the list length with the rotated password", s, 1, true)
}

// writeFileNewMtime replaces a file through a rename, as the kubelet's
// atomic writer does, so its size or modification time changes.
func writeFileNewMtime(tb testing.TB, path, content string) {
	tb.Helper()
	tmp := path + ".tmp"
	must(tb, os.WriteFile(tmp, []byte(content), 0o600))
	must(tb, os.Rename(tmp, path))
}

func TestListRedisRestart(t *testing.T) {
	r := testenv.StartRedis(t)
	rdb := client(t, r, 0)
	ctx := t.Context()
	must(t, rdb.RPush(ctx, "jobs", "a", "b", "c").Err())
	s := newScaler(t, NewList, map[string]string{"address": r.Addr(), "listName": "jobs"})
	wantMetric(t, s, 3, true)

	r.Stop()
	for range 3 {
		// Our words name the scaler and address; the rest is the network
		// error in the system's words.
		err := wantError(t, s, scalers.ErrUnavailable)
		if prefix := `redis list "jobs" at ` + r.Addr() + ": "; !strings.HasPrefix(err.Error(), prefix) {
			t.Errorf("error %q: want it to start with %q", err, prefix)
		}
	}

	r.Start() // same port, empty (no persistence); it answers PING
	// A fresh client: the old one's connections died with the server.
	must(t, client(t, r, 0).RPush(ctx, "jobs", "x", "y").Err())
	wantMetricEventually(t, "the new list length after the restart", s, 2, true)
}

func TestListUnreachableAtStart(t *testing.T) {
	r := testenv.StartRedis(t)
	addr := r.Addr()
	r.Stop()
	// Building does not need Redis: the spec is served, values fail.
	s := newScaler(t, NewList, map[string]string{"address": addr, "listName": "jobs"})
	if diff := cmp.Diff([]scalers.MetricSpec{{Name: "redis-jobs", Target: 5}}, s.MetricSpecs()); diff != "" {
		t.Errorf("MetricSpecs (-want +got):\n%s", diff)
	}
	wantError(t, s, scalers.ErrUnavailable)
	r.Start()
	wantMetricEventually(t, "the list length once Redis is up", s, 0, false)
}

func TestListCanceledContext(t *testing.T) {
	r := testenv.StartRedis(t)
	s := newScaler(t, NewList, map[string]string{"address": r.Addr(), "listName": "jobs"})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := s.Metrics(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Metrics with a canceled context: %v, want context.Canceled", err)
	}
}

func TestListTLS(t *testing.T) {
	srv := testenv.StartRedisWith(t, testenv.RedisOptions{TLS: true})
	mtls := testenv.StartRedisWith(t, testenv.RedisOptions{TLS: true, TLSClientAuth: true})
	plain := testenv.StartRedis(t)
	certs := srv.TLS()
	mcerts := mtls.TLS()

	good := []struct {
		name string
		addr string
		md   map[string]string
	}{
		{"enableTLS with a CA file", srv.Addr(), map[string]string{"enableTLS": "true", "caFile": certs.CAFile}},
		{"enableTLS with an inline CA", srv.Addr(), map[string]string{"enableTLS": "true", "ca": string(certs.CACert)}},
		{"tls enable with a CA file", srv.Addr(), map[string]string{"tls": "enable", "caFile": certs.CAFile}},
		{"unsafeSsl without a CA", srv.Addr(), map[string]string{"enableTLS": "true", "unsafeSsl": "true"}},
		{"client certificate", mtls.Addr(), map[string]string{"enableTLS": "true", "caFile": mcerts.CAFile,
			"certFile": mcerts.ClientCertFile, "keyFile": mcerts.ClientKeyFile}},
		{"inline client certificate", mtls.Addr(), map[string]string{"enableTLS": "true", "ca": string(mcerts.CACert),
			"cert": string(mcerts.ClientCert), "key": string(mcerts.ClientKey)}},
		// enableTLS is also read by KEDA for its gRPC connection to this
		// server; tls: disable keeps Redis in plaintext.
		{"tls disable overrides enableTLS", plain.Addr(), map[string]string{"enableTLS": "true", "tls": "disable"}},
	}
	for _, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			tc.md["address"], tc.md["listName"] = tc.addr, "jobs"
			wantMetric(t, newScaler(t, NewList, tc.md), 0, false)
		})
	}
	bad := []struct {
		name string
		addr string
		md   map[string]string
	}{
		{"unknown CA", srv.Addr(), map[string]string{"enableTLS": "true"}},
		{"plaintext to a TLS port", srv.Addr(), map[string]string{}},
		{"no client certificate", mtls.Addr(), map[string]string{"enableTLS": "true", "caFile": mcerts.CAFile}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			tc.md["address"], tc.md["listName"] = tc.addr, "jobs"
			wantError(t, newScaler(t, NewList, tc.md), scalers.ErrUnavailable)
		})
	}
	// Redis reads a TLS client hello as the start of an inline command and
	// waits for the rest, so the handshake may never complete: the caller's
	// deadline ends the call, which is as unavailable as a refused one.
	t.Run("TLS to a plaintext server", func(t *testing.T) {
		md := map[string]string{"address": plain.Addr(), "listName": "jobs", "enableTLS": "true", "unsafeSsl": "true"}
		wantErrorWithin(t, newScaler(t, NewList, md), scalers.ErrUnavailable, 200*time.Millisecond)
	})
}

func TestListClose(t *testing.T) {
	r := testenv.StartRedis(t)
	s, err := NewList(t.Context(), scalers.Config{Metadata: map[string]string{"address": r.Addr(), "listName": "jobs"}})
	if err != nil {
		t.Fatal(err)
	}
	wantMetric(t, s, 0, false)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v, want nil (idempotent)", err)
	}
	if _, err := s.Metrics(t.Context()); !errors.Is(err, errClosed) {
		t.Fatalf("Metrics after Close: %v, want %v", err, errClosed)
	}
}
