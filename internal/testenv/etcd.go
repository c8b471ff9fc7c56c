package testenv

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
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

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Etcd is a private one-member etcd v3 cluster: the etcd binary `make
// envtest` builds into bin/envtest (the one StartKube runs), as a child
// process with a client and a peer port free on loopback and its own data
// directory. Stop (SIGTERM), Kill (SIGKILL) and Start (same ports, same
// data) let a test take it away and bring it back. Its client methods
// (Put, Delete) use go.etcd.io/etcd/client/v3 as the administrator.
// Stop, Kill, Start and Close must not race with each other.
type Etcd struct {
	// Port is the client port, PeerPort the peer port, both on 127.0.0.1.
	Port, PeerPort int
	// PKI made the server's certificate (nil without EtcdOptions.TLS);
	// ClientCert is a client certificate it issued, which the server
	// requires with EtcdOptions.ClientCertAuth.
	PKI        *PKI
	ClientCert Cert

	bin, dir string
	opts     EtcdOptions
	admin    clientv3.Config

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// EtcdOptions configure a private etcd.
type EtcdOptions struct {
	// TLS serves the client port over TLS with a certificate of a new
	// PKI; ClientCertAuth also requires a client certificate of it.
	TLS, ClientCertAuth bool
	// RootPassword, if set, enables authentication (through the client
	// API, once the server is up) with the user root and this password.
	RootPassword string
	// ProgressNotifyInterval is the server's watch progress notification
	// interval (0: etcd's default of 10 minutes).
	ProgressNotifyInterval time.Duration
}

// etcdReadyLimit bounds a start: far above the second an idle machine
// needs.
const etcdReadyLimit = time.Minute

// etcdBinary finds etcd: $ETCD_BIN, else in $KUBEBUILDER_ASSETS, else in
// <repo>/bin/envtest.
func etcdBinary() (string, error) {
	bin := os.Getenv("ETCD_BIN")
	if bin == "" {
		dir := os.Getenv("KUBEBUILDER_ASSETS")
		if dir == "" {
			root, err := repoRoot()
			if err != nil {
				return "", fmt.Errorf("find bin/envtest: %w; run `make envtest` and set KUBEBUILDER_ASSETS", err)
			}
			dir = filepath.Join(root, "bin", "envtest")
		}
		bin = filepath.Join(dir, "etcd")
	}
	fi, err := os.Stat(bin)
	if err == nil && (fi.IsDir() || fi.Mode()&0o111 == 0) {
		err = errors.New("not an executable file")
	}
	if err != nil {
		return "", fmt.Errorf("%s: %w: run `make envtest` (hack/envtest/build.sh builds etcd into bin/envtest), or set ETCD_BIN", bin, err)
	}
	return bin, nil
}

// StartEtcd starts a private etcd for one test and stops it (and removes
// its data) in tb.Cleanup. It returns once the server answers a read (as
// root, with authentication enabled); it fails tb when it cannot be
// started, never skips.
func StartEtcd(tb testing.TB, opts EtcdOptions) *Etcd {
	tb.Helper()
	bin, err := etcdBinary()
	if err != nil {
		tb.Fatalf("start etcd: %v", err)
	}
	e := &Etcd{bin: bin, dir: tb.TempDir(), opts: opts}
	if opts.TLS || opts.ClientCertAuth {
		e.opts.TLS = true
		e.PKI = NewPKI(tb)
		server := e.PKI.ServerCert(tb)
		server.WriteFiles(tb, e.dir, "server")
		e.PKI.WriteCA(tb, e.dir)
		e.ClientCert = e.PKI.ClientCert(tb, "root")
	}
	var lastErr error
	for range 3 {
		ports, err := freePorts(2)
		if err != nil {
			tb.Fatalf("start etcd: %v", err)
		}
		e.Port, e.PeerPort = ports[0], ports[1]
		e.admin = e.adminConfig()
		if lastErr = e.Start(); lastErr == nil {
			break
		}
		if !strings.Contains(lastErr.Error(), "address already in use") {
			break
		}
	}
	if lastErr != nil {
		tb.Fatalf("start etcd: %v", lastErr)
	}
	tb.Cleanup(func() {
		if err := e.Stop(); err != nil {
			tb.Errorf("stop etcd: %v", err)
		}
	})
	if opts.RootPassword != "" {
		if err := e.enableAuth(); err != nil {
			tb.Fatalf("etcd: enable authentication: %v", err)
		}
	}
	return e
}

// Endpoint is the client URL: 127.0.0.1:port (https://127.0.0.1:port
// with TLS), what KEDA's endpoints key takes.
func (e *Etcd) Endpoint() string {
	hp := net.JoinHostPort("127.0.0.1", strconv.Itoa(e.Port))
	if e.opts.TLS {
		return "https://" + hp
	}
	return hp
}

func (e *Etcd) scheme() string {
	if e.opts.TLS {
		return "https"
	}
	return "http"
}

func (e *Etcd) adminConfig() clientv3.Config {
	c := clientv3.Config{Endpoints: []string{e.Endpoint()}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()}
	if e.opts.TLS {
		c.TLS = &tls.Config{RootCAs: e.PKI.Pool, MinVersion: tls.VersionTLS12}
		if e.opts.ClientCertAuth {
			c.TLS.Certificates = []tls.Certificate{e.ClientCert.Pair}
		}
	}
	return c
}

// Start starts the server (again, after Stop or Kill) on its ports with
// its data, and waits until it answers a read.
func (e *Etcd) Start() error {
	logPath := filepath.Join(e.dir, "etcd.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	client := e.scheme() + "://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(e.Port))
	peer := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(e.PeerPort))
	args := []string{"--name", "test", "--data-dir", filepath.Join(e.dir, "data"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "test=" + peer, "--initial-cluster-state", "new",
		"--log-level", "warn", "--logger", "zap"}
	if e.opts.TLS {
		args = append(args, "--cert-file", filepath.Join(e.dir, "server.crt"), "--key-file", filepath.Join(e.dir, "server.key"))
		if e.opts.ClientCertAuth {
			args = append(args, "--client-cert-auth", "--trusted-ca-file", filepath.Join(e.dir, "ca.crt"))
		}
	}
	if e.opts.ProgressNotifyInterval > 0 {
		args = append(args, "--watch-progress-notify-interval", e.opts.ProgressNotifyInterval.String())
	}
	cmd := exec.Command(e.bin, args...)
	cmd.Dir = e.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return fmt.Errorf("run %s: %w", e.bin, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		_ = logf.Close()
		close(done)
	}()
	e.mu.Lock()
	e.cmd, e.done = cmd, done
	e.mu.Unlock()
	err = poll(etcdReadyLimit, "etcd on "+e.Endpoint()+" to answer a read", done, func() error {
		return e.withClient(context.Background(), 5*time.Second, func(ctx context.Context, c *clientv3.Client) error {
			_, err := c.Get(ctx, "testenv-ready")
			return err
		})
	})
	if err != nil {
		_ = e.Kill()
		tail, _ := lastLines(logPath, 30)
		return fmt.Errorf("%w\n--- etcd log (last lines) ---\n%s", err, tail)
	}
	return nil
}

// withClient runs f with a new administrator's client, closed after.
func (e *Etcd) withClient(ctx context.Context, limit time.Duration, f func(ctx context.Context, c *clientv3.Client) error) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	conf := e.admin
	conf.Context = ctx
	c, err := clientv3.New(conf)
	if err != nil {
		return err
	}
	defer c.Close()
	return f(ctx, c)
}

// enableAuth adds root (with the root role) and turns authentication on;
// the administrator's client logs in as root from then on.
func (e *Etcd) enableAuth() error {
	err := e.withClient(context.Background(), 30*time.Second, func(ctx context.Context, c *clientv3.Client) error {
		if _, err := c.UserAdd(ctx, "root", e.opts.RootPassword); err != nil {
			return err
		}
		if _, err := c.UserGrantRole(ctx, "root", "root"); err != nil {
			return err
		}
		_, err := c.AuthEnable(ctx)
		return err
	})
	if err != nil {
		return err
	}
	e.admin.Username, e.admin.Password = "root", e.opts.RootPassword
	return nil
}

// AddUser adds a user with password allowed to read (and watch) key only.
func (e *Etcd) AddUser(ctx context.Context, user, password, key string) error {
	return e.withClient(ctx, 30*time.Second, func(ctx context.Context, c *clientv3.Client) error {
		if _, err := c.RoleAdd(ctx, user); err != nil {
			return err
		}
		if _, err := c.RoleGrantPermission(ctx, user, key, "", clientv3.PermissionType(clientv3.PermRead)); err != nil {
			return err
		}
		if _, err := c.UserAdd(ctx, user, password); err != nil {
			return err
		}
		_, err := c.UserGrantRole(ctx, user, user)
		return err
	})
}

// ChangePassword sets a user's password.
func (e *Etcd) ChangePassword(ctx context.Context, user, password string) error {
	return e.withClient(ctx, 30*time.Second, func(ctx context.Context, c *clientv3.Client) error {
		_, err := c.UserChangePassword(ctx, user, password)
		return err
	})
}

// Put stores value at key.
func (e *Etcd) Put(ctx context.Context, key, value string) error {
	return e.withClient(ctx, 30*time.Second, func(ctx context.Context, c *clientv3.Client) error {
		_, err := c.Put(ctx, key, value)
		return err
	})
}

// Delete removes key.
func (e *Etcd) Delete(ctx context.Context, key string) error {
	return e.withClient(ctx, 30*time.Second, func(ctx context.Context, c *clientv3.Client) error {
		_, err := c.Delete(ctx, key)
		return err
	})
}

// Stop stops the server (SIGTERM, then SIGKILL after 30s) and waits until
// it has exited; its ports are then closed. Start brings it back.
func (e *Etcd) Stop() error { return e.stop(false) }

// Kill kills the server (SIGKILL) and waits until it has exited.
func (e *Etcd) Kill() error { return e.stop(true) }

func (e *Etcd) stop(kill bool) error {
	e.mu.Lock()
	cmd, done := e.cmd, e.done
	e.cmd, e.done = nil, nil
	e.mu.Unlock()
	if cmd == nil {
		return nil
	}
	killGroup := func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	if kill {
		killGroup()
		<-done
	} else {
		terminate(cmd, done, 30*time.Second, killGroup)
	}
	return poll(30*time.Second, "etcd's processes to exit", nil, func() error { return groupGone(cmd.Process.Pid) })
}
