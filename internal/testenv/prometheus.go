package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"
	"google.golang.org/protobuf/encoding/protowire"
)

// Prometheus is a private Prometheus server: the installed Debian package's
// binary run as a child process on a free loopback port, with its own
// generated configuration and a TSDB in a temporary directory. It can scrape
// targets the test serves (see MetricsTarget) and accept samples through its
// remote-write receiver (see RemoteWrite).
//
// Start one per test with StartPrometheus, or share one across a package
// with LaunchPrometheus and Close it at the end of TestMain. Stop and
// Restart (same port, same data) let a test take the server away and bring
// it back. The methods are safe for concurrent use, except that Stop,
// Restart and Close must not race with each other.
type Prometheus struct {
	// URL is the server's base URL, http://127.0.0.1:<port>.
	URL  string
	Port int

	bin, dir string
	opts     PrometheusOptions

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// PrometheusOptions configure a private Prometheus server.
type PrometheusOptions struct {
	// Targets are host:port addresses scraped at /metrics (job "test").
	Targets []string
	// ScrapeInterval is the scrape (and rule evaluation) interval; default
	// 1s, so a changed gauge is visible to queries within about a second.
	ScrapeInterval time.Duration
	// RemoteWriteReceiver enables --web.enable-remote-write-receiver, so
	// RemoteWrite can push samples.
	RemoteWriteReceiver bool
}

// prometheusBinaries are where Prometheus is looked for, in order.
var prometheusBinaries = []string{"/usr/bin/prometheus", "/usr/local/bin/prometheus"}

func findPrometheus() (string, error) {
	if p := os.Getenv("PROMETHEUS_BIN"); p != "" {
		return p, nil
	}
	for _, p := range prometheusBinaries {
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	if p, err := exec.LookPath("prometheus"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("prometheus binary not found in %s or PATH (install the Debian package prometheus: hack/test-deps.sh, or set PROMETHEUS_BIN)",
		strings.Join(prometheusBinaries, ", "))
}

// StartPrometheus starts a private Prometheus for one test and stops it
// (and removes its files) in tb.Cleanup. It fails tb when the server cannot
// be started; it never skips.
func StartPrometheus(tb testing.TB, opts PrometheusOptions) *Prometheus {
	tb.Helper()
	p, err := LaunchPrometheus(opts)
	if err != nil {
		tb.Fatalf("start Prometheus: %v", err)
	}
	tb.Cleanup(func() {
		if err := p.Close(); err != nil {
			tb.Errorf("stop Prometheus: %v", err)
		}
	})
	return p
}

// LaunchPrometheus starts a private Prometheus and waits until it is ready
// (/-/ready) and has scraped each of its targets once. The caller must
// Close it.
func LaunchPrometheus(opts PrometheusOptions) (*Prometheus, error) {
	bin, err := findPrometheus()
	if err != nil {
		return nil, err
	}
	if opts.ScrapeInterval <= 0 {
		opts.ScrapeInterval = time.Second
	}
	dir, err := os.MkdirTemp("", "prometheus-test-")
	if err != nil {
		return nil, err
	}
	p := &Prometheus{bin: bin, dir: dir, opts: opts}
	if err := p.writeConfig(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	// Another process can take the free port between our probe and
	// Prometheus binding it; try a few ports before giving up.
	var lastErr error
	for range 3 {
		ports, err := freePorts(1)
		if err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
		p.Port, p.URL = ports[0], "http://127.0.0.1:"+strconv.Itoa(ports[0])
		if lastErr = p.start(); lastErr == nil {
			return p, nil
		}
		p.kill()
		if !strings.Contains(lastErr.Error(), "address already in use") {
			break
		}
	}
	_ = os.RemoveAll(dir)
	return nil, lastErr
}

func (p *Prometheus) writeConfig() error {
	iv := p.opts.ScrapeInterval.String()
	var b strings.Builder
	fmt.Fprintf(&b, "global:\n  scrape_interval: %s\n  scrape_timeout: %s\n  evaluation_interval: %s\n", iv, iv, iv)
	if len(p.opts.Targets) > 0 {
		b.WriteString("scrape_configs:\n  - job_name: test\n    static_configs:\n      - targets:\n")
		for _, t := range p.opts.Targets {
			fmt.Fprintf(&b, "          - %s\n", strconv.Quote(t))
		}
	}
	return os.WriteFile(filepath.Join(p.dir, "prometheus.yml"), []byte(b.String()), 0o600)
}

func (p *Prometheus) start() error {
	logf, err := os.OpenFile(filepath.Join(p.dir, "prometheus.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	args := []string{
		"--config.file=" + filepath.Join(p.dir, "prometheus.yml"),
		"--web.listen-address=127.0.0.1:" + strconv.Itoa(p.Port),
		"--storage.tsdb.path=" + filepath.Join(p.dir, "data"),
		"--storage.tsdb.retention.time=1h",
		"--log.level=warn",
	}
	if p.opts.RemoteWriteReceiver {
		args = append(args, "--web.enable-remote-write-receiver")
	}
	cmd := exec.Command(p.bin, args...)
	cmd.Dir = p.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	// Own process group, so a signal to the test's group does not reach it
	// and Stop kills exactly this server.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return fmt.Errorf("run %s: %w", p.bin, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		_ = logf.Close()
		close(done)
	}()
	p.mu.Lock()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()
	if err := p.waitReady(prometheusReadyLimit, done); err != nil {
		p.kill()
		return fmt.Errorf("%w\n--- prometheus log (last lines) ---\n%s", err, p.logTail(30))
	}
	return nil
}

// prometheusReadyLimit bounds a start: far above the second or two an
// idle machine needs (TSDB open, WAL replay, first scrape).
const prometheusReadyLimit = 2 * time.Minute

func (p *Prometheus) waitReady(limit time.Duration, done <-chan struct{}) error {
	what := fmt.Sprintf("prometheus on port %d to be ready", p.Port)
	if len(p.opts.Targets) > 0 {
		what = fmt.Sprintf("prometheus on port %d to be ready and to have scraped each of its %d targets", p.Port, len(p.opts.Targets))
	}
	return poll(limit, what, done, p.probe)
}

// probe reports whether the server is ready (/-/ready answers 200) and,
// when it has targets, has completed a scrape of each since it started (a
// test's first query then finds the scraped series; whether a target was
// up is the test's business).
func (p *Prometheus) probe() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.get(ctx, "/-/ready", nil); err != nil {
		return err
	}
	if len(p.opts.Targets) == 0 {
		return nil
	}
	var targets struct {
		Data struct {
			ActiveTargets []struct {
				ScrapeURL  string    `json:"scrapeUrl"`
				LastScrape time.Time `json:"lastScrape"`
			} `json:"activeTargets"`
		} `json:"data"`
	}
	if err := p.get(ctx, "/api/v1/targets?state=active", &targets); err != nil {
		return err
	}
	active := targets.Data.ActiveTargets
	if len(active) < len(p.opts.Targets) {
		return fmt.Errorf("%d of %d targets are active", len(active), len(p.opts.Targets))
	}
	for _, t := range active {
		if t.LastScrape.IsZero() {
			return fmt.Errorf("target %s not scraped yet", t.ScrapeURL)
		}
	}
	return nil
}

// get sends a GET request to the server and decodes a 200 answer's JSON
// into out (if not nil).
func (p *Prometheus) get(ctx context.Context, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+path, nil)
	if err != nil {
		return err
	}
	// No idle connections: tests that look for leaked goroutines find none.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", path, resp.Status, bytes.TrimSpace(body))
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(body, out)
}

func (p *Prometheus) kill() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.cmd, p.done = nil, nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	terminate(cmd, done, 10*time.Second, func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
}

// Stop stops the server; its port and data stay reserved for Restart.
func (p *Prometheus) Stop() { p.kill() }

// Restart starts a stopped server again on the same port with the same
// data, and waits as LaunchPrometheus does.
func (p *Prometheus) Restart() error {
	p.kill()
	return p.start()
}

// Close stops the server and removes its files.
func (p *Prometheus) Close() error {
	p.kill()
	return os.RemoveAll(p.dir)
}

func (p *Prometheus) logTail(n int) string {
	tail, err := lastLines(filepath.Join(p.dir, "prometheus.log"), n)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	return tail
}

// RemoteSample is one sample pushed with RemoteWrite.
type RemoteSample struct {
	// Labels must include __name__.
	Labels map[string]string
	Value  float64
	// Time defaults to now; Prometheus rejects samples older than its head
	// block and out-of-order samples of a series.
	Time time.Time
}

// RemoteWrite pushes samples through the remote-write receiver (the server
// must have been started with RemoteWriteReceiver). Each sample becomes its
// own series entry in one request.
func (p *Prometheus) RemoteWrite(ctx context.Context, samples ...RemoteSample) error {
	var req []byte
	for _, s := range samples {
		req = protowire.AppendTag(req, 1, protowire.BytesType)
		req = protowire.AppendBytes(req, encodeRemoteSeries(s))
	}
	body := s2.EncodeSnappy(nil, req)
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, p.URL+"/api/v1/write", bytes.NewReader(body))
	if err != nil {
		return err
	}
	hr.Header.Set("Content-Encoding", "snappy")
	hr.Header.Set("Content-Type", "application/x-protobuf")
	hr.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	client := &http.Client{}
	defer client.CloseIdleConnections()
	resp, err := client.Do(hr)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("remote write: %s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	return nil
}

// encodeRemoteSeries encodes one prometheus.TimeSeries message (labels
// sorted by name, one sample).
func encodeRemoteSeries(s RemoteSample) []byte {
	names := make([]string, 0, len(s.Labels))
	for k := range s.Labels {
		names = append(names, k)
	}
	slices.Sort(names)
	var ts []byte
	for _, k := range names {
		var l []byte
		l = protowire.AppendTag(l, 1, protowire.BytesType)
		l = protowire.AppendString(l, k)
		l = protowire.AppendTag(l, 2, protowire.BytesType)
		l = protowire.AppendString(l, s.Labels[k])
		ts = protowire.AppendTag(ts, 1, protowire.BytesType)
		ts = protowire.AppendBytes(ts, l)
	}
	at := s.Time
	if at.IsZero() {
		at = time.Now()
	}
	var smp []byte
	smp = protowire.AppendTag(smp, 1, protowire.Fixed64Type)
	smp = protowire.AppendFixed64(smp, math.Float64bits(s.Value))
	smp = protowire.AppendTag(smp, 2, protowire.VarintType)
	smp = protowire.AppendVarint(smp, uint64(at.UnixMilli()))
	ts = protowire.AppendTag(ts, 2, protowire.BytesType)
	ts = protowire.AppendBytes(ts, smp)
	return ts
}

// MetricsTarget is an HTTP server that serves /metrics in the Prometheus
// text format, for a Prometheus (or a metrics-api scaler) to scrape. Tests
// set and delete series while it runs; it is safe for concurrent use.
type MetricsTarget struct {
	srv *httptest.Server

	mu     sync.Mutex
	series map[string]float64
}

// NewMetricsTarget starts a target on a free loopback port and closes it in
// tb.Cleanup.
func NewMetricsTarget(tb testing.TB) *MetricsTarget {
	tb.Helper()
	m := &MetricsTarget{series: map[string]float64{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", m.serve)
	m.srv = httptest.NewServer(mux)
	tb.Cleanup(m.srv.Close)
	return m
}

// Addr returns the target's host:port (what Prometheus scrapes).
func (m *MetricsTarget) Addr() string { return m.srv.Listener.Addr().String() }

// URL returns the URL of the /metrics page.
func (m *MetricsTarget) URL() string { return m.srv.URL + "/metrics" }

// Set sets a series, written as in the exposition format:
// `queue_length{queue="a"}` or `up_total`.
func (m *MetricsTarget) Set(series string, v float64) {
	m.mu.Lock()
	m.series[series] = v
	m.mu.Unlock()
}

// Delete removes a series; Prometheus marks it stale on the next scrape.
func (m *MetricsTarget) Delete(series string) {
	m.mu.Lock()
	delete(m.series, series)
	m.mu.Unlock()
}

func (m *MetricsTarget) serve(w http.ResponseWriter, _ *http.Request) {
	m.mu.Lock()
	lines := make([]string, 0, len(m.series))
	for s, v := range m.series {
		lines = append(lines, s+" "+formatSampleValue(v)+"\n")
	}
	m.mu.Unlock()
	slices.Sort(lines)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_, _ = io.WriteString(w, strings.Join(lines, ""))
}

func formatSampleValue(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
