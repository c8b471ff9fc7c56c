package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hpa-autoscaler/hpa-autoscaler/backend/api"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
)

// TestDurabilityKill9 posts scaling events to the real serve from many
// concurrent clients, kills it with SIGKILL once some hundreds were
// acknowledged, restarts it on the same database and checks over the
// API and with `audit verify`: every acknowledged event is there with
// its seq and chain hash; resending it answers 200 with the same seq and
// appends nothing; an event whose answer was lost in the kill is there
// once or not at all, and resending it leaves exactly one. Three rounds
// of kill and restart, on SQLite and on PostgreSQL.
func TestDurabilityKill9(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		runKill9(t, dir, "sqlite:"+filepath.Join(dir, "hpa.db"))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		pg := testenv.StartPostgres(t)
		// The token file and the audit key go to serve's working directory.
		runKill9(t, t.TempDir(), pg.NewDatabase(t))
	})
}

const (
	kill9Rounds  = 3
	kill9Clients = 32
	// kill9Acks is how many acknowledgements a round waits for before the
	// kill; the clients go on posting until it.
	kill9Acks = 300
	// kill9PerClient bounds one client's posts in a round (serve runs
	// without a rate limit here: see launchServe).
	kill9PerClient = 40
)

// ledger is what the clients were told.
type ledger struct {
	acked map[string]api.EventAck // id: the answer (201, or 200 to a resend)
	maybe map[string]bool         // ids posted whose answer never came
}

func runKill9(t *testing.T, dir, db string) {
	start := time.Now()
	p := startServeProc(t, dir, db)
	admin := &apiClient{base: p.base, token: readAdminToken(t, dir), hc: newHTTPClient(t)}
	tokens := setUpScaler(t, admin, kill9Clients)
	led := &ledger{acked: map[string]api.EventAck{}, maybe: map[string]bool{}}
	for round := 1; round <= kill9Rounds; round++ {
		rstart := time.Now()
		acked, maybe := loadAndKill(t, p, tokens, round)
		killedAt := time.Since(rstart)
		for id, a := range acked {
			led.acked[id] = a
		}
		for _, id := range maybe {
			led.maybe[id] = true
		}

		p = startServeProc(t, dir, db)
		admin.base, admin.hc = p.base, newHTTPClient(t)
		present := checkAfterKill(t, admin, led, dir, db)
		resend(t, p.base, tokens, led, acked)
		t.Logf("round %d: %d acknowledged before kill -9 (after %v), %d in flight (%d of them committed), checked and resent in %v",
			round, len(acked), killedAt.Round(time.Millisecond), len(maybe), present, (time.Since(rstart) - killedAt).Round(time.Millisecond))
	}
	duplicateStorm(t, p, tokens[:16], admin)
	p.stop(t)
	checkLogHasNoToken(t, p.stderr.String(), append([]string{admin.token}, tokens...)...)
	t.Logf("%d events acknowledged in all, %d rounds in %v", len(led.acked), kill9Rounds, time.Since(start).Round(time.Millisecond))
}

// TestDurabilityPostgresKilled kills the PostgreSQL server with SIGKILL
// (the postmaster and every backend, mid-commit for some) under a
// running serve and its 32 clients, and restarts it: the POSTs that
// meet the dead server answer 503 (unavailable, Retry-After), serve
// writes again once the server is back, every 201 is there with its seq
// and chain hash, and a POST answered 503 or not at all is there once or
// not at all; resending it leaves exactly one.
//
// A 503 does not always mean "not committed" here: a batch whose COMMIT
// was durable but whose answer died with the server is retried update
// by update, and the retry's error is the answer (the log counts them;
// see docs/store.md, Durability).
func TestDurabilityPostgresKilled(t *testing.T) {
	t.Parallel()
	pg := testenv.StartPostgres(t)
	db := pg.NewDatabase(t)
	dir := t.TempDir()
	p := startServeProc(t, dir, db)
	admin := &apiClient{base: p.base, token: readAdminToken(t, dir), hc: newHTTPClient(t)}
	tokens := setUpScaler(t, admin, kill9Clients)
	l := loadUntil(t, p.base, tokens, "pgkill", func() {
		if err := pg.Kill(); err != nil {
			t.Fatal(err)
		}
	})
	led := &ledger{acked: l.acked, maybe: map[string]bool{}}
	for _, id := range l.lost {
		led.maybe[id] = true
	}
	for _, id := range l.refused(t) {
		led.maybe[id] = true
	}
	ackedN, refusedN := len(l.acked), len(l.answered)
	if err := pg.Start(); err != nil {
		t.Fatal(err)
	}
	c := &apiClient{base: p.base, token: readAdminToken(t, dir), hc: newHTTPClient(t)}
	probes := 0
	scalertest.Eventually(t, waitLimit, "a POST acknowledged once PostgreSQL is back", func() error {
		probes++
		id := fmt.Sprint("pgback-", probes)
		status, _, b, err := c.do("POST", "/api/v1/scalers/"+durScaler+"/events", eventBody(id, "back"))
		if err != nil {
			return err
		}
		if status != http.StatusCreated {
			led.maybe[id] = true
			return fmt.Errorf("status %d: %s", status, b)
		}
		var a api.EventAck
		if err := json.Unmarshal(b, &a); err != nil {
			t.Fatal(err)
		}
		led.acked[id] = a
		return nil
	})
	events := listEvents(t, admin)
	committed503 := 0
	for id := range l.answered {
		if _, ok := events[id]; ok {
			committed503++
		}
	}
	present := checkAfterKill(t, admin, led, dir, db)
	resend(t, p.base, tokens, led, l.acked)
	p.stop(t)
	t.Logf("%d acknowledged before the database was killed; then %d posts without an answer and %d answered 503; %d of these committed (%d of them answered 503); %d probes until it wrote again",
		ackedN, len(l.lost), refusedN, present, committed503, probes)
}

// loadAndKill posts events from kill9Clients clients, each with a token
// of its own, until kill9Acks were acknowledged, then kills serve with
// SIGKILL while they post. It returns the acknowledged events and the
// ids whose answer did not come.
func loadAndKill(t *testing.T, p *serveProc, tokens []string, round int) (map[string]api.EventAck, []string) {
	t.Helper()
	l := loadUntil(t, p.base, tokens, fmt.Sprint("r", round), func() { p.kill9(t) })
	for id, a := range l.answered {
		t.Errorf("POST %s: status %d, want 201: %s", id, a.status, a.body)
	}
	if t.Failed() {
		t.FailNow()
	}
	return l.acked, l.lost
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

// loadRun is a load of clients posting events, one per token.
type loadRun struct {
	mu       sync.Mutex
	acked    map[string]api.EventAck // answered 201, or 200 (statuses counts them)
	statuses map[int]int
	lost     []string          // ids posted whose answer never came
	answered map[string]answer // ids answered without a seq (neither 201 nor 200)
	fails    []string
	bySeq    map[int64]string

	n        atomic.Int64  // answers with a seq
	progress chan struct{} // signalled at answers with a seq, never blocking
	done     chan struct{} // closed once every client has stopped
}

// startLoad starts one client per token posting events
// prefix-c<client>-<n> with reason, at most perClient each (below a
// token's rate-limit burst of 60, so that none is refused with 429). A
// client stops at a post without an answer, or at an answer for which
// goOn is false.
func startLoad(t *testing.T, base string, tokens []string, prefix, reason string, perClient int, goOn func(status int) bool) *loadRun {
	t.Helper()
	hc := newHTTPClient(t)
	l := &loadRun{acked: map[string]api.EventAck{}, statuses: map[int]int{}, answered: map[string]answer{}, bySeq: map[int64]string{},
		progress: make(chan struct{}, 1), done: make(chan struct{})}
	var wg sync.WaitGroup
	for w, tok := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &apiClient{base: base, token: tok, hc: hc}
			for i := range perClient {
				id := fmt.Sprintf("%s-c%d-%d", prefix, w, i)
				status, h, b, err := c.do("POST", "/api/v1/scalers/"+durScaler+"/events", eventBody(id, reason))
				if err != nil {
					// No answer: a kill came first (in flight, or not sent).
					l.mu.Lock()
					l.lost = append(l.lost, id)
					l.mu.Unlock()
					return
				}
				l.record(id, status, h, b)
				if !goOn(status) {
					return
				}
			}
		}()
	}
	go func() { wg.Wait(); close(l.done) }()
	return l
}

func (l *loadRun) record(id string, status int, h http.Header, b []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.statuses[status]++
	if status != http.StatusCreated && status != http.StatusOK {
		l.answered[id] = answer{status, h, b}
		return
	}
	var a api.EventAck
	if err := json.Unmarshal(b, &a); err != nil || a.Seq <= 0 || len(a.ChainHash) != 64 {
		l.fails = append(l.fails, fmt.Sprintf("POST %s: answer %s (%v)", id, b, err))
		return
	}
	if other, dup := l.bySeq[a.Seq]; dup {
		l.fails = append(l.fails, fmt.Sprintf("seq %d acknowledged for %s and for %s", a.Seq, other, id))
	}
	l.bySeq[a.Seq] = id
	l.acked[id] = a
	l.n.Add(1)
	select {
	case l.progress <- struct{}{}:
	default:
	}
}

// wait waits until every client has stopped and fails the test on a
// malformed answer or a seq acknowledged twice.
func (l *loadRun) wait(t *testing.T) {
	t.Helper()
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, f := range l.fails {
		t.Error(f)
	}
	if t.Failed() {
		t.FailNow()
	}
}

// refused returns the ids answered without a seq, and fails the test
// unless each was a 503 {"error":{"code":"unavailable"}} with Retry-After.
func (l *loadRun) refused(t *testing.T) []string {
	t.Helper()
	var ids []string
	for id, a := range l.answered {
		if a.status != http.StatusServiceUnavailable {
			t.Errorf("POST %s: status %d, want 201, 200 or 503: %s", id, a.status, a.body)
		} else if msg := checkUnavailable(a.header, a.body); msg != "" {
			t.Errorf("POST %s: %s", id, msg)
		}
		ids = append(ids, id)
	}
	if t.Failed() {
		t.FailNow()
	}
	return ids
}

// loadUntil posts events from one client per token, each stopping at its
// first answer that is not 201, until kill9Acks were acknowledged, then
// calls kill while they post.
func loadUntil(t *testing.T, base string, tokens []string, prefix string, kill func()) *loadRun {
	t.Helper()
	l := startLoad(t, base, tokens, prefix, "load", kill9PerClient, func(status int) bool { return status == http.StatusCreated })
	deadline := time.After(waitLimit)
	for l.n.Load() < kill9Acks {
		select {
		case <-l.progress:
			continue
		case <-l.done:
		case <-deadline:
		}
		break
	}
	got := l.n.Load()
	kill()
	l.wait(t)
	if got < kill9Acks {
		t.Fatalf("%s: %d events acknowledged before the kill, waited for %d; other answers: %v", prefix, got, kill9Acks, l.answered)
	}
	if n := l.statuses[http.StatusOK]; n > 0 {
		t.Fatalf("%s: %d first posts answered 200 (an event that existed before it was posted)", prefix, n)
	}
	return l
}

// checkAfterKill checks the restarted serve against the ledger: every
// acknowledged event, with its seq and its audit record's chain hash; the
// log's event records are the events, one each; the log verifies with
// `audit verify`, which counts every record. It returns how many of the
// ids in flight were committed.
func checkAfterKill(t *testing.T, admin *apiClient, led *ledger, dir, db string) int {
	t.Helper()
	events := listEvents(t, admin)
	recs := auditLog(t, admin)
	for id, a := range led.acked {
		e, ok := events[id]
		if !ok {
			t.Fatalf("acknowledged event %s (seq %d) lost after kill -9", id, a.Seq)
		}
		if e.Seq != a.Seq {
			t.Fatalf("event %s has seq %d, acknowledged with seq %d", id, e.Seq, a.Seq)
		}
		if r := recs[a.Seq]; r.ChainHash != a.ChainHash {
			t.Fatalf("audit record %d of event %s: chain hash %q, acknowledged %q", a.Seq, id, r.ChainHash, a.ChainHash)
		}
	}
	eventRecs := 0
	for seq := int64(1); seq <= int64(len(recs)); seq++ {
		r, ok := recs[seq]
		if !ok {
			t.Fatalf("the audit log of %d records has no seq %d", len(recs), seq)
		}
		if r.Kind == "event" {
			eventRecs++
		}
	}
	for id, e := range events {
		if r := recs[e.Seq]; r.Kind != "event" || r.Subject != "events/"+id {
			t.Fatalf("event %s: its audit record %d is %s %s", id, e.Seq, r.Kind, r.Subject)
		}
	}
	if eventRecs != len(events) {
		t.Fatalf("%d event records in the audit log, %d events: an event applied twice or without its record", eventRecs, len(events))
	}
	present := 0
	for id := range led.maybe {
		if _, ok := events[id]; ok {
			present++
		}
	}
	if n := auditVerify(t, dir, db); n != int64(len(recs)) || n < int64(len(led.acked)) {
		t.Fatalf("audit verify: %d records; the API lists %d, %d events were acknowledged", n, len(recs), len(led.acked))
	}
	return present
}

// resend posts again every id whose answer was lost (then forgets them as
// in flight) and every id acknowledged in the round: an acknowledged one
// answers 200 with its seq and chain hash, one in flight 200 if it was
// committed and 201 if not; nothing is appended twice.
func resend(t *testing.T, base string, tokens []string, led *ledger, round map[string]api.EventAck) {
	t.Helper()
	hc := newHTTPClient(t)
	admin := &apiClient{base: base, token: tokens[0], hc: hc}
	before := listEvents(t, admin)
	type job struct {
		id   string
		want api.EventAck // zero for an id in flight
	}
	var jobs []job
	for id := range led.maybe {
		jobs = append(jobs, job{id: id})
	}
	for id, a := range round {
		jobs = append(jobs, job{id: id, want: a})
	}
	var (
		mu      sync.Mutex
		fails   []string
		created int
		retries atomic.Int64
		wg      sync.WaitGroup
	)
	for w, tok := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &apiClient{base: base, token: tok, hc: hc}
			for i := w; i < len(jobs); i += len(tokens) {
				j := jobs[i]
				status, b, err := postRetrying(c, j.id, &retries)
				var a api.EventAck
				if err == nil {
					err = json.Unmarshal(b, &a)
				}
				mu.Lock()
				prev, committed := before[j.id]
				switch {
				case err != nil:
					fails = append(fails, fmt.Sprintf("resend %s: %v", j.id, err))
				case j.want.Seq != 0 && (status != http.StatusOK || a != j.want):
					fails = append(fails, fmt.Sprintf("resend of acknowledged %s: status %d, %s; want 200 with %+v", j.id, status, b, j.want))
				case j.want.Seq == 0 && committed && (status != http.StatusOK || a.Seq != prev.Seq):
					fails = append(fails, fmt.Sprintf("resend of %s (in flight, committed with seq %d): status %d, %s; want 200 with its seq", j.id, prev.Seq, status, b))
				case j.want.Seq == 0 && !committed && status != http.StatusCreated:
					fails = append(fails, fmt.Sprintf("resend of %s (in flight, not committed): status %d, %s; want 201", j.id, status, b))
				default:
					if status == http.StatusCreated {
						created++
					}
					led.acked[j.id] = a
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for _, f := range fails {
		t.Error(f)
	}
	if len(fails) > 0 {
		t.FailNow()
	}
	after := listEvents(t, admin)
	if len(after) != len(before)+created {
		t.Fatalf("%d events after the resends, %d before and %d created: a resend was applied twice", len(after), len(before), created)
	}
	for id := range led.maybe {
		if e, ok := after[id]; !ok || e.Seq != led.acked[id].Seq {
			t.Fatalf("event %s, resent after the kill: listed %v with seq %d, the resend answered seq %d", id, ok, e.Seq, led.acked[id].Seq)
		}
	}
	clear(led.maybe)
	if n := retries.Load(); n > 0 {
		t.Logf("resends: %d answers 503 retried", n)
	}
}

// postRetrying posts the event id (reason "load") and posts it again
// after each 503, as a client honouring Retry-After would (backing off
// from 10ms to 250ms, for up to waitLimit), counting the retries.
func postRetrying(c *apiClient, id string, retries *atomic.Int64) (int, []byte, error) {
	deadline := time.Now().Add(waitLimit)
	pause := 10 * time.Millisecond
	for {
		status, _, b, err := c.do("POST", "/api/v1/scalers/"+durScaler+"/events", eventBody(id, "load"))
		if err != nil || status != http.StatusServiceUnavailable || time.Now().After(deadline) {
			return status, b, err
		}
		retries.Add(1)
		time.Sleep(pause)
		pause = min(2*pause, 250*time.Millisecond)
	}
}

// duplicateStorm posts each of a few new ids from every client at once
// (an agent resending while its first try is still queued): each id is
// one event, answered 201 once and 200 with the same seq and chain hash
// to every other client, and appends one audit record.
func duplicateStorm(t *testing.T, p *serveProc, tokens []string, admin *apiClient) {
	t.Helper()
	base := p.base
	const ids = 8
	before, beforeRecs := listEvents(t, admin), auditLog(t, admin)
	hc := newHTTPClient(t)
	type reply struct {
		status int
		ack    api.EventAck
	}
	answers := make([][]reply, ids)
	errs := make(chan error, ids*len(tokens))
	var wg sync.WaitGroup
	for i := range answers {
		answers[i] = make([]reply, len(tokens))
		for w, tok := range tokens {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := &apiClient{base: base, token: tok, hc: hc}
				status, _, b, err := c.do("POST", "/api/v1/scalers/"+durScaler+"/events", eventBody(fmt.Sprint("dup-", i), "storm"))
				if err == nil {
					err = json.Unmarshal(b, &answers[i][w].ack)
				}
				if err != nil {
					errs <- fmt.Errorf("POST dup-%d: %v", i, err)
				}
				answers[i][w].status = status
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i, as := range answers {
		created := 0
		for _, a := range as {
			switch {
			case a.status == http.StatusCreated:
				created++
			case a.status != http.StatusOK:
				t.Fatalf("dup-%d: status %d, want 201 or 200; serve's errors:\n%s", i, a.status, errorLines(p.stderr.String()))
			}
			if a.ack != as[0].ack {
				t.Fatalf("dup-%d: answers %+v and %+v, want one seq and chain hash", i, as[0].ack, a.ack)
			}
		}
		if created != 1 {
			t.Fatalf("dup-%d posted by %d clients at once: %d answers 201, want 1", i, len(as), created)
		}
	}
	after, afterRecs := listEvents(t, admin), auditLog(t, admin)
	if len(after) != len(before)+ids || len(afterRecs) != len(beforeRecs)+ids {
		t.Fatalf("%d ids posted by %d clients each: events %d -> %d, audit records %d -> %d; want %d more of each",
			ids, len(tokens), len(before), len(after), len(beforeRecs), len(afterRecs), ids)
	}
}

// errorLines returns the lines of level ERROR of a JSON log.
func errorLines(log string) string {
	var out []string
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, `"level":"ERROR"`) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// TestDurabilityDiskFull runs serve on a SQLite file in a 2 MiB tmpfs and
// posts events with 4 KB reasons until the disk is full: the write that
// does not fit answers 503 with {"error":{"code":"unavailable"}} and
// Retry-After, reads still answer, every 201 before stays; once the file
// system is grown, the same serve writes on, and after a restart every
// acknowledged event is there and the log verifies. Then the file system
// turns read-only (see remountReadOnly).
func TestDurabilityDiskFull(t *testing.T) {
	dir := testenv.MountTmpfs(t, "2m")
	db := "sqlite:" + filepath.Join(dir, "full.db")
	p := startServeProc(t, t.TempDir(), db)
	admin := &apiClient{base: p.base, token: readAdminToken(t, dir), hc: newHTTPClient(t)}
	tokens := setUpScaler(t, admin, 16)
	reason := strings.Repeat("x", 4000)

	// Fill: each client posts until its first answer that is not 201.
	l := startLoad(t, p.base, tokens, "full", reason, 50, func(status int) bool { return status == http.StatusCreated })
	l.wait(t)
	acked, refusals := l.acked, l.refused(t)
	if len(l.lost) > 0 || l.statuses[http.StatusOK] > 0 {
		t.Fatalf("posts without an answer %v, answers %v; want 201 and 503 only", l.lost, l.statuses)
	}
	if len(refusals) == 0 {
		t.Fatalf("%d events of 4 KB posted to a 2 MiB file system, and none refused", len(acked))
	}
	t.Logf("disk full after %d acknowledged events; %d posts answered 503", len(acked), len(refusals))

	// Full: a lone write is refused too, reads and health answer, and
	// every acknowledged event is there.
	c := &apiClient{base: p.base, token: tokens[0], hc: admin.hc}
	status, h, b, err := c.do("POST", "/api/v1/scalers/"+durScaler+"/events", eventBody("full-lone", reason))
	switch {
	case err != nil:
		t.Fatalf("POST on the full disk: %v", err)
	case status == http.StatusCreated:
		t.Fatalf("POST on the full disk: 201 %s, want 503 (the same write was refused before)", b)
	case status != http.StatusServiceUnavailable || checkUnavailable(h, b) != "":
		t.Fatalf("POST on the full disk: status %d, %s: %s", status, b, checkUnavailable(h, b))
	}
	admin.must(t, "GET", "/api/v1/health", nil, http.StatusOK, nil)
	checkAcked(t, admin, acked)
	log := p.stderr.String()
	// The store logs a batch of several that failed, not a lone update,
	// and the API logs no 503: whether the log says so depends on whether
	// refused writes were batched together (see docs/store.md).
	said := false
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "database or disk is full") {
			t.Logf("serve's log: %s", line)
			said = true
			break
		}
	}
	if !said {
		t.Logf("serve's log says nothing of the full disk (every refused write was alone in its batch)")
	}
	checkLogHasNoToken(t, log, append([]string{admin.token}, tokens...)...)

	// Room again: the same serve writes on.
	testenv.RemountTmpfs(t, dir, 0, "size=64m")
	var a api.EventAck
	c.must(t, "POST", "/api/v1/scalers/"+durScaler+"/events", eventBody("after-grow", reason), http.StatusCreated, &a)
	acked["after-grow"] = a
	checkAcked(t, admin, acked)
	p.stop(t)
	p = startServeProc(t, t.TempDir(), db)
	admin.base, admin.hc = p.base, newHTTPClient(t)
	checkAcked(t, admin, acked)
	recs := auditLog(t, admin)
	if n := auditVerify(t, dir, db); n != int64(len(recs)) {
		t.Fatalf("audit verify: %d records, the API lists %d", n, len(recs))
	}
	for _, id := range refusals {
		// A refused event was not committed: its resend is a new event.
		c := &apiClient{base: p.base, token: tokens[1], hc: admin.hc}
		c.must(t, "POST", "/api/v1/scalers/"+durScaler+"/events", eventBody(id, reason), http.StatusCreated, nil)
	}
	remountReadOnly(t, p, dir, db, admin)
}

// checkUnavailable returns what is wrong with a 503 answer ("" if
// nothing): the JSON error with code unavailable, and Retry-After.
func checkUnavailable(h http.Header, b []byte) string {
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(b, &e); err != nil || e.Error.Code != "unavailable" || e.Error.Message == "" {
		return fmt.Sprintf("body %s, want {\"error\":{\"code\":\"unavailable\",\"message\":...}}", b)
	}
	if h.Get("Retry-After") == "" {
		return "no Retry-After"
	}
	return ""
}

// checkAcked fails unless every acknowledged event is listed with its seq.
func checkAcked(t *testing.T, admin *apiClient, acked map[string]api.EventAck) {
	t.Helper()
	events := listEvents(t, admin)
	for id, a := range acked {
		if e, ok := events[id]; !ok || e.Seq != a.Seq {
			t.Fatalf("acknowledged event %s (seq %d): listed %v with seq %d", id, a.Seq, ok, e.Seq)
		}
	}
}

// remountReadOnly turns serve's file system read-only. Linux refuses to
// remount read-only a file system with a file open for writing (EBUSY),
// as serve's database is: checked, then serve is stopped, the file
// system remounted read-only, and serve must refuse to start, saying
// why. Back to read-write, serve starts and writes, and the log
// verifies.
func remountReadOnly(t *testing.T, p *serveProc, dir, db string, admin *apiClient) {
	t.Helper()
	err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_REMOUNT|syscall.MS_RDONLY, "")
	if err == nil {
		t.Fatalf("remounted %s read-only under a running serve; this test expected EBUSY and must now check POST 503 / GET 200 there", dir)
	}
	if !errors.Is(err, syscall.EBUSY) {
		t.Fatalf("remount %s read-only under a running serve: %v, want EBUSY", dir, err)
	}
	p.stop(t)
	testenv.RemountTmpfs(t, dir, syscall.MS_RDONLY, "")
	ro := launchServe(t, t.TempDir(), db)
	if code := ro.wait(t, "serve's exit on a read-only database"); code != 1 {
		t.Fatalf("serve on a read-only file system: exit code %d, want 1; stderr:\n%s", code, ro.stderr.String())
	}
	msg := ro.stderr.String()
	// SQLite says "unable to open database file" (it cannot create the
	// WAL index), not "read-only": the message names the flag, the file
	// and that the database is unavailable.
	if file := strings.TrimPrefix(db, "sqlite:"); !strings.Contains(msg, "error: --db: ") || !strings.Contains(msg, file) || !strings.Contains(msg, "unavailable") {
		t.Errorf("serve on a read-only file system: stderr does not name --db, %s and unavailable:\n%s", file, msg)
	}
	checkLogHasNoToken(t, msg, admin.token)
	t.Logf("serve on a read-only file system: %s", strings.TrimSpace(lastLine(msg)))

	testenv.RemountTmpfs(t, dir, 0, "")
	p = startServeProc(t, t.TempDir(), db)
	admin.base, admin.hc = p.base, newHTTPClient(t)
	admin.must(t, "POST", "/api/v1/scalers/"+durScaler+"/events", eventBody("after-rw", "back"), http.StatusCreated, nil)
	recs := auditLog(t, admin)
	if n := auditVerify(t, dir, db); n != int64(len(recs)) {
		t.Fatalf("audit verify: %d records, the API lists %d", n, len(recs))
	}
	p.stop(t)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// TestDurabilityReadOnlyPostgres turns the PostgreSQL server read-only
// under a running serve (default_transaction_read_only, as during a
// failover or a full disk's emergency setting), which SQLite cannot be
// (see remountReadOnly): POSTs answer 503 with Retry-After, GETs 200 with
// every acknowledged event; back to read-write, writes succeed again and
// the log verifies.
func TestDurabilityReadOnlyPostgres(t *testing.T) {
	t.Parallel()
	pg := testenv.StartPostgres(t)
	db := pg.NewDatabase(t)
	dir := t.TempDir()
	p := startServeProc(t, dir, db)
	admin := &apiClient{base: p.base, token: readAdminToken(t, dir), hc: newHTTPClient(t)}
	tokens := setUpScaler(t, admin, 1)
	c := &apiClient{base: p.base, token: tokens[0], hc: admin.hc}
	acked := map[string]api.EventAck{}
	post := func(id string) (int, http.Header, []byte) {
		t.Helper()
		status, h, b, err := c.do("POST", "/api/v1/scalers/"+durScaler+"/events", eventBody(id, "ro"))
		if err != nil {
			t.Fatalf("POST %s: %v", id, err)
		}
		if status == http.StatusCreated {
			var a api.EventAck
			if err := json.Unmarshal(b, &a); err != nil {
				t.Fatalf("POST %s: %s: %v", id, b, err)
			}
			acked[id] = a
		}
		return status, h, b
	}
	post("before")
	ctx := t.Context()
	setReadOnly := func(sql string) {
		t.Helper()
		if err := pg.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
		if err := pg.Exec(ctx, "SELECT pg_reload_conf()"); err != nil {
			t.Fatal(err)
		}
	}
	setReadOnly("ALTER SYSTEM SET default_transaction_read_only = on")
	// The reload reaches each backend at its next command: until then a
	// write may still be acknowledged (and must then be kept).
	i := 0
	scalertest.Eventually(t, waitLimit, "a POST refused by the read-only server", func() error {
		i++
		status, h, b := post(fmt.Sprint("ro-", i))
		switch {
		case status == http.StatusCreated:
			return errors.New("still acknowledged")
		case status != http.StatusServiceUnavailable:
			t.Fatalf("POST to a read-only server: status %d, want 503: %s", status, b)
		}
		if msg := checkUnavailable(h, b); msg != "" {
			t.Fatalf("POST to a read-only server: %s", msg)
		}
		return nil
	})
	if status, _, b := post("ro-again"); status != http.StatusServiceUnavailable {
		t.Fatalf("second POST to a read-only server: status %d, want 503: %s", status, b)
	}
	admin.must(t, "GET", "/api/v1/health", nil, http.StatusOK, nil)
	admin.must(t, "GET", "/api/v1/scalers/"+durScaler, nil, http.StatusOK, nil)
	checkAcked(t, admin, acked)

	setReadOnly("ALTER SYSTEM RESET default_transaction_read_only")
	scalertest.Eventually(t, waitLimit, "a POST acknowledged by the server writable again", func() error {
		i++
		if status, _, b := post(fmt.Sprint("rw-", i)); status != http.StatusCreated {
			return fmt.Errorf("status %d: %s", status, b)
		}
		return nil
	})
	checkAcked(t, admin, acked)
	recs := auditLog(t, admin)
	if n := auditVerify(t, dir, db); n != int64(len(recs)) {
		t.Fatalf("audit verify: %d records, the API lists %d", n, len(recs))
	}
	p.stop(t)
	checkLogHasNoToken(t, p.stderr.String(), admin.token, tokens[0])
	for _, line := range strings.Split(p.stderr.String(), "\n") {
		if strings.Contains(line, "read-only") {
			t.Logf("serve's log: %s", line)
		}
	}
	t.Logf("%d events acknowledged, %d posts in all", len(acked), i+2)
}

// TestDurabilityPostgresConnectionsCut terminates every connection of
// serve to PostgreSQL (pg_terminate_backend), again and again while 16
// clients post: a commit whose answer is lost with its connection is
// ambiguous, and the store retries each update of a failed batch alone.
// Whatever each POST answered (201, 200 for an event the first try had
// committed, 503), every acknowledged event is there once with its seq,
// each event has one audit record, resends leave one of each, and the
// log verifies.
func TestDurabilityPostgresConnectionsCut(t *testing.T) {
	t.Parallel()
	pg := testenv.StartPostgres(t)
	db := pg.NewDatabase(t)
	u, err := url.Parse(db)
	if err != nil {
		t.Fatal(err)
	}
	dbName := strings.TrimPrefix(u.Path, "/")
	dir := t.TempDir()
	p := startServeProc(t, dir, db)
	admin := &apiClient{base: p.base, token: readAdminToken(t, dir), hc: newHTTPClient(t)}
	tokens := setUpScaler(t, admin, 16)
	l := startLoad(t, p.base, tokens, "cut", "load", kill9PerClient, func(int) bool { return true })
	cut := 0
	ctx := t.Context()
	// Each cut waits for 20 more answers with a seq, so that the clients
	// get through between cuts.
	for next := int64(20); ; {
		select {
		case <-l.done:
		case <-l.progress:
			if l.n.Load() < next {
				continue
			}
			if err := pg.Exec(ctx, fmt.Sprintf("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '%s' AND pid <> pg_backend_pid()", dbName)); err != nil {
				t.Fatal(err)
			}
			cut++
			next = l.n.Load() + 20
			continue
		}
		break
	}
	l.wait(t)
	acked, statuses, refused := l.acked, l.statuses, l.refused(t)
	if len(l.lost) > 0 {
		t.Fatalf("posts without an answer: %v", l.lost)
	}
	// A read on a pooled connection that was cut answers 503 once (the
	// server's FATAL comes after the query was sent, so database/sql does
	// not retry it); connections idle for a second are pinged first.
	readFails := 0
	scalertest.Eventually(t, waitLimit, "reads answering 200 after the cuts (10 in a row)", func() error {
		for range 10 {
			status, _, b, err := admin.do("GET", "/api/v1/scalers/"+durScaler+"/events?limit=1", nil)
			if err != nil {
				return err
			}
			if status != http.StatusOK {
				readFails++
				return fmt.Errorf("status %d: %s", status, b)
			}
		}
		return nil
	})
	events := listEvents(t, admin)
	led := &ledger{acked: acked, maybe: map[string]bool{}}
	committed := 0
	for _, id := range refused {
		led.maybe[id] = true
		if _, ok := events[id]; ok {
			committed++
		}
	}
	checkAfterKill(t, admin, led, dir, db)
	resend(t, p.base, tokens, led, acked)
	p.stop(t)
	t.Logf("%d cuts under %d posts: answers %v; %d of the 503s had been committed; %d reads answered 503 after the cuts", cut, len(tokens)*kill9PerClient, statuses, committed, readFails)
}
