package scalertest

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// BlackHole is a TCP listener on a free loopback port that accepts every
// connection and never reads from it nor writes to it: what a client sees
// of a host whose packets a firewall drops after the handshake, or of a
// server that hangs. Connections stay open until the test ends.
type BlackHole struct {
	l        net.Listener
	accepted atomic.Int64

	mu    sync.Mutex
	conns []net.Conn
	done  chan struct{}
}

// NewBlackHole starts a black hole and closes it, with every connection it
// accepted, when the test ends.
func NewBlackHole(tb testing.TB) *BlackHole {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("scalertest: black hole: %v", err)
	}
	b := &BlackHole{l: l, done: make(chan struct{})}
	go b.serve()
	tb.Cleanup(b.close)
	return b
}

// Addr returns the host:port to connect to.
func (b *BlackHole) Addr() string { return b.l.Addr().String() }

// Accepted returns the number of connections accepted so far.
func (b *BlackHole) Accepted() int { return int(b.accepted.Load()) }

func (b *BlackHole) serve() {
	defer close(b.done)
	for {
		c, err := b.l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		b.accepted.Add(1)
		b.mu.Lock()
		b.conns = append(b.conns, c)
		b.mu.Unlock()
	}
}

func (b *BlackHole) close() {
	_ = b.l.Close()
	<-b.done
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range b.conns {
		_ = c.Close()
	}
}
