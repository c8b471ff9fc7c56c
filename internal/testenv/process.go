package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// What the server helpers share about their processes.

// freePorts returns n distinct loopback TCP ports that were free a moment
// ago.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// poll calls cond until it returns nil. It fails, naming what was awaited
// and cond's last error, when limit passes first or when exited (the
// channel closed when the server's process ends; nil if none) is closed:
// a server that has exited will not become ready. It has the contract of
// scalertest.Eventually, which the launchers here cannot use: they return
// errors (LaunchRabbitMQ runs from a TestMain) instead of failing a test.
// Polls start 10ms apart and back off to 250ms.
func poll(limit time.Duration, what string, exited <-chan struct{}, cond func() error) error {
	deadline := time.Now().Add(limit)
	pause := 10 * time.Millisecond
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waited %s for %s; last: %w", limit, what, err)
		}
		select {
		case <-exited:
			return fmt.Errorf("the process exited while waiting for %s; last: %w", what, err)
		case <-time.After(pause):
		}
		pause = min(2*pause, 250*time.Millisecond)
	}
}

// terminate asks cmd's process to stop with SIGTERM and waits until done
// is closed; after grace it calls kill, waits again and reports that it
// had to.
func terminate(cmd *exec.Cmd, done <-chan struct{}, grace time.Duration, kill func()) (killed bool) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
		return false
	case <-time.After(grace):
		kill()
		<-done
		return true
	}
}

// groupGone reports, as an error naming one, whether a process of process
// group pgid is still alive (zombies do not count: their ports and files
// are released). A killed server's child processes can outlive the one
// exec.Cmd waits for by a moment, holding its ports.
func groupGone(pgid int) error {
	for _, p := range groupProcs(pgid) {
		if p.state != "Z" {
			return fmt.Errorf("process %d (%s) of process group %d is still running", p.pid, p.comm, pgid)
		}
	}
	return nil
}

// groupStopped reports, as an error naming one, whether a thread of a
// process of group pgid is still running (not stopped by SIGSTOP).
func groupStopped(pgid int) error {
	for _, p := range groupProcs(pgid) {
		if p.state == "Z" {
			continue
		}
		tasks, _ := filepath.Glob(filepath.Join("/proc", strconv.Itoa(p.pid), "task", "*", "stat"))
		for _, task := range tasks {
			b, err := os.ReadFile(task)
			if err != nil {
				continue
			}
			if t, ok := parseStat(string(b)); ok && t.state != "T" && t.state != "t" && t.state != "Z" {
				return fmt.Errorf("thread %d of process %d (%s) is in state %s", t.pid, p.pid, p.comm, t.state)
			}
		}
	}
	return nil
}

// procStat is what the helpers read of /proc/<pid>/stat.
type procStat struct {
	pid   int
	comm  string
	state string
	pgrp  int
}

// groupProcs lists the processes of group pgid, from /proc.
func groupProcs(pgid int) []procStat {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var out []procStat
	for _, path := range stats {
		b, err := os.ReadFile(path)
		if err != nil {
			continue // exited meanwhile
		}
		if p, ok := parseStat(string(b)); ok && p.pgrp == pgid {
			out = append(out, p)
		}
	}
	return out
}

// parseStat parses a /proc/.../stat line: "pid (comm) state ppid pgrp ...",
// where comm may hold spaces and parentheses.
func parseStat(stat string) (procStat, bool) {
	open, end := strings.IndexByte(stat, '('), strings.LastIndexByte(stat, ')')
	if open < 0 || end < open {
		return procStat{}, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(stat[:open]))
	if err != nil {
		return procStat{}, false
	}
	f := strings.Fields(stat[end+1:])
	if len(f) < 3 {
		return procStat{}, false
	}
	pgrp, err := strconv.Atoi(f[2])
	if err != nil {
		return procStat{}, false
	}
	return procStat{pid: pid, comm: stat[open+1 : end], state: f[0], pgrp: pgrp}, true
}

// lastLines returns the last n lines of the file at path.
func lastLines(path string, n int) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n"), nil
}
