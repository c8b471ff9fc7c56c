package backendlink

import (
	"container/list"

	agentv1 "github.com/hpa-autoscaler/hpa-autoscaler/proto/agent/v1"
)

// kind is what a buffered message carries; it decides what is shed.
type kind uint8

const (
	kindMetrics kind = iota
	kindDecision
	kindEvent
	kindInventory
	kindControl // status updates and config acks
	numKinds
)

var kindNames = [numKinds]string{"metrics", "decision", "event", "inventory", "control"}

func (k kind) String() string { return kindNames[k] }

type entryState uint8

const (
	statePending entryState = iota
	stateSent
	stateDropped
)

// entry is one buffered message.
type entry struct {
	kind  kind
	state entryState
	// msg is the message (an inventory's is built when it is first sent
	// and kept for resends).
	msg  *agentv1.AgentMessage
	seq  uint64        // 0 until first sent
	elem *list.Element // in pending while statePending
}

// buffer holds the messages not yet acknowledged: those sent on a stream
// (sent, in seq order) and those not sent yet (pending, in order). It is
// not safe for concurrent use (the Link's mutex guards it).
type buffer struct {
	// soft: past it the oldest pending metric report is shed; hard: past
	// it the oldest pending decision or event is dropped.
	soft, hard int
	// nextSeq is the seq the next message sent for the first time gets.
	nextSeq uint64
	sent    []*entry
	// resend is the index in sent of the next message to send on the
	// current stream (len(sent): none to resend).
	resend  int
	pending list.List
	// metricsQ and keptQ are the pending metric reports and the pending
	// decisions and events, oldest first (entries no longer pending are
	// skipped).
	metricsQ, keptQ []*entry
	inventory       *entry // the pending inventory, if any
	shed            [numKinds]int64
	onShed          func(kind)
}

func newBuffer(soft, hard int, onShed func(kind)) *buffer {
	return &buffer{soft: soft, hard: hard, nextSeq: 1, onShed: onShed}
}

func (b *buffer) len() int { return len(b.sent) + b.pending.Len() }

// add appends a message and sheds what the limits ask.
func (b *buffer) add(k kind, msg *agentv1.AgentMessage) {
	e := &entry{kind: k, msg: msg}
	e.elem = b.pending.PushBack(e)
	switch k {
	case kindMetrics:
		b.metricsQ = append(b.metricsQ, e)
	case kindDecision, kindEvent:
		b.keptQ = append(b.keptQ, e)
	}
	b.enforce()
}

// addInventory queues a full inventory (built when sent): first, before
// everything pending, when front; at most one waits.
func (b *buffer) addInventory(front bool) {
	if e := b.inventory; e != nil {
		if front {
			b.pending.MoveToFront(e.elem)
		}
		return
	}
	e := &entry{kind: kindInventory}
	if front {
		e.elem = b.pending.PushFront(e)
	} else {
		e.elem = b.pending.PushBack(e)
	}
	b.inventory = e
	b.enforce()
}

func (b *buffer) enforce() {
	for b.len() > b.soft && b.dropOldest(&b.metricsQ) {
	}
	for b.len() > b.hard && b.dropOldest(&b.keptQ) {
	}
}

// dropOldest drops the oldest pending entry of q; false when none is.
func (b *buffer) dropOldest(q *[]*entry) bool {
	for len(*q) > 0 {
		e := (*q)[0]
		(*q)[0] = nil
		*q = (*q)[1:]
		if e.state != statePending {
			continue
		}
		b.pending.Remove(e.elem)
		e.state, e.elem = stateDropped, nil
		b.shed[e.kind]++
		if b.onShed != nil {
			b.onShed(e.kind)
		}
		return true
	}
	return false
}

// next returns the next message to send on the current stream: a resend
// of one sent before, else the oldest pending one (given its seq) while
// fewer than window are unacknowledged; nil when there is none. fresh
// reports a first send (an inventory's message is then to be built).
//
// Without withInventory (nothing lists the Scalers yet) a pending
// inventory is dropped unsent: an empty one would tell the backend that
// every Scaler was deleted.
func (b *buffer) next(window int, withInventory bool) (e *entry, fresh bool) {
	if b.resend < len(b.sent) {
		e = b.sent[b.resend]
		b.resend++
		return e, false
	}
	for {
		if len(b.sent) >= window || b.pending.Len() == 0 {
			return nil, false
		}
		e = b.pending.Remove(b.pending.Front()).(*entry)
		e.elem, e.state = nil, stateSent
		if e == b.inventory {
			b.inventory = nil
			if !withInventory {
				e.state = stateDropped
				continue
			}
		}
		break
	}
	e.seq = b.nextSeq
	if e.msg != nil {
		e.msg.Seq = e.seq
	}
	b.nextSeq++
	b.sent = append(b.sent, e)
	b.resend = len(b.sent)
	return e, true
}

// lastSeq is the seq given last.
func (b *buffer) lastSeq() uint64 { return b.nextSeq - 1 }

// ack drops the sent messages up to seq n.
func (b *buffer) ack(n uint64) {
	i := 0
	for i < len(b.sent) && b.sent[i].seq <= n {
		b.sent[i] = nil
		i++
	}
	if i == 0 {
		return
	}
	b.sent = b.sent[i:]
	b.resend = max(b.resend-i, 0)
}

// onAuth takes the backend's last_applied_agent_seq at a new stream: what
// it holds is dropped, the rest is resent from the start. It returns true
// on a gap (the backend holds less than it acknowledged before): the
// messages not held are then renumbered after has, and a full inventory
// must go first.
func (b *buffer) onAuth(has uint64) (gap bool) {
	b.ack(has)
	b.resend = 0
	switch {
	case len(b.sent) > 0 && b.sent[0].seq != has+1:
		gap = true
	case len(b.sent) == 0 && b.lastSeq() > has:
		gap = true
	}
	if gap {
		// Back to pending, in order, ahead of what was never sent.
		for i := len(b.sent) - 1; i >= 0; i-- {
			e := b.sent[i]
			e.state, e.seq = statePending, 0
			if e.kind == kindInventory {
				e.msg = nil // rebuilt when sent: newer state
				if b.inventory != nil {
					continue
				}
				b.inventory = e
			}
			e.elem = b.pending.PushFront(e)
		}
		b.sent = nil
		b.rebuildQueues()
	}
	if b.lastSeq() != has && len(b.sent) == 0 {
		// An agent restart (nothing sent yet), or the backend's state is
		// behind: number on from what it holds.
		b.nextSeq = has + 1
	}
	return gap
}

func (b *buffer) rebuildQueues() {
	b.metricsQ, b.keptQ = b.metricsQ[:0], b.keptQ[:0]
	for el := b.pending.Front(); el != nil; el = el.Next() {
		e := el.Value.(*entry)
		switch e.kind {
		case kindMetrics:
			b.metricsQ = append(b.metricsQ, e)
		case kindDecision, kindEvent:
			b.keptQ = append(b.keptQ, e)
		}
	}
}
