package kafka

import (
	"context"
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
)

// dialOutcome is what one DialContext did: "refused" (it dialled, and the
// port refused), "backoff" (it did not dial: the address is in backoff).
func dialOutcome(t *testing.T, d *dialer, addr string) string {
	t.Helper()
	c, err := d.DialContext(context.Background(), "tcp", addr)
	switch {
	case err == nil:
		c.Close()
		return "connected"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	}
	if _, ok := errors.AsType[*backoffError](err); ok {
		if _, isOp := errors.AsType[*net.OpError](err); !isOp {
			t.Errorf("backoff error %v is not a *net.OpError (franz-go would not move on to another broker)", err)
		}
		return "backoff"
	}
	t.Fatalf("dial %s: unexpected error %v", addr, err)
	return ""
}

// TestDialBackoff follows the backoff of an address whose connections
// fail, on a fake clock: no dial before 250ms have passed, then 500ms, 1s,
// ... up to 5s; an answered request ends it.
func TestDialBackoff(t *testing.T) {
	clk := clocktesting.NewFakePassiveClock(time.Now())
	d := newDialer(nil, false, time.Second, clk)
	d.jitter = func() float64 { return 0 }
	addr := refusedAddr(t)

	if got := dialOutcome(t, d, addr); got != "refused" {
		t.Fatalf("first dial: got %s, want refused", got)
	}
	var got, want []string
	for _, wait := range []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second} {
		got = append(got, dialOutcome(t, d, addr))
		clk.SetTime(clk.Now().Add(wait - time.Millisecond))
		got = append(got, dialOutcome(t, d, addr))
		clk.SetTime(clk.Now().Add(time.Millisecond))
		got = append(got, dialOutcome(t, d, addr))
		want = append(want, "backoff", "backoff", "refused")
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("dials at once, just before and at the end of each backoff (-want +got):\n%s", diff)
	}

	d.succeeded(addr)
	if got := dialOutcome(t, d, addr); got != "refused" {
		t.Errorf("after an answered request: got %s, want a dial (refused)", got)
	}
}

// TestDialBackoffJitter: the jitter takes up to a fifth off a backoff,
// never more.
func TestDialBackoffJitter(t *testing.T) {
	clk := clocktesting.NewFakePassiveClock(time.Now())
	d := newDialer(nil, false, time.Second, clk)
	d.jitter = func() float64 { return 0.999999 }
	addr := refusedAddr(t)
	dialOutcome(t, d, addr)
	clk.SetTime(clk.Now().Add(199 * time.Millisecond))
	if got := dialOutcome(t, d, addr); got != "backoff" {
		t.Errorf("before 4/5 of 250ms: got %s, want backoff", got)
	}
	clk.SetTime(clk.Now().Add(2 * time.Millisecond))
	if got := dialOutcome(t, d, addr); got != "refused" {
		t.Errorf("just after 4/5 of 250ms: got %s, want a dial (refused)", got)
	}
}

// TestDialBackoffIsPerAddress: a failing address does not hold back
// another.
func TestDialBackoffIsPerAddress(t *testing.T) {
	clk := clocktesting.NewFakePassiveClock(time.Now())
	d := newDialer(nil, false, time.Second, clk)
	hole := scalertest.NewBlackHole(t)
	bad := refusedAddr(t)
	got := []string{dialOutcome(t, d, bad), dialOutcome(t, d, bad), dialOutcome(t, d, hole.Addr())}
	if diff := cmp.Diff([]string{"refused", "backoff", "connected"}, got); diff != "" {
		t.Errorf("dials (-want +got):\n%s", diff)
	}
}
