package natsjetstream

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// testBound is the server's bound in these tests (scalers.Config.Timeouts).
const testBound = time.Second

// fakeNode is what one node of a fake cluster answers.
type fakeNode struct {
	name string // server_name
	jsz  Jsz
	// varz's connect_urls and cluster.urls.
	connect, routes []string
}

// fakeCluster is an httptest server playing every node of a cluster: the
// node is chosen by the request's Host, every host being dialled to the
// one server (as KEDA's test redirects *.localhost).
type fakeCluster struct {
	srv *httptest.Server

	mu    sync.Mutex
	nodes map[string]*fakeNode // by host:port
	asked []string             // host+path of each request
}

func newFakeCluster(t *testing.T, nodes map[string]*fakeNode) *fakeCluster {
	t.Helper()
	fc := &fakeCluster{nodes: nodes}
	fc.srv = httptest.NewServer(http.HandlerFunc(fc.serve))
	t.Cleanup(fc.srv.Close)
	return fc
}

func (fc *fakeCluster) serve(w http.ResponseWriter, r *http.Request) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.asked = append(fc.asked, r.Host+r.URL.Path)
	n, ok := fc.nodes[r.Host]
	if !ok {
		http.Error(w, "no such node", http.StatusBadGateway)
		return
	}
	switch r.URL.Path {
	case "/jsz":
		_ = json.NewEncoder(w).Encode(n.jsz)
	case "/varz":
		v := Varz{ServerName: n.name, ConnectURLs: n.connect}
		v.Cluster.URLs = n.routes
		_ = json.NewEncoder(w).Encode(v)
	default:
		http.NotFound(w, r)
	}
}

func (fc *fakeCluster) set(host string, f func(*fakeNode)) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	f(fc.nodes[host])
}

func (fc *fakeCluster) requests() []string {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	out := fc.asked
	fc.asked = nil
	return out
}

// transport dials every host to the fake cluster.
func (fc *fakeCluster) transport() *http.Transport {
	addr := fc.srv.Listener.Addr().String()
	var d net.Dialer
	return &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}}
}

func (fc *fakeCluster) scaler(t *testing.T, meta map[string]string) *Scaler {
	t.Helper()
	s, err := NewWithOptions(t.Context(), scalers.Config{Type: Type, Metadata: meta, Timeouts: scalers.Timeouts{Default: testBound}},
		Options{Transport: fc.transport()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func jszOf(size int, consumers ...Consumer) Jsz {
	return Jsz{MetaCluster: MetaCluster{ClusterSize: size},
		Accounts: []Account{{Name: "$G", Streams: []Stream{{Name: "mystream", Consumers: consumers}}}}}
}

// TestMetricsKEDA is every case of KEDA's testNATSJetStreamMockResponses
// (TestNATSJetStreamIsActive and TestNATSJetStreamGetMetrics), with
// KEDA's mock cluster: localhost:8222 answers /varz as server "leader"
// with routes leader/not-leader-1/not-leader-2.localhost.nats.svc, and a
// node other than leader.localhost:8222 answers an empty /jsz.
func TestMetricsKEDA(t *testing.T) {
	routes := []string{"leader.localhost.nats.svc:8222", "not-leader-1.localhost.nats.svc:8222", "not-leader-2.localhost.nats.svc:8222"}
	tests := []struct {
		name   string
		jsz    Jsz
		active bool
		value  float64
		err    string
	}{
		{"no messages waiting (not active)", jszOf(0, Consumer{Name: "pull_consumer"}), false, 0, ""},
		{"messages waiting (active)", jszOf(0, Consumer{Name: "pull_consumer", NumPending: 100}), true, 100, ""},
		{"consumer missing", jszOf(0, Consumer{Name: "pull_consumer_bad", NumPending: 100}), false, 0,
			`nats-jetstream: http://localhost:8222/jsz: consumer "pull_consumer" not found in stream "mystream"`},
		{"non-matching stream", Jsz{Accounts: []Account{{Name: "$G", Streams: []Stream{{Name: "mystreamBad", Consumers: []Consumer{{Name: "pull_consumer", NumPending: 100}}}}}}}, false, 0,
			`nats-jetstream: http://localhost:8222/jsz: stream "mystream" not found in account "$G"`},
		{"messages waiting (clustered)", jszOf(3, Consumer{Name: "pull_consumer", NumPending: 100, Cluster: ConsumerCluster{Leader: "leader"}}), true, 100, ""},
		{"consumer missing on the node asked (clustered)", Jsz{MetaCluster: MetaCluster{ClusterSize: 3}, Accounts: []Account{{Name: "$G", Streams: []Stream{{Name: "mystream"}}}}}, false, 0,
			`nats-jetstream: http://localhost:8222/jsz: leader node not found for consumer "pull_consumer" (asked 3 nodes)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fc := newFakeCluster(t, map[string]*fakeNode{
				"localhost:8222":              {name: "leader", jsz: tt.jsz, routes: routes},
				"leader.localhost:8222":       {name: "leader", jsz: tt.jsz},
				"not-leader-1.localhost:8222": {name: "not-leader-1"},
				"not-leader-2.localhost:8222": {name: "not-leader-2"},
			})
			s := fc.scaler(t, md())
			m, err := s.Metrics(t.Context())
			if tt.err != "" {
				scalertest.CheckMessage(t, err, tt.err)
				if !errors.Is(err, scalers.ErrNoData) {
					t.Errorf("error %v does not wrap ErrNoData", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := scalers.Metrics{Values: []scalers.MetricValue{{Name: "nats-jetstream-mystream", Value: tt.value}}, Active: tt.active}
			if diff := cmp.Diff(want, m); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	t.Run("unresolvable endpoint", func(t *testing.T) {
		s, err := New(t.Context(), scalers.Config{Type: Type, Metadata: md("natsServerMonitoringEndpoint", "asdf32423fdsafdasdf.invalid:8222"),
			Timeouts: scalers.Timeouts{Default: testBound}})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		_, err = s.Metrics(t.Context())
		scalertest.CheckErr(t, err, scalers.ErrUnavailable, "nats-jetstream: http://asdf32423fdsafdasdf.invalid:8222/jsz: ")
	})
	t.Run("KEDA's invalid JSON", func(t *testing.T) {
		src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(`{invalidJSON}`)) }))
		defer src.Close()
		s, err := New(t.Context(), scalers.Config{Type: Type, Metadata: md("natsServerMonitoringEndpoint", src.Listener.Addr().String())})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		_, err = s.Metrics(t.Context())
		scalertest.CheckErr(t, err, scalers.ErrNoData, "nats-jetstream: "+src.URL+"/jsz: not a NATS monitoring answer: invalid JSON at offset 2")
	})
}

// TestLeaderSearch: in a cluster the counts are read from the consumer's
// leader, found through the advertised client URLs (each node's name from
// its /varz) or, with none, through the routes (the node's name under the
// configured host); the leader is then asked directly until the leader
// moves, when the search runs again.
func TestLeaderSearch(t *testing.T) {
	leaderOn := func(leader string, pending int64) Jsz {
		return jszOf(3, Consumer{Name: "pull_consumer", NumPending: pending, Cluster: ConsumerCluster{Leader: leader}})
	}
	t.Run("advertised client URLs", func(t *testing.T) {
		connect := []string{"10.0.0.1:4222", "10.0.0.2:4222", "10.0.0.3:4222"}
		fc := newFakeCluster(t, map[string]*fakeNode{
			// The Service in front of the cluster: any node's answer, a
			// replica's stale count.
			"nats.nats:8222": {name: "n1", jsz: leaderOn("n2", 5), connect: connect},
			"10.0.0.1:8222":  {name: "n1", jsz: leaderOn("n2", 5)},
			"10.0.0.2:8222":  {name: "n2", jsz: leaderOn("n2", 42)},
			"10.0.0.3:8222":  {name: "n3", jsz: leaderOn("n2", 6)},
		})
		s := fc.scaler(t, md("natsServerMonitoringEndpoint", "nats.nats:8222"))
		checkValue(t, s, 42)
		if diff := cmp.Diff([]string{"nats.nats:8222/jsz", "nats.nats:8222/varz", "10.0.0.1:8222/varz", "10.0.0.1:8222/jsz",
			"10.0.0.2:8222/varz", "10.0.0.2:8222/jsz"}, fc.requests()); diff != "" {
			t.Errorf("requests of the search (-want +got):\n%s", diff)
		}
		// The leader is asked directly now.
		fc.set("10.0.0.2:8222", func(n *fakeNode) { n.jsz = leaderOn("n2", 43) })
		checkValue(t, s, 43)
		if diff := cmp.Diff([]string{"10.0.0.2:8222/jsz"}, fc.requests()); diff != "" {
			t.Errorf("requests with the leader known (-want +got):\n%s", diff)
		}
		// The leader moves to n3: n2 says so, the search finds n3.
		for _, h := range []string{"nats.nats:8222", "10.0.0.1:8222", "10.0.0.2:8222"} {
			fc.set(h, func(n *fakeNode) { n.jsz = leaderOn("n3", 7) })
		}
		fc.set("10.0.0.3:8222", func(n *fakeNode) { n.jsz = leaderOn("n3", 70) })
		checkValue(t, s, 70)
		if got := fc.requests(); len(got) != 8 || got[0] != "10.0.0.2:8222/jsz" || got[7] != "10.0.0.3:8222/jsz" {
			t.Errorf("requests after the leader moved: %v", got)
		}
	})
	t.Run("routes only", func(t *testing.T) {
		fc := newFakeCluster(t, map[string]*fakeNode{
			"nats.nats:8222":        {name: "nats-0", jsz: leaderOn("nats-2", 1), routes: []string{"nats-1.nats.nats.svc:6222", "nats-2.nats.nats.svc:6222"}},
			"nats-1.nats.nats:8222": {jsz: leaderOn("nats-2", 1)},
			"nats-2.nats.nats:8222": {jsz: leaderOn("nats-2", 9)},
		})
		s := fc.scaler(t, md("natsServerMonitoringEndpoint", "nats.nats:8222"))
		checkValue(t, s, 9)
		if diff := cmp.Diff([]string{"nats.nats:8222/jsz", "nats.nats:8222/varz", "nats-1.nats.nats:8222/jsz", "nats-2.nats.nats:8222/jsz"}, fc.requests()); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("consumer gone from the cached leader", func(t *testing.T) {
		fc := newFakeCluster(t, map[string]*fakeNode{
			"nats.nats:8222":        {jsz: leaderOn("nats-1", 1), routes: []string{"nats-1.x:6222"}},
			"nats-1.nats.nats:8222": {jsz: leaderOn("nats-1", 3)},
		})
		s := fc.scaler(t, md("natsServerMonitoringEndpoint", "nats.nats:8222"))
		checkValue(t, s, 3)
		fc.requests()
		fc.set("nats-1.nats.nats:8222", func(n *fakeNode) { n.jsz = jszOf(3) })
		_, err := s.Metrics(t.Context())
		scalertest.CheckErr(t, err, scalers.ErrNoData, "leader node not found")
		// The cache was dropped: the next call starts at the configured node.
		fc.set("nats-1.nats.nats:8222", func(n *fakeNode) { n.jsz = leaderOn("nats-1", 4) })
		fc.requests()
		checkValue(t, s, 4)
		if got := fc.requests(); got[0] != "nats.nats:8222/jsz" {
			t.Errorf("requests: %v", got)
		}
	})
	t.Run("a node down fails the call, never crashes", func(t *testing.T) {
		fc := newFakeCluster(t, map[string]*fakeNode{
			"nats.nats:8222": {jsz: leaderOn("n1", 1), connect: []string{"10.9.9.9:4222"}},
		})
		s := fc.scaler(t, md("natsServerMonitoringEndpoint", "nats.nats:8222"))
		_, err := s.Metrics(t.Context())
		scalertest.CheckMessage(t, err, `nats-jetstream: http://nats.nats:8222/jsz: leader node not found for consumer "pull_consumer" (asked 1 nodes); last failure: http://10.9.9.9:8222/varz: status 502 Bad Gateway, want 200`)
		if !errors.Is(err, scalers.ErrUnavailable) {
			t.Errorf("error %v does not wrap ErrUnavailable", err)
		}
	})
	t.Run("user info goes to the configured host only", func(t *testing.T) {
		var mu sync.Mutex
		auth := map[string]bool{}
		fc := newFakeCluster(t, map[string]*fakeNode{
			"nats.nats:8222": {jsz: leaderOn("n2", 1), connect: []string{"10.0.0.2:4222"}},
			"10.0.0.2:8222":  {name: "n2", jsz: leaderOn("n2", 2)},
		})
		inner := fc.srv.Config.Handler
		fc.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _, ok := r.BasicAuth()
			mu.Lock()
			auth[r.Host+r.URL.Path] = ok
			mu.Unlock()
			inner.ServeHTTP(w, r)
		})
		s := fc.scaler(t, md("natsServerMonitoringEndpoint", "u:hunter2@nats.nats:8222"))
		checkValue(t, s, 2)
		mu.Lock()
		defer mu.Unlock()
		want := map[string]bool{"nats.nats:8222/jsz": true, "nats.nats:8222/varz": true, "10.0.0.2:8222/varz": false, "10.0.0.2:8222/jsz": false}
		if diff := cmp.Diff(want, auth); diff != "" {
			t.Errorf("basic auth sent (-want +got):\n%s", diff)
		}
	})
}

func checkValue(tb testing.TB, s *Scaler, want float64) {
	tb.Helper()
	v, err := s.Value(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	if v != want {
		tb.Errorf("value %v, want %v", v, want)
	}
}

// TestHostileSource: a black hole, the wrong protocol either way and
// garbage: every call returns within the bound with ErrUnavailable, and
// the call after the source is back succeeds.
func TestHostileSource(t *testing.T) {
	pki := testenv.NewPKI(t)
	body, _ := json.Marshal(jszOf(0, Consumer{Name: "pull_consumer", NumPending: 11}))
	want := scalers.Metrics{Values: []scalers.MetricValue{{Name: "nats-jetstream-mystream", Value: 11}}, Active: true}
	scalertest.HostileHTTP{
		Handler:   http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(body) }),
		ServerTLS: &tls.Config{Certificates: []tls.Certificate{pki.ServerCert(t).Pair}},
		Bound:     testBound,
		Scaler: func(tb testing.TB, url string) func(context.Context) error {
			scheme, host, _ := strings.Cut(url, "://")
			s, err := New(tb.Context(), scalers.Config{Type: Type, Metadata: md("natsServerMonitoringEndpoint", host,
				"useHttps", boolString(scheme == "https"), "ca", string(pki.CAPEM)), Timeouts: scalers.Timeouts{Default: testBound}})
			if err != nil {
				tb.Fatal(err)
			}
			tb.Cleanup(func() { _ = s.Close() })
			return scalertest.Expecting(s.Metrics, want)
		},
		Unavailable: scalers.ErrUnavailable,
		Message:     func(url, what string) string { return "nats-jetstream: " + url + "/jsz: " + what },
	}.Run(t)
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// TestBlackHoleSearch: the bound covers the whole call, the leader
// search's requests included.
func TestBlackHoleSearch(t *testing.T) {
	hole := scalertest.NewBlackHole(t)
	fc := newFakeCluster(t, map[string]*fakeNode{
		"nats.nats:8222": {jsz: jszOf(3, Consumer{Name: "pull_consumer", Cluster: ConsumerCluster{Leader: "x"}}), connect: []string{"a:1", "b:1", "c:1"}},
	})
	var d net.Dialer
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		if strings.HasPrefix(addr, "nats.nats:") {
			addr = fc.srv.Listener.Addr().String()
		} else {
			addr = hole.Addr()
		}
		return d.DialContext(ctx, network, addr)
	}}
	s, err := NewWithOptions(t.Context(), scalers.Config{Type: Type, Metadata: md("natsServerMonitoringEndpoint", "nats.nats:8222", "timeout", "1h"),
		Timeouts: scalers.Timeouts{Max: testBound}}, Options{Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = scalertest.ReturnsWithin(t, testBound, "a search through black-holed nodes", func() error {
		_, err := s.Metrics(context.Background())
		return err
	})
	scalertest.CheckMessage(t, err, "nats-jetstream: http://a:8222/varz: no answer within 1s (timeout after sending the request)")
}

// TestRedaction: the endpoint's password is in no error, whatever fails.
func TestRedaction(t *testing.T) {
	hole := scalertest.NewBlackHole(t)
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// An answer echoing the request's credentials.
		u, p, _ := r.BasicAuth()
		http.Error(w, u+":"+p, http.StatusUnauthorized)
	}))
	defer bad.Close()
	garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, _ := r.BasicAuth()
		_, _ = w.Write([]byte(u + ":" + p))
	}))
	defer garbage.Close()
	for _, addr := range []string{hole.Addr(), bad.Listener.Addr().String(), garbage.Listener.Addr().String(), "127.0.0.1:1"} {
		s, err := New(t.Context(), scalers.Config{Type: Type, Metadata: md("natsServerMonitoringEndpoint", "admin:hunter2@"+addr),
			Timeouts: scalers.Timeouts{Default: testBound}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Metrics(t.Context())
		_ = s.Close()
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: error %v", addr, err)
		}
	}
}

// TestConcurrent: concurrent calls of one scaler (the leader cache is
// shared) under the race detector.
func TestConcurrent(t *testing.T) {
	fc := newFakeCluster(t, map[string]*fakeNode{
		"nats.nats:8222": {jsz: jszOf(3, Consumer{Name: "pull_consumer", Cluster: ConsumerCluster{Leader: "n1"}}), connect: []string{"10.0.0.1:4222"}},
		"10.0.0.1:8222":  {name: "n1", jsz: jszOf(3, Consumer{Name: "pull_consumer", NumPending: 3, Cluster: ConsumerCluster{Leader: "n1"}})},
	})
	s := fc.scaler(t, md("natsServerMonitoringEndpoint", "nats.nats:8222"))
	scalertest.Concurrently(t, 4, 20, func() error {
		v, err := s.Value(context.Background())
		if err == nil && v != 3 {
			return errors.New("wrong value")
		}
		return err
	})
}
