package rabbitmq

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

const (
	// closeWait bounds a graceful close of a connection: connection.close
	// and the broker's answer, a round trip; a broker that does not
	// answer by then has its socket closed.
	closeWait = 250 * time.Millisecond
	// goroutinesWait bounds how long Close waits for the source's
	// goroutines once their sockets are closed (they end at once).
	goroutinesWait = time.Second
	// defaultHeartbeat is amqp091-go's: the broker is asked for
	// heartbeats every 10 s unless the URI's heartbeat says otherwise.
	defaultHeartbeat = 10 * time.Second
	// frameSize is RabbitMQ's default frame_max, which amqp091-go asks
	// for when dialling.
	frameSize = 131072
)

// errClosed is a call that finds the source closed under way: the error
// of the scaler after Close.
var errClosed = scalers.Closed(Type)

// amqpSource reads the ready message count of a queue with a passive
// queue.declare, over one connection and one channel kept across calls.
//
// Nothing is dialled when the scaler is built. The first call starts a
// connection attempt (TCP, TLS, the AMQP handshake with the login, the
// vhost, a channel) in a goroutine of its own, bounded by the scaler's
// bound, and waits for it at most until its own bound: an attempt that
// outlives the call that started it finishes in the background, and the
// next call uses its connection or learns why it failed. A failed attempt
// is not repeated before its backoff has passed (retry): calls meanwhile
// answer at once with its error and when the next attempt is; a rotated
// host or password is tried at once.
//
// With a connection, a call runs channel.open (after the broker closed the
// channel, as it does on every channel error) and queue.declare in a
// goroutine and waits at most until its bound; the library's calls take no
// context, so a call that runs out of time closes the socket, which ends
// them at once, and the next call connects afresh. The connection is also
// made again after the broker closed it (NotifyClose) and when the host
// URL or the credentials changed (a rotated file secret).
//
// Calls run one at a time (sem); mu guards the rest, so Close can run at
// any time: it cancels an attempt under way (its socket is closed at
// once), closes the connection and waits, bounded, for the goroutines.
type amqpSource struct {
	md       *Metadata
	connName string
	log      *slog.Logger
	bound    time.Duration
	sem      chan struct{}

	mu      sync.Mutex
	closed  bool
	link    *link    // the connection, nil if none
	attempt *attempt // the connection attempt under way, nil if none
	retry   retry
	wg      sync.WaitGroup // attempts, operations and closes under way
}

func newAMQPSource(md *Metadata, connName string, log *slog.Logger, bound time.Duration, o options) *amqpSource {
	return &amqpSource{
		md: md, connName: connName, log: log, bound: bound, sem: make(chan struct{}, 1),
		retry: retry{clock: o.clock, backoff: o.backoff},
	}
}

// link is an open connection and its channel.
type link struct {
	conn  *amqp.Connection
	raw   net.Conn         // the TCP connection: closing it ends every pending call
	down  chan *amqp.Error // NotifyClose of conn
	key   string           // dial parameters of conn
	vhost string

	mu sync.Mutex
	ch *amqp.Channel // nil after the broker closed it
}

// stale says why the link cannot serve a call made with the parameters
// key ("" if it can).
func (l *link) stale(key string) string {
	select {
	case e := <-l.down:
		if e != nil {
			return "connection closed: " + e.Error()
		}
		return "connection closed"
	default:
	}
	switch {
	case l.conn.IsClosed():
		return "connection closed"
	case l.key != key:
		return "host or credentials changed"
	}
	return ""
}

// abort closes the socket: the library's pending calls and goroutines end
// at once, without a word to a broker that does not answer anyway.
func (l *link) abort() { _ = l.raw.Close() }

// closeGracefully closes the connection with connection.close, waiting at
// most closeWait for the broker's answer.
func (l *link) closeGracefully() {
	_ = l.conn.CloseDeadline(time.Now().Add(closeWait))
	_ = l.raw.Close()
}

// attempt is a connection attempt under way.
type attempt struct {
	done   chan struct{} // closed when it has ended
	cancel context.CancelFunc
	stage  atomic.Pointer[string] // what it waits for now
	link   *link                  // the result, set before done is closed
}

func (a *attempt) setStage(s string) { a.stage.Store(&s) }

func (a *attempt) waitingFor() string {
	if s := a.stage.Load(); s != nil {
		return *s
	}
	return "starting"
}

// dialParams are what a connection is made with.
type dialParams struct {
	uri      amqp.URI
	raw      string
	vhost    string
	addr     string
	auth     amqp.Authentication
	external bool
	key      string
}

func (s *amqpSource) params() (dialParams, error) {
	md := s.md
	raw, err := scalers.ReadSecret("host", md.Host)
	if err != nil {
		return dialParams{}, err
	}
	raw = strings.TrimSpace(raw)
	uri, err := amqp.ParseURI(raw)
	if err != nil {
		return dialParams{}, errors.New("host is not a valid AMQP URI")
	}
	if u, err := url.Parse(raw); err != nil || portProblem(u) != "" {
		// A rotated host file checked as ParseMetadata checks host.
		return dialParams{}, errors.New("host: the URL's port is not in 1..65535")
	}
	p := dialParams{uri: uri, raw: raw, vhost: uri.Vhost, addr: net.JoinHostPort(uri.Host, strconv.Itoa(uri.Port))}
	if md.VhostName != "" {
		p.vhost = md.VhostName
	}
	user, pass := uri.Username, uri.Password
	if md.Username.IsSet() {
		if user, err = scalers.ReadSecret("username", md.Username); err != nil {
			return dialParams{}, err
		}
		if pass, err = scalers.ReadSecret("password", md.Password); err != nil {
			return dialParams{}, err
		}
	}
	// A client certificate without any password authenticates with SASL
	// EXTERNAL (the broker's rabbitmq_auth_mechanism_ssl), as in KEDA.
	p.external = md.tlsConfig != nil && md.Cert.IsSet() && !md.Username.IsSet() && !strings.Contains(userInfo(raw), ":")
	if p.external {
		p.auth = &amqp.ExternalAuth{}
	} else {
		p.auth = &amqp.PlainAuth{Username: user, Password: pass}
	}
	p.key = strings.Join([]string{raw, p.vhost, user, pass}, "\x00")
	return p, nil
}

// userInfo returns the user info part of a URL ("" if none).
func userInfo(raw string) string {
	_, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return ""
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		return rest[:i]
	}
	return ""
}

// call is one fetch: its context ends at the scaler's bound, or earlier at
// the caller's deadline.
type call struct {
	ctx   context.Context
	bound time.Duration
}

// errBound is the cause of a call's context that reached the bound.
var errBound = errors.New("bound reached")

func newCall(ctx context.Context, bound time.Duration) (call, context.CancelFunc) {
	ctx, cancel := context.WithTimeoutCause(ctx, bound, errBound)
	return call{ctx: ctx, bound: bound}, cancel
}

// ended says why the call's context ended while it was doing what.
func (c call) ended(what string) error {
	switch {
	case errors.Is(context.Cause(c.ctx), errBound):
		return &timeoutError{fmt.Sprintf("no answer within %s (%s)", c.bound, what)}
	case errors.Is(c.ctx.Err(), context.DeadlineExceeded):
		return &timeoutError{fmt.Sprintf("no answer before the caller's deadline (%s)", what)}
	}
	return fmt.Errorf("call cancelled (%s): %w", what, c.ctx.Err())
}

// timeoutError is a call or an attempt that ran out of time; it is a
// context.DeadlineExceeded without saying so in its message.
type timeoutError struct{ msg string }

func (e *timeoutError) Error() string        { return e.msg }
func (e *timeoutError) Is(target error) bool { return target == context.DeadlineExceeded }

func (s *amqpSource) acquire(c call) error {
	select {
	case s.sem <- struct{}{}:
		return nil
	case <-c.ctx.Done():
		return scalers.Unavailable("rabbitmq", c.ended("waiting for the call before this one"))
	}
}

func (s *amqpSource) release() { <-s.sem }

// goLocked runs f in a goroutine Close waits for. s.mu must be held and
// the source open.
func (s *amqpSource) goLocked(f func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
}

// connection returns the open link, or connects.
func (s *amqpSource) connection(c call) (*link, error) {
	p, err := s.params()
	if err != nil {
		return nil, scalers.Unavailable("rabbitmq: read credentials", err)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, errClosed
	}
	if l := s.link; l != nil {
		reason := l.stale(p.key)
		if reason == "" {
			s.mu.Unlock()
			return l, nil
		}
		s.log.Info("rabbitmq: connecting again", "reason", s.redact(reason))
		s.link = nil
		s.goLocked(l.closeGracefully)
	}
	a := s.attempt
	if a == nil {
		if err := s.retry.pending(p.key); err != nil {
			s.mu.Unlock()
			return nil, err
		}
		a = s.startLocked(p)
	}
	s.mu.Unlock()

	select {
	case <-a.done:
	case <-c.ctx.Done():
		// The attempt goes on, within its own bound; its result is for
		// the next call.
		return nil, scalers.Unavailable("rabbitmq: connect", c.ended(a.waitingFor()))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return nil, errClosed
	case a.link != nil:
		return a.link, nil
	}
	return nil, s.retry.err()
}

// startLocked starts a connection attempt. s.mu must be held.
func (s *amqpSource) startLocked(p dialParams) *attempt {
	ctx, cancel := context.WithTimeout(context.Background(), s.bound)
	a := &attempt{done: make(chan struct{}), cancel: cancel}
	s.attempt = a
	s.goLocked(func() {
		l, err := s.open(ctx, a, p)
		cancel()
		s.mu.Lock()
		s.attempt = nil
		switch {
		case s.closed:
			if l != nil {
				l.abort()
			}
		case err != nil:
			// Not logged: the next call returns it.
			s.retry.failed("rabbitmq: connect", err, p.key)
		default:
			s.link, a.link = l, l
			s.retry.succeeded()
		}
		s.mu.Unlock()
		close(a.done)
	})
	return a
}

// open makes a connection: TCP, TLS, the AMQP handshake, a channel. ctx
// bounds it all: when it ends, the socket is closed, which ends whatever
// is pending.
func (s *amqpSource) open(ctx context.Context, a *attempt, p dialParams) (*link, error) {
	a.setStage("TCP connect to " + p.addr)
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return nil, s.attemptErr(ctx, a, err)
	}
	stop := context.AfterFunc(ctx, func() { _ = raw.Close() })
	fail := func(err error) (*link, error) {
		stop()
		_ = raw.Close()
		return nil, err
	}
	var conn net.Conn = raw
	var certAsked atomic.Bool // the broker asked for a client certificate
	if p.uri.Scheme == "amqps" {
		a.setStage("TLS handshake with " + p.addr)
		cfg, err := s.tlsConfig(p)
		if err != nil {
			return fail(err)
		}
		if len(cfg.Certificates) == 0 && cfg.GetClientCertificate == nil {
			// With TLS 1.3 the client's handshake ends before the
			// broker checks for a certificate: its refusal comes as an
			// alert or a reset, whichever the timing gives. Knowing
			// that it asked makes the error the same both ways.
			cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				certAsked.Store(true)
				return &tls.Certificate{}, nil
			}
		}
		tc := tls.Client(raw, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			err = s.attemptErr(ctx, a, err)
			if !errors.As(err, new(*timeoutError)) && !errors.Is(err, errClosed) {
				err = fmt.Errorf("TLS handshake with %s: %w", p.addr, err)
				if strings.Contains(err.Error(), "first record does not look like a TLS handshake") {
					err = fmt.Errorf("%w (the server does not speak TLS: use an amqp:// host for its port)", err)
				}
			}
			return fail(err)
		}
		conn = tc
	}
	hc := newHandshakeConn(conn, func(w string) {
		if w == "waiting for connection.open-ok" {
			w = fmt.Sprintf("opening vhost %q: waiting for connection.open-ok", p.vhost)
		} else {
			w = "AMQP handshake with " + p.addr + ": " + w
		}
		a.setStage(w)
	})
	// The library reads from here on: waiting for connection.start.
	a.setStage("AMQP handshake with " + p.addr + ": waiting for connection.start")
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName(s.connName)
	heartbeat := defaultHeartbeat
	if hb, err := url.Parse(p.raw); err == nil && hb.Query().Has("heartbeat") {
		// ParseMetadata checked it through amqp.ParseURI.
		n, _ := strconv.ParseUint(hb.Query().Get("heartbeat"), 10, 16)
		heartbeat = time.Duration(n) * time.Second
	}
	c, err := amqp.Open(hc, amqp.Config{
		SASL:       []amqp.Authentication{p.auth},
		Vhost:      p.vhost,
		ChannelMax: p.uri.ChannelMax,
		FrameSize:  frameSize,
		Heartbeat:  heartbeat,
		Locale:     "en_US",
		Properties: props,
	})
	if err != nil {
		herr := s.handshakeErr(ctx, a, hc, p, err)
		// Only a connection the broker dropped (no AMQP answer of its
		// own, such as a refused login) is put down to the certificate.
		var ae *amqp.Error
		fromBroker := errors.As(err, &ae) && ae.Server
		if certAsked.Load() && !fromBroker && !errors.As(herr, new(*timeoutError)) && !errors.Is(herr, errClosed) {
			herr = fmt.Errorf("TLS with %s: the broker asked for a client certificate and none is configured: it wants one (cert and key, with tls enable)", p.addr)
		}
		return fail(herr)
	}
	a.setStage("channel.open")
	ch, err := c.Channel()
	if err != nil {
		return fail(s.attemptErr(ctx, a, fmt.Errorf("open channel: %w", amqpErr(err, p.vhost))))
	}
	if !stop() {
		// ctx ended just now and the socket is closed.
		return nil, s.attemptErr(ctx, a, errors.New("closed"))
	}
	return &link{conn: c, raw: raw, down: c.NotifyClose(make(chan *amqp.Error, 1)), key: p.key, vhost: p.vhost, ch: ch}, nil
}

// tlsConfig is the TLS configuration of an amqps:// connection: the
// trigger's (tls enable), or the one the URI's query names
// (cacertfile, certfile, keyfile, server_name_indication), as amqp091-go
// builds it; those files are read under the trigger's FileAccess, as
// <key>File keys are.
func (s *amqpSource) tlsConfig(p dialParams) (*tls.Config, error) {
	var cfg *tls.Config
	if s.md.tlsConfig != nil {
		// Each connection gets its own copy: ServerName is set below.
		cfg = s.md.tlsConfig.Clone()
	} else {
		cfg = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: p.uri.ServerName}
		if p.uri.CACertFile != "" {
			pem, err := s.md.files.ReadFile(p.uri.CACertFile)
			if err != nil {
				return nil, fmt.Errorf("cacertfile of the host URI: %w", err)
			}
			cfg.RootCAs = x509.NewCertPool()
			cfg.RootCAs.AppendCertsFromPEM(pem)
		}
		if p.uri.CertFile != "" && p.uri.KeyFile != "" {
			certPEM, err := s.md.files.ReadFile(p.uri.CertFile)
			if err != nil {
				return nil, fmt.Errorf("certfile of the host URI: %w", err)
			}
			keyPEM, err := s.md.files.ReadFile(p.uri.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("keyfile of the host URI: %w", err)
			}
			cert, err := tls.X509KeyPair(certPEM, keyPEM)
			if err != nil {
				return nil, fmt.Errorf("certfile/keyfile of the host URI: %w", err)
			}
			cfg.Certificates = []tls.Certificate{cert}
		}
	}
	if cfg.ServerName == "" {
		cfg.ServerName = p.uri.Host
	}
	return cfg, nil
}

// attemptErr is the error of an attempt that failed with err: if its
// context ended (the bound, or Close), that, with what it was waiting for.
func (s *amqpSource) attemptErr(ctx context.Context, a *attempt, err error) error {
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		return errClosed
	case ctx.Err() != nil:
		return &timeoutError{fmt.Sprintf("no answer within %s (%s)", s.bound, a.waitingFor())}
	}
	return err
}

// handshakeErr gives a failed AMQP handshake a message that says what to
// check.
func (s *amqpSource) handshakeErr(ctx context.Context, a *attempt, hc *handshakeConn, p dialParams, err error) error {
	if ctx.Err() != nil {
		return s.attemptErr(ctx, a, err)
	}
	first, readErr := hc.First()
	if what := describeAnswer(first); what != "" {
		return fmt.Errorf("%s: %s", p.addr, what)
	}
	var ae *amqp.Error
	fromBroker := errors.As(err, &ae) && ae.Server
	stage := a.waitingFor()
	switch {
	case errors.Is(err, amqp.ErrSASL):
		return fmt.Errorf("login at %s: the broker offers none of the mechanisms the scaler uses (%s)", p.addr, p.auth.Mechanism())
	case errors.Is(err, amqp.ErrCredentials), fromBroker && ae.Code == amqp.AccessRefused && strings.Contains(stage, "start-ok"):
		what := "username or password not accepted"
		if p.external {
			what = "the client certificate was not accepted (SASL EXTERNAL)"
		}
		if fromBroker {
			return fmt.Errorf("login refused: %s (%s)", what, ae.Reason)
		}
		return fmt.Errorf("login refused: %s (the broker closed the connection)", what)
	case fromBroker:
		return amqpErr(err, p.vhost)
	case readErr != nil:
		// The connection failed under the library, with no word from the
		// broker: say how.
		closed := errors.Is(readErr, io.EOF) || errors.Is(readErr, syscall.ECONNRESET)
		switch {
		case closed && strings.HasSuffix(stage, "waiting for connection.start"):
			return fmt.Errorf("%s: the server closed the connection before connection.start: is host the broker's AMQP port?", p.addr)
		case closed:
			return fmt.Errorf("the server closed the connection (%s)", stage)
		}
		// A broker's "certificate required" is named by dial, which
		// knows the broker asked for one.
		return fmt.Errorf("%v (%s)", readErr, stage)
	}
	return amqpErr(err, p.vhost)
}

// amqpErr names the vhost in the errors about it.
func amqpErr(err error, vhost string) error {
	var ae *amqp.Error
	if !errors.As(err, &ae) {
		return err
	}
	switch {
	case errors.Is(err, amqp.ErrVhost),
		ae.Code == amqp.AccessRefused && strings.Contains(ae.Reason, "vhost"),
		ae.Code == amqp.NotAllowed && strings.Contains(ae.Reason, "vhost"):
		return fmt.Errorf("vhost %q does not exist or the user has no access to it (%s)", vhost, ae.Reason)
	}
	return err
}

// stats declares the queue passively: the answer's message count is the
// number of ready messages (AMQP does not report unacknowledged ones).
func (s *amqpSource) stats(ctx context.Context) (QueueStats, error) {
	c, cancel := newCall(ctx, s.bound)
	defer cancel()
	if err := s.acquire(c); err != nil {
		return QueueStats{}, err
	}
	defer s.release()
	l, err := s.connection(c)
	if err != nil {
		return QueueStats{}, err
	}
	return s.declare(c, l)
}

// declare opens the channel if needed and declares the queue passively,
// in a goroutine, waiting at most for the call's end.
func (s *amqpSource) declare(c call, l *link) (QueueStats, error) {
	type result struct {
		q     amqp.Queue
		ch    *amqp.Channel
		err   error
		stage string
	}
	done := make(chan result, 1)
	var stage atomic.Pointer[string]
	setStage := func(s string) { stage.Store(&s) }
	setStage("queue.declare")
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return QueueStats{}, errClosed
	}
	s.goLocked(func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.ch == nil || l.ch.IsClosed() {
			setStage("channel.open")
			ch, err := l.conn.Channel()
			if err != nil {
				done <- result{err: err, stage: "channel.open"}
				return
			}
			l.ch = ch
			setStage("queue.declare")
		}
		q, err := l.ch.QueueDeclarePassive(s.md.QueueName, false, false, false, false, nil)
		done <- result{q: q, ch: l.ch, err: err, stage: "queue.declare"}
	})
	s.mu.Unlock()

	var r result
	select {
	case r = <-done:
	case <-c.ctx.Done():
		// The library's calls take no context: closing the socket ends
		// the pending call at once, and the next call connects afresh.
		s.forget(l)
		l.abort()
		return QueueStats{}, scalers.Unavailable("rabbitmq: "+*stage.Load(), c.ended("broker at "+l.raw.RemoteAddr().String()))
	}
	if r.err != nil {
		var ae *amqp.Error
		if errors.As(r.err, &ae) && ae.Server && ae.Recover {
			// A soft (channel) error: the broker closed the channel, the
			// connection is fine and the next call opens a new channel.
			switch ae.Code {
			case amqp.NotFound:
				return QueueStats{}, fmt.Errorf("queue %q not found in vhost %q: %w", s.md.QueueName, l.vhost, scalers.ErrNoData)
			case amqp.AccessRefused:
				return QueueStats{}, scalers.Unavailable("rabbitmq",
					fmt.Errorf("access to queue %q in vhost %q refused: %s", s.md.QueueName, l.vhost, ae.Reason))
			case amqp.ResourceLocked:
				return QueueStats{}, scalers.Unavailable("rabbitmq",
					fmt.Errorf("queue %q is exclusive to another connection: %s", s.md.QueueName, ae.Reason))
			}
			return QueueStats{}, scalers.Unavailable("rabbitmq: "+r.stage, amqpErr(r.err, l.vhost))
		}
		s.mu.Lock()
		closed := s.closed
		s.mu.Unlock()
		if closed {
			return QueueStats{}, errClosed
		}
		// The connection failed: the next call connects again.
		s.forget(l)
		l.abort()
		return QueueStats{}, scalers.Unavailable("rabbitmq: "+r.stage, amqpErr(r.err, l.vhost))
	}
	n := int64(r.q.Messages)
	return QueueStats{Messages: n, Ready: n}, nil
}

// forget drops l if it is still the source's link.
func (s *amqpSource) forget(l *link) {
	s.mu.Lock()
	if s.link == l {
		s.link = nil
	}
	s.mu.Unlock()
}

func (s *amqpSource) redact(msg string) string {
	return s.md.redactor().String(msg)
}

// close cancels a connection attempt under way (its socket is closed at
// once), closes the connection (at most closeWait for the broker's
// answer) and waits, at most goroutinesWait, for the goroutines to end.
func (s *amqpSource) close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	l, a := s.link, s.attempt
	s.link = nil
	s.mu.Unlock()
	if a != nil {
		a.cancel()
	}
	if l != nil {
		l.closeGracefully()
	}
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-time.After(goroutinesWait):
		return errors.New("rabbitmq: close: the source's goroutines did not end within " + goroutinesWait.String())
	}
}
