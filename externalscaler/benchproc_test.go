package externalscaler

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The load benchmark with each server in a process of its own, as KEDA
// (another pod) talks to ours: the load generator and client connection in
// this process, the three servers (empty, fixed, redis) each in a re-run of
// this test binary. Everything else is BenchmarkGetMetricsLoad's: the same
// requests, calls, rounds and figures; CPU per call adds the server
// process's CPU time to this one's.
//
// A server process is this benchmark run with benchServerEnv set to the
// server's name: it serves, prints its address on stdout and stops when its
// stdin closes (the parent ends it, or died). The fixed-value scaler thus
// stays registered in the test binary only.

const (
	benchServerEnv  = "HPA_BENCH_SERVER"
	benchAddrPrefix = "bench-server-listening "
)

func BenchmarkGetMetricsLoadProcess(b *testing.B) {
	if kind := os.Getenv(benchServerEnv); kind != "" {
		serveForParent(b, kind)
		return
	}
	rd := startBenchRedis(b)
	fixedReqs, redisReqs := benchRequests("fixed", ""), benchRequests("redis", rd.Addr())
	for _, callers := range []int{64, 8} {
		b.Run("callers="+strconv.Itoa(callers), func(b *testing.B) {
			targets := []*loadTarget{
				{name: "empty", reqs: fixedReqs},
				{name: "fixed", reqs: fixedReqs},
				{name: "redis", reqs: redisReqs},
			}
			for _, t := range targets {
				t.addr, t.serverCPU = startServerProcess(b, t.name)
			}
			runLoad(b, callers, targets)
		})
	}
}

// serveForParent is the server process: it serves kind until stdin closes.
func serveForParent(b *testing.B, kind string) {
	var addr string
	switch kind {
	case "empty":
		addr = startEmpty(b)
	case "fixed":
		addr = startBenchServer(b, fixedRegistry())
	case "redis":
		addr = startBenchServer(b, redisRegistry())
	default:
		b.Fatalf("%s=%q: want empty, fixed or redis", benchServerEnv, kind)
	}
	fmt.Printf("%s%s\n", benchAddrPrefix, addr)
	if _, err := io.Copy(io.Discard, os.Stdin); err != nil {
		b.Errorf("server process %s: reading stdin: %v", kind, err)
	}
}

// startServerProcess starts server kind in a process of its own and returns
// its address and a reader of its CPU time. The process ends with the
// benchmark.
func startServerProcess(b *testing.B, kind string) (string, func(testing.TB) time.Duration) {
	b.Helper()
	exe, err := os.Executable()
	if err != nil {
		b.Fatalf("server process %s: %v", kind, err)
	}
	// No test timeout: the process lives as long as the benchmark needs it.
	cmd := exec.Command(exe, "-test.run=^$", "-test.bench=^BenchmarkGetMetricsLoadProcess$",
		"-test.benchtime=1x", "-test.timeout=0")
	// The same GOMAXPROCS as this side (-cpu sets both).
	cmd.Env = append(os.Environ(), benchServerEnv+"="+kind, "GOMAXPROCS="+strconv.Itoa(runtime.GOMAXPROCS(0)))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatalf("server process %s: %v", kind, err)
	}
	out := &addrWriter{found: make(chan string, 1)}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		b.Fatalf("server process %s: %v", kind, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() error {
		_ = stdin.Close()
		select {
		case err := <-exited:
			return err
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("did not stop within 10s of its stdin closing; killed")
		}
	}
	var addr string
	select {
	case addr = <-out.found:
	case err := <-exited:
		b.Fatalf("server process %s exited before listening: %v\n%s", kind, err, out.text())
	case <-time.After(waitLimit):
		_ = cmd.Process.Kill()
		<-exited
		b.Fatalf("server process %s: no address within %v\n%s", kind, waitLimit, out.text())
	}
	b.Cleanup(func() {
		if err := stop(); err != nil {
			b.Errorf("server process %s: %v\n%s", kind, err, out.text())
		}
	})
	pid := cmd.Process.Pid
	return addr, func(tb testing.TB) time.Duration {
		d, err := threadsCPU(pid)
		if err != nil {
			tb.Fatalf("server process %s: CPU time: %v", kind, err)
		}
		return d
	}
}

// addrWriter collects a server process's output and reports the address it
// prints.
type addrWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	found chan string
	sent  bool
}

func (w *addrWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if !w.sent {
		sc := bufio.NewScanner(bytes.NewReader(w.buf.Bytes()))
		for sc.Scan() {
			if addr, ok := strings.CutPrefix(sc.Text(), benchAddrPrefix); ok {
				w.found <- addr
				w.sent = true
				break
			}
		}
	}
	return len(p), nil
}

func (w *addrWriter) text() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// threadsCPU is the CPU time (user and system) used so far by the threads
// of process pid: the sum of their schedstat on-CPU times, which count
// nanoseconds (/proc/pid/stat counts 10 ms ticks).
func threadsCPU(pid int) (time.Duration, error) {
	dir := filepath.Join("/proc", strconv.Itoa(pid), "task")
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var sum time.Duration
	for _, t := range tasks {
		data, err := os.ReadFile(filepath.Join(dir, t.Name(), "schedstat"))
		if err != nil {
			if os.IsNotExist(err) {
				continue // the thread has just exited
			}
			return 0, err
		}
		f := strings.Fields(string(data))
		if len(f) == 0 {
			return 0, fmt.Errorf("%s/schedstat: empty", t.Name())
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s/schedstat: %v", t.Name(), err)
		}
		sum += time.Duration(ns)
	}
	return sum, nil
}
