package testenv

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// MariaDB is one MariaDB server of a test (or of a package, see
// SharedMariaDB): mariadb-install-db'd into a fresh data directory,
// mariadbd on a free loopback port and a Unix socket in that directory,
// user root without a password from 127.0.0.1. Its methods are called from
// one goroutine at a time, except DSN, Port and NewDatabase, which are
// safe for parallel tests.
//
// When the tests run as root, both run as the "mysql" user of the Debian
// package, in a directory owned by it.
type MariaDB struct {
	dir  string
	port int
	cred *syscall.Credential // nil when not root

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}

	dbs atomic.Int64
}

// mariaDBReadyLimit bounds the install and a start.
const mariaDBReadyLimit = 2 * time.Minute

// StartMariaDB starts a private MariaDB server and stops it (and removes
// its files) when the test ends. It fails the test if MariaDB is not
// installed or does not start.
func StartMariaDB(tb testing.TB) *MariaDB {
	tb.Helper()
	m, err := LaunchMariaDB()
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	tb.Cleanup(func() {
		if err := m.Close(); err != nil {
			tb.Errorf("testenv: %v", err)
		}
	})
	return m
}

// LaunchMariaDB starts a server without a test (for a TestMain); Close
// stops it and removes its files.
func LaunchMariaDB() (*MariaDB, error) {
	for _, bin := range []string{"mariadb-install-db", "mariadbd"} {
		if _, err := exec.LookPath(bin); err != nil {
			if _, err := exec.LookPath("/usr/sbin/" + bin); err != nil {
				return nil, fmt.Errorf("mariadb: %s not found: install the Debian package mariadb-server", bin)
			}
		}
	}
	m := &MariaDB{}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("mysql")
		if err != nil {
			return nil, fmt.Errorf("mariadb: running as root and there is no mysql user to run the server as (%v)", err)
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		m.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	var err error
	m.dir, err = os.MkdirTemp("", "testenv-mariadb-")
	if err != nil {
		return nil, fmt.Errorf("mariadb: %w", err)
	}
	if m.cred != nil {
		if err := os.Chown(m.dir, int(m.cred.Uid), int(m.cred.Gid)); err != nil {
			_ = os.RemoveAll(m.dir)
			return nil, fmt.Errorf("mariadb: %w", err)
		}
	}
	if err := m.install(); err != nil {
		_ = os.RemoveAll(m.dir)
		return nil, err
	}
	for range 5 {
		ports, perr := freePorts(1)
		if perr != nil {
			err = perr
			break
		}
		m.port = ports[0]
		if err = m.start(); err == nil {
			return m, nil
		}
	}
	_ = os.RemoveAll(m.dir)
	return nil, fmt.Errorf("start mariadb: %w", err)
}

func (m *MariaDB) command(logName, name string, args ...string) (*exec.Cmd, *os.File, error) {
	out, err := os.OpenFile(filepath.Join(m.dir, logName), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(name, append([]string{"--no-defaults"}, args...)...)
	cmd.Dir = m.dir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", "TZ=UTC"}
	// As for postgres: one process group, and no outliving a test binary
	// killed by a timeout (Pdeathsig is set after the credentials, so the
	// change of user does not clear it, as mariadbd's own --user would).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: m.cred}
	return cmd, out, nil
}

func (m *MariaDB) install() error {
	cmd, out, err := m.command("install.log", "mariadb-install-db",
		"--datadir="+filepath.Join(m.dir, "data"), "--auth-root-authentication-method=normal", "--skip-test-db")
	if err != nil {
		return fmt.Errorf("mariadb: %w", err)
	}
	defer out.Close()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("mariadb: install: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(mariaDBReadyLimit):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		err = fmt.Errorf("did not finish in %s", mariaDBReadyLimit)
		<-done
	}
	if err != nil {
		tail, _ := lastLines(filepath.Join(m.dir, "install.log"), 20)
		return fmt.Errorf("mariadb: install: %w\n%s", err, tail)
	}
	return nil
}

func (m *MariaDB) start() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd != nil {
		return nil
	}
	cmd, out, err := m.command("server.log", "mariadbd",
		"--datadir="+filepath.Join(m.dir, "data"), "--port="+strconv.Itoa(m.port), "--bind-address=127.0.0.1",
		"--socket="+filepath.Join(m.dir, "sock"), "--pid-file="+filepath.Join(m.dir, "pid"),
		"--skip-name-resolve", "--innodb-buffer-pool-size=32M", "--max-connections=200")
	if err != nil {
		return err
	}
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
	what := fmt.Sprintf("mariadb on 127.0.0.1:%d to answer SELECT 1", m.port)
	if err := poll(mariaDBReadyLimit, what, done, func() error { return m.ExecIn(context.Background(), "", "SELECT 1") }); err != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		tail, _ := lastLines(filepath.Join(m.dir, "server.log"), 20)
		return fmt.Errorf("%w\n%s", err, tail)
	}
	m.cmd, m.done = cmd, done
	return nil
}

// Port returns the TCP port; it stays the same across Stop, Kill and
// Start.
func (m *MariaDB) Port() int { return m.port }

// DSN returns the go-sql-driver DSN of database db (none when empty) as
// root over TCP.
func (m *MariaDB) DSN(db string) string {
	c := mysql.NewConfig()
	c.User, c.Net, c.Addr, c.DBName = "root", "tcp", "127.0.0.1:"+strconv.Itoa(m.port), db
	return c.FormatDSN()
}

// ExecIn runs one SQL statement in database db (none when empty) on a
// fresh connection.
func (m *MariaDB) ExecIn(ctx context.Context, db, stmt string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := mysql.NewConnector(mustConfig(m.DSN(db)))
	if err != nil {
		return err
	}
	conn := sql.OpenDB(c)
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, stmt); err != nil {
		return fmt.Errorf("mariadb: %s: %w", firstLine(stmt), err)
	}
	return nil
}

func mustConfig(dsn string) *mysql.Config {
	c, err := mysql.ParseDSN(dsn)
	if err != nil {
		panic(err)
	}
	c.MultiStatements = true
	return c
}

// NewDatabase creates an empty database with a name of its own and
// returns its name; it is dropped when the test ends.
func (m *MariaDB) NewDatabase(tb testing.TB) string {
	tb.Helper()
	name := fmt.Sprintf("test_%d_%d", os.Getpid(), m.dbs.Add(1))
	if err := m.ExecIn(context.Background(), "", "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	tb.Cleanup(func() {
		m.mu.Lock()
		running := m.cmd != nil
		m.mu.Unlock()
		if running {
			if err := m.ExecIn(context.Background(), "", "DROP DATABASE IF EXISTS "+name); err != nil {
				tb.Errorf("testenv: %v", err)
			}
		}
	})
	return name
}

// Stop shuts the server down (SIGTERM; SIGKILL after 30s) and waits until
// it has exited. Stopping a stopped server does nothing.
func (m *MariaDB) Stop() error { return m.halt(syscall.SIGTERM) }

// Kill kills the server with SIGKILL (connections reset, crash recovery
// at the next Start). Killing a stopped server does nothing.
func (m *MariaDB) Kill() error { return m.halt(syscall.SIGKILL) }

func (m *MariaDB) halt(sig syscall.Signal) error {
	m.mu.Lock()
	cmd, done := m.cmd, m.done
	m.cmd, m.done = nil, nil
	m.mu.Unlock()
	if cmd == nil {
		return nil
	}
	pgid := cmd.Process.Pid
	_ = syscall.Kill(-pgid, sig)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-done
	}
	return poll(mariaDBReadyLimit, "the processes of mariadb to exit", nil, func() error { return groupGone(pgid) })
}

// Start starts a stopped or killed server again on the same port and
// waits until it answers a query.
func (m *MariaDB) Start() error {
	if err := m.start(); err != nil {
		return fmt.Errorf("restart mariadb on port %d: %w", m.port, err)
	}
	return nil
}

// Close stops the server and removes its files.
func (m *MariaDB) Close() error {
	err := m.Stop()
	if rerr := os.RemoveAll(m.dir); rerr != nil && err == nil {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("mariadb: close: %w", err)
	}
	return nil
}

// SharedMariaDB is one server for the tests of a package, started by the
// first Get and stopped by the runner of Wrap; each test takes a database
// of its own with NewDatabase (as SharedPostgres).
type SharedMariaDB struct {
	once sync.Once
	m    *MariaDB
	err  error
}

// Get returns the package's server, starting it on first use.
func (s *SharedMariaDB) Get(tb testing.TB) *MariaDB {
	tb.Helper()
	s.once.Do(func() { s.m, s.err = LaunchMariaDB() })
	if s.err != nil {
		tb.Fatalf("testenv: shared: %v", s.err)
	}
	return s.m
}

// Close stops the server if Get started one.
func (s *SharedMariaDB) Close() error {
	s.once.Do(func() {})
	if s.m == nil {
		return nil
	}
	return s.m.Close()
}

// Wrap returns a Runner that runs m's tests and then Closes s.
func (s *SharedMariaDB) Wrap(m interface{ Run() int }) interface{ Run() int } {
	return sharedMariaDBRunner{s, m}
}

type sharedMariaDBRunner struct {
	s *SharedMariaDB
	m interface{ Run() int }
}

func (r sharedMariaDBRunner) Run() int {
	code := r.m.Run()
	if err := r.s.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "testenv: stop the shared mariadb: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}
