package scalertest

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// WrongPeer is a TCP listener on a free loopback port whose peer is not
// the server a client expects: it drops every connection (NewDropper), or
// it speaks another protocol first (NewBanner). With BlackHole, these are
// the hostile networks a scaler's calls must survive within their bound.
// It is closed, with every connection it accepted, when the test ends;
// its goroutines end then too.
type WrongPeer struct {
	l        net.Listener
	accepted atomic.Int64
	serve    func(net.Conn)

	wg     sync.WaitGroup
	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]bool
}

// NewDropper accepts every connection and closes it at once, before
// reading anything: a crashing server, a proxy without a backend.
func NewDropper(tb testing.TB) *WrongPeer {
	tb.Helper()
	return newWrongPeer(tb, func(net.Conn) {})
}

// NewBanner writes banner on every connection as soon as it is accepted,
// then reads and drops what the client sends without answering again: a
// server of another protocol that speaks first (SSH, SMTP, ...).
func NewBanner(tb testing.TB, banner string) *WrongPeer {
	tb.Helper()
	return newWrongPeer(tb, func(c net.Conn) {
		if _, err := io.WriteString(c, banner); err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, c)
	})
}

func newWrongPeer(tb testing.TB, serve func(net.Conn)) *WrongPeer {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("scalertest: wrong peer: %v", err)
	}
	p := &WrongPeer{l: l, serve: serve, conns: map[net.Conn]bool{}}
	p.wg.Go(p.accept)
	tb.Cleanup(p.close)
	return p
}

// Addr returns the host:port to connect to.
func (p *WrongPeer) Addr() string { return p.l.Addr().String() }

// Accepted returns the number of connections accepted so far (the dials a
// client has made).
func (p *WrongPeer) Accepted() int { return int(p.accepted.Load()) }

func (p *WrongPeer) accept() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return // closed
		}
		p.accepted.Add(1)
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.Close()
			return
		}
		p.conns[c] = true
		p.mu.Unlock()
		p.wg.Go(func() {
			p.serve(c)
			p.mu.Lock()
			delete(p.conns, c)
			p.mu.Unlock()
			c.Close()
		})
	}
}

func (p *WrongPeer) close() {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.l.Close()
	p.wg.Wait()
}
