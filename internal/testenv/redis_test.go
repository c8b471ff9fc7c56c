package testenv

import (
	"strings"
	"testing"
)

func TestRedisRestartKeepsAddress(t *testing.T) {
	r := StartRedis(t)
	addr := r.Addr()
	if _, err := r.Do("RPUSH", "jobs", "a b", "c"); err != nil {
		t.Fatalf("RPUSH: %v", err)
	}
	if got, err := r.Do("LLEN", "jobs"); err != nil || got != "2" {
		t.Fatalf("LLEN = %q, %v; want 2", got, err)
	}
	r.Stop()
	if _, err := r.Do("PING"); err == nil {
		t.Fatalf("PING after Stop succeeded, want an error")
	}
	r.Stop() // stopping twice is harmless
	r.Start()
	if r.Addr() != addr {
		t.Fatalf("address after restart = %s, want %s", r.Addr(), addr)
	}
	// No persistence: the list is gone after a restart.
	if got, err := r.Do("LLEN", "jobs"); err != nil || got != "0" {
		t.Fatalf("LLEN after restart = %q, %v; want 0", got, err)
	}
}

func TestRedisPassword(t *testing.T) {
	r := StartRedisWith(t, RedisOptions{Password: "s3cret-pw"})
	if _, err := r.command("GET", "x"); err == nil || !strings.HasPrefix(err.Error(), "NOAUTH") {
		t.Fatalf("GET without AUTH: err = %v, want NOAUTH", err)
	}
	if got, err := r.Do("PING"); err != nil || got != "PONG" {
		t.Fatalf("PING with AUTH = %q, %v; want PONG", got, err)
	}
}

func TestRedisTLS(t *testing.T) {
	r := StartRedisWith(t, RedisOptions{TLS: true, TLSClientAuth: true})
	if r.TLS() == nil || len(r.TLS().CACert) == 0 || r.TLS().ClientKeyFile == "" {
		t.Fatalf("TLS material missing: %+v", r.TLS())
	}
	if got, err := r.Do("PING"); err != nil || got != "PONG" {
		t.Fatalf("PING over TLS = %q, %v; want PONG", got, err)
	}
	plain := &Redis{port: r.port}
	if _, err := plain.Do("PING"); err == nil {
		t.Fatalf("plaintext PING to a TLS-only server succeeded, want an error")
	}
}

func TestRedisCluster(t *testing.T) {
	c := StartRedisCluster(t, 3)
	if len(c.Addrs()) != 3 {
		t.Fatalf("got %d nodes, want 3", len(c.Addrs()))
	}
	info, err := c.Nodes[0].Do("CLUSTER", "INFO")
	if err != nil || !strings.Contains(info, "cluster_known_nodes:3") {
		t.Fatalf("CLUSTER INFO = %q, %v; want 3 known nodes", info, err)
	}
}

func TestRedisSentinel(t *testing.T) {
	master := StartRedisWith(t, RedisOptions{Password: "master-pw"})
	s := StartRedisSentinel(t, master, SentinelOptions{Password: "sentinel-pw"})
	got, err := s.Do("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster")
	want := "127.0.0.1\n" + strings.TrimPrefix(master.Addr(), "127.0.0.1:")
	if err != nil || got != want {
		t.Fatalf("SENTINEL GET-MASTER-ADDR-BY-NAME = %q, %v; want %q", got, err, want)
	}
}
