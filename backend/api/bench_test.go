package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hpa-autoscaler/hpa-autoscaler/backend/auth"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/store"
)

// The benchmarks of the API over loopback HTTP: api.New over a real
// store, served by a real http.Server on 127.0.0.1:0, with a client whose
// transport keeps a connection per client goroutine (so the client is
// not what is measured). Each reports its rate and the p50/p99 latency
// of one request in milliseconds; each fails when an answer is wrong.
//
//	make bench BENCH='PostEvent|ListScalers' PKGS=./backend/api/
//	go test -run '^$' -bench 'PostEvent|ListScalers' -benchmem -benchtime 2s -count 3 ./backend/api/

// benchDBs are the databases every benchmark runs on.
var benchDBs = []struct {
	name string
	url  dbURL
}{{"sqlite", sqliteURL}, {"postgres", postgresURL}}

// benchEnv is a store with tenant acme (cluster c1, scaler web, an
// operator token) behind the API on a loopback HTTP server.
type benchEnv struct {
	store  store.Store
	url    string // http://127.0.0.1:port
	token  string // acme's operator
	client *http.Client
}

// newBenchEnv starts an environment on a fresh database of db whose
// client keeps up to clients connections. It is torn down at b's cleanup.
func newBenchEnv(b *testing.B, db dbURL, clients int) *benchEnv {
	b.Helper()
	ctx := context.Background()
	s, err := store.Open(ctx, db(b), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	g, err := auth.Generate("acme")
	if err != nil {
		b.Fatal(err)
	}
	err = s.Update(ctx, "acme", "bench", func(tx store.Tx) error {
		if _, err := tx.CreateTenant("acme"); err != nil {
			return err
		}
		if _, err := tx.CreateToken(store.Token{ID: g.ID, Name: "agent", Role: store.RoleOperator, SecretHash: g.SecretHash}); err != nil {
			return err
		}
		if _, err := tx.CreateCluster(store.Cluster{ID: "c1", Name: "one"}); err != nil {
			return err
		}
		_, err := tx.CreateScaler(store.Scaler{Name: "web", Namespace: "prod", Cluster: "c1", Spec: validSpec()})
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	// The rate limit is off: it would measure the bucket, not the API.
	h, err := New(Options{Store: s, RequestsPerMinute: -1})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(ln)
	}()
	b.Cleanup(func() {
		_ = srv.Close()
		<-served
	})
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        2 * clients,
		MaxIdleConnsPerHost: 2 * clients,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}
	b.Cleanup(tr.CloseIdleConnections)
	return &benchEnv{store: s, url: "http://" + ln.Addr().String(), token: g.Token, client: &http.Client{Transport: tr, Timeout: time.Minute}}
}

// do sends one request and reads the whole answer.
func (e *benchEnv) do(method, path string, body []byte) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+e.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, data, err
}

// runClients calls op b.N times in all, from clients goroutines (worker
// 0 to clients-1; i from 0 to b.N-1, each once), timing each call. It
// fails b with the first error after every goroutine has stopped.
func runClients(b *testing.B, clients int, op func(worker, i int) error) (lat []time.Duration, elapsed time.Duration) {
	b.Helper()
	lat = make([]time.Duration, b.N)
	var next atomic.Int64
	var failed atomic.Pointer[error]
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for failed.Load() == nil {
				i := int(next.Add(1) - 1)
				if i >= b.N {
					return
				}
				t0 := time.Now()
				if err := op(w, i); err != nil {
					failed.CompareAndSwap(nil, &err)
					return
				}
				lat[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	elapsed = time.Since(start)
	b.StopTimer()
	if err := failed.Load(); err != nil {
		b.Fatal(*err)
	}
	return lat, elapsed
}

// report adds the rate (in unit, per second) and the p50 and p99 of the
// calls' latencies in milliseconds.
func report(b *testing.B, lat []time.Duration, elapsed time.Duration, unit string) {
	b.Helper()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		i := int(math.Ceil(float64(len(lat))*p)) - 1
		return float64(lat[max(0, min(i, len(lat)-1))]) / float64(time.Millisecond)
	}
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), unit)
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

// BenchmarkPostEvent measures acknowledged POST /api/v1/scalers/web/events
// (201 once the event and its audit record are durable) from 1 and 64
// concurrent clients, each event with an id of its own. Next to each,
// "store" is the same database's rate of the store's own acknowledged
// appends in the same run (one Update recording one event per call, as
// backend/store's BenchmarkAppend), so that the HTTP figures can be read
// as a ratio on a machine whose disk and CPUs are shared.
func BenchmarkPostEvent(b *testing.B) {
	for _, db := range benchDBs {
		for _, clients := range []int{1, 64} {
			b.Run(fmt.Sprintf("%s/clients=%d/http", db.name, clients), func(b *testing.B) {
				benchPostHTTP(b, db.url, clients)
			})
			b.Run(fmt.Sprintf("%s/clients=%d/store", db.name, clients), func(b *testing.B) {
				benchPostStore(b, db.url, clients)
			})
		}
	}
}

const benchEventTime = "2026-12-04T20:00:00Z"

func benchPostHTTP(b *testing.B, db dbURL, clients int) {
	e := newBenchEnv(b, db, clients)
	ctx := context.Background()
	before, err := e.store.Admin().Head(ctx)
	if err != nil {
		b.Fatal(err)
	}
	seqs := make([]int64, b.N)
	lat, elapsed := runClients(b, clients, func(_, i int) error {
		body := fmt.Appendf(nil, `{"id":"ev-%d","time":%q,"fromReplicas":2,"toReplicas":3,"rule":"scaleUp","reason":"bench"}`, i, benchEventTime)
		status, data, err := e.do(http.MethodPost, "/api/v1/scalers/web/events", body)
		if err != nil {
			return err
		}
		if status != http.StatusCreated {
			return fmt.Errorf("event %d: status %d, want 201: %s", i, status, data)
		}
		var ack EventAck
		if err := json.Unmarshal(data, &ack); err != nil {
			return fmt.Errorf("event %d: %w: %s", i, err, data)
		}
		if ack.Seq <= before.Seq || len(ack.ChainHash) != 64 {
			return fmt.Errorf("event %d: bad ack %s (head was %d)", i, data, before.Seq)
		}
		seqs[i] = ack.Seq
		return nil
	})
	checkSeqs(b, e.store, before.Seq, seqs)
	report(b, lat, elapsed, "events/s")
}

func benchPostStore(b *testing.B, db dbURL, clients int) {
	e := newBenchEnv(b, db, 1)
	ctx := context.Background()
	before, err := e.store.Admin().Head(ctx)
	if err != nil {
		b.Fatal(err)
	}
	at, err := time.Parse(time.RFC3339, benchEventTime)
	if err != nil {
		b.Fatal(err)
	}
	seqs := make([]int64, b.N)
	lat, elapsed := runClients(b, clients, func(_, i int) error {
		id := "ev-" + strconv.Itoa(i)
		var ev store.ScalingEvent
		var created bool
		err := e.store.Update(ctx, "acme", "agent", func(tx store.Tx) error {
			var err error
			ev, created, err = tx.RecordEvent(store.ScalingEvent{ID: id, Scaler: "web", Time: at, FromReplicas: 2, ToReplicas: 3, Rule: "scaleUp", Reason: "bench"})
			return err
		})
		if err != nil {
			return fmt.Errorf("event %d: %w", i, err)
		}
		if !created {
			return fmt.Errorf("event %d: not created (seq %d)", i, ev.AuditSeq)
		}
		seqs[i] = ev.AuditSeq
		return nil
	})
	checkSeqs(b, e.store, before.Seq, seqs)
	report(b, lat, elapsed, "events/s")
}

// checkSeqs fails b unless seqs are distinct, all after head, and the
// log grew by exactly their number: every acknowledged event is one
// durable record, and nothing else was appended.
func checkSeqs(b *testing.B, s store.Store, head int64, seqs []int64) {
	b.Helper()
	after, err := s.Admin().Head(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	if got := after.Seq - head; got != int64(len(seqs)) {
		b.Fatalf("the log grew by %d records for %d events", got, len(seqs))
	}
	slices.Sort(seqs)
	for i, seq := range seqs {
		if seq <= head || seq > after.Seq || i > 0 && seq == seqs[i-1] {
			b.Fatalf("seq %d: repeated, or not in the new records (%d, %d]", seq, head, after.Seq)
		}
	}
}

// benchScalers is how many scalers BenchmarkListScalers lists.
const benchScalers = 10_000

// BenchmarkListScalers measures GET /api/v1/scalers over a tenant of
// 10,000 scalers, each client walking the pages with pageToken (and
// starting again after the last): one op is one page. It reports pages/s
// and each page's p50/p99 latency, and checks every page holds the next
// names in order.
func BenchmarkListScalers(b *testing.B) {
	for _, db := range benchDBs {
		b.Run(db.name, func(b *testing.B) {
			// One environment for every sub-benchmark: they only read.
			e := newBenchEnv(b, db.url, 16)
			loadScalers(b, e.store, benchScalers)
			for _, limit := range []int{0, 100, 1000} {
				for _, clients := range []int{1, 16} {
					name := fmt.Sprintf("limit=%d/clients=%d", limit, clients)
					if limit == 0 {
						name = fmt.Sprintf("limit=default/clients=%d", clients)
					}
					b.Run(name, func(b *testing.B) { benchList(b, e, limit, clients) })
				}
			}
		})
	}
}

// loadScalers replaces acme's scalers by n named s00000, s00001, ...,
// in transactions of a thousand through the store.
func loadScalers(b *testing.B, s store.Store, n int) {
	b.Helper()
	ctx := context.Background()
	spec := validSpec()
	err := s.Update(ctx, "acme", "bench", func(tx store.Tx) error { return tx.DeleteScaler("web", 0) })
	if err != nil {
		b.Fatal(err)
	}
	const per = 1000
	for from := 0; from < n; from += per {
		err := s.Update(ctx, "acme", "bench", func(tx store.Tx) error {
			for i := from; i < min(from+per, n); i++ {
				if _, err := tx.CreateScaler(store.Scaler{Name: benchScalerName(i), Namespace: "prod", Cluster: "c1", Spec: spec}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

func benchScalerName(i int) string { return fmt.Sprintf("s%05d", i) }

func benchList(b *testing.B, e *benchEnv, limit, clients int) {
	want := limit
	if want == 0 {
		want = 100 // store.Page's default
	}
	type cursor struct {
		pos   int    // index of the next page's first scaler
		token string // its pageToken ("" for the first)
	}
	cursors := make([]cursor, clients)
	lat, elapsed := runClients(b, clients, func(w, _ int) error {
		c := &cursors[w]
		path := "/api/v1/scalers?"
		if limit != 0 {
			path += "limit=" + strconv.Itoa(limit) + "&"
		}
		if c.token != "" {
			path += "pageToken=" + url.QueryEscape(c.token)
		}
		status, data, err := e.do(http.MethodGet, path, nil)
		if err != nil {
			return err
		}
		if status != http.StatusOK {
			return fmt.Errorf("page at %d: status %d, want 200: %s", c.pos, status, data)
		}
		var page struct {
			Items []struct {
				Name string `json:"name"`
			} `json:"items"`
			NextPageToken string `json:"nextPageToken"`
		}
		if err := json.Unmarshal(data, &page); err != nil {
			return fmt.Errorf("page at %d: %w", c.pos, err)
		}
		if len(page.Items) != want {
			return fmt.Errorf("page at %d: %d items, want %d", c.pos, len(page.Items), want)
		}
		for k, it := range page.Items {
			if n := benchScalerName(c.pos + k); it.Name != n {
				return fmt.Errorf("page at %d: item %d is %q, want %q", c.pos, k, it.Name, n)
			}
		}
		c.pos += want
		if last := c.pos == benchScalers; last != (page.NextPageToken == "") {
			return fmt.Errorf("page ending at %d: nextPageToken %q", c.pos, page.NextPageToken)
		}
		c.token = page.NextPageToken
		if c.pos == benchScalers {
			c.pos = 0 // start again
		}
		return nil
	})
	report(b, lat, elapsed, "pages/s")
}
