package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// RabbitMQ is a private RabbitMQ broker: the installed Debian package's
// server run as a child process with its own node name, data, logs, config,
// Erlang cookie and free loopback ports (AMQP, management HTTP API, Erlang
// distribution), next to any system instance on 5672. The management plugin
// is enabled, statistics are collected every 500 ms and rates are sampled
// every second, so message counts and rates show up within about a second.
//
// Start one per test with StartRabbitMQ, or share one across a package with
// LaunchRabbitMQ (from a sync.Once) and Close it at the end of TestMain:
// startup takes several seconds. Give each test its own vhost (NewVhost).
// The helpers return once the broker answers an AMQP handshake and the
// management API reports this node with every vhost running, never when a
// port merely accepts connections.
//
// Stop and Restart take the broker away and bring it back as an operator's
// restart does; Kill is a crash. The methods are safe for concurrent use,
// except that Stop, Kill, Restart and Close must not race with each other.
type RabbitMQ struct {
	// AMQPPort and HTTPPort are the loopback ports of the AMQP listener and
	// of the management HTTP API.
	AMQPPort, HTTPPort int
	// AMQPSPort is the AMQP-over-TLS listener, 0 unless
	// RabbitMQOptions.TLS was given.
	AMQPSPort int
	// User and Password are the administrator (tagged administrator, all
	// permissions on every vhost created through this type).
	User, Password string

	opts           RabbitMQOptions
	dir, bin, node string
	distPort       int
	vhostSeq       atomic.Int64
	// client keeps no idle connections, so tests that check for leaked
	// goroutines (goleak) find none of its.
	client *http.Client

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	// durable are the durable queues the broker reported when Stop shut it
	// down; Restart waits until it reports them again.
	durable []RabbitMQQueue
}

// RabbitMQQueue names a queue.
type RabbitMQQueue struct {
	Vhost string `json:"vhost"`
	Name  string `json:"name"`
}

// Deadlines of the broker's process. Each is far above what a loaded
// machine needs (a boot takes 5-15 s there, a clean shutdown a few
// seconds); reaching one means the broker is stuck, and the error says
// what was awaited.
const (
	rabbitMQBootLimit = 2 * time.Minute
	rabbitMQStopLimit = time.Minute
	rabbitMQExitLimit = 30 * time.Second // for the processes of a killed broker
	// rabbitMQProbeTimeout bounds one readiness request, so a hung broker
	// does not use up the boot limit in one go.
	rabbitMQProbeTimeout = 10 * time.Second
)

// rabbitMQServerPaths are where Debian installs the server start script.
// /usr/sbin/rabbitmq-server is only a wrapper that switches to the rabbitmq
// user and writes to /var/log, so the script it wraps is run instead.
var rabbitMQServerPaths = []string{
	"/usr/lib/rabbitmq/bin/rabbitmq-server",
	"/usr/lib/rabbitmq/lib/rabbitmq_server-*/sbin/rabbitmq-server",
}

func findRabbitMQServer() (string, error) {
	if p := os.Getenv("RABBITMQ_SERVER_SCRIPT"); p != "" {
		return p, nil
	}
	for _, pattern := range rabbitMQServerPaths {
		matches, _ := filepath.Glob(pattern)
		for _, m := range matches {
			if fi, err := os.Stat(m); err == nil && fi.Mode()&0o111 != 0 {
				return m, nil
			}
		}
	}
	return "", fmt.Errorf("rabbitmq-server start script not found in %s (install the Debian package rabbitmq-server: hack/test-deps.sh, or set RABBITMQ_SERVER_SCRIPT)",
		strings.Join(rabbitMQServerPaths, ", "))
}

// RabbitMQOptions adds to the default broker configuration.
type RabbitMQOptions struct {
	// TLS, if not nil, adds an AMQPS listener on AMQPSPort.
	TLS *RabbitMQTLS
	// Plugins are enabled besides rabbitmq_management (for example
	// rabbitmq_auth_mechanism_ssl).
	Plugins []string
	// Config lines are appended to rabbitmq.conf.
	Config string
}

// RabbitMQTLS is the AMQPS listener's material, PEM encoded.
type RabbitMQTLS struct {
	CA, Cert, Key string
	// RequireClientCert makes the broker demand a client certificate
	// signed by CA.
	RequireClientCert bool
}

// StartRabbitMQ starts a private broker for one test and stops it (and
// removes its files) in tb.Cleanup. It fails tb when the server cannot be
// started; it never skips.
func StartRabbitMQ(tb testing.TB) *RabbitMQ {
	tb.Helper()
	return StartRabbitMQWith(tb, RabbitMQOptions{})
}

// StartRabbitMQWith is StartRabbitMQ with options.
func StartRabbitMQWith(tb testing.TB, opts RabbitMQOptions) *RabbitMQ {
	tb.Helper()
	r, err := LaunchRabbitMQWith(opts)
	if err != nil {
		tb.Fatalf("start RabbitMQ: %v", err)
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("RabbitMQ node %s of the failed test:\n%s", r.node, r.logTail(60))
		}
		if err := r.Close(); err != nil {
			tb.Errorf("stop RabbitMQ: %v", err)
		}
	})
	return r
}

// LaunchRabbitMQ starts a private broker and waits until it is ready (an
// AMQP handshake succeeds and the management API reports this node with
// every vhost running). The caller must Close it.
func LaunchRabbitMQ() (*RabbitMQ, error) { return LaunchRabbitMQWith(RabbitMQOptions{}) }

// LaunchRabbitMQWith is LaunchRabbitMQ with options.
func LaunchRabbitMQWith(opts RabbitMQOptions) (*RabbitMQ, error) {
	bin, err := findRabbitMQServer()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "rabbitmq-test-")
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(4)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	pass := make([]byte, 12)
	_, _ = rand.Read(pass)
	r := &RabbitMQ{
		AMQPPort: ports[0], HTTPPort: ports[1], distPort: ports[2],
		User: "admin", Password: "pw-" + hex.EncodeToString(pass),
		opts: opts, dir: dir, bin: bin, node: fmt.Sprintf("test-%d@localhost", ports[0]),
		client: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second},
	}
	if opts.TLS != nil {
		r.AMQPSPort = ports[3]
	}
	if err := r.writeFiles(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	if err := r.start(); err != nil {
		_ = r.Close()
		return nil, err
	}
	return r, nil
}

func (r *RabbitMQ) writeFiles() error {
	for _, d := range []string{"home", "mnesia", "log"} {
		if err := os.MkdirAll(filepath.Join(r.dir, d), 0o700); err != nil {
			return err
		}
	}
	conf := fmt.Sprintf(`listeners.tcp.1 = 127.0.0.1:%d
management.tcp.ip = 127.0.0.1
management.tcp.port = %d
default_user = %s
default_pass = %s
default_user_tags.administrator = true
loopback_users = none
collect_statistics_interval = 500
management.sample_retention_policies.global.minute = 1
management.sample_retention_policies.global.hour = 60
management.sample_retention_policies.basic.minute = 1
management.sample_retention_policies.basic.hour = 60
management.sample_retention_policies.detailed.10 = 1
log.file.level = info
`, r.AMQPPort, r.HTTPPort, r.User, r.Password)
	files := map[string]string{}
	if t := r.opts.TLS; t != nil {
		files["ca.pem"], files["cert.pem"], files["key.pem"] = t.CA, t.Cert, t.Key
		conf += fmt.Sprintf(`listeners.ssl.1 = 127.0.0.1:%d
ssl_options.cacertfile = %s
ssl_options.certfile = %s
ssl_options.keyfile = %s
ssl_options.verify = verify_peer
ssl_options.fail_if_no_peer_cert = %t
`, r.AMQPSPort, filepath.Join(r.dir, "ca.pem"), filepath.Join(r.dir, "cert.pem"), filepath.Join(r.dir, "key.pem"), t.RequireClientCert)
	}
	conf += r.opts.Config
	plugins := append([]string{"rabbitmq_management"}, r.opts.Plugins...)
	for name, content := range map[string]string{
		"rabbitmq.conf":   conf,
		"enabled_plugins": "[" + strings.Join(plugins, ",") + "].\n",
		// An empty env file keeps /etc/rabbitmq/rabbitmq-env.conf (the
		// system node's name and ports) out of this node.
		"rabbitmq-env.conf": "",
	} {
		files[name] = content
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(r.dir, name), []byte(content), 0o600); err != nil {
			return err
		}
	}
	return nil
}

func (r *RabbitMQ) env() []string {
	p := func(name string) string { return filepath.Join(r.dir, name) }
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"
	}
	return []string{
		"PATH=" + path,
		"LANG=C.UTF-8",
		"LC_ALL=C.UTF-8",
		// A fresh HOME makes Erlang generate a fresh cookie there.
		"HOME=" + p("home"),
		"RABBITMQ_NODENAME=" + r.node,
		"RABBITMQ_CONF_ENV_FILE=" + p("rabbitmq-env.conf"),
		"RABBITMQ_CONFIG_FILE=" + p("rabbitmq.conf"),
		"RABBITMQ_ADVANCED_CONFIG_FILE=" + p("advanced.config"),
		"RABBITMQ_ENABLED_PLUGINS_FILE=" + p("enabled_plugins"),
		"RABBITMQ_MNESIA_BASE=" + p("mnesia"),
		"RABBITMQ_LOG_BASE=" + p("log"),
		"RABBITMQ_PLUGINS_EXPAND_DIR=" + p("plugins-expand"),
		"RABBITMQ_DIST_PORT=" + strconv.Itoa(r.distPort),
		"RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}",
		"ERL_CRASH_DUMP=" + p("erl_crash.dump"),
	}
}

func (r *RabbitMQ) start() error {
	out, err := os.OpenFile(filepath.Join(r.dir, "console.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(r.bin)
	cmd.Dir = r.dir
	cmd.Env = r.env()
	cmd.Stdout, cmd.Stderr = out, out
	// Own process group: Kill stops the script, the Erlang VM and its port
	// programs together. If the test binary dies first, the script gets
	// SIGTERM, which it forwards to the VM.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		_ = out.Close()
		return fmt.Errorf("run %s: %w", r.bin, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		_ = out.Close()
		close(done)
	}()
	r.mu.Lock()
	r.cmd, r.done = cmd, done
	r.mu.Unlock()
	what := fmt.Sprintf("rabbitmq-server node %s to answer AMQP and the management API", r.node)
	if err := poll(rabbitMQBootLimit, what, done, r.probe); err != nil {
		_ = r.Kill()
		return fmt.Errorf("%w\n%s", err, r.logTail(40))
	}
	return nil
}

// probe is one readiness check, bounded by rabbitMQProbeTimeout.
func (r *RabbitMQ) probe() error {
	ctx, cancel := context.WithTimeout(context.Background(), rabbitMQProbeTimeout)
	defer cancel()
	return r.ready(ctx)
}

// ready reports whether the broker serves clients: an AMQP handshake as
// the administrator succeeds and a channel opens, and the management API
// answers as this node (not some other process that took the port) with
// every vhost running. RabbitMQ recovers the durable queues of a vhost
// while starting it, before either listener opens.
func (r *RabbitMQ) ready(ctx context.Context) error {
	conn, err := amqp.DialConfig(r.AMQPURL(""), amqp.Config{
		// The handshake ends with ctx: a connection deadline of ctx's.
		Dial: func(network, addr string) (net.Conn, error) {
			var d net.Dialer
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			if dl, ok := ctx.Deadline(); ok {
				_ = c.SetDeadline(dl)
			}
			return c, nil
		},
		Properties: amqp.Table{"connection_name": "testenv readiness probe"},
	})
	if err != nil {
		return fmt.Errorf("AMQP handshake on port %d: %w", r.AMQPPort, err)
	}
	_, err = conn.Channel() // closed with the connection
	_ = conn.Close()
	if err != nil {
		return fmt.Errorf("AMQP channel on port %d: %w", r.AMQPPort, err)
	}
	var overview struct {
		Node string `json:"node"`
	}
	if err := r.API(ctx, http.MethodGet, "/api/overview?columns=node", nil, &overview); err != nil {
		return err
	}
	if overview.Node != r.node {
		return fmt.Errorf("the management API on port %d is node %q, want %q", r.HTTPPort, overview.Node, r.node)
	}
	return r.API(ctx, http.MethodGet, "/api/health/checks/virtual-hosts", nil, nil)
}

// running returns the current process and its done channel, or an error
// if the broker is not running.
func (r *RabbitMQ) running(op string) (*exec.Cmd, chan struct{}, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return nil, nil, fmt.Errorf("rabbitmq: %s: node %s is not running", op, r.node)
	}
	return r.cmd, r.done, nil
}

// Kill crashes the broker: SIGKILL to all its processes, then it waits
// until they are gone (their ports are free). Data and ports are kept for
// Restart, but a crash keeps only what RabbitMQ had synced: messages it
// confirmed to a publisher, and metadata whose commit had reached its
// mnesia log. A queue declared a moment before may be gone after Restart
// (declare-ok does not wait for that write), as may persistent messages
// published without confirms. Clients see their TCP connections drop.
// Killing a stopped broker does nothing.
func (r *RabbitMQ) Kill() error {
	r.mu.Lock()
	cmd, done := r.cmd, r.done
	r.cmd, r.durable = nil, nil
	r.mu.Unlock()
	if cmd == nil {
		return nil
	}
	pgid := cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	return r.awaitExit(pgid, done, rabbitMQExitLimit)
}

// awaitExit waits until the script has exited and no process of its group
// is alive.
func (r *RabbitMQ) awaitExit(pgid int, done <-chan struct{}, limit time.Duration) error {
	select {
	case <-done:
	case <-time.After(limit):
		return fmt.Errorf("rabbitmq: node %s: rabbitmq-server still running %s after SIGKILL", r.node, limit)
	}
	return poll(limit, fmt.Sprintf("the processes of rabbitmq-server node %s to exit", r.node), nil,
		func() error { return groupGone(pgid) })
}

// Stop shuts the broker down as an operator's restart does (SIGTERM):
// RabbitMQ closes every client connection with connection.close (320
// CONNECTION_FORCED) and writes its queues, messages and metadata out.
// Data and ports are kept for Restart; Stop returns once every process of
// the broker is gone. It first records the durable queues the broker
// reports, which Restart waits for. A broker that does not shut down
// within a minute is killed, and Stop says so: data may be lost then. A
// frozen broker is thawed first (it could not act on SIGTERM).
func (r *RabbitMQ) Stop() error {
	cmd, done, err := r.running("Stop")
	if err != nil {
		return err
	}
	pgid := cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGCONT)
	durable, listErr := r.durableQueues()
	killed := terminate(cmd, done, rabbitMQStopLimit, func() { _ = syscall.Kill(-pgid, syscall.SIGKILL) })
	r.mu.Lock()
	r.cmd, r.durable = nil, durable
	r.mu.Unlock()
	if err := poll(rabbitMQExitLimit, fmt.Sprintf("the processes of rabbitmq-server node %s to exit", r.node), nil,
		func() error { return groupGone(pgid) }); err != nil {
		return err
	}
	switch {
	case killed:
		r.mu.Lock()
		r.durable = nil
		r.mu.Unlock()
		return fmt.Errorf("rabbitmq: node %s did not shut down within %s of SIGTERM and was killed (data may be lost)\n%s",
			r.node, rabbitMQStopLimit, r.logTail(40))
	case listErr != nil:
		return fmt.Errorf("rabbitmq: node %s stopped, but its durable queues could not be listed for Restart to wait for: %w", r.node, listErr)
	}
	return nil
}

// durableQueues lists the queues that survive a restart: durable, not
// exclusive (deleted with their connection), not auto-delete.
func (r *RabbitMQ) durableQueues() ([]RabbitMQQueue, error) {
	ctx, cancel := context.WithTimeout(context.Background(), rabbitMQProbeTimeout)
	defer cancel()
	var qs []struct {
		RabbitMQQueue
		Durable    bool `json:"durable"`
		Exclusive  bool `json:"exclusive"`
		AutoDelete bool `json:"auto_delete"`
	}
	if err := r.API(ctx, http.MethodGet, "/api/queues?columns=vhost,name,durable,exclusive,auto_delete", nil, &qs); err != nil {
		return nil, err
	}
	var out []RabbitMQQueue
	for _, q := range qs {
		if q.Durable && !q.Exclusive && !q.AutoDelete {
			out = append(out, q.RabbitMQQueue)
		}
	}
	return out, nil
}

// Freeze stops (SIGSTOP) the broker's processes without closing anything:
// connections stay open and requests hang, as with a broker that stopped
// answering. It returns once every thread of the Erlang VM has stopped.
// Thaw resumes it.
func (r *RabbitMQ) Freeze() error {
	cmd, _, err := r.running("Freeze")
	if err != nil {
		return err
	}
	pgid := cmd.Process.Pid
	if err := syscall.Kill(-pgid, syscall.SIGSTOP); err != nil {
		return err
	}
	// A multi-threaded process stops when each of its threads notices the
	// signal, which on a busy machine is not immediate.
	return poll(rabbitMQExitLimit, fmt.Sprintf("every thread of rabbitmq-server node %s to stop after SIGSTOP", r.node), nil,
		func() error { return groupStopped(pgid) })
}

// Thaw resumes a frozen broker.
func (r *RabbitMQ) Thaw() error {
	cmd, _, err := r.running("Thaw")
	if err != nil {
		return err
	}
	return syscall.Kill(-cmd.Process.Pid, syscall.SIGCONT)
}

// Restart starts a stopped (or killed) broker again on the same ports and
// data directory. It returns once the broker is ready (see RabbitMQ) and,
// after Stop, reports every durable queue it reported before: a queue
// missing then is lost, and the error names it.
func (r *RabbitMQ) Restart() error {
	r.mu.Lock()
	running, durable := r.cmd != nil, r.durable
	r.mu.Unlock()
	if running {
		return fmt.Errorf("rabbitmq: Restart: node %s is running", r.node)
	}
	if err := r.start(); err != nil {
		return err
	}
	_, done, err := r.running("Restart")
	if err != nil {
		return err
	}
	for _, q := range durable {
		path := "/api/queues/" + url.PathEscape(q.Vhost) + "/" + url.PathEscape(q.Name) + "?columns=name"
		what := fmt.Sprintf("the durable queue %q of vhost %q to be back after the restart", q.Name, q.Vhost)
		if err := poll(rabbitMQBootLimit, what, done, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), rabbitMQProbeTimeout)
			defer cancel()
			return r.API(ctx, http.MethodGet, path, nil, nil)
		}); err != nil {
			return fmt.Errorf("%w\n%s", err, r.logTail(40))
		}
	}
	return nil
}

// Close kills the broker and removes its files.
func (r *RabbitMQ) Close() error {
	return errors.Join(r.Kill(), os.RemoveAll(r.dir))
}

// logTail returns the last n lines of the console output and of the node's
// log, for error reports.
func (r *RabbitMQ) logTail(n int) string {
	var parts []string
	for _, f := range []string{"console.log", filepath.Join("log", r.node+".log")} {
		tail, err := lastLines(filepath.Join(r.dir, f), n)
		if err != nil {
			tail = "(" + err.Error() + ")"
		}
		parts = append(parts, "--- rabbitmq-server "+f+" (last lines) ---\n"+tail)
	}
	return strings.Join(parts, "\n")
}

// AMQPURL returns the amqp:// URL of vhost with the administrator's
// credentials ("" means the URL has no vhost path, i.e. the default "/").
func (r *RabbitMQ) AMQPURL(vhost string) string {
	u := fmt.Sprintf("amqp://%s:%s@127.0.0.1:%d", r.User, r.Password, r.AMQPPort)
	if vhost != "" {
		u += "/" + url.PathEscape(vhost)
	}
	return u
}

// AMQPSURL is AMQPURL for the TLS listener (host 127.0.0.1).
func (r *RabbitMQ) AMQPSURL(vhost string) string {
	u := fmt.Sprintf("amqps://%s:%s@127.0.0.1:%d", r.User, r.Password, r.AMQPSPort)
	if vhost != "" {
		u += "/" + url.PathEscape(vhost)
	}
	return u
}

// HTTPURL returns the management API base URL with the administrator's
// credentials and, unless vhost is "", the vhost as its last path segment
// (the form KEDA's rabbitmq scaler takes).
func (r *RabbitMQ) HTTPURL(vhost string) string {
	u := fmt.Sprintf("http://%s:%s@127.0.0.1:%d", r.User, r.Password, r.HTTPPort)
	if vhost != "" {
		u += "/" + url.PathEscape(vhost)
	}
	return u
}

// API calls the management HTTP API as the administrator: body (if not
// nil) is sent as JSON and a 2xx answer is decoded into out (if not nil).
func (r *RabbitMQ) API(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, fmt.Sprintf("http://127.0.0.1:%d%s", r.HTTPPort, path), rd)
	if err != nil {
		return err
	}
	req.SetBasicAuth(r.User, r.Password)
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// AddVhost creates vhost, gives the administrator every permission on it
// and deletes it in tb.Cleanup.
func (r *RabbitMQ) AddVhost(tb testing.TB, vhost string) {
	tb.Helper()
	ctx := context.Background()
	if err := r.API(ctx, http.MethodPut, "/api/vhosts/"+url.PathEscape(vhost), nil, nil); err != nil {
		tb.Fatalf("create vhost %q: %v", vhost, err)
	}
	r.grant(tb, vhost, r.User)
	tb.Cleanup(func() {
		// The broker may have been stopped by the test; Close removes it all.
		_ = r.API(context.Background(), http.MethodDelete, "/api/vhosts/"+url.PathEscape(vhost), nil, nil)
	})
}

// NewVhost creates a vhost whose name is unique in this broker and derived
// from the test name, and returns its name.
func (r *RabbitMQ) NewVhost(tb testing.TB) string {
	tb.Helper()
	name := strings.NewReplacer("/", "_", " ", "_").Replace(tb.Name())
	vhost := fmt.Sprintf("%s-%d", name, r.vhostSeq.Add(1))
	r.AddVhost(tb, vhost)
	return vhost
}

// AddUser creates a user (no tags, so no management API access) with
// every permission on vhost, deleted in tb.Cleanup.
func (r *RabbitMQ) AddUser(tb testing.TB, vhost, user, password string) {
	tb.Helper()
	ctx := context.Background()
	body := map[string]string{"password": password, "tags": ""}
	if err := r.API(ctx, http.MethodPut, "/api/users/"+url.PathEscape(user), body, nil); err != nil {
		tb.Fatalf("create user %q: %v", user, err)
	}
	r.grant(tb, vhost, user)
	tb.Cleanup(func() {
		_ = r.API(context.Background(), http.MethodDelete, "/api/users/"+url.PathEscape(user), nil, nil)
	})
}

func (r *RabbitMQ) grant(tb testing.TB, vhost, user string) {
	tb.Helper()
	perm := map[string]string{"configure": ".*", "write": ".*", "read": ".*"}
	path := "/api/permissions/" + url.PathEscape(vhost) + "/" + url.PathEscape(user)
	if err := r.API(context.Background(), http.MethodPut, path, perm, nil); err != nil {
		tb.Fatalf("grant %q on vhost %q: %v", user, vhost, err)
	}
}
