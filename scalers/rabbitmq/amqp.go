package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

const (
	// defaultDialTimeout bounds dialling and the AMQP handshake when the
	// caller's context has no deadline.
	defaultDialTimeout = 30 * time.Second
	// closeWait bounds how long closing a connection waits for the broker.
	closeWait = time.Second
)

// errClosed is a call that finds the source closed under way: the error
// of the scaler after Close.
var errClosed = scalers.Closed(Type)

// amqpSource reads the ready message count of a queue with a passive
// queue.declare. It keeps one connection and one channel across calls:
//
//   - the connection is dialled on first use and again after it dropped
//     (NotifyClose), after a call timed out, or when the host URL or the
//     credentials changed (a rotated file secret);
//   - the channel is opened again after the broker closed it, which it does
//     on every channel error, e.g. a passive declare of a missing queue.
//
// Calls run one at a time (sem); mu guards the fields so Close can run at
// any time.
type amqpSource struct {
	md       *Metadata
	connName string
	log      *slog.Logger
	sem      chan struct{}

	mu       sync.Mutex
	closed   bool
	conn     *amqp.Connection
	connDown chan *amqp.Error // NotifyClose of conn
	connKey  string           // dial parameters of conn
	ch       *amqp.Channel
}

func newAMQPSource(md *Metadata, connName string, log *slog.Logger) *amqpSource {
	return &amqpSource{md: md, connName: connName, log: log, sem: make(chan struct{}, 1)}
}

// dialParams are what a connection is made with.
type dialParams struct {
	uri      string
	vhost    string
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
	p := dialParams{uri: raw, vhost: uri.Vhost}
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

func (s *amqpSource) dial(ctx context.Context, p dialParams) (*amqp.Connection, error) {
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName(s.connName)
	cfg := amqp.Config{
		SASL:       []amqp.Authentication{p.auth},
		Vhost:      p.vhost,
		Properties: props,
		Dial: func(network, addr string) (net.Conn, error) {
			deadline := time.Now().Add(defaultDialTimeout)
			if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
				deadline = d
			}
			var d net.Dialer
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			// Bounds the TLS and AMQP handshakes; the library clears it
			// once the connection is open.
			if err := c.SetDeadline(deadline); err != nil {
				_ = c.Close()
				return nil, err
			}
			return c, nil
		},
	}
	if s.md.tlsConfig != nil {
		// The library writes ServerName into it: give it a copy.
		cfg.TLSClientConfig = s.md.tlsConfig.Clone()
	}
	return amqp.DialConfig(p.uri, cfg)
}

func (s *amqpSource) acquire(ctx context.Context) error {
	select {
	case s.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *amqpSource) release() { <-s.sem }

// channel returns an open channel, dialling and opening as needed.
func (s *amqpSource) channel(ctx context.Context) (*amqp.Channel, dialParams, error) {
	p, err := s.params()
	if err != nil {
		return nil, p, scalers.Unavailable("rabbitmq: read credentials", err)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, p, errClosed
	}
	conn := s.conn
	if conn != nil {
		reason := ""
		select {
		case e := <-s.connDown:
			reason = "connection closed"
			if e != nil {
				reason += ": " + e.Error()
			}
		default:
			switch {
			case conn.IsClosed():
				reason = "connection closed"
			case s.connKey != p.key:
				reason = "host or credentials changed"
			}
		}
		if reason != "" {
			s.log.Info("rabbitmq: dialling again", "reason", s.redact(reason))
			s.dropLocked()
			conn = nil
		}
	}
	if conn != nil && s.ch != nil && !s.ch.IsClosed() {
		ch := s.ch
		s.mu.Unlock()
		return ch, p, nil
	}
	s.mu.Unlock()

	if conn == nil {
		conn, err = s.dial(ctx, p)
		if err != nil {
			return nil, p, scalers.Unavailable("rabbitmq: connect", amqpErr(err, p.vhost))
		}
		down := conn.NotifyClose(make(chan *amqp.Error, 1))
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = conn.CloseDeadline(time.Now().Add(closeWait))
			return nil, p, errClosed
		}
		s.conn, s.connDown, s.connKey = conn, down, p.key
		s.mu.Unlock()
	}
	ch, err := conn.Channel()
	if err != nil {
		s.mu.Lock()
		s.dropLocked()
		s.mu.Unlock()
		return nil, p, scalers.Unavailable("rabbitmq: open channel", amqpErr(err, p.vhost))
	}
	s.mu.Lock()
	s.ch = ch
	s.mu.Unlock()
	return ch, p, nil
}

// connect dials and opens the channel now, so that New reports an
// unreachable broker or refused credentials.
func (s *amqpSource) connect(ctx context.Context) error {
	if err := s.acquire(ctx); err != nil {
		return scalers.Unavailable("rabbitmq", err)
	}
	defer s.release()
	_, _, err := s.channel(ctx)
	return err
}

// stats declares the queue passively: the answer's message count is the
// number of ready messages (AMQP does not report unacknowledged ones).
func (s *amqpSource) stats(ctx context.Context) (QueueStats, error) {
	if err := s.acquire(ctx); err != nil {
		return QueueStats{}, scalers.Unavailable("rabbitmq", err)
	}
	defer s.release()

	ch, p, err := s.channel(ctx)
	if err != nil {
		return QueueStats{}, err
	}
	type result struct {
		q   amqp.Queue
		err error
	}
	done := make(chan result, 1)
	go func() {
		q, err := ch.QueueDeclarePassive(s.md.QueueName, false, false, false, false, nil)
		done <- result{q, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		// The library's calls take no context: closing the connection ends
		// the pending call, and the next call dials afresh.
		s.mu.Lock()
		s.dropLocked()
		s.mu.Unlock()
		<-done
		return QueueStats{}, scalers.Unavailable("rabbitmq: queue.declare", ctx.Err())
	}
	if r.err != nil {
		var ae *amqp.Error
		if errors.As(r.err, &ae) && ae.Server && ae.Recover {
			// A soft (channel) error: the broker closed the channel, the
			// connection is fine and the next call opens a new channel.
			s.mu.Lock()
			if s.ch == ch {
				s.ch = nil
			}
			s.mu.Unlock()
			switch ae.Code {
			case amqp.NotFound:
				return QueueStats{}, fmt.Errorf("queue %q not found in vhost %q: %w", s.md.QueueName, p.vhost, scalers.ErrNoData)
			case amqp.AccessRefused:
				return QueueStats{}, scalers.Unavailable("rabbitmq",
					fmt.Errorf("access to queue %q in vhost %q refused: %s", s.md.QueueName, p.vhost, ae.Reason))
			case amqp.ResourceLocked:
				return QueueStats{}, scalers.Unavailable("rabbitmq",
					fmt.Errorf("queue %q is exclusive to another connection: %s", s.md.QueueName, ae.Reason))
			}
			return QueueStats{}, scalers.Unavailable("rabbitmq: queue.declare", amqpErr(r.err, p.vhost))
		}
		s.mu.Lock()
		s.dropLocked()
		s.mu.Unlock()
		return QueueStats{}, scalers.Unavailable("rabbitmq: queue.declare", amqpErr(r.err, p.vhost))
	}
	n := int64(r.q.Messages)
	return QueueStats{Messages: n, Ready: n}, nil
}

// amqpErr gives handshake failures a message that says what to check.
func amqpErr(err error, vhost string) error {
	var ae *amqp.Error
	if !errors.As(err, &ae) {
		return err
	}
	switch {
	case ae.Code == amqp.AccessRefused && ae.Reason == amqp.ErrCredentials.Reason:
		return errors.New("authentication failed: username or password not accepted")
	case ae.Code == amqp.AccessRefused && ae.Reason == amqp.ErrVhost.Reason,
		ae.Code == amqp.NotAllowed && strings.Contains(ae.Reason, "vhost"):
		return fmt.Errorf("vhost %q does not exist or the user has no access to it (%s)", vhost, ae.Reason)
	}
	return err
}

// dropLocked closes the connection (and its channel) and forgets them.
// s.mu must be held.
func (s *amqpSource) dropLocked() {
	if s.conn != nil {
		// Bounded: a broker that does not answer cannot hold us.
		_ = s.conn.CloseDeadline(time.Now().Add(closeWait))
	}
	s.conn, s.connDown, s.connKey, s.ch = nil, nil, "", nil
}

func (s *amqpSource) redact(msg string) string {
	return s.md.redactor().String(msg)
}

func (s *amqpSource) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.dropLocked()
	return nil
}
