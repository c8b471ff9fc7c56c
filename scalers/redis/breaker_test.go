package redis

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

func TestBackoff(t *testing.T) {
	var got []time.Duration
	for n := 1; n <= 8; n++ {
		got = append(got, backoff(n))
	}
	want := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second,
		4 * time.Second, 5 * time.Second, 5 * time.Second, 5 * time.Second}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("backoff (-want +got):\n%s", diff)
	}
}

// TestBreaker drives a breaker through an outage with explicit times:
// calls that fail together count once; while open, calls are refused with
// the failure and the next try's time; after the backoff one call tries;
// an answer closes it; a caller that gave up changes nothing but lets the
// next call try.
func TestBreaker(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	down := errors.New("Redis did not answer within 1s")
	downAgain := errors.New("Redis did not answer within 1s, again")
	var b breaker

	// step is one admission, as seen from outside.
	type step struct {
		Admitted bool
		Err      string
		FailedAt time.Duration
		Next     time.Duration
	}
	admit := func(now time.Duration) (uint64, step) {
		token, rej := b.admit(at(now))
		if rej == nil {
			return token, step{Admitted: true}
		}
		return 0, step{Err: rej.err.Error(), FailedAt: rej.failedAt.Sub(t0), Next: rej.next.Sub(t0)}
	}
	check := func(name string, now time.Duration, want step) uint64 {
		t.Helper()
		token, got := admit(now)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
		return token
	}
	admitted := step{Admitted: true}

	// Closed: every call goes through.
	a := check("closed", 0, admitted)
	c := check("closed, a second call at once", 0, admitted)
	b.done(a, at(time.Second), failed, down)
	b.done(c, at(time.Second), failed, downAgain) // the same outage: ignored
	open := step{Err: down.Error(), FailedAt: time.Second, Next: time.Second + 250*time.Millisecond}
	check("open", time.Second, open)
	check("open, just before the backoff ends", time.Second+249*time.Millisecond, open)

	p := check("the try after the backoff", time.Second+250*time.Millisecond, admitted)
	check("while the try is under way", time.Second+300*time.Millisecond, open)
	b.done(p, at(2250*time.Millisecond), failed, downAgain)
	check("open again, twice as long", 2250*time.Millisecond,
		step{Err: downAgain.Error(), FailedAt: 2250 * time.Millisecond, Next: 2750 * time.Millisecond})

	p = check("the second try", 2750*time.Millisecond, admitted)
	b.done(p, at(2800*time.Millisecond), unknown, nil)
	p = check("a try after one whose caller gave up", 2800*time.Millisecond, admitted)
	b.done(p, at(2900*time.Millisecond), answered, nil)
	check("closed after an answer", 2900*time.Millisecond, admitted)

	// After closing, one failure opens it for the first backoff again.
	a = check("closed", 3*time.Second, admitted)
	b.done(a, at(4*time.Second), failed, down)
	check("open for the first backoff", 4*time.Second, step{Err: down.Error(), FailedAt: 4 * time.Second, Next: 4250 * time.Millisecond})
}

// TestBreakerHoldsCallsBack: while Redis is down, a client sends one call
// per backoff period; the others fail at once with that call's error and
// when the next try is (timed here by a fake clock), for every scaler on
// the client; once a try gets an answer, every call goes through again.
func TestBreakerHoldsCallsBack(t *testing.T) {
	r := testenv.StartRedis(t)
	addr := r.Addr()
	clk := clocktesting.NewFakePassiveClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	clients := NewClients(ClientsOptions{Clock: clk})
	jobs := boundedScaler(t, clients.NewList, map[string]string{"address": addr, "listName": "jobs"})
	events := boundedScaler(t, clients.NewStreams, map[string]string{"address": addr, "stream": "events"})
	wantMetric(t, jobs, 0, false)
	r.Kill()

	refused := "dial tcp " + addr + ": connect: connection refused"
	jobsAt, eventsAt := `redis list "jobs" at `+addr+": ", `redis stream "events" at `+addr+": "
	steps := []struct {
		name  string
		s     scalers.Scaler
		after time.Duration // the fake clock moves on by this first
		want  string
	}{
		// The pooled connection died with the server: the call dials.
		{"the call that finds Redis down", jobs, 0, jobsAt + refused},
		{"held back", jobs, 0, jobsAt + refused + " (the last try, 0s ago; the next in 250ms)"},
		{"held back, another scaler on the client", events, 100 * time.Millisecond, eventsAt + refused + " (the last try, 100ms ago; the next in 150ms)"},
		{"the try after the backoff", events, 150 * time.Millisecond, eventsAt + refused},
		{"held back twice as long", jobs, 0, jobsAt + refused + " (the last try, 0s ago; the next in 500ms)"},
	}
	for _, st := range steps {
		clk.SetTime(clk.Now().Add(st.after))
		err := wantError(t, st.s, scalers.ErrUnavailable)
		if diff := cmp.Diff(st.want, err.Error()); diff != "" {
			t.Errorf("%s (-want +got):\n%s", st.name, diff)
		}
	}
	r.Start()
	if _, err := jobs.Metrics(t.Context()); err == nil {
		t.Fatalf("a call before the backoff has passed: got a value, want it held back")
	}
	clk.SetTime(clk.Now().Add(500 * time.Millisecond))
	wantMetricEventually(t, "the value once Redis is back and the backoff has passed", jobs, 0, false)
	wantMetric(t, events, 0, false)
}
