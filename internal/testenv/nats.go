package testenv

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
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

// NATS is a private nats-server with JetStream: the installed Debian
// package's binary run as a child process with a client port and a
// monitoring port (-m) free on loopback, and its store in a temporary
// directory. Stop and Start (same ports, same store) let a test take the
// server away and bring it back. The client methods (CreateStream,
// CreateConsumer, Publish, Fetch, Ack) speak the NATS text protocol over
// one short TCP connection each, which is all a test needs to set up a
// stream and its consumer. Stop, Start and Close must not race with each
// other.
type NATS struct {
	// Port is the client port, MonitorPort the monitoring port.
	Port, MonitorPort int
	// Host is the loopback address both listen on (127.0.0.1 unless
	// NATSOptions.Host says otherwise).
	Host string

	bin, dir string
	opts     NATSOptions

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// NATSOptions configure a private nats-server.
type NATSOptions struct {
	// Host is the address to listen on; "" is 127.0.0.1.
	Host string
	// Ports, if set, are the client and monitoring ports (else free ones
	// are found).
	Port, MonitorPort int
	// Name is the server's name (-n); "" lets nats-server choose.
	Name string
	// Cluster, if set, is the cluster's name: the server listens for
	// routes on ClusterPort and connects to Routes (nats://host:port).
	Cluster     string
	ClusterPort int
	Routes      []string
}

var natsBinaries = []string{"/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"}

func findNATS() (string, error) {
	if p := os.Getenv("NATS_SERVER_BIN"); p != "" {
		return p, nil
	}
	for _, p := range natsBinaries {
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	if p, err := exec.LookPath("nats-server"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("nats-server not found in %s or PATH (install the Debian package nats-server: hack/test-deps.sh, or set NATS_SERVER_BIN)",
		strings.Join(natsBinaries, ", "))
}

// natsReadyLimit bounds a start: far above the fraction of a second an
// idle machine needs.
const natsReadyLimit = time.Minute

// StartNATS starts a private nats-server with JetStream for one test and
// stops it (and removes its store) in tb.Cleanup. It fails tb when the
// server cannot be started; it never skips.
func StartNATS(tb testing.TB, opts NATSOptions) *NATS {
	tb.Helper()
	n, err := LaunchNATS(opts)
	if err != nil {
		tb.Fatalf("start nats-server: %v", err)
	}
	tb.Cleanup(func() {
		if err := n.Close(); err != nil {
			tb.Errorf("stop nats-server: %v", err)
		}
	})
	return n
}

// LaunchNATS starts a private nats-server and waits until JetStream is
// enabled (/healthz?js-enabled-only=true answers ok); the caller must
// Close it. A server of a cluster (opts.Cluster) is not waited for: its
// JetStream needs the other members; see WaitJetStream.
func LaunchNATS(opts NATSOptions) (*NATS, error) {
	bin, err := findNATS()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "nats-test-")
	if err != nil {
		return nil, err
	}
	n := &NATS{bin: bin, dir: dir, opts: opts, Host: opts.Host}
	if n.Host == "" {
		n.Host = "127.0.0.1"
	}
	// Another process can take a free port between our probe and the
	// server binding it; try a few before giving up.
	var lastErr error
	for range 3 {
		n.Port, n.MonitorPort = opts.Port, opts.MonitorPort
		if n.Port == 0 || n.MonitorPort == 0 {
			ports, err := freePorts(2)
			if err != nil {
				_ = os.RemoveAll(dir)
				return nil, err
			}
			n.Port, n.MonitorPort = ports[0], ports[1]
		}
		if lastErr = n.Start(); lastErr == nil {
			return n, nil
		}
		if !strings.Contains(lastErr.Error(), "address already in use") || opts.Port != 0 {
			break
		}
	}
	_ = os.RemoveAll(dir)
	return nil, lastErr
}

// MonitorAddr is host:port of the monitoring endpoint, what KEDA's
// natsServerMonitoringEndpoint takes.
func (n *NATS) MonitorAddr() string { return net.JoinHostPort(n.Host, strconv.Itoa(n.MonitorPort)) }

// Addr is host:port of the client port.
func (n *NATS) Addr() string { return net.JoinHostPort(n.Host, strconv.Itoa(n.Port)) }

// Start starts the server (again, after Stop) on its ports with its
// store, and waits as LaunchNATS does.
func (n *NATS) Start() error {
	logPath := filepath.Join(n.dir, "nats.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	args := []string{"-js", "-a", n.Host, "-p", strconv.Itoa(n.Port), "-m", strconv.Itoa(n.MonitorPort),
		"-sd", filepath.Join(n.dir, "store")}
	if n.opts.Name != "" {
		args = append(args, "-n", n.opts.Name)
	}
	if n.opts.Cluster != "" {
		args = append(args, "--cluster_name", n.opts.Cluster,
			"--cluster", "nats://"+net.JoinHostPort(n.Host, strconv.Itoa(n.opts.ClusterPort)))
		if len(n.opts.Routes) > 0 {
			args = append(args, "--routes", strings.Join(n.opts.Routes, ","))
		}
	}
	cmd := exec.Command(n.bin, args...)
	cmd.Dir = n.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return fmt.Errorf("run %s: %w", n.bin, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		_ = logf.Close()
		close(done)
	}()
	n.mu.Lock()
	n.cmd, n.done = cmd, done
	n.mu.Unlock()
	if n.opts.Cluster != "" {
		return nil
	}
	if err := n.waitJetStream(natsReadyLimit, done); err != nil {
		_ = n.Stop()
		tail, _ := lastLines(logPath, 30)
		return fmt.Errorf("%w\n--- nats-server log (last lines) ---\n%s", err, tail)
	}
	return nil
}

// WaitJetStream waits until the server's JetStream is enabled.
func (n *NATS) WaitJetStream() error {
	n.mu.Lock()
	done := n.done
	n.mu.Unlock()
	return n.waitJetStream(natsReadyLimit, done)
}

func (n *NATS) waitJetStream(limit time.Duration, done <-chan struct{}) error {
	return poll(limit, fmt.Sprintf("nats-server on %s to have JetStream enabled", n.MonitorAddr()), done, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+n.MonitorAddr()+"/healthz?js-enabled-only=true", nil)
		if err != nil {
			return err
		}
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		var st struct {
			Status string `json:"status"`
		}
		if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &st) != nil || st.Status != "ok" {
			return fmt.Errorf("healthz: %s: %s", resp.Status, strings.TrimSpace(string(body)))
		}
		return nil
	})
}

// Stop stops the server (SIGTERM, then SIGKILL after 30s) and waits until
// it has exited; its ports are then closed. Start brings it back.
func (n *NATS) Stop() error {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.cmd, n.done = nil, nil
	n.mu.Unlock()
	if cmd == nil {
		return nil
	}
	terminate(cmd, done, 30*time.Second, func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	return poll(30*time.Second, "nats-server's processes to exit", nil, func() error { return groupGone(cmd.Process.Pid) })
}

// Close stops the server and removes its files.
func (n *NATS) Close() error {
	err := n.Stop()
	return errors.Join(err, os.RemoveAll(n.dir))
}

// CreateStream creates a file-stored stream with the given subjects and
// replicas (0 means 1).
func (n *NATS) CreateStream(ctx context.Context, name string, replicas int, subjects ...string) error {
	cfg, _ := json.Marshal(map[string]any{"name": name, "subjects": subjects, "storage": "file", "num_replicas": max(replicas, 1)})
	return n.api(ctx, "$JS.API.STREAM.CREATE."+name, cfg)
}

// CreateConsumer creates a durable pull consumer with explicit acks of
// every message of stream.
func (n *NATS) CreateConsumer(ctx context.Context, stream, durable string) error {
	cfg, _ := json.Marshal(map[string]any{"stream_name": stream,
		"config": map[string]any{"durable_name": durable, "ack_policy": "explicit", "deliver_policy": "all"}})
	return n.api(ctx, "$JS.API.CONSUMER.DURABLE.CREATE."+stream+"."+durable, cfg)
}

// Publish publishes data to subject and waits for JetStream's
// acknowledgement that a stream stored it.
func (n *NATS) Publish(ctx context.Context, subject string, data []byte) error {
	return n.api(ctx, subject, data)
}

// Fetch pulls count messages of a pull consumer (there must be that
// many) and returns their ack subjects, unacknowledged.
func (n *NATS) Fetch(ctx context.Context, stream, consumer string, count int) ([]string, error) {
	c, err := n.dial(ctx)
	if err != nil {
		return nil, err
	}
	defer c.close()
	req, _ := json.Marshal(map[string]any{"batch": count, "expires": int64(10 * time.Second)})
	if err := c.send(fmt.Sprintf("SUB _INBOX.fetch 1\r\nPUB $JS.API.CONSUMER.MSG.NEXT.%s.%s _INBOX.fetch %d\r\n%s\r\n", stream, consumer, len(req), req)); err != nil {
		return nil, err
	}
	var acks []string
	for len(acks) < count {
		m, err := c.next()
		if err != nil {
			return acks, fmt.Errorf("fetch: %w", err)
		}
		acks = append(acks, m.reply)
	}
	return acks, nil
}

// Ack acknowledges a fetched message.
func (n *NATS) Ack(ctx context.Context, ackSubject string) error {
	return n.api(ctx, ackSubject, []byte("+ACK"))
}

// api sends a request and waits for its answer; a JetStream error in the
// answer ({"error": ...}) is returned.
func (n *NATS) api(ctx context.Context, subject string, payload []byte) error {
	c, err := n.dial(ctx)
	if err != nil {
		return err
	}
	defer c.close()
	if err := c.send(fmt.Sprintf("SUB _INBOX.reply 1\r\nPUB %s _INBOX.reply %d\r\n%s\r\n", subject, len(payload), payload)); err != nil {
		return err
	}
	m, err := c.next()
	if err != nil {
		return fmt.Errorf("%s: %w", subject, err)
	}
	var answer struct {
		Error *struct {
			Code        int    `json:"code"`
			Description string `json:"description"`
		} `json:"error"`
	}
	if len(m.data) > 0 && json.Unmarshal(m.data, &answer) == nil && answer.Error != nil {
		return fmt.Errorf("%s: %d %s", subject, answer.Error.Code, answer.Error.Description)
	}
	return nil
}

// natsConn is one client connection speaking the text protocol.
type natsConn struct {
	c net.Conn
	r *bufio.Reader
}

type natsMsg struct {
	reply string
	data  []byte
}

func (n *NATS) dial(ctx context.Context) (*natsConn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", n.Addr())
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	} else {
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	}
	nc := &natsConn{c: c, r: bufio.NewReader(c)}
	line, err := nc.r.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "INFO ") {
		_ = c.Close()
		return nil, fmt.Errorf("nats: no INFO from %s: %q %v", n.Addr(), line, err)
	}
	if err := nc.send("CONNECT {\"verbose\":false,\"pedantic\":false,\"protocol\":1}\r\n"); err != nil {
		_ = c.Close()
		return nil, err
	}
	return nc, nil
}

func (c *natsConn) send(s string) error {
	_, err := io.WriteString(c.c, s)
	return err
}

func (c *natsConn) close() { _ = c.c.Close() }

// next returns the next MSG, answering PINGs on the way.
func (c *natsConn) next() (natsMsg, error) {
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			return natsMsg{}, err
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "PING":
			if err := c.send("PONG\r\n"); err != nil {
				return natsMsg{}, err
			}
		case line == "PONG", line == "+OK", strings.HasPrefix(line, "INFO "):
		case strings.HasPrefix(line, "-ERR"):
			return natsMsg{}, errors.New(line)
		case strings.HasPrefix(line, "MSG "):
			// MSG <subject> <sid> [reply-to] <#bytes>
			f := strings.Fields(line)
			size, err := strconv.Atoi(f[len(f)-1])
			if err != nil || size < 0 {
				return natsMsg{}, fmt.Errorf("bad MSG line %q", line)
			}
			m := natsMsg{}
			if len(f) == 5 {
				m.reply = f[3]
			}
			buf := make([]byte, size+2)
			if _, err := io.ReadFull(c.r, buf); err != nil {
				return natsMsg{}, err
			}
			m.data = buf[:size]
			return m, nil
		default:
			return natsMsg{}, fmt.Errorf("unexpected %q", line)
		}
	}
}

// StartNATSCluster starts a JetStream cluster of size servers named
// n1, n2, ... for one test, each on its own loopback address (127.0.0.1,
// 127.0.0.2, ...) with the same client, monitoring and route ports, as
// the pods of a StatefulSet share theirs: what KEDA's leader search
// assumes (every node's monitoring endpoint on the configured port). It
// waits until every server has JetStream enabled and stops them in
// tb.Cleanup.
func StartNATSCluster(tb testing.TB, size int) []*NATS {
	tb.Helper()
	ports, err := freePorts(3)
	if err != nil {
		tb.Fatal(err)
	}
	host := func(i int) string { return "127.0.0." + strconv.Itoa(i+1) }
	var routes []string
	for i := range size {
		routes = append(routes, "nats://"+net.JoinHostPort(host(i), strconv.Itoa(ports[2])))
	}
	var nodes []*NATS
	for i := range size {
		n, err := LaunchNATS(NATSOptions{Host: host(i), Port: ports[0], MonitorPort: ports[1], Name: "n" + strconv.Itoa(i+1),
			Cluster: "test", ClusterPort: ports[2], Routes: routes})
		if err != nil {
			tb.Fatalf("start nats-server %d of %d: %v", i+1, size, err)
		}
		tb.Cleanup(func() {
			if err := n.Close(); err != nil {
				tb.Errorf("stop nats-server: %v", err)
			}
		})
		nodes = append(nodes, n)
	}
	for _, n := range nodes {
		if err := n.WaitJetStream(); err != nil {
			tail, _ := lastLines(filepath.Join(n.dir, "nats.log"), 30)
			tb.Fatalf("%v\n--- nats-server log (last lines) ---\n%s", err, tail)
		}
	}
	return nodes
}
