package testenv

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// RedisOptions configures StartRedisWith. The zero value is a plain
// instance without a password, like StartRedis.
type RedisOptions struct {
	// Password turns on requirepass with this password.
	Password string
	// TLS serves TLS only (no plaintext port) with a certificate for
	// 127.0.0.1 and localhost signed by a CA generated for this instance;
	// Redis.TLS returns the CA and a client certificate.
	TLS bool
	// TLSClientAuth makes the server require a client certificate signed by
	// that CA (tls-auth-clients yes). Only with TLS.
	TLSClientAuth bool
	// Cluster enables cluster mode (StartRedisCluster joins such nodes).
	Cluster bool
	// Args are appended to the redis-server command line.
	Args []string
}

// RedisTLS is the TLS material of an instance started with TLS, as PEM and
// as files in the instance's directory.
type RedisTLS struct {
	CACert, ClientCert, ClientKey         []byte
	CAFile, ClientCertFile, ClientKeyFile string
}

// Redis is one redis-server (or sentinel) process of a test. Its methods are
// called from the test goroutine.
type Redis struct {
	tb       testing.TB
	what     string // "redis-server" or "redis sentinel", for messages
	bin      string
	args     []string
	dir      string
	port     int
	password string
	tls      *RedisTLS
	probeTLS *tls.Config

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{}
	frozen bool // stopped by Freeze, guarded by mu
}

// StartRedis starts a plain redis-server on a free loopback port with no
// persistence and stops it when the test ends.
func StartRedis(tb testing.TB) *Redis {
	tb.Helper()
	return StartRedisWith(tb, RedisOptions{})
}

// StartRedisWith starts a redis-server configured by opts and stops it when
// the test ends. It fails the test if redis-server is not installed or does
// not start.
func StartRedisWith(tb testing.TB, opts RedisOptions) *Redis {
	tb.Helper()
	if opts.TLSClientAuth && !opts.TLS {
		tb.Fatalf("testenv: RedisOptions.TLSClientAuth needs TLS")
	}
	r := &Redis{tb: tb, what: "redis-server", bin: redisBinary(tb, "redis-server"), dir: tb.TempDir(), password: opts.Password}
	if opts.TLS {
		r.tls, r.probeTLS = writeRedisTLS(tb, r.dir)
	}
	r.launch(func(port int) []string {
		args := []string{
			"--bind", "127.0.0.1",
			"--dir", r.dir,
			"--logfile", filepath.Join(r.dir, "redis.log"),
			"--daemonize", "no",
			"--save", "",
			"--appendonly", "no",
		}
		if opts.TLS {
			auth := "no"
			if opts.TLSClientAuth {
				auth = "yes"
			}
			args = append(args,
				"--port", "0",
				"--tls-port", strconv.Itoa(port),
				"--tls-cert-file", filepath.Join(r.dir, "server.crt"),
				"--tls-key-file", filepath.Join(r.dir, "server.key"),
				"--tls-ca-cert-file", r.tls.CAFile,
				"--tls-auth-clients", auth,
			)
		} else {
			args = append(args, "--port", strconv.Itoa(port))
		}
		if opts.Password != "" {
			args = append(args, "--requirepass", opts.Password)
		}
		if opts.Cluster {
			args = append(args,
				"--cluster-enabled", "yes",
				"--cluster-config-file", "nodes.conf",
				"--cluster-node-timeout", "5000",
			)
		}
		return append(args, opts.Args...)
	})
	return r
}

// SentinelOptions configures StartRedisSentinel.
type SentinelOptions struct {
	// MasterName is the name the sentinel monitors the master under
	// (default "mymaster").
	MasterName string
	// Password turns on requirepass on the sentinel itself (what a client
	// sends as the sentinel password).
	Password string
}

// StartRedisSentinel starts a sentinel (redis-server --sentinel) monitoring
// master with a quorum of 1, on a free loopback port, and stops it when the
// test ends. A master with a password is monitored with that password.
func StartRedisSentinel(tb testing.TB, master *Redis, opts SentinelOptions) *Redis {
	tb.Helper()
	if master.tls != nil {
		tb.Fatalf("testenv: StartRedisSentinel does not support a TLS master")
	}
	if opts.MasterName == "" {
		opts.MasterName = "mymaster"
	}
	r := &Redis{tb: tb, what: "redis sentinel", bin: redisBinary(tb, "redis-server"), dir: tb.TempDir(), password: opts.Password}
	conf := filepath.Join(r.dir, "sentinel.conf")
	r.launch(func(port int) []string {
		lines := []string{
			"port " + strconv.Itoa(port),
			"bind 127.0.0.1",
			"daemonize no",
			"dir " + r.dir,
			"logfile " + filepath.Join(r.dir, "redis.log"),
			fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d 1", opts.MasterName, master.Port()),
			fmt.Sprintf("sentinel down-after-milliseconds %s 60000", opts.MasterName),
		}
		if master.password != "" {
			lines = append(lines, fmt.Sprintf("sentinel auth-pass %s %s", opts.MasterName, master.password))
		}
		if opts.Password != "" {
			lines = append(lines, "requirepass "+opts.Password)
		}
		// The sentinel rewrites its configuration file, so it must be a
		// fresh writable file for every port tried.
		if err := os.WriteFile(conf, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			tb.Fatalf("testenv: write sentinel config: %v", err)
		}
		return []string{conf, "--sentinel"}
	})
	return r
}

// RedisCluster is a Redis Cluster of master-only nodes.
type RedisCluster struct {
	Nodes []*Redis
}

// StartRedisCluster starts masters (at least 3) cluster-enabled nodes, joins
// them into one cluster with redis-cli --cluster create (slots spread evenly,
// no replicas) and waits until every node reports cluster_state:ok.
func StartRedisCluster(tb testing.TB, masters int) *RedisCluster {
	tb.Helper()
	if masters < 3 {
		tb.Fatalf("testenv: a Redis Cluster needs at least 3 masters, got %d", masters)
	}
	cli := redisBinary(tb, "redis-cli")
	c := &RedisCluster{}
	for range masters {
		c.Nodes = append(c.Nodes, StartRedisWith(tb, RedisOptions{Cluster: true}))
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	out, err := exec.Command(cli, args...).CombinedOutput()
	if err != nil {
		tb.Fatalf("testenv: redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, n := range c.Nodes {
		what := fmt.Sprintf("redis cluster node %s to report cluster_state:ok", n.Addr())
		if err := poll(redisReadyLimit, what, nil, func() error {
			info, err := n.command("CLUSTER", "INFO")
			if err != nil {
				return err
			}
			if state := redisInfoField(info, "cluster_state"); state != "ok" {
				return fmt.Errorf("cluster_state:%s", state)
			}
			return nil
		}); err != nil {
			tb.Fatalf("testenv: %v", err)
		}
	}
	return c
}

// Addrs returns the host:port of every node.
func (c *RedisCluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.Addr()
	}
	return out
}

// Addr returns the host:port the server listens on (the TLS port of a TLS
// instance). It stays the same across Stop and Start.
func (r *Redis) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port)) }

// Port returns the port of Addr.
func (r *Redis) Port() int { return r.port }

// Password returns the requirepass password ("" for none).
func (r *Redis) Password() string { return r.password }

// TLS returns the TLS material of a TLS instance, nil otherwise.
func (r *Redis) TLS() *RedisTLS { return r.tls }

// Dir returns the instance's temporary directory.
func (r *Redis) Dir() string { return r.dir }

// Stop stops the server (SIGTERM, SIGKILL after 10s) and waits until it has
// exited. Data is lost (there is no persistence). Stopping a stopped server
// does nothing; a frozen one is thawed first, so that it can exit.
func (r *Redis) Stop() {
	r.tb.Helper()
	r.mu.Lock()
	cmd, done, frozen := r.cmd, r.done, r.frozen
	r.cmd, r.done, r.frozen = nil, nil, false
	r.mu.Unlock()
	if cmd == nil {
		return
	}
	if frozen {
		_ = cmd.Process.Signal(syscall.SIGCONT)
	}
	terminate(cmd, done, 10*time.Second, func() { _ = cmd.Process.Kill() })
}

// Kill kills the server with SIGKILL (kill -9: no shutdown, its connections
// reset by the kernel) and waits until it has exited. Start starts it again
// on the same port. Killing a stopped server does nothing.
func (r *Redis) Kill() {
	r.tb.Helper()
	r.mu.Lock()
	cmd, done := r.cmd, r.done
	r.cmd, r.done, r.frozen = nil, nil, false
	r.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-done
}

// Freeze stops the server's process with SIGSTOP and returns once every one
// of its threads is stopped: its port and connections stay open and the
// kernel still accepts new connections into the listen backlog, but
// nothing is read or answered until Thaw, which is what a hung Redis (or
// one whose machine stalls) looks like to a client. A frozen server is
// thawed by Stop, and so when the test ends. Freezing a frozen or stopped
// server does nothing.
func (r *Redis) Freeze() {
	r.tb.Helper()
	r.setFrozen(true)
}

// Thaw resumes a frozen server with SIGCONT and returns once none of its
// threads is stopped any more. Thawing a server that is not frozen does
// nothing.
func (r *Redis) Thaw() {
	r.tb.Helper()
	r.setFrozen(false)
}

// setFrozen sends SIGSTOP (freeze) or SIGCONT and waits until every thread
// of the process is in the state the signal brings.
func (r *Redis) setFrozen(freeze bool) {
	r.tb.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil || r.frozen == freeze {
		return
	}
	sig, verb, state := syscall.SIGCONT, "thaw", "run again"
	if freeze {
		sig, verb, state = syscall.SIGSTOP, "freeze", "stop"
	}
	if err := r.cmd.Process.Signal(sig); err != nil {
		r.tb.Fatalf("testenv: %s %s on %s: %v", verb, r.what, r.Addr(), err)
	}
	r.frozen = freeze
	pid := r.cmd.Process.Pid
	what := fmt.Sprintf("every thread of %s (pid %d) on %s to %s", r.what, pid, r.Addr(), state)
	if err := poll(redisReadyLimit, what, r.done, func() error { return threadsStopped(pid, freeze) }); err != nil {
		r.tb.Fatalf("testenv: %v", err)
	}
}

// threadsStopped reports, as an error naming one, a thread of process pid
// that is not stopped (want true) or that is still stopped (want false).
func threadsStopped(pid int, want bool) error {
	tasks, err := filepath.Glob(filepath.Join("/proc", strconv.Itoa(pid), "task", "*", "stat"))
	if err != nil || len(tasks) == 0 {
		return fmt.Errorf("no threads of process %d in /proc (%v)", pid, err)
	}
	for _, task := range tasks {
		b, err := os.ReadFile(task)
		if err != nil {
			continue // the thread exited meanwhile
		}
		t, ok := parseStat(string(b))
		if !ok {
			return fmt.Errorf("cannot parse %s", task)
		}
		if stopped := t.state == "T" || t.state == "t"; stopped != want {
			return fmt.Errorf("thread %d of process %d is in state %s", t.pid, pid, t.state)
		}
	}
	return nil
}

// Start starts a stopped server again on the same port (and with the same
// configuration), and waits until it answers. Starting a running server
// does nothing.
func (r *Redis) Start() {
	r.tb.Helper()
	if err := r.start(); err != nil {
		r.tb.Fatalf("testenv: restart %s on %s: %v", r.what, r.Addr(), err)
	}
}

// launch picks a free port, starts the server and registers its cleanup. A
// port taken by someone else between the probe and the start is retried
// with another one.
func (r *Redis) launch(argsFor func(port int) []string) {
	r.tb.Helper()
	var err error
	for range 5 {
		r.port = redisFreePort(r.tb)
		r.args = argsFor(r.port)
		if err = r.start(); err == nil {
			r.tb.Cleanup(r.Stop)
			return
		}
		if !strings.Contains(err.Error(), "in use") {
			break
		}
	}
	r.tb.Fatalf("testenv: start %s: %v", r.what, err)
}

func (r *Redis) start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil {
		return nil
	}
	// Truncate the log so an error shows this start's messages only.
	logPath := filepath.Join(r.dir, "redis.log")
	_ = os.Remove(logPath)
	out, err := os.OpenFile(filepath.Join(r.dir, "output.log"), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(r.bin, r.args...)
	cmd.Dir = r.dir
	cmd.Stdout, cmd.Stderr = out, out
	// Do not outlive a test binary killed by a timeout.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err = cmd.Start()
	out.Close()
	if err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	what := fmt.Sprintf("%s on %s to answer PING", r.what, r.Addr())
	if err := poll(redisReadyLimit, what, done, r.ping); err != nil {
		_ = cmd.Process.Kill()
		<-done
		return fmt.Errorf("%w\n%s", err, r.logTail())
	}
	r.cmd, r.done = cmd, done
	return nil
}

// redisReadyLimit bounds a start and a cluster's forming: far above the
// milliseconds an idle machine needs.
const redisReadyLimit = time.Minute

// redisInfoField returns the value of field in an INFO-style reply
// ("field:value" lines).
func redisInfoField(info, field string) string {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v
		}
	}
	return ""
}

// ping reports whether the server answers PING: PONG, or -NOAUTH from a
// server with a password, which is as real an answer. Any other error
// reply (-LOADING) means not yet.
func (r *Redis) ping() error {
	_, err := r.command("PING")
	if err != nil && !strings.HasPrefix(err.Error(), "NOAUTH") {
		return err
	}
	return nil
}

// Do sends one command (authenticating first when the server has a
// password) on a fresh connection and returns its reply: a simple string,
// integer or bulk string as text, an array as its elements joined by
// newlines, a nil reply as "". An error reply is returned as an error. It is
// meant for setting up test data without a client library.
func (r *Redis) Do(args ...string) (string, error) {
	var cmds [][]string
	if r.password != "" {
		cmds = append(cmds, []string{"AUTH", r.password})
	}
	return r.roundTrip(append(cmds, args)...)
}

// command sends one command without authenticating.
func (r *Redis) command(args ...string) (string, error) {
	return r.roundTrip(args)
}

// roundTrip sends cmds on one connection and returns the reply of the last.
func (r *Redis) roundTrip(cmds ...[]string) (string, error) {
	conn, err := net.DialTimeout("tcp", r.Addr(), time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if r.probeTLS != nil {
		tc := tls.Client(conn, r.probeTLS)
		if err := tc.Handshake(); err != nil {
			return "", err
		}
		conn = tc
	}
	var b strings.Builder
	for _, args := range cmds {
		fmt.Fprintf(&b, "*%d\r\n", len(args))
		for _, a := range args {
			fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
		}
	}
	if _, err := io.WriteString(conn, b.String()); err != nil {
		return "", err
	}
	rd := bufio.NewReader(conn)
	var reply string
	for range cmds {
		if reply, err = redisReadReply(rd); err != nil {
			return "", err
		}
	}
	return reply, nil
}

// redisReadReply reads one RESP2 reply; an array's elements are joined by
// newlines.
func redisReadReply(rd *bufio.Reader) (string, error) {
	head, err := rd.ReadString('\n')
	if err != nil {
		return "", err
	}
	head = strings.TrimRight(head, "\r\n")
	if head == "" {
		return "", errors.New("empty reply")
	}
	switch head[0] {
	case '+', ':':
		return head[1:], nil
	case '-':
		return "", errors.New(head[1:])
	case '$':
		n, err := strconv.Atoi(head[1:])
		if err != nil || n < -1 {
			return "", fmt.Errorf("bad bulk reply %q", head)
		}
		if n == -1 {
			return "", nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(rd, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(head[1:])
		if err != nil || n < -1 {
			return "", fmt.Errorf("bad array reply %q", head)
		}
		parts := make([]string, 0, max(n, 0))
		for range n {
			p, err := redisReadReply(rd)
			if err != nil {
				return "", err
			}
			parts = append(parts, p)
		}
		return strings.Join(parts, "\n"), nil
	default:
		return "", fmt.Errorf("unexpected reply %q", head)
	}
}

func (r *Redis) logTail() string {
	var parts []string
	for _, f := range []string{"output.log", "redis.log"} {
		b, err := os.ReadFile(filepath.Join(r.dir, f))
		if err != nil || len(b) == 0 {
			continue
		}
		if len(b) > 2000 {
			b = b[len(b)-2000:]
		}
		parts = append(parts, f+":\n"+string(b))
	}
	if len(parts) == 0 {
		return "(no output)"
	}
	return strings.Join(parts, "\n")
}

func redisBinary(tb testing.TB, name string) string {
	tb.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if p := "/usr/bin/" + name; redisIsExecutable(p) {
		return p
	}
	tb.Fatalf("testenv: %s not found: install the Debian package redis-server (hack/test-deps.sh does)", name)
	return ""
}

func redisIsExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

func redisFreePort(tb testing.TB) int {
	tb.Helper()
	ports, err := freePorts(1)
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	return ports[0]
}

// writeRedisTLS makes a CA, a server certificate for 127.0.0.1 and
// localhost, and a client certificate, writes them to dir and returns them
// with a client config that trusts the CA (for the readiness probe).
func writeRedisTLS(tb testing.TB, dir string) (*RedisTLS, *tls.Config) {
	tb.Helper()
	pki := NewPKI(tb)
	client := pki.ClientCert(tb, "testenv client")
	pki.ServerCert(tb).WriteFiles(tb, dir, "server")
	t := &RedisTLS{CACert: pki.CAPEM, ClientCert: client.CertPEM, ClientKey: client.KeyPEM, CAFile: pki.WriteCA(tb, dir)}
	t.ClientCertFile, t.ClientKeyFile = client.WriteFiles(tb, dir, "client")
	probe := pki.ClientConfig(client)
	probe.ServerName = "127.0.0.1"
	return t, probe
}
