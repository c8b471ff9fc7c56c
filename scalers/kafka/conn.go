package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"k8s.io/utils/clock"
)

// The backoff of a broker address whose connection failed: it is not
// dialled again before firstRedial has passed, twice that after a second
// failure in a row, and so on up to maxRedial. A dial refused by the
// backoff fails at once with the address's last failure, so calls while a
// broker is down return quickly and nothing (no call, no background
// metadata refresh of the client) dials it faster than this.
const (
	firstRedial = 250 * time.Millisecond
	maxRedial   = 5 * time.Second
)

// failKind is what went wrong with a broker address.
type failKind uint8

const (
	failConnect        failKind = iota + 1 // the TCP connect failed (detail: why)
	failConnectTimeout                     // no TCP connection before the end
	failTLS                                // the TLS handshake failed (detail: why)
	failTLSTimeout                         // the TLS handshake did not finish before the end
	failNoAnswer                           // a request written had no answer
	failClosed                             // closed without answering (detail: a hint)
	failSASLClosed                         // closed during SASL authentication
	failWrongProtocol                      // answered in another protocol (detail: what was seen)
	failOther                              // anything else (detail: the error)
)

// failure is one failure of a broker address, kept in words (never with a
// secret: these come from the network, not from the metadata).
type failure struct {
	kind   failKind
	detail string
}

// text says what happened; within is "within 3s" or "before the caller's
// deadline", for the failures that are about time running out.
func (f failure) text(within string) string {
	switch f.kind {
	case failConnect:
		return f.detail
	case failConnectTimeout:
		return "no TCP connection " + within
	case failTLS:
		return "TLS handshake failed: " + f.detail
	case failTLSTimeout:
		return "TLS handshake failed: no answer " + within + " (a listener without TLS never answers one: is it plaintext? then set tls: disable)"
	case failNoAnswer:
		return "no answer " + within
	case failClosed:
		return "closed the connection without answering " + f.detail
	case failSASLClosed:
		return "closed the connection during SASL authentication"
	case failWrongProtocol:
		return "answered in another protocol than Kafka's (" + f.detail + ")"
	}
	return f.detail
}

// brokerState is what the dialer knows of one broker address. It is
// guarded by dialer.mu.
type brokerState struct {
	dialing     int // TCP connects in progress
	handshaking int // TLS handshakes in progress
	conns       map[*trackedConn]bool

	served   bool      // a request was answered once
	failures int       // connections failed in a row, since the last answered request
	retryAt  time.Time // no dial before this while failures > 0
	last     failure   // the latest failure, until a request is answered
	lastAt   time.Time // when it happened, or when it last refused a dial
}

// dialer opens the connections of one scaler's Kafka client (franz-go calls
// DialContext, from its own goroutines, with the context of the request
// that needs the connection, or with the client's for its own requests)
// and follows them through the client's hooks. It bounds each connect and
// TLS handshake by timeout, keeps addresses whose connections fail in
// backoff, and explains a call that failed or ran out of time: which
// broker did what (explain). It is safe for concurrent use.
type dialer struct {
	tls     *tls.Config // nil: plaintext
	sasl    bool        // a SASL mechanism is configured
	timeout time.Duration
	clock   clock.PassiveClock
	jitter  func() float64 // in [0, 1): takes up to a fifth off a backoff

	mu    sync.Mutex
	addrs map[string]*brokerState
}

var (
	_ kgo.HookBrokerRead  = (*dialer)(nil)
	_ kgo.HookBrokerWrite = (*dialer)(nil)
)

func newDialer(tlsConfig *tls.Config, sasl bool, timeout time.Duration, clk clock.PassiveClock) *dialer {
	if clk == nil {
		clk = clock.RealClock{}
	}
	return &dialer{tls: tlsConfig, sasl: sasl, timeout: timeout, clock: clk, jitter: rand.Float64, addrs: map[string]*brokerState{}}
}

// state returns addr's state, creating it. The caller holds mu.
func (d *dialer) state(addr string) *brokerState {
	st := d.addrs[addr]
	if st == nil {
		st = &brokerState{conns: map[*trackedConn]bool{}}
		d.addrs[addr] = st
	}
	return st
}

// backoffError is a dial refused because addr is in backoff. It is a
// *net.OpError for franz-go (a dial error that is neither a timeout nor
// temporary): a request to any broker moves on to another one, a request
// to a given broker (a coordinator, a leader) is retried within its bound,
// each try refused here without touching the network.
type backoffError struct{ last failure }

func (e *backoffError) Error() string {
	return "in backoff after: " + e.last.text("in time")
}

// DialContext is franz-go's dial function: it dials addr (and does the TLS
// handshake) within timeout and ctx, unless addr is in backoff.
func (d *dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	st := d.state(addr)
	if now := d.clock.Now(); st.failures > 0 && now.Before(st.retryAt) {
		st.lastAt = now
		last := st.last
		d.mu.Unlock()
		return nil, &net.OpError{Op: "dial", Net: network, Err: &backoffError{last: last}}
	}
	st.dialing++
	d.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	var nd net.Dialer
	conn, err := nd.DialContext(ctx, network, addr)
	d.mu.Lock()
	st.dialing--
	if err != nil {
		d.failLocked(st, dialFailure(ctx, err))
		d.mu.Unlock()
		return nil, err
	}
	if d.tls != nil {
		st.handshaking++
	}
	d.mu.Unlock()

	if d.tls != nil {
		cfg := d.tls.Clone()
		if cfg.ServerName == "" {
			cfg.ServerName, _, _ = net.SplitHostPort(addr)
		}
		tc := tls.Client(conn, cfg)
		err := tc.HandshakeContext(ctx)
		d.mu.Lock()
		st.handshaking--
		if err != nil {
			d.failLocked(st, tlsFailure(ctx, err))
			d.mu.Unlock()
			conn.Close()
			return nil, err
		}
		d.mu.Unlock()
		conn = tc
	}

	c := &trackedConn{Conn: conn, d: d, st: st}
	d.mu.Lock()
	st.conns[c] = true
	d.mu.Unlock()
	return c, nil
}

// dialFailure classifies a failed TCP connect. A caller that gave up
// (canceled) leaves no failure: the broker did nothing wrong.
func dialFailure(ctx context.Context, err error) failure {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) || isTimeout(err) {
		return failure{kind: failConnectTimeout}
	}
	if errors.Is(err, context.Canceled) {
		return failure{}
	}
	if oe, ok := errors.AsType[*net.OpError](err); ok && oe.Err != nil {
		return failure{kind: failConnect, detail: oe.Err.Error()}
	}
	return failure{kind: failConnect, detail: err.Error()}
}

// tlsFailure classifies a failed TLS handshake.
func tlsFailure(ctx context.Context, err error) failure {
	const plaintext = " (is the listener plaintext? then set tls: disable)"
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) || isTimeout(err):
		return failure{kind: failTLSTimeout}
	case errors.Is(err, context.Canceled):
		return failure{}
	case isClosed(err):
		return failure{kind: failTLS, detail: "the broker closed the connection" + plaintext}
	}
	if _, ok := errors.AsType[tls.RecordHeaderError](err); ok {
		return failure{kind: failTLS, detail: "the broker does not speak TLS: its answer is not a TLS record" + plaintext}
	}
	return failure{kind: failTLS, detail: err.Error()}
}

// failLocked records f for st and puts the address in backoff. The caller
// holds mu; a zero f records nothing.
func (d *dialer) failLocked(st *brokerState, f failure) {
	if f.kind == 0 {
		return
	}
	now := d.clock.Now()
	st.failures++
	st.last, st.lastAt = f, now
	wait := maxRedial
	if st.failures <= 6 { // 250ms << 5 is 8s: beyond maxRedial
		wait = min(firstRedial<<(st.failures-1), maxRedial)
	}
	wait -= time.Duration(float64(wait) * d.jitter() / 5)
	st.retryAt = now.Add(wait)
}

// succeeded ends addr's backoff and forgets its failure: a request was
// answered.
func (d *dialer) succeeded(addr string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.state(addr)
	st.served, st.failures, st.last = true, 0, failure{}
}

// isInit reports whether key is one of the requests that open a
// connection: an answer to them does not yet mean the broker serves us.
func isInit(key int16) bool {
	switch kmsg.Key(key) {
	case kmsg.ApiVersions, kmsg.SASLHandshake, kmsg.SASLAuthenticate:
		return true
	}
	return false
}

func brokerAddr(meta kgo.BrokerMetadata) string {
	return net.JoinHostPort(meta.Host, strconv.Itoa(int(meta.Port)))
}

// OnBrokerRead is franz-go's hook after each response read: an answer ends
// the address's backoff; a failed read is a failure of the address (see
// failed).
func (d *dialer) OnBrokerRead(meta kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	addr := brokerAddr(meta)
	if err == nil {
		if !isInit(key) {
			d.succeeded(addr)
		}
		return
	}
	d.failed(addr, key, err)
}

// OnBrokerWrite is franz-go's hook after each request written.
func (d *dialer) OnBrokerWrite(meta kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if err != nil {
		d.failed(brokerAddr(meta), key, err)
	}
}

// failed records the failed read or write of the request key. A
// connection that failed while it was being opened (ApiVersions, SASL), a
// request without an answer, or any failure of an address that never
// answered a request puts the address in backoff. A connection to a broker
// that has answered before, closed by the broker (a restart, an idle
// timeout of the broker or of a proxy), does not: the client retries on a
// new connection at once, and that one's dial says whether the broker is
// there.
func (d *dialer) failed(addr string, key int16, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.state(addr)
	f := d.ioFailure(key, err, st.served)
	if isInit(key) || f.kind == failNoAnswer || !st.served {
		d.failLocked(st, f)
		return
	}
	if f.kind != 0 {
		st.last, st.lastAt = f, d.clock.Now()
	}
}

// ioFailure classifies a failed read or write of the request key on a
// connection to a broker that has (served) or has not answered a request
// before. A connection closed on our side (a call that gave up on a slow
// connection, an idle one reaped, the client closed) is no failure of the
// broker's.
func (d *dialer) ioFailure(key int16, err error, served bool) failure {
	switch {
	case errors.Is(err, net.ErrClosed) || errors.Is(err, kgo.ErrClientClosed):
		return failure{}
	case isTimeout(err):
		return failure{kind: failNoAnswer}
	case isClosed(err):
		switch kmsg.Key(key) {
		case kmsg.SASLHandshake, kmsg.SASLAuthenticate:
			return failure{kind: failSASLClosed}
		case kmsg.ApiVersions:
			if d.tls == nil {
				return failure{kind: failClosed, detail: "its first request (does the listener require TLS? then set tls: enable)"}
			}
			return failure{kind: failClosed, detail: "its first request"}
		}
		if !d.sasl && !served {
			// A broker that requires SASL closes the connection at the
			// first request that is not ApiVersions or SASL.
			return failure{kind: failClosed, detail: kmsg.NameForKey(key) + " (does the listener require SASL? then set sasl)"}
		}
		return failure{kind: failClosed, detail: kmsg.NameForKey(key)}
	}
	if oe, ok := errors.AsType[*net.OpError](err); ok && oe.Op == "remote error" {
		// A TLS alert after the handshake: TLS 1.3 servers refuse a
		// client certificate (or its absence) there.
		return failure{kind: failTLS, detail: oe.Error()}
	}
	if msg := err.Error(); strings.HasPrefix(msg, "invalid large response size") {
		if strings.Contains(msg, "tls alert") {
			return failure{kind: failWrongProtocol, detail: "a TLS alert: the listener requires TLS, set tls: enable"}
		}
		return failure{kind: failWrongProtocol, detail: msg}
	}
	return failure{kind: failOther, detail: err.Error()}
}

func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	ne, ok := errors.AsType[net.Error](err)
	return ok && ne.Timeout()
}

// isClosed reports whether err is the peer closing or resetting the
// connection.
func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// brokerReport is what explain says of one address.
type brokerReport struct {
	addr string
	f    failure
}

// explain reports, per broker address, what went wrong during a call that
// started at since: the failures recorded since then (and the backoffs
// that refused a dial), and when the call ran out of time (timedOut), the
// connects, handshakes and requests still waiting. Addresses are in order.
func (d *dialer) explain(since time.Time, timedOut bool) []brokerReport {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []brokerReport
	for addr, st := range d.addrs {
		var f failure
		switch {
		case timedOut && st.dialing > 0:
			f = failure{kind: failConnectTimeout}
		case timedOut && st.handshaking > 0:
			f = failure{kind: failTLSTimeout}
		case timedOut && st.waiting():
			f = failure{kind: failNoAnswer}
		case st.last.kind != 0 && !st.lastAt.Before(since):
			f = st.last
		default:
			continue
		}
		out = append(out, brokerReport{addr: addr, f: f})
	}
	slices.SortFunc(out, func(a, b brokerReport) int { return strings.Compare(a.addr, b.addr) })
	return out
}

// readTimeout reports a read of a broker connection that timed out, err
// (a *net.OpError), as that broker not answering: the broker is named as
// the dialer knows it when one of its open connections has that remote
// address, else by the address itself.
func (d *dialer) readTimeout(err error) (brokerReport, bool) {
	oe, ok := errors.AsType[*net.OpError](err)
	if !ok || oe.Op != "read" || oe.Addr == nil || !isTimeout(err) {
		return brokerReport{}, false
	}
	remote := oe.Addr.String()
	d.mu.Lock()
	defer d.mu.Unlock()
	for addr, st := range d.addrs {
		for c := range st.conns {
			if c.RemoteAddr().String() == remote {
				return brokerReport{addr: addr, f: failure{kind: failNoAnswer}}, true
			}
		}
	}
	return brokerReport{addr: remote, f: failure{kind: failNoAnswer}}, true
}

// waiting reports whether a connection has a request without an answer.
// The caller holds dialer.mu.
func (st *brokerState) waiting() bool {
	for c := range st.conns {
		if c.waiting.Load() {
			return true
		}
	}
	return false
}

// trackedConn is a broker connection that knows whether a request written
// on it is still waiting for its answer.
type trackedConn struct {
	net.Conn
	d       *dialer
	st      *brokerState
	waiting atomic.Bool
	closed  atomic.Bool
}

func (c *trackedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.waiting.Store(true)
	}
	return n, err
}

func (c *trackedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		// Kafka answers each request in full and in order: bytes read
		// mean the broker answers (a partial answer still shows it is
		// alive; its read deadline covers the rest).
		c.waiting.Store(false)
	}
	return n, err
}

func (c *trackedConn) Close() error {
	if !c.closed.Swap(true) {
		c.d.mu.Lock()
		delete(c.st.conns, c)
		c.d.mu.Unlock()
	}
	return c.Conn.Close()
}
