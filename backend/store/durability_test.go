package store

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
)

// childEnv, when set to a database URL, makes the test binary the child
// of TestDurability: it appends events from many goroutines and prints
// "ack SEQ ID" for each Update that returned nil, until it is killed.
const childEnv = "HPA_STORE_DURABILITY_DB"

func durabilityChild() int {
	url := os.Getenv(childEnv)
	ctx := context.Background()
	s, err := Open(ctx, url, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child: open:", err)
		return 2
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				id := fmt.Sprintf("g%d-%d", g, i)
				var seq int64
				err := s.Update(ctx, "acme", "agent", func(tx Tx) error {
					e, _, err := tx.RecordEvent(ScalingEvent{ID: id, Scaler: "web", Time: time.Now(), ToReplicas: int32(i % 100)})
					seq = e.AuditSeq
					return err
				})
				if err != nil {
					fmt.Fprintln(os.Stderr, "child:", id, err)
					time.Sleep(10 * time.Millisecond)
					continue
				}
				// Printed only after Update returned: the line is the
				// acknowledgement a client would have got.
				mu.Lock()
				fmt.Fprintf(out, "ack %d %s\n", seq, id)
				_ = out.Flush()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return 0
}

// TestDurability kills -9 a process while it appends, after it has
// acknowledged some hundreds of appends, reopens the database and checks
// that every acknowledged event is there with its seq and that the chain
// verifies. With PostgreSQL the server is killed -9 too (the whole process
// group, before the client) and restarted: crash recovery must bring back
// every acknowledged commit.
func TestDurability(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		url := "sqlite:" + filepath.Join(t.TempDir(), "durable.db")
		runDurability(t, url, nil)
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		p := testenv.StartPostgres(t)
		url := p.NewDatabase(t)
		runDurability(t, url, p)
	})
}

func runDurability(t *testing.T, url string, p *testenv.Postgres) {
	s := open(t, url, Options{})
	newTenant(t, s, "acme")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+url)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[string]int64{}
	sc := bufio.NewScanner(stdout)
	const want = 500
	killed := false
	deadline := time.Now().Add(time.Minute)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 || f[0] != "ack" {
			t.Fatalf("child printed %q", sc.Text())
		}
		seq, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		acked[f[2]] = seq
		if !killed && (len(acked) >= want || time.Now().After(deadline)) {
			killed = true
			if p != nil {
				// The server dies first, mid-commit for some.
				if err := p.Kill(); err != nil {
					t.Fatal(err)
				}
			}
			_ = cmd.Process.Kill()
		}
	}
	_ = cmd.Wait()
	if len(acked) < want/2 {
		t.Fatalf("child acknowledged %d appends before the kill (want some hundreds); stderr:\n%s", len(acked), tail(stderr.String()))
	}
	if p != nil {
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
	}

	s = open(t, url, Options{})
	ctx := testCtx(t)
	for id, seq := range acked {
		e, err := s.Event(ctx, "acme", id)
		if err != nil {
			t.Fatalf("acknowledged event %s (seq %d) lost: %v", id, seq, err)
		}
		if e.AuditSeq != seq {
			t.Fatalf("event %s has seq %d, acknowledged with %d", id, e.AuditSeq, seq)
		}
		rec, err := s.AuditRecord(ctx, "acme", seq)
		if err != nil || rec.Subject != "events/"+id {
			t.Fatalf("audit record %d of event %s: %+v, %v", seq, id, rec, err)
		}
	}
	recs := verifyLog(t, s)
	t.Logf("%d acknowledged before kill -9, %d records after reopening, chain and tree verify", len(acked), len(recs))
	// The store still writes after the crash, on the same chain.
	mustUpdate(t, s, "acme", func(tx Tx) error { _, err := tx.Append("decision", "after", map[string]any{"n": 1}); return err })
	verifyLog(t, s)
}

func tail(s string) string {
	if len(s) > 2000 {
		return s[len(s)-2000:]
	}
	return s
}
