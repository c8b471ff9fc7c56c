package testenv

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresOptions configures StartPostgresWith. The zero value is what
// StartPostgres starts.
type PostgresOptions struct {
	// Settings are passed as "-c name=value" to postgres, after the
	// helper's own (which they override), e.g. {"fsync": "off"}.
	Settings map[string]string
}

// Postgres is one PostgreSQL server of a test (or of a package, see
// SharedPostgres): initdb'd in a fresh directory, listening on a free
// loopback port and on a Unix socket in that directory, superuser
// "postgres" with trust authentication, fsync on (the durability tests
// need it). Its methods are called from one goroutine at a time, except
// URL, Port and NewDatabase, which are safe for parallel tests.
//
// PostgreSQL refuses to run as root: when the tests run as root, initdb
// and postgres run as the "postgres" user of the Debian package (created
// by the postgresql package), in a directory owned by that user.
type Postgres struct {
	bin      string // directory of initdb and postgres
	dir      string // data directory's parent: data/, the socket, logs
	port     int
	settings map[string]string
	cred     *syscall.Credential // nil when not root

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}

	dbs atomic.Int64 // NewDatabase's counter
}

// postgresReadyLimit bounds initdb and a start: far above the seconds a
// loaded machine needs.
const postgresReadyLimit = 2 * time.Minute

// StartPostgres starts a private PostgreSQL server and stops it (and
// removes its files) when the test ends. It fails the test if PostgreSQL
// is not installed or does not start.
func StartPostgres(tb testing.TB) *Postgres {
	tb.Helper()
	return StartPostgresWith(tb, PostgresOptions{})
}

// StartPostgresWith is StartPostgres with options.
func StartPostgresWith(tb testing.TB, opts PostgresOptions) *Postgres {
	tb.Helper()
	p, err := LaunchPostgres(opts)
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	tb.Cleanup(func() {
		if err := p.Close(); err != nil {
			tb.Errorf("testenv: %v", err)
		}
	})
	return p
}

// LaunchPostgres starts a server without a test (for a TestMain); Close
// stops it and removes its files.
func LaunchPostgres(opts PostgresOptions) (*Postgres, error) {
	bin, err := postgresBinDir()
	if err != nil {
		return nil, err
	}
	p := &Postgres{bin: bin, settings: opts.Settings}
	if os.Geteuid() == 0 {
		cred, err := postgresUser()
		if err != nil {
			return nil, err
		}
		p.cred = cred
	}
	// Not t.TempDir: its parents are root's and 0700, which the postgres
	// user cannot enter.
	p.dir, err = os.MkdirTemp("", "testenv-postgres-")
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := p.initdb(); err != nil {
		_ = os.RemoveAll(p.dir)
		return nil, err
	}
	for range 5 {
		ports, perr := freePorts(1)
		if perr != nil {
			err = perr
			break
		}
		p.port = ports[0]
		if err = p.start(); err == nil {
			return p, nil
		}
		if !strings.Contains(err.Error(), "already in use") {
			break
		}
	}
	_ = os.RemoveAll(p.dir)
	return nil, fmt.Errorf("start postgres: %w", err)
}

// postgresBinDir finds the newest /usr/lib/postgresql/<version>/bin with
// initdb and postgres (Debian does not put them on PATH).
func postgresBinDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi > vj
	})
	for _, d := range dirs {
		if redisIsExecutable(filepath.Join(d, "initdb")) && redisIsExecutable(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil && redisIsExecutable(filepath.Join(filepath.Dir(real), "postgres")) {
			return filepath.Dir(real), nil
		}
	}
	return "", errors.New("postgres: initdb and postgres not found under /usr/lib/postgresql/*/bin: install the Debian package postgresql (hack/test-deps.sh does)")
}

// postgresUser is the account the server runs as when the tests run as
// root.
func postgresUser() (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("postgres: running as root and there is no postgres user to run the server as (%v): install the Debian package postgresql, which creates it", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("postgres: user postgres has uid %q gid %q", u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func (p *Postgres) dataDir() string { return filepath.Join(p.dir, "data") }

// command returns a command of the server's binaries, run as the server's
// user, with output to the named log in the instance's directory.
func (p *Postgres) command(logName, name string, args ...string) (*exec.Cmd, *os.File, error) {
	out, err := os.OpenFile(filepath.Join(p.dir, logName), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(filepath.Join(p.bin, name), args...)
	cmd.Dir = p.dir
	cmd.Stdout, cmd.Stderr = out, out
	// A clean environment: no PGDATA, PGPORT or PGHOST of the caller's.
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C", "TZ=UTC"}
	// Setpgid makes the server and its backends one group, so that Kill
	// can kill all of them (a backend that outlived its postmaster would
	// hold the shared memory and block the restart). Pdeathsig: do not
	// outlive a test binary killed by a timeout (Go sets it after the
	// credentials, so the change of user does not clear it).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: p.cred}
	return cmd, out, nil
}

func (p *Postgres) initdb() error {
	if p.cred != nil {
		if err := os.Chown(p.dir, int(p.cred.Uid), int(p.cred.Gid)); err != nil {
			return fmt.Errorf("postgres: %w", err)
		}
	}
	// --no-sync: initdb's own files need not reach the disk (a crash of
	// the machine during a test loses the test anyway); the server itself
	// runs with fsync on.
	cmd, out, err := p.command("initdb.log", "initdb",
		"-D", p.dataDir(), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync")
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer out.Close()
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("postgres: initdb: %w", err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(postgresReadyLimit):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		err = fmt.Errorf("did not finish in %s", postgresReadyLimit)
		<-done
	}
	if err != nil {
		tail, _ := lastLines(filepath.Join(p.dir, "initdb.log"), 20)
		return fmt.Errorf("postgres: initdb: %w\n%s", err, tail)
	}
	return nil
}

func (p *Postgres) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return nil
	}
	settings := map[string]string{
		"listen_addresses":           "127.0.0.1",
		"unix_socket_directories":    p.dir,
		"max_connections":            "200",
		"shared_buffers":             "64MB",
		"fsync":                      "on",
		"synchronous_commit":         "on",
		"logging_collector":          "off",
		"log_min_messages":           "warning",
		"dynamic_shared_memory_type": "posix",
	}
	for k, v := range p.settings {
		settings[k] = v
	}
	args := []string{"-D", p.dataDir(), "-p", strconv.Itoa(p.port)}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "-c", k+"="+settings[k])
	}
	cmd, out, err := p.command("postgres.log", "postgres", args...)
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
	what := fmt.Sprintf("postgres on %s to answer SELECT 1", p.addr())
	if err := poll(postgresReadyLimit, what, done, p.ping); err != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		tail, _ := lastLines(filepath.Join(p.dir, "postgres.log"), 20)
		return fmt.Errorf("%w\n%s", err, tail)
	}
	p.cmd, p.done = cmd, done
	return nil
}

// ping runs a real query.
func (p *Postgres) ping() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.URL())
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	var one int
	return conn.QueryRow(ctx, "SELECT 1").Scan(&one)
}

func (p *Postgres) addr() string { return "127.0.0.1:" + strconv.Itoa(p.port) }

// Port returns the TCP port; it stays the same across Kill and Start.
func (p *Postgres) Port() int { return p.port }

// Dir returns the instance's directory (data/ is the data directory).
func (p *Postgres) Dir() string { return p.dir }

// URL returns the pgx URL of the "postgres" database as superuser
// postgres over TCP.
func (p *Postgres) URL() string { return p.DatabaseURL("postgres") }

// DatabaseURL returns the pgx URL of database name.
func (p *Postgres) DatabaseURL(name string) string {
	u := url.URL{Scheme: "postgres", User: url.User("postgres"), Host: p.addr(), Path: "/" + name, RawQuery: "sslmode=disable"}
	return u.String()
}

// Exec runs SQL statements (as superuser, in the postgres database) on a
// fresh connection.
func (p *Postgres) Exec(ctx context.Context, sql string) error {
	return p.ExecIn(ctx, "postgres", sql)
}

// ExecIn runs SQL statements in database db.
func (p *Postgres) ExecIn(ctx context.Context, db, sql string) error {
	conn, err := pgx.Connect(ctx, p.DatabaseURL(db))
	if err != nil {
		return fmt.Errorf("postgres: connect to %s: %w", db, err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("postgres: %s: %w", firstLine(sql), err)
	}
	return nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// NewDatabase creates an empty database with a name of its own and
// returns its URL; the database is dropped when the test ends (with
// FORCE, so connections a test left open do not block it). Safe for
// parallel tests: this is how tests share one server.
func (p *Postgres) NewDatabase(tb testing.TB) string {
	tb.Helper()
	name := fmt.Sprintf("test_%d_%d", os.Getpid(), p.dbs.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), postgresReadyLimit)
	defer cancel()
	if err := p.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), postgresReadyLimit)
		defer cancel()
		p.mu.Lock()
		running := p.cmd != nil
		p.mu.Unlock()
		if !running {
			return
		}
		if err := p.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Errorf("testenv: %v", err)
		}
	})
	return p.DatabaseURL(name)
}

// Stop shuts the server down (fast shutdown: SIGINT, which rolls back
// open transactions and closes connections; SIGKILL of its process group
// after 30s) and waits until all its processes have exited. Stopping a
// stopped server does nothing.
func (p *Postgres) Stop() error {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.cmd, p.done = nil, nil
	p.mu.Unlock()
	if cmd == nil {
		return nil
	}
	pgid := cmd.Process.Pid
	_ = cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-done
	}
	return poll(postgresReadyLimit, "the processes of postgres to exit", nil, func() error { return groupGone(pgid) })
}

// Kill kills the server and all its backends with SIGKILL (kill -9: no
// shutdown checkpoint, connections reset) and waits until they are gone.
// Start starts it again on the same port and data, which runs crash
// recovery: what was committed with fsync on must be there. Killing a
// stopped server does nothing.
func (p *Postgres) Kill() error {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.cmd, p.done = nil, nil
	p.mu.Unlock()
	if cmd == nil {
		return nil
	}
	// Each backend calls setsid, so the process group is the postmaster
	// alone: its children are found by their parent, before it dies (then
	// they would be re-parented), and killed with it. A backend left
	// alive keeps the shared memory, and the restart is refused.
	pid := cmd.Process.Pid
	children := childPIDs(pid)
	_ = syscall.Kill(pid, syscall.SIGKILL)
	for _, c := range children {
		_ = syscall.Kill(c, syscall.SIGKILL)
	}
	<-done
	return poll(postgresReadyLimit, "the processes of postgres to exit", nil, func() error {
		for _, c := range children {
			if alive(c) {
				return fmt.Errorf("backend %d still running", c)
			}
		}
		return groupGone(pid)
	})
}

// childPIDs lists the processes whose parent is pid, from /proc.
func childPIDs(pid int) []int {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var out []int
	for _, path := range stats {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		s := string(b)
		end := strings.LastIndexByte(s, ')')
		if end < 0 {
			continue
		}
		f := strings.Fields(s[end+1:])
		if len(f) < 2 {
			continue
		}
		if ppid, err := strconv.Atoi(f[1]); err == nil && ppid == pid {
			if c, err := strconv.Atoi(filepath.Base(filepath.Dir(path))); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}

// alive reports whether process pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	st, ok := parseStat(string(b))
	return ok && st.state != "Z"
}

// Start starts a stopped or killed server again on the same port and
// waits until it answers a query. Starting a running server does nothing.
func (p *Postgres) Start() error {
	if err := p.start(); err != nil {
		return fmt.Errorf("restart postgres on %s: %w", p.addr(), err)
	}
	return nil
}

// Close stops the server and removes its files.
func (p *Postgres) Close() error {
	err := p.Stop()
	if rerr := os.RemoveAll(p.dir); rerr != nil && err == nil {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("postgres: close: %w", err)
	}
	return nil
}

// LogTail returns the last lines of the server's log, for a failing test.
func (p *Postgres) LogTail() string {
	s, err := lastLines(filepath.Join(p.dir, "postgres.log"), 30)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	return s
}

// SharedPostgres is one server for the tests of a package, started by the
// first Get and stopped after the last test by the runner of Wrap; each
// test takes a database of its own with NewDatabase:
//
//	var pg testenv.SharedPostgres
//
//	func TestMain(m *testing.M) { goleak.VerifyTestMain(pg.Wrap(m)) }
//
//	func TestSomething(t *testing.T) {
//		url := pg.Get(t).NewDatabase(t)
//		...
//	}
//
// One server for a package, not one per test, because initdb takes about
// a second and a database a few milliseconds. A test that kills or
// reconfigures its server starts a private one with StartPostgres.
type SharedPostgres struct {
	Options PostgresOptions

	once sync.Once
	pg   *Postgres
	err  error
}

// Get returns the package's server, starting it on first use. A failed
// start fails every test that calls Get, with the same error.
func (s *SharedPostgres) Get(tb testing.TB) *Postgres {
	tb.Helper()
	s.once.Do(func() { s.pg, s.err = LaunchPostgres(s.Options) })
	if s.err != nil {
		tb.Fatalf("testenv: shared: %v", s.err)
	}
	return s.pg
}

// Close stops the server if Get started one.
func (s *SharedPostgres) Close() error {
	s.once.Do(func() {}) // no start after Close
	if s.pg == nil {
		return nil
	}
	return s.pg.Close()
}

// Wrap returns a Runner that runs m's tests and then Closes s; a failed
// Close makes the exit code 1.
func (s *SharedPostgres) Wrap(m interface{ Run() int }) interface{ Run() int } {
	return sharedPostgresRunner{s, m}
}

type sharedPostgresRunner struct {
	s *SharedPostgres
	m interface{ Run() int }
}

func (r sharedPostgresRunner) Run() int {
	code := r.m.Run()
	if err := r.s.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "testenv: stop the shared postgres: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}
