package rabbitmq

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

func TestBackoffAfter(t *testing.T) {
	want := map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second,
		5: 16 * time.Second, 6: 30 * time.Second, 7: 30 * time.Second, 1000: 30 * time.Second}
	for n, d := range want {
		if got := DefaultBackoff.after(n); got != d {
			t.Errorf("after %d failures: got %v, want %v", n, got, d)
		}
	}
}

// TestBackoff: a broker that cannot be reached is dialled again only once
// its backoff has passed (1 s, doubling to 30 s); calls meanwhile answer
// at once with the last error and when the next attempt is. A rotated
// host file is tried at once, with a backoff of its own.
func TestBackoff(t *testing.T) {
	first, second := scalertest.NewDropper(t), scalertest.NewDropper(t)
	path := filepath.Join(t.TempDir(), "host")
	writes := 0
	write := func(addr string) {
		t.Helper()
		writes++
		if err := os.WriteFile(path, []byte("amqp://u:pw-backoff-1@"+addr+"/v"), 0o600); err != nil {
			t.Fatal(err)
		}
		// File modification times can be coarse: make sure each write
		// looks new.
		later := time.Now().Add(time.Duration(writes) * time.Minute)
		if err := os.Chtimes(path, later, later); err != nil {
			t.Fatal(err)
		}
	}
	write(first.Addr())
	clk := frozenClock()
	s := newBoundScaler(t, map[string]string{"hostFile": path, "queueName": "q"}, testBound, clk)
	msg := func(addr, next string) string {
		return "rabbitmq: connect: " + addr + ": the server closed the connection before connection.start: is host the broker's AMQP port? (next attempt in " + next + ")"
	}
	steps := []struct {
		step  time.Duration // the clock moves first
		next  string
		dials int // connections the dropper has seen after the call
	}{
		{0, "1s", 1},
		{0, "1s", 1},
		{400 * time.Millisecond, "600ms", 1},
		{600 * time.Millisecond, "2s", 2},
		{2 * time.Second, "4s", 3},
		{4 * time.Second, "8s", 4},
		{8 * time.Second, "16s", 5},
		{16 * time.Second, "30s", 6},
		{30 * time.Second, "30s", 7},
		{29 * time.Second, "1s", 7},
	}
	for i, st := range steps {
		clk.SetTime(clk.Now().Add(st.step))
		err := metricsWithin(t, s, testBound, fmt.Sprintf("call %d", i+1))
		wantErr(t, err, scalers.ErrUnavailable, msg(first.Addr(), st.next), "pw-backoff-1")
		// The dropper has accepted every dial by the time the call
		// learns the connection was closed.
		if got := first.Accepted(); got != st.dials {
			t.Errorf("call %d: the broker saw %d dials, want %d", i+1, got, st.dials)
		}
	}
	write(second.Addr())
	err := metricsWithin(t, s, testBound, "the call after the host file changed")
	wantErr(t, err, scalers.ErrUnavailable, msg(second.Addr(), "1s"), "pw-backoff-1")
	if got := second.Accepted(); got != 1 {
		t.Errorf("the new host saw %d dials, want 1", got)
	}
}
