//go:build flood

// Command flood is the hostile-client proof of issue 9: it starts the
// built binary (`hpa-autoscaler serve`, with its default limits unless
// told otherwise), floods it the ways the issue found harmful, and prints
// what the server's process held before, during and after each flood (RSS
// and descriptors from /proc, goroutines and the limit gauges from its
// /metrics), what the clients got back, and how long a call takes through
// the server when each kind of source hangs. It is not part of make test:
//
//	make build
//	go run -tags flood ./hack/flood -bin bin/hpa-autoscaler
//
// It starts a private redis-server for the password flood (never the
// system's) and black-hole listeners (accept, never answer) for the hang
// cases, on free loopback ports.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

func main() {
	bin := flag.String("bin", "bin/hpa-autoscaler", "the built binary")
	cases := flag.String("cases", "metadata,passwords,values,hangs", "floods to run, comma-separated")
	objects := flag.Int("objects", 200, "ScaledObjects of the metadata flood")
	metaBytes := flag.Int("metadata-bytes", 3_500_000, "bytes of metadata of each of them")
	triggers := flag.Int("triggers", 5000, "triggers with distinct passwords")
	valueBytes := flag.Int("value-bytes", 1<<20, "bytes of each bad value")
	extra := flag.String("serve-args", "", "more flags for serve, space-separated")
	flag.Parse()

	s, err := startServer(*bin, strings.Fields(*extra))
	if err != nil {
		fail(err)
	}
	defer s.stop()
	fmt.Printf("server pid %d, gRPC %s, HTTP %s, flags: %v\n\n", s.cmd.Process.Pid, s.grpc, s.http, s.cmd.Args[1:])
	for _, c := range strings.Split(*cases, ",") {
		switch c {
		case "metadata":
			metadataFlood(s, *objects, *metaBytes)
		case "passwords":
			passwordFlood(s, *triggers)
		case "values":
			valueFlood(s, *valueBytes)
		case "hangs":
			hangs(s)
		default:
			fail(fmt.Errorf("unknown case %q", c))
		}
	}
	fmt.Printf("longest log line of the server: %d bytes (of %d lines)\n", s.log.longest(), s.log.count())
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "flood:", err)
	os.Exit(1)
}

// server is the binary under test.
type server struct {
	cmd        *exec.Cmd
	grpc, http string
	conn       *grpc.ClientConn
	client     pb.ExternalScalerClient
	log        *logStats
}

// logStats keeps the server's stderr lines' count and longest length.
type logStats struct {
	mu      sync.Mutex
	n, max  int
	serving chan [2]string
}

func (l *logStats) longest() int { l.mu.Lock(); defer l.mu.Unlock(); return l.max }
func (l *logStats) count() int   { l.mu.Lock(); defer l.mu.Unlock(); return l.n }

func (l *logStats) read(r io.Reader) {
	br := bufio.NewReaderSize(r, 1<<16)
	for {
		line, err := br.ReadString('\n')
		if len(line) > 0 {
			l.mu.Lock()
			l.n++
			l.max = max(l.max, len(line))
			l.mu.Unlock()
			var rec struct {
				Msg  string `json:"msg"`
				GRPC string `json:"grpc"`
				HTTP string `json:"http"`
			}
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "external scaler serving" {
				l.serving <- [2]string{rec.GRPC, rec.HTTP}
			}
		}
		if err != nil {
			return
		}
	}
}

func startServer(bin string, extra []string) (*server, error) {
	args := append([]string{"serve", "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0",
		"--log-format", "json", "--log-level", "debug"}, extra...)
	cmd := exec.Command(bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, log: &logStats{serving: make(chan [2]string, 1)}}
	go s.log.read(stderr)
	select {
	case addrs := <-s.log.serving:
		s.grpc, s.http = addrs[0], addrs[1]
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		return nil, errors.New("no serving line within 30s")
	}
	// Big messages: the client's own send limit is not what is measured.
	s.conn, err = grpc.NewClient(s.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(1<<30)))
	if err != nil {
		return nil, err
	}
	s.client = pb.NewExternalScalerClient(s.conn)
	return s, nil
}

func (s *server) stop() {
	_ = s.conn.Close()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
	}
}

// sample is what the server's process holds at one moment.
type sample struct {
	rssKiB, hwmKiB int
	fds            int
	goroutines     float64
	gauges         map[string]float64
}

func (s *server) sample() sample {
	pid := s.cmd.Process.Pid
	var sm sample
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				switch f[0] {
				case "VmRSS:":
					sm.rssKiB, _ = strconv.Atoi(f[1])
				case "VmHWM:":
					sm.hwmKiB, _ = strconv.Atoi(f[1])
				}
			}
		}
	}
	if es, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
		sm.fds = len(es)
	}
	sm.gauges = s.metrics()
	sm.goroutines = sm.gauges["go_goroutines"]
	return sm
}

// metrics reads the gauges of /metrics that matter here.
func (s *server) metrics() map[string]float64 {
	out := map[string]float64{}
	resp, err := http.Get("http://" + s.http + "/metrics")
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if name == "go_goroutines" || name == "process_open_fds" || strings.HasPrefix(name, "hpa_scaler_cache_entries") ||
			strings.HasPrefix(name, "hpa_source_connections") || strings.HasPrefix(name, "hpa_requests_refused_total") ||
			strings.HasPrefix(name, "hpa_source_overruns_total") {
			v, _ := strconv.ParseFloat(val, 64)
			out[name] = v
		}
	}
	return out
}

func (sm sample) String() string {
	keys := make([]string, 0, len(sm.gauges))
	for k := range sm.gauges {
		if k != "go_goroutines" && k != "process_open_fds" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var g []string
	for _, k := range keys {
		g = append(g, fmt.Sprintf("%s=%g", k, sm.gauges[k]))
	}
	return fmt.Sprintf("RSS %.1f MiB (peak so far %.1f MiB), %d fds, %g goroutines; %s",
		float64(sm.rssKiB)/1024, float64(sm.hwmKiB)/1024, sm.fds, sm.goroutines, strings.Join(g, " "))
}

// peak samples RSS, descriptors and goroutines until stop is called, and
// returns the highest of each.
func (s *server) peak() (stop func() sample) {
	var mu sync.Mutex
	var top sample
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			sm := s.sample()
			mu.Lock()
			top.rssKiB = max(top.rssKiB, sm.rssKiB)
			top.hwmKiB = max(top.hwmKiB, sm.hwmKiB)
			top.fds = max(top.fds, sm.fds)
			top.goroutines = max(top.goroutines, sm.goroutines)
			mu.Unlock()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() sample {
		close(done)
		<-finished
		mu.Lock()
		defer mu.Unlock()
		return top
	}
}

// answers counts the statuses clients got, with one message of each.
type answers struct {
	mu   sync.Mutex
	n    map[string]int
	msgs map[string]string
	// largest message and its length
	maxLen int
}

func newAnswers() *answers { return &answers{n: map[string]int{}, msgs: map[string]string{}} }

func (a *answers) add(err error) {
	st, _ := status.FromError(err)
	code := st.Code().String()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.n[code]++
	if _, ok := a.msgs[code]; !ok {
		a.msgs[code] = st.Message()
	}
	a.maxLen = max(a.maxLen, len(st.Message()))
}

func (a *answers) String() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var b strings.Builder
	codes := make([]string, 0, len(a.n))
	for c := range a.n {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	for _, c := range codes {
		m := a.msgs[c]
		if len(m) > 300 {
			m = m[:300] + fmt.Sprintf("... (%d bytes)", len(m))
		}
		fmt.Fprintf(&b, "    %d x %s: %q\n", a.n[c], c, m)
	}
	fmt.Fprintf(&b, "    longest status message: %d bytes\n", a.maxLen)
	return b.String()
}

// flood runs n calls from up to conc goroutines at once.
func flood(n, conc int, call func(i int) error) *answers {
	a := newAnswers()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(conc, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				a.add(call(i))
			}
		})
	}
	wg.Wait()
	return a
}

func report(title string, s *server, before sample, run func() *answers) {
	fmt.Printf("## %s\n", title)
	fmt.Printf("  before: %v\n", before)
	stop := s.peak()
	start := time.Now()
	a := run()
	took := time.Since(start)
	top := stop()
	fmt.Printf("  peak:   RSS %.1f MiB, %d fds, %g goroutines\n", float64(top.rssKiB)/1024, top.fds, top.goroutines)
	fmt.Printf("  after:  %v (flood took %v)\n", s.sample(), took.Round(time.Millisecond))
	time.Sleep(5 * time.Second)
	fmt.Printf("  +5s:    %v\n", s.sample())
	fmt.Printf("  answers:\n%s\n", a)
}

func ctx(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

// metadataFlood: objects ScaledObjects at once, each with size bytes of
// metadata in 10 KB values (each within the value limit, the whole far
// over the trigger's).
func metadataFlood(s *server, objects, size int) {
	value := strings.Repeat("m", 10_000)
	md := map[string]string{"scalerType": "redis", "address": "127.0.0.1:1", "listName": "q"}
	for i := 0; i*10_000 < size; i++ {
		md[fmt.Sprintf("k%05d", i)] = value
	}
	report(fmt.Sprintf("metadata flood: %d ScaledObjects with %.1f MB of metadata each, all at once", objects, float64(size)/1e6),
		s, s.sample(), func() *answers {
			return flood(objects, objects, func(i int) error {
				c, cancel := ctx(time.Minute)
				defer cancel()
				_, err := s.client.GetMetricSpec(c, &pb.ScaledObjectRef{Namespace: "flood", Name: fmt.Sprint("so-", i), ScalerMetadata: md})
				return err
			})
		})
	// Under gRPC's receive limit, over the metadata limit: refused by the
	// server's own check.
	small := map[string]string{"scalerType": "redis", "address": "127.0.0.1:1", "listName": "q"}
	for i := range 10 {
		small[fmt.Sprintf("k%02d", i)] = value
	}
	report(fmt.Sprintf("metadata flood: %d ScaledObjects with 100 kB of metadata each (under the gRPC receive limit)", objects),
		s, s.sample(), func() *answers {
			return flood(objects, objects, func(i int) error {
				c, cancel := ctx(time.Minute)
				defer cancel()
				_, err := s.client.GetMetricSpec(c, &pb.ScaledObjectRef{Namespace: "flood", Name: fmt.Sprint("so-", i), ScalerMetadata: small})
				return err
			})
		})
}

// passwordFlood: n redis triggers with distinct passwords against a
// private redis-server, each asked for its value.
func passwordFlood(s *server, n int) {
	addr, stop, err := startRedis()
	if err != nil {
		fmt.Printf("## password flood: skipped: %v\n\n", err)
		return
	}
	defer stop()
	report(fmt.Sprintf("password flood: %d redis triggers with distinct passwords against a private redis-server at %s (64 at a time)", n, addr),
		s, s.sample(), func() *answers {
			return flood(n, 64, func(i int) error {
				c, cancel := ctx(time.Minute)
				defer cancel()
				_, err := s.client.GetMetrics(c, &pb.GetMetricsRequest{
					ScaledObjectRef: &pb.ScaledObjectRef{Namespace: "flood", Name: fmt.Sprint("pw-", i), ScalerMetadata: map[string]string{
						"scalerType": "redis", "address": addr, "listName": "orders", "password": fmt.Sprint("password-", i),
					}},
					MetricName: "redis-orders",
				})
				return err
			})
		})
}

// startRedis starts a redis-server on a free loopback port, without
// persistence, in a temporary directory.
func startRedis() (addr string, stop func(), err error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	dir, err := os.MkdirTemp("", "flood-redis-")
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--maxclients", "20000", "--logfile", filepath.Join(dir, "redis.log"))
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop = func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = os.RemoveAll(dir)
	}
	addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
			return addr, stop, nil
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, fmt.Errorf("redis-server on %s not up: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// valueFlood: bad values of size bytes, and of the most the server takes.
func valueFlood(s *server, size int) {
	for _, n := range []int{size, 16 << 10} {
		bad := strings.Repeat("9", n-1) + "x"
		report(fmt.Sprintf("bad values: 100 triggers whose listLength is %d bytes, not a number", n), s, s.sample(), func() *answers {
			return flood(100, 20, func(i int) error {
				c, cancel := ctx(time.Minute)
				defer cancel()
				_, err := s.client.GetMetricSpec(c, &pb.ScaledObjectRef{Namespace: "flood", Name: fmt.Sprint("bad-", i), ScalerMetadata: map[string]string{
					"scalerType": "redis", "address": "127.0.0.1:1", "listName": "q", "listLength": bad,
				}})
				return err
			})
		})
	}
}

// blackHole accepts connections and never reads or writes.
func blackHole() (addr string, stop func()) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	return l.Addr().String(), func() {
		_ = l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	}
}

// hangs times GetMetricSpec and GetMetrics through the server for each
// kind of source, black-holed.
func hangs(s *server) {
	addr, stop := blackHole()
	defer stop()
	fmt.Printf("## hang cases: every source a black hole at %s (accepts, never answers); default bounds\n", addr)
	cases := []struct {
		name string
		md   map[string]string
	}{
		{"prometheus", map[string]string{"scalerType": "prometheus", "serverAddress": "http://" + addr, "query": "up", "threshold": "1"}},
		{"prometheus, timeout: 1h", map[string]string{"scalerType": "prometheus", "serverAddress": "http://" + addr, "query": "up", "threshold": "1", "timeout": "3600000"}},
		{"metrics-api", map[string]string{"scalerType": "metrics-api", "url": "http://" + addr + "/m", "valueLocation": "v", "targetValue": "1"}},
		{"redis", map[string]string{"scalerType": "redis", "address": addr, "listName": "orders"}},
		{"redis-cluster", map[string]string{"scalerType": "redis-cluster", "addresses": addr, "listName": "orders"}},
		{"redis-sentinel", map[string]string{"scalerType": "redis-sentinel", "addresses": addr, "sentinelMaster": "m", "listName": "orders"}},
		{"kafka", map[string]string{"scalerType": "kafka", "bootstrapServers": addr, "consumerGroup": "g", "topic": "t"}},
		{"rabbitmq amqp", map[string]string{"scalerType": "rabbitmq", "host": "amqp://guest:guest@" + addr + "/", "queueName": "q"}},
		{"rabbitmq http", map[string]string{"scalerType": "rabbitmq", "host": "http://guest:guest@" + addr + "/", "protocol": "http", "queueName": "q"}},
		{"rabbitmq amqp, timeout: 1h", map[string]string{"scalerType": "rabbitmq", "host": "amqp://guest:guest@" + addr + "/", "queueName": "q", "timeout": "3600000"}},
	}
	fmt.Println("  | source | GetMetricSpec | GetMetrics (1st, 2nd, 3rd) | answer of the 1st GetMetrics |")
	fmt.Println("  |---|---|---|---|")
	for _, c := range cases {
		ref := &pb.ScaledObjectRef{Namespace: "hang", Name: strings.ReplaceAll(strings.ReplaceAll(c.name, " ", "-"), ",", ""), ScalerMetadata: c.md}
		cc, cancel := ctx(5 * time.Minute)
		start := time.Now()
		spec, err := s.client.GetMetricSpec(cc, ref)
		specTook := time.Since(start)
		if err != nil {
			cancel()
			fmt.Printf("  | %s | %v: %v | | |\n", c.name, specTook.Round(time.Millisecond), err)
			continue
		}
		var took []string
		var first string
		for i := range 3 {
			start := time.Now()
			_, err := s.client.GetMetrics(cc, &pb.GetMetricsRequest{ScaledObjectRef: ref, MetricName: spec.MetricSpecs[0].MetricName})
			took = append(took, time.Since(start).Round(time.Millisecond).String())
			if i == 0 {
				st, _ := status.FromError(err)
				first = st.Code().String() + ": " + st.Message()
			}
		}
		cancel()
		fmt.Printf("  | %s | %v | %s | %s |\n", c.name, specTook.Round(time.Millisecond), strings.Join(took, ", "), strings.ReplaceAll(first, "|", "/"))
	}
	sm := s.sample()
	var over []string
	for k, v := range sm.gauges {
		if strings.HasPrefix(k, "hpa_source_overruns_total") && v > 0 {
			over = append(over, fmt.Sprintf("%s=%g", k, v))
		}
	}
	slices.Sort(over)
	fmt.Printf("\n  calls the server had to cut (hpa_source_overruns_total > 0): %v\n\n", over)
}
