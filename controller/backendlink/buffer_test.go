package backendlink

import (
	"testing"
	"time"

	agentv1 "github.com/hpa-autoscaler/hpa-autoscaler/proto/agent/v1"
)

func msgOf(id string) *agentv1.AgentMessage { return &agentv1.AgentMessage{MessageId: id} }

// pendingIDs lists the pending messages' ids (inventory: "inv").
func pendingIDs(b *buffer) []string {
	var out []string
	for el := b.pending.Front(); el != nil; el = el.Next() {
		e := el.Value.(*entry)
		if e.kind == kindInventory {
			out = append(out, "inv")
			continue
		}
		out = append(out, e.msg.MessageId)
	}
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestBufferShedsOldestMetricsFirst(t *testing.T) {
	var shed []kind
	b := newBuffer(4, 6, func(k kind) { shed = append(shed, k) })
	b.add(kindMetrics, msgOf("m1"))
	b.add(kindDecision, msgOf("d1"))
	b.add(kindMetrics, msgOf("m2"))
	b.add(kindEvent, msgOf("e1"))
	b.add(kindMetrics, msgOf("m3")) // 5 > 4: m1 goes
	if got, want := pendingIDs(b), []string{"d1", "m2", "e1", "m3"}; !equal(got, want) {
		t.Fatalf("after m3: pending %v, want %v", got, want)
	}
	b.add(kindDecision, msgOf("d2")) // m2 goes
	b.add(kindDecision, msgOf("d3")) // m3 goes
	if got, want := pendingIDs(b), []string{"d1", "e1", "d2", "d3"}; !equal(got, want) {
		t.Fatalf("after d3: pending %v, want %v", got, want)
	}
	// Only decisions and events: they grow past the buffer size up to
	// the hard limit.
	b.add(kindDecision, msgOf("d4"))
	b.add(kindEvent, msgOf("e2"))
	if got, want := pendingIDs(b), []string{"d1", "e1", "d2", "d3", "d4", "e2"}; !equal(got, want) {
		t.Fatalf("at the hard limit: pending %v, want %v", got, want)
	}
	// A metric report now is shed at once (it is the only one).
	b.add(kindMetrics, msgOf("m4"))
	// Past the hard limit the oldest decision or event goes.
	b.add(kindDecision, msgOf("d5"))
	if got, want := pendingIDs(b), []string{"e1", "d2", "d3", "d4", "e2", "d5"}; !equal(got, want) {
		t.Fatalf("past the hard limit: pending %v, want %v", got, want)
	}
	if got := b.shed; got[kindMetrics] != 4 || got[kindDecision] != 1 || got[kindEvent] != 0 {
		t.Fatalf("shed %v: want 4 metrics, 1 decision", got)
	}
	if len(shed) != 5 {
		t.Fatalf("onShed called %d times, want 5", len(shed))
	}
}

func TestBufferNeverShedsSent(t *testing.T) {
	b := newBuffer(2, 2, nil)
	b.add(kindMetrics, msgOf("m1"))
	b.add(kindMetrics, msgOf("m2"))
	e1, _ := b.next(10, true)
	e2, _ := b.next(10, true)
	if e1.seq != 1 || e2.seq != 2 {
		t.Fatalf("seqs %d %d, want 1 2", e1.seq, e2.seq)
	}
	b.add(kindMetrics, msgOf("m3")) // over: only m3 is pending
	if b.len() != 2 || b.pending.Len() != 0 || b.shed[kindMetrics] != 1 {
		t.Fatalf("len %d pending %d shed %d: want the sent two kept, m3 shed", b.len(), b.pending.Len(), b.shed[kindMetrics])
	}
}

func TestBufferAuthReplaysTheGap(t *testing.T) {
	b := newBuffer(100, 100, nil)
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		b.add(kindDecision, msgOf(id))
	}
	for range 5 {
		b.next(10, true)
	}
	b.ack(2)
	// Reconnect: the backend holds up to 3.
	if gap := b.onAuth(3); gap {
		t.Fatal("onAuth(3) reports a gap")
	}
	var resent []uint64
	for {
		e, fresh := b.next(10, true)
		if e == nil {
			break
		}
		if fresh {
			t.Fatalf("seq %d sent fresh, want resends only", e.seq)
		}
		resent = append(resent, e.seq)
	}
	if len(resent) != 2 || resent[0] != 4 || resent[1] != 5 {
		t.Fatalf("resent %v, want [4 5]", resent)
	}
	// The backend lost 2..5: the rest is renumbered after 1.
	if gap := b.onAuth(1); !gap {
		t.Fatal("onAuth(1) after acks up to 3: no gap reported")
	}
	b.addInventory(true)
	if got := pendingIDs(b); !equal(got, []string{"inv", "d", "e"}) {
		t.Fatalf("pending after the gap %v, want [inv d e]", got)
	}
	e, _ := b.next(10, true)
	if e.seq != 2 || e.kind != kindInventory {
		t.Fatalf("first after the gap: seq %d kind %v, want 2 inventory", e.seq, e.kind)
	}
}

func TestBackoff(t *testing.T) {
	lo, hi := 100*time.Millisecond, 2*time.Second
	for f := range 10 {
		want := min(lo<<f, hi)
		for range 50 {
			d := backoff(lo, hi, f)
			if d < want/2 || d > want {
				t.Fatalf("backoff(%d) = %v: want within [%v, %v]", f, d, want/2, want)
			}
		}
	}
}

func TestBufferDropsInventoryWithoutSource(t *testing.T) {
	b := newBuffer(10, 10, nil)
	b.addInventory(true)
	b.add(kindDecision, msgOf("d1"))
	e, _ := b.next(10, false)
	if e == nil || e.kind != kindDecision || e.seq != 1 {
		t.Fatalf("first sent %+v: want d1 at seq 1, the inventory dropped", e)
	}
}
