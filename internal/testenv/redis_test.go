package testenv

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// do runs one command and fails the test on an error reply.
func do(tb testing.TB, r *Redis, args ...string) string {
	tb.Helper()
	got, err := r.Do(args...)
	if err != nil {
		tb.Fatalf("%v: %v", args, err)
	}
	return got
}

func TestRedisRestartKeepsAddress(t *testing.T) {
	r := StartRedis(t)
	addr := r.Addr()
	do(t, r, "RPUSH", "jobs", "a b", "c")
	if diff := cmp.Diff("2", do(t, r, "LLEN", "jobs")); diff != "" {
		t.Fatalf("LLEN (-want +got):\n%s", diff)
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
	if diff := cmp.Diff("0", do(t, r, "LLEN", "jobs")); diff != "" {
		t.Fatalf("LLEN after restart (-want +got):\n%s", diff)
	}
}

func TestRedisPassword(t *testing.T) {
	r := StartRedisWith(t, RedisOptions{Password: "s3cret-pw"})
	_, err := r.command("GET", "x")
	if diff := cmp.Diff("NOAUTH Authentication required.", errString(err)); diff != "" {
		t.Errorf("GET without AUTH (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff("PONG", do(t, r, "PING")); diff != "" {
		t.Errorf("PING with AUTH (-want +got):\n%s", diff)
	}
}

func TestRedisTLS(t *testing.T) {
	r := StartRedisWith(t, RedisOptions{TLS: true, TLSClientAuth: true})
	m := r.TLS()
	if m == nil {
		t.Fatalf("got no TLS material")
	}
	if len(m.CACert) == 0 || len(m.ClientCert) == 0 || len(m.ClientKey) == 0 || m.CAFile == "" || m.ClientCertFile == "" || m.ClientKeyFile == "" {
		t.Errorf("TLS material incomplete: %+v", m)
	}
	if diff := cmp.Diff("PONG", do(t, r, "PING")); diff != "" {
		t.Errorf("PING over TLS (-want +got):\n%s", diff)
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
	info := do(t, c.Nodes[0], "CLUSTER", "INFO")
	got := map[string]string{}
	for _, k := range []string{"cluster_state", "cluster_known_nodes", "cluster_slots_assigned"} {
		got[k] = redisInfoField(info, k)
	}
	want := map[string]string{"cluster_state": "ok", "cluster_known_nodes": "3", "cluster_slots_assigned": "16384"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("CLUSTER INFO (-want +got):\n%s", diff)
	}
}

func TestRedisSentinel(t *testing.T) {
	master := StartRedisWith(t, RedisOptions{Password: "master-pw"})
	s := StartRedisSentinel(t, master, SentinelOptions{Password: "sentinel-pw"})
	want := "127.0.0.1\n" + master.Addr()[len("127.0.0.1:"):]
	if diff := cmp.Diff(want, do(t, s, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster")); diff != "" {
		t.Errorf("SENTINEL GET-MASTER-ADDR-BY-NAME (-want +got):\n%s", diff)
	}
}

// TestRedisFreezeAndKill: a frozen server keeps its port and accepts
// connections but answers nothing until it is thawed; a killed one is
// gone until Start.
func TestRedisFreezeAndKill(t *testing.T) {
	r := StartRedis(t)
	do(t, r, "RPUSH", "jobs", "a")
	r.Freeze()
	r.Freeze() // freezing twice is harmless
	conn, err := net.DialTimeout("tcp", r.Addr(), 10*time.Second)
	if err != nil {
		t.Fatalf("dial a frozen server: %v, want the kernel to accept", err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "PING\r\n"); err != nil {
		t.Fatalf("write to a frozen server: %v", err)
	}
	// Nothing is answered while frozen.
	_ = conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, err := conn.Read(make([]byte, 16)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read from a frozen server: %d bytes, %v; want no answer", n, err)
	}
	r.Thaw()
	r.Thaw() // thawing twice is harmless
	// The PING sent while frozen is answered now.
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		t.Fatalf("read after thaw: %v", err)
	}
	if diff := cmp.Diff("+PONG\r\n", got); diff != "" {
		t.Errorf("reply after thaw (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff("1", do(t, r, "LLEN", "jobs")); diff != "" {
		t.Errorf("LLEN after thaw (-want +got):\n%s", diff)
	}

	r.Kill()
	if _, err := r.Do("PING"); err == nil {
		t.Fatalf("PING after Kill succeeded, want an error")
	}
	r.Kill() // killing twice is harmless
	r.Start()
	if diff := cmp.Diff("0", do(t, r, "LLEN", "jobs")); diff != "" {
		t.Errorf("LLEN after kill and start (-want +got):\n%s", diff)
	}

	// Stop thaws a frozen server first, so it exits at once.
	r.Freeze()
	r.Stop()
	if _, err := r.Do("PING"); err == nil {
		t.Fatalf("PING after Stop succeeded, want an error")
	}
}
