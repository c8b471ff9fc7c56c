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
//
// The methods are safe for concurrent use, except that Stop and Restart must
// not race with each other.
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
}

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
		if err := r.Close(); err != nil {
			tb.Errorf("stop RabbitMQ: %v", err)
		}
	})
	return r
}

// LaunchRabbitMQ starts a private broker and waits until both its AMQP
// listener and its management API answer. The caller must Close it.
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
	// Own process group: Stop kills the script, the Erlang VM and its port
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
	if err := r.waitReady(60*time.Second, done); err != nil {
		r.kill()
		return fmt.Errorf("%w\n%s", err, r.logTail(40))
	}
	return nil
}

func (r *RabbitMQ) waitReady(limit time.Duration, done <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		last = r.ping(ctx)
		if last == nil {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("rabbitmq-server node %s exited during startup", r.node)
		case <-ctx.Done():
			return fmt.Errorf("rabbitmq-server node %s not ready after %s: %v", r.node, limit, last)
		case <-tick.C:
		}
	}
}

// ping checks the AMQP listener and the management API.
func (r *RabbitMQ) ping(ctx context.Context) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(r.AMQPPort)))
	if err != nil {
		return err
	}
	_ = c.Close()
	return r.API(ctx, http.MethodGet, "/api/overview", nil, nil)
}

// kill stops the process group at once and waits for it.
func (r *RabbitMQ) kill() {
	r.mu.Lock()
	cmd, done := r.cmd, r.done
	r.cmd = nil
	r.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
	}
}

// Stop kills the broker, keeping its data and ports for Restart. Clients
// see their connections drop.
func (r *RabbitMQ) Stop() { r.kill() }

// Freeze stops (SIGSTOP) the broker's processes without closing anything:
// connections stay open and requests hang, as with a broker that stopped
// answering. It returns once every thread of the Erlang VM has stopped.
// Thaw resumes it.
func (r *RabbitMQ) Freeze() error {
	if err := r.signal(syscall.SIGSTOP); err != nil {
		return err
	}
	r.mu.Lock()
	pgid := r.cmd.Process.Pid
	r.mu.Unlock()
	// A multi-threaded process stops when each of its threads notices the
	// signal, which on a busy machine is not immediate.
	deadline := time.Now().Add(10 * time.Second)
	for !groupStopped(pgid) {
		if time.Now().After(deadline) {
			return errors.New("rabbitmq: broker threads still running 10s after SIGSTOP")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// groupStopped reports whether every thread of every process in process
// group pgid is stopped, from /proc.
func groupStopped(pgid int) bool {
	procs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, stat := range procs {
		b, err := os.ReadFile(stat)
		if err != nil {
			continue
		}
		state, group, ok := procState(string(b))
		if !ok || group != pgid {
			continue
		}
		if state != "T" && state != "t" {
			return false
		}
		tasks, _ := filepath.Glob(filepath.Join(filepath.Dir(stat), "task", "*", "stat"))
		for _, task := range tasks {
			tb, err := os.ReadFile(task)
			if err != nil {
				continue
			}
			if st, _, ok := procState(string(tb)); ok && st != "T" && st != "t" && st != "Z" {
				return false
			}
		}
	}
	return true
}

// procState parses the state and process group of a /proc/.../stat line:
// "pid (comm) state ppid pgrp ...", where comm may hold spaces.
func procState(stat string) (state string, pgrp int, ok bool) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return "", 0, false
	}
	f := strings.Fields(stat[i+1:])
	if len(f) < 3 {
		return "", 0, false
	}
	pgrp, err := strconv.Atoi(f[2])
	return f[0], pgrp, err == nil
}

// Thaw resumes a frozen broker.
func (r *RabbitMQ) Thaw() error { return r.signal(syscall.SIGCONT) }

func (r *RabbitMQ) signal(sig syscall.Signal) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return errors.New("rabbitmq: not running")
	}
	return syscall.Kill(-r.cmd.Process.Pid, sig)
}

// Restart starts a stopped broker again on the same ports and data
// directory and waits until it is ready.
func (r *RabbitMQ) Restart() error {
	r.mu.Lock()
	running := r.cmd != nil
	r.mu.Unlock()
	if running {
		return errors.New("rabbitmq: Restart called while running")
	}
	// The ports were just released by the killed VM; another process may
	// not take them in between, but a listener can need a moment to go.
	var err error
	for range 3 {
		if err = r.start(); err == nil {
			return nil
		}
		time.Sleep(time.Second)
	}
	return err
}

// Close stops the broker and removes its files.
func (r *RabbitMQ) Close() error {
	r.kill()
	return os.RemoveAll(r.dir)
}

// logTail returns the last n lines of the console output for error reports.
func (r *RabbitMQ) logTail(n int) string {
	tail, err := lastLines(filepath.Join(r.dir, "console.log"), n)
	if err != nil {
		return "(no console log: " + err.Error() + ")"
	}
	return "rabbitmq-server console (last lines):\n" + tail
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
