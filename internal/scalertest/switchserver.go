package scalertest

import (
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
)

// SwitchMode is what a SwitchServer does with the connections it accepts.
type SwitchMode int32

const (
	// ServeHTTP serves the handler over plain HTTP.
	ServeHTTP SwitchMode = iota
	// ServeHTTPS serves the handler over TLS.
	ServeHTTPS
	// BlackHoleMode accepts connections and never reads nor writes: a
	// frozen server, a firewall that drops packets after the handshake.
	BlackHoleMode
	// GarbageMode answers what the client sends first with bytes of no
	// protocol, then reads and drops the rest.
	GarbageMode
)

// Garbage is what a SwitchServer in GarbageMode writes.
const Garbage = "\x00\xff\xfe garbage of no protocol \x15\x03\r\n\r\n"

// SwitchServer is an HTTP source on a free loopback port whose behaviour a
// test switches while its clients keep the address: a source that goes
// into a black hole, starts speaking the wrong protocol, and comes back.
// A switch applies to the connections accepted after it, and closes the
// ones accepted before (a client's idle keep-alive connection would
// otherwise still reach the old behaviour). It is closed, with its
// connections and goroutines, when the test ends.
type SwitchServer struct {
	l     net.Listener
	mode  atomic.Int32
	plain *connListener
	tls   *connListener
	tlsCf *tls.Config
	srv   *http.Server

	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]bool
	done  bool
}

// NewSwitchServer starts a server of h in mode; tlsConfig (with a server
// certificate, e.g. a testenv PKI's) is used in ServeHTTPS mode and may be
// nil if the test never switches to it.
func NewSwitchServer(tb testing.TB, h http.Handler, tlsConfig *tls.Config, mode SwitchMode) *SwitchServer {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("scalertest: switch server: %v", err)
	}
	s := &SwitchServer{
		l:     l,
		plain: newConnListener(l.Addr()),
		tls:   newConnListener(l.Addr()),
		tlsCf: tlsConfig,
		// The handshake errors of a client speaking the wrong protocol
		// are the point of the test, not news.
		srv:   &http.Server{Handler: h, ErrorLog: log.New(io.Discard, "", 0)},
		conns: map[net.Conn]bool{},
	}
	s.mode.Store(int32(mode))
	s.wg.Go(func() { _ = s.srv.Serve(s.plain) })
	s.wg.Go(func() { _ = s.srv.Serve(s.tls) })
	s.wg.Go(s.accept)
	tb.Cleanup(s.close)
	return s
}

// Addr returns the host:port clients connect to.
func (s *SwitchServer) Addr() string { return s.l.Addr().String() }

// Set switches the mode and closes the connections accepted before.
func (s *SwitchServer) Set(mode SwitchMode) {
	s.mode.Store(int32(mode))
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		_ = c.Close()
	}
}

func (s *SwitchServer) accept() {
	for {
		c, err := s.l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		s.mu.Lock()
		if s.done {
			s.mu.Unlock()
			_ = c.Close()
			return
		}
		s.conns[c] = true
		s.mu.Unlock()
		switch SwitchMode(s.mode.Load()) {
		case ServeHTTP:
			s.plain.push(&trackedConn{Conn: c, s: s})
		case ServeHTTPS:
			s.tls.push(tls.Server(&trackedConn{Conn: c, s: s}, s.tlsCf))
		case BlackHoleMode:
			// Held until a switch or the end of the test.
		case GarbageMode:
			s.wg.Go(func() {
				if _, err := c.Read(make([]byte, 4096)); err == nil {
					if _, err := io.WriteString(c, Garbage); err == nil {
						_, _ = io.Copy(io.Discard, c)
					}
				}
				s.forget(c)
			})
		}
	}
}

func (s *SwitchServer) forget(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	_ = c.Close()
}

func (s *SwitchServer) close() {
	s.mu.Lock()
	s.done = true
	s.mu.Unlock()
	_ = s.l.Close()
	_ = s.srv.Close() // closes plain and tls, and the connections it serves
	s.mu.Lock()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// trackedConn is a served connection that leaves the server's set when
// http.Server closes it.
type trackedConn struct {
	net.Conn
	s    *SwitchServer
	once sync.Once
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.s.mu.Lock()
		delete(c.s.conns, c.Conn)
		c.s.mu.Unlock()
	})
	return err
}

// connListener hands the connections pushed to it to http.Server.Serve.
type connListener struct {
	addr   net.Addr
	ch     chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newConnListener(addr net.Addr) *connListener {
	return &connListener{addr: addr, ch: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *connListener) push(c net.Conn) {
	select {
	case l.ch <- c:
	case <-l.closed:
		_ = c.Close()
	}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *connListener) Addr() net.Addr { return l.addr }
