package redis

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

func TestCluster(t *testing.T) {
	c := testenv.StartRedisCluster(t, 3)
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs(), DisableIdentity: true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := t.Context()
	// Keys spread over the slots of different nodes.
	keys := map[string]int{"alpha": 1, "bravo": 2, "charlie": 3, "delta": 4, "echo": 5}
	for k, n := range keys {
		for range n {
			must(t, rdb.RPush(ctx, k, "x").Err())
		}
	}
	must(t, rdb.SAdd(ctx, "members", "a", "b").Err())
	addEntries(t, rdb, "events", 5)
	must(t, rdb.XGroupCreate(ctx, "events", "workers", "0").Err())
	readGroup(t, rdb, "events", "workers", 2)

	clients := NewClients(ClientsOptions{})
	for k, n := range keys {
		t.Run("list "+k, func(t *testing.T) {
			// Seed with one node only: the client discovers the others.
			s := newScaler(t, clients.NewClusterList, map[string]string{"addresses": c.Addrs()[0], "listName": k})
			wantMetric(t, s, float64(n), true)
		})
	}
	tests := []struct {
		name string
		f    scalers.Factory
		md   map[string]string
		want float64
	}{
		{"set via hosts and ports", Factory("redis-cluster"), map[string]string{
			"hosts": "127.0.0.1, 127.0.0.1, 127.0.0.1", "ports": portsOf(c.Addrs()), "listName": "members"}, 2},
		{"databaseIndex is ignored as in KEDA", Factory("redis-cluster"), map[string]string{
			"addresses": strings.Join(c.Addrs(), ","), "listName": "alpha", "databaseIndex": "2"}, 1},
		{"stream length", Factory("redis-cluster-streams"), map[string]string{"addresses": strings.Join(c.Addrs(), ","), "stream": "events"}, 5},
		{"stream pending", Factory("redis-cluster-streams"), map[string]string{
			"addresses": strings.Join(c.Addrs(), ","), "stream": "events", "consumerGroup": "workers"}, 2},
		{"stream lag", Factory("redis-cluster-streams"), map[string]string{
			"addresses": strings.Join(c.Addrs(), ","), "stream": "events", "consumerGroup": "workers", "lagCount": "1"}, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantMetric(t, newScaler(t, tc.f, tc.md), tc.want, true)
		})
	}
}

func portsOf(addrs []string) string {
	ports := make([]string, len(addrs))
	for i, a := range addrs {
		ports[i] = a[strings.LastIndex(a, ":")+1:]
	}
	return strings.Join(ports, ", ")
}

func TestSentinel(t *testing.T) {
	master := testenv.StartRedisWith(t, testenv.RedisOptions{Password: "master-pw"})
	sent := testenv.StartRedisSentinel(t, master, testenv.SentinelOptions{MasterName: "jobs-master", Password: "sentinel-pw"})
	rdb := client(t, master, 0)
	ctx := t.Context()
	must(t, rdb.RPush(ctx, "jobs", "a", "b", "c").Err())
	addEntries(t, rdb, "events", 2)
	must(t, client(t, master, 1).RPush(ctx, "jobs", "a").Err())

	base := func(extra map[string]string) map[string]string {
		md := map[string]string{"addresses": sent.Addr(), "sentinelMaster": "jobs-master",
			"sentinelPassword": "sentinel-pw", "password": "master-pw"}
		for k, v := range extra {
			md[k] = v
		}
		return md
	}
	good := []struct {
		name string
		f    scalers.Factory
		md   map[string]string
		want float64
	}{
		{"list", Factory("redis-sentinel"), base(map[string]string{"listName": "jobs"}), 3},
		{"list in another database", Factory("redis-sentinel"), base(map[string]string{"listName": "jobs", "databaseIndex": "1"}), 1},
		{"stream", Factory("redis-sentinel-streams"), base(map[string]string{"stream": "events"}), 2},
		{"passwords resolved from env", Factory("redis-sentinel"), map[string]string{"addressesFromEnv": sent.Addr(),
			"sentinelMasterFromEnv": "jobs-master", "sentinelPasswordFromEnv": "sentinel-pw",
			"passwordFromEnv": "master-pw", "listName": "jobs"}, 3},
	}
	for _, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			wantMetric(t, newScaler(t, tc.f, tc.md), tc.want, true)
		})
	}
	// After our words come go-redis's and Redis's.
	const lookup = "redis: all sentinels specified in configuration are unreachable: "
	bad := []struct {
		name string
		md   map[string]string
		want string
	}{
		{"wrong sentinel password", base(map[string]string{"listName": "jobs", "sentinelPassword": "nope-sentinel"}),
			`at master "jobs-master": sentinel login failed: ` + lookup + "WRONGPASS invalid username-password pair or user is disabled."},
		{"no sentinel password", base(map[string]string{"listName": "jobs", "sentinelPassword": ""}),
			`at master "jobs-master": sentinel login failed: ` + lookup + "NOAUTH Authentication required."},
		{"wrong master password", base(map[string]string{"listName": "jobs", "password": "nope-master"}),
			`at master "jobs-master": login failed: WRONGPASS invalid username-password pair or user is disabled.`},
		{"unknown master", base(map[string]string{"listName": "jobs", "sentinelMaster": "other"}),
			`at master "other": no sentinel knows master "other": ` + lookup + "redis: nil"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			err := wantError(t, newScaler(t, Factory("redis-sentinel"), tc.md), scalers.ErrUnavailable)
			at, rest, _ := strings.Cut(tc.want, ": ")
			want := classified{Msg: `redis sentinel list "jobs" ` + at + " via " + sent.Addr() + ": " + rest, Unavailable: true}
			if diff := cmp.Diff(want, classify(err)); diff != "" {
				t.Errorf("Metrics error (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSentinelPasswordFileRotation: go-redis reads the sentinel password
// once per client, so a failed call rebuilds the client when the file
// changed, and retries.
func TestSentinelPasswordFileRotation(t *testing.T) {
	master := testenv.StartRedis(t)
	sent := testenv.StartRedisSentinel(t, master, testenv.SentinelOptions{Password: "new-sentinel-pw"})
	must(t, client(t, master, 0).RPush(t.Context(), "jobs", "a").Err())
	pwFile := filepath.Join(t.TempDir(), "sentinel-password")
	must(t, os.WriteFile(pwFile, []byte("old-pw"), 0o600))

	s := newScaler(t, Factory("redis-sentinel"), map[string]string{"addresses": sent.Addr(), "sentinelMaster": "mymaster",
		"sentinelPasswordFile": pwFile, "listName": "jobs"})
	err := wantError(t, s, scalers.ErrUnavailable)
	if strings.Contains(err.Error(), "old-pw") || strings.Contains(err.Error(), "sentinel-pw") {
		t.Errorf("error %q reveals a password", err)
	}
	// A different length: scalers.Secret notices a rewrite by size or
	// modification time, and two writes within one clock tick of the file
	// system share a modification time.
	writeFileNewMtime(t, pwFile, "new-sentinel-pw")
	wantMetric(t, s, 1, true)
}

func TestSharedClients(t *testing.T) {
	r := testenv.StartRedis(t)
	rdb := client(t, r, 0)
	must(t, rdb.RPush(t.Context(), "a", "1").Err())
	must(t, rdb.RPush(t.Context(), "b", "1", "2").Err())
	clients := NewClients(ClientsOptions{PoolSize: 4})
	build := func(md map[string]string) scalers.Scaler {
		t.Helper()
		md["address"] = r.Addr()
		s, err := clients.NewList(t.Context(), scalers.Config{Metadata: md})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	sa := build(map[string]string{"listName": "a"})
	sb := build(map[string]string{"listName": "b", "listLength": "10"})
	other := build(map[string]string{"listName": "a", "databaseIndex": "1"})
	streams, err := clients.NewStreams(t.Context(), scalers.Config{Metadata: map[string]string{"address": r.Addr(), "stream": "s"}})
	if err != nil {
		t.Fatal(err)
	}
	entries := func() (int, []int) {
		clients.mu.Lock()
		defer clients.mu.Unlock()
		var refs []int
		for _, sc := range clients.shared {
			refs = append(refs, sc.refs)
		}
		return len(clients.shared), refs
	}
	if n, refs := entries(); n != 2 {
		t.Fatalf("got %d shared clients (refs %v), want 2: db 0 shared by three scalers, db 1 alone", n, refs)
	}
	if sa.(*listScaler).sc != sb.(*listScaler).sc || sa.(*listScaler).sc != streams.(*streamsScaler).sc {
		t.Fatalf("scalers with identical settings got different clients")
	}
	wantMetric(t, sa, 1, true)
	wantMetric(t, sb, 2, true)
	wantMetric(t, other, 0, false)

	shared := sa.(*listScaler).sc.client()
	if err := sa.Close(); err != nil {
		t.Fatal(err)
	}
	_ = sa.Close() // a second Close must not drop another reference
	wantMetric(t, sb, 2, true)
	if err := sb.Close(); err != nil {
		t.Fatal(err)
	}
	if err := shared.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("shared client closed while the streams scaler still uses it: %v", err)
	}
	if err := streams.Close(); err != nil {
		t.Fatal(err)
	}
	if err := shared.Ping(context.Background()).Err(); err == nil {
		t.Fatalf("shared client still open after its last scaler closed")
	}
	if n, _ := entries(); n != 1 {
		t.Fatalf("got %d shared clients, want 1 (db 1)", n)
	}
	if err := other.Close(); err != nil {
		t.Fatal(err)
	}
	if n, _ := entries(); n != 0 {
		t.Fatalf("got %d shared clients after closing every scaler, want 0", n)
	}
}

// TestSharedClientConcurrentRestart drives many scalers on one shared
// client from many goroutines (so calls go through the auto-pipeline) while
// Redis stops and starts: every error while it is down wraps ErrUnavailable
// (or is the caller's own deadline), and every scaler reads correct values
// once it is back.
func TestSharedClientConcurrentRestart(t *testing.T) {
	r := testenv.StartRedis(t)
	rdb := client(t, r, 0)
	const n = 40
	fill := func(extra int) {
		t.Helper()
		for i := range n {
			key := "jobs-" + strconv.Itoa(i)
			must(t, rdb.Del(t.Context(), key).Err())
			for range i%5 + extra {
				must(t, rdb.RPush(t.Context(), key, "x").Err())
			}
		}
	}
	fill(0)
	clients := NewClients(ClientsOptions{PoolSize: 8})
	ss := make([]scalers.Scaler, n)
	for i := range ss {
		ss[i] = newScaler(t, clients.NewList, map[string]string{"address": r.Addr(), "listName": "jobs-" + strconv.Itoa(i)})
	}
	check := func(extra int) error {
		var wg sync.WaitGroup
		errs := make(chan error, n*4)
		for g := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := range 10 {
					i := (g*7 + k*3) % n
					ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
					m, err := ss[i].Metrics(ctx)
					cancel()
					switch {
					case err != nil:
						errs <- err
					case m.Values[0].Value != float64(i%5+extra):
						errs <- fmt.Errorf("scaler %d: got %v, want %d", i, m.Values[0].Value, i%5+extra)
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		return <-errs
	}
	if err := check(0); err != nil {
		t.Fatalf("before the restart: %v", err)
	}
	if got := clients.shared[clientKey(&ss[0].(*listScaler).meta.Conn, scalers.DefaultSourceTimeout)].cur.Load().ap; got == nil {
		t.Fatalf("shared client has no auto-pipeline")
	}

	r.Stop()
	for range 3 {
		err := check(0)
		if err == nil {
			t.Fatalf("while Redis is down: got values, want errors")
		}
		if !errors.Is(err, scalers.ErrUnavailable) && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("while Redis is down: %v, want ErrUnavailable", err)
		}
	}

	r.Start() // empty, and answering PING
	// A fresh client: the old one's connections died with the server.
	rdb = client(t, r, 0)
	fill(1)
	scalertest.Eventually(t, waitLimit, "every scaler's new length after the restart", func() error { return check(1) })
}
