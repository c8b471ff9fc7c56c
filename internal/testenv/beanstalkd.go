package testenv

import (
	"bufio"
	"context"
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

// Beanstalkd is a private beanstalkd: the Debian package's binary run as a
// child process on a free loopback port (-l 127.0.0.1 -p PORT), with its
// binlog (-b) in a temporary directory when asked for, so that jobs
// survive a Stop and Start. Its client methods speak the text protocol
// over one short TCP connection each (Reserve keeps its connection until
// the job is released). Stop, Start and Close must not race with each
// other.
type Beanstalkd struct {
	// Port is the port on 127.0.0.1.
	Port int

	bin, dir string
	binlog   bool

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// BeanstalkdOptions configure a private beanstalkd.
type BeanstalkdOptions struct {
	// Binlog keeps jobs in a binlog directory (-b), across Stop and Start.
	Binlog bool
}

var beanstalkdBinaries = []string{"/usr/bin/beanstalkd", "/usr/sbin/beanstalkd", "/usr/local/bin/beanstalkd"}

func findBeanstalkd() (string, error) {
	if p := os.Getenv("BEANSTALKD_BIN"); p != "" {
		return p, nil
	}
	for _, p := range beanstalkdBinaries {
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	if p, err := exec.LookPath("beanstalkd"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("beanstalkd not found in %s or PATH (install the Debian package beanstalkd: hack/test-deps.sh, or set BEANSTALKD_BIN)",
		strings.Join(beanstalkdBinaries, ", "))
}

// beanstalkdReadyLimit bounds a start: far above the milliseconds an idle
// machine needs.
const beanstalkdReadyLimit = time.Minute

// StartBeanstalkd starts a private beanstalkd for one test and stops it in
// tb.Cleanup. It returns once the server answers a stats command; it fails
// tb when it cannot be started, never skips.
func StartBeanstalkd(tb testing.TB, opts BeanstalkdOptions) *Beanstalkd {
	tb.Helper()
	bin, err := findBeanstalkd()
	if err != nil {
		tb.Fatalf("start beanstalkd: %v", err)
	}
	b := &Beanstalkd{bin: bin, dir: tb.TempDir(), binlog: opts.Binlog}
	var lastErr error
	for range 3 {
		ports, err := freePorts(1)
		if err != nil {
			tb.Fatalf("start beanstalkd: %v", err)
		}
		b.Port = ports[0]
		if lastErr = b.Start(); lastErr == nil || !strings.Contains(lastErr.Error(), "Address already in use") {
			break
		}
	}
	if lastErr != nil {
		tb.Fatalf("start beanstalkd: %v", lastErr)
	}
	tb.Cleanup(func() {
		if err := b.Stop(); err != nil {
			tb.Errorf("stop beanstalkd: %v", err)
		}
	})
	return b
}

// Addr is host:port, what KEDA's server key takes.
func (b *Beanstalkd) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(b.Port)) }

// Start starts the server (again, after Stop) on its port, with its
// binlog if it has one, and waits until it answers stats.
func (b *Beanstalkd) Start() error {
	logPath := filepath.Join(b.dir, "beanstalkd.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	args := []string{"-l", "127.0.0.1", "-p", strconv.Itoa(b.Port)}
	if b.binlog {
		dir := filepath.Join(b.dir, "binlog")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			_ = logf.Close()
			return err
		}
		args = append(args, "-b", dir)
	}
	cmd := exec.Command(b.bin, args...)
	cmd.Dir = b.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return fmt.Errorf("run %s: %w", b.bin, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		_ = logf.Close()
		close(done)
	}()
	b.mu.Lock()
	b.cmd, b.done = cmd, done
	b.mu.Unlock()
	err = poll(beanstalkdReadyLimit, "beanstalkd on "+b.Addr()+" to answer stats", done, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := b.dial(ctx)
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.command("stats")
		return err
	})
	if err != nil {
		_ = b.Stop()
		tail, _ := lastLines(logPath, 30)
		return fmt.Errorf("%w\n--- beanstalkd log (last lines) ---\n%s", err, tail)
	}
	return nil
}

// Stop stops the server (SIGTERM, then SIGKILL after 30s) and waits until
// it has exited; its port is then closed. Start brings it back.
func (b *Beanstalkd) Stop() error {
	b.mu.Lock()
	cmd, done := b.cmd, b.done
	b.cmd, b.done = nil, nil
	b.mu.Unlock()
	if cmd == nil {
		return nil
	}
	terminate(cmd, done, 30*time.Second, func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	return poll(30*time.Second, "beanstalkd's processes to exit", nil, func() error { return groupGone(cmd.Process.Pid) })
}

// Put puts n jobs into tube, each delayed by delay (0: ready at once),
// and returns their ids.
func (b *Beanstalkd) Put(ctx context.Context, tube string, n int, delay time.Duration) ([]uint64, error) {
	c, err := b.dial(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if _, err := c.command("use " + tube); err != nil {
		return nil, err
	}
	ids := make([]uint64, 0, n)
	for i := range n {
		body := "job " + strconv.Itoa(i)
		line, err := c.command(fmt.Sprintf("put 1024 %d 60 %d\r\n%s", int(delay.Seconds()), len(body), body))
		if err != nil {
			return ids, err
		}
		id, err := strconv.ParseUint(strings.TrimPrefix(line, "INSERTED "), 10, 64)
		if err != nil {
			return ids, fmt.Errorf("put: answer %q", line)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// Delete deletes a job.
func (b *Beanstalkd) Delete(ctx context.Context, id uint64) error {
	c, err := b.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.command("delete " + strconv.FormatUint(id, 10))
	return err
}

// Reserve reserves n ready jobs of tube on one connection and returns a
// function that releases them (by closing that connection: beanstalkd
// puts the jobs of a closed connection back as ready).
func (b *Beanstalkd) Reserve(ctx context.Context, tube string, n int) (release func(), err error) {
	c, err := b.dial(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := c.command("watch " + tube); err != nil {
		_ = c.Close()
		return nil, err
	}
	for range n {
		line, err := c.command("reserve-with-timeout 0")
		if err != nil {
			_ = c.Close()
			return nil, err
		}
		var id, size int
		if _, err := fmt.Sscanf(line, "RESERVED %d %d", &id, &size); err != nil {
			_ = c.Close()
			return nil, fmt.Errorf("reserve: answer %q", line)
		}
		if _, err := io.CopyN(io.Discard, c.r, int64(size)+2); err != nil {
			_ = c.Close()
			return nil, err
		}
	}
	_ = c.conn.SetDeadline(time.Time{})
	return func() { _ = c.Close() }, nil
}

// Bury reserves a ready job of tube and buries it.
func (b *Beanstalkd) Bury(ctx context.Context, tube string) error {
	c, err := b.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.command("watch " + tube); err != nil {
		return err
	}
	line, err := c.command("reserve-with-timeout 0")
	if err != nil {
		return err
	}
	var id, size int
	if _, err := fmt.Sscanf(line, "RESERVED %d %d", &id, &size); err != nil {
		return fmt.Errorf("reserve: answer %q", line)
	}
	if _, err := io.CopyN(io.Discard, c.r, int64(size)+2); err != nil {
		return err
	}
	_, err = c.command(fmt.Sprintf("bury %d 1024", id))
	return err
}

type beanstalkConn struct {
	conn net.Conn
	r    *bufio.Reader
}

func (b *Beanstalkd) dial(ctx context.Context) (*beanstalkConn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", b.Addr())
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	} else {
		_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	}
	return &beanstalkConn{conn: conn, r: bufio.NewReader(conn)}, nil
}

func (c *beanstalkConn) Close() error { return c.conn.Close() }

// command sends one command and returns its answer's first line; an
// answer with a body (OK <n>) has its body read and dropped; an error
// answer is an error.
func (c *beanstalkConn) command(cmd string) (string, error) {
	if _, err := io.WriteString(c.conn, cmd+"\r\n"); err != nil {
		return "", err
	}
	line, err := c.r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	word, rest, _ := strings.Cut(line, " ")
	switch word {
	case "OK":
		n, err := strconv.Atoi(rest)
		if err != nil {
			return line, fmt.Errorf("%s: answer %q", strings.Fields(cmd)[0], line)
		}
		if _, err := io.CopyN(io.Discard, c.r, int64(n)+2); err != nil {
			return line, err
		}
		return line, nil
	case "USING", "WATCHING", "INSERTED", "RESERVED", "DELETED", "BURIED":
		return line, nil
	}
	return line, errors.New(strings.Fields(cmd)[0] + ": " + line)
}
