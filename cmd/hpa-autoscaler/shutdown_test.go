package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	goredis "github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/redis"
)

// childEnv makes the test binary run main instead of the tests: the
// shutdown tests run the binary as a subprocess and send it signals.
const childEnv = "HPA_AUTOSCALER_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		main()
		return
	}
	// go-redis logs every failed dial of the black-hole tests to stderr, as
	// the binary would without the logger it installs.
	goredis.SetLogger(redis.GoRedisLogger(nil))
	os.Exit(m.Run())
}

// waitLimit bounds waits for another process (its serving line, its
// exit); it asserts nothing about how long they take.
const waitLimit = 30 * time.Second

// child is the binary running `serve` in a process of its own.
type child struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	exited chan struct{}
	err    error // of Wait, once exited is closed
	grpc   string
}

// startChild runs `hpa-autoscaler args...` (the test binary, see
// TestMain) in dir ("" for the test's), its stderr kept; it is killed
// when the test ends, or when the test process dies.
func startChild(t *testing.T, dir string, args ...string) *child {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := &child{stderr: &syncBuffer{}, exited: make(chan struct{})}
	c.cmd = exec.Command(exe, args...)
	c.cmd.Dir = dir
	c.cmd.Env = append(os.Environ(), childEnv+"=1")
	c.cmd.Stderr = c.stderr
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		c.err = c.cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-c.exited:
		default:
			_ = c.cmd.Process.Kill()
			<-c.exited
		}
	})
	return c
}

// startServe runs `hpa-autoscaler serve args...` (the test binary, see
// TestMain) with JSON logs and waits for its serving line.
func startServe(t *testing.T, args ...string) *child {
	t.Helper()
	c := startChild(t, "", append([]string{"serve", "--grpc-addr", "127.0.0.1:0", "--http-addr", "", "--log-format", "json"}, args...)...)
	scalertest.Eventually(t, waitLimit, "the serving line of the child", func() error {
		select {
		case <-c.exited:
			t.Fatalf("serve exited early (%v); stderr:\n%s", c.err, c.stderr.String())
		default:
		}
		for _, line := range strings.Split(c.stderr.String(), "\n") {
			var rec struct {
				Msg  string `json:"msg"`
				GRPC string `json:"grpc"`
			}
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "external scaler serving" {
				c.grpc = rec.GRPC
				return nil
			}
		}
		return errors.New("no serving line yet")
	})
	return c
}

// exitCode waits for the child to exit within bound (plus the grace of
// scalertest.ReturnsWithin) and returns its exit code.
func (c *child) exitCode(t *testing.T, bound time.Duration, what string) int {
	t.Helper()
	if err := scalertest.ReturnsWithin(t, bound, what, func() error {
		<-c.exited
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var ee *exec.ExitError
	if errors.As(c.err, &ee) {
		return ee.ExitCode()
	}
	if c.err != nil {
		t.Fatalf("%s: %v", what, c.err)
	}
	return 0
}

// callInFlight starts a GetMetrics of a metrics-api trigger whose URL is
// a black hole (a listener that accepts and never answers) with a timeout
// key of two minutes, and waits until the scaler has connected: a call
// that the source keeps for far longer than any shutdown here.
func callInFlight(t *testing.T, c *child) <-chan error {
	t.Helper()
	bh := scalertest.NewBlackHole(t)
	conn, err := grpc.NewClient(c.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	done := make(chan error, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	client := pb.NewExternalScalerClient(conn)
	ref := &pb.ScaledObjectRef{Namespace: "shop", Name: "stuck", ScalerMetadata: map[string]string{
		"scalerType":    "metrics-api",
		"url":           "http://" + bh.Addr() + "/metrics",
		"valueLocation": "queue.depth",
		"targetValue":   "5",
		"timeout":       "120000",
	}}
	spec, err := client.GetMetricSpec(ctx, ref)
	if err != nil {
		t.Fatalf("GetMetricSpec: %v", err)
	}
	go func() {
		_, err := client.GetMetrics(ctx, &pb.GetMetricsRequest{ScaledObjectRef: ref, MetricName: spec.MetricSpecs[0].MetricName})
		done <- err
	}()
	scalertest.Eventually(t, waitLimit, "the scaler connecting to the black hole", func() error {
		select {
		case err := <-done:
			t.Fatalf("GetMetrics returned before the source answered: %v", err)
		default:
		}
		if bh.Accepted() == 0 {
			return errors.New("no connection yet")
		}
		return nil
	})
	return done
}

func TestShutdownCutsACallInFlight(t *testing.T) {
	const shutdown = time.Second
	c := startServe(t, "--shutdown-timeout", shutdown.String(), "--max-source-timeout", "3m")
	call := callInFlight(t, c)
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The drain, the cut calls' grace, the scalers' closeGrace.
	if code := c.exitCode(t, shutdown+time.Second+closeGrace, "the process exiting after SIGTERM"); code != 0 {
		t.Errorf("exit code: got %d, want 0; stderr:\n%s", code, c.stderr.String())
	}
	if err := <-call; err == nil {
		t.Error("the call in flight: got an answer, want it cut")
	}
	if !strings.Contains(c.stderr.String(), `"msg":"graceful stop timed out; cutting open calls"`) {
		t.Errorf("stderr: want the cut logged; got:\n%s", c.stderr.String())
	}
}

func TestSecondSignalExitsAtOnce(t *testing.T) {
	for _, tc := range []struct {
		sig  syscall.Signal
		code int
	}{{syscall.SIGINT, 130}, {syscall.SIGTERM, 143}} {
		t.Run(tc.sig.String(), func(t *testing.T) {
			// A drain of an hour, held by a call in flight.
			c := startServe(t, "--shutdown-timeout", "1h", "--max-source-timeout", "3m")
			callInFlight(t, c)
			if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			scalertest.Eventually(t, waitLimit, "the shutdown to start", func() error {
				if !strings.Contains(c.stderr.String(), `"msg":"external scaler shutting down"`) {
					return errors.New("no shutdown line yet")
				}
				return nil
			})
			if err := c.cmd.Process.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			if code := c.exitCode(t, 0, "the process exiting after a second signal"); code != tc.code {
				t.Errorf("exit code: got %d, want %d; stderr:\n%s", code, tc.code, c.stderr.String())
			}
			want := fmt.Sprintf("error: second signal (%v) during shutdown: exiting at once\n", tc.sig)
			if got := c.stderr.String(); !strings.HasSuffix(got, want) {
				t.Errorf("stderr: want it to end with %q; got:\n%s", want, got)
			}
		})
	}
}
