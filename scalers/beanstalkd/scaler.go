package beanstalkd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// Scaler counts the jobs of a tube. It is safe for concurrent use (calls
// take turns on its one connection). MetricSpecs, Metrics, Value and Close
// come from scalers.Single: one metric, KEDA's "beanstalkd-<tube>", with
// value as its target, active while the jobs are more than
// activationValue.
type Scaler struct {
	*scalers.Single
	md      Metadata
	timeout time.Duration
	log     *slog.Logger

	// turn is held by the call using the connection.
	turn   chan struct{}
	mu     sync.Mutex
	conn   net.Conn
	r      *bufio.Reader
	closed bool
}

var _ scalers.Scaler = (*Scaler)(nil)

// New is the scalers.Factory of the beanstalkd type. It does no I/O: the
// connection is made at the first call.
func New(_ context.Context, cfg scalers.Config) (scalers.Scaler, error) {
	md, err := ParseMetadata(cfg.Metadata, cfg.SecretFiles)
	if err != nil {
		return nil, err
	}
	log := cfg.ScalerLogger(Type)
	if cfg.Timeouts.Capped(md.Timeout) {
		log.Info("timeout above the server's maximum, lowered to it",
			"key", "timeout", "asked", md.Timeout, "max", cfg.Timeouts.WithDefaults().Max)
	}
	s := &Scaler{md: md, timeout: cfg.Timeouts.For(md.Timeout), log: log, turn: make(chan struct{}, 1)}
	s.Single = scalers.NewSingle(scalers.SingleOptions{
		Type:    Type,
		Metric:  scalers.MetricSpec{Name: MetricName(md.Tube), Target: md.Value},
		Read:    scalers.ActiveAbove(md.ActivationValue, s.read),
		Release: s.release,
		Bound:   s.timeout,
	})
	return s, nil
}

// where names the tube and the server in errors.
func (s *Scaler) where() string {
	return fmt.Sprintf("%s: tube %s at %s", Type, scalers.Quote(s.md.Tube), scalers.Quote(s.md.Server))
}

// read returns the tube's job count, within the bound.
func (s *Scaler) read(parent context.Context) (float64, error) {
	ctx, cancel := context.WithTimeout(parent, s.timeout)
	defer cancel()
	select {
	case s.turn <- struct{}{}:
	case <-ctx.Done():
		return 0, s.timeoutError(parent, "waiting for the connection")
	}
	defer func() { <-s.turn }()
	body, err := s.statsTube(ctx)
	switch {
	case errors.Is(err, ErrNotFound):
		// No such tube: nothing in it (KEDA counts 0 too).
		return 0, nil
	case errors.Is(err, scalers.ErrNoData), errors.Is(err, scalers.ErrClosed):
		return 0, fmt.Errorf("%s: %w", s.where(), err)
	case err != nil:
		if ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded) {
			// The connection's deadline is ctx's: ctx is done, or is
			// about to be, and says whose deadline it was.
			<-ctx.Done()
			return 0, s.timeoutError(parent, "stats-tube")
		}
		return 0, scalers.Unavailable(s.where(), err)
	}
	st, err := ParseStats(body)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", s.where(), err)
	}
	return float64(Jobs(st, s.md.IncludeDelayed)), nil
}

func (s *Scaler) timeoutError(parent context.Context, what string) error {
	if err := parent.Err(); err != nil {
		return fmt.Errorf("%s: %s: %w", s.where(), what, err)
	}
	return scalers.Unavailable(s.where(), fmt.Errorf("%s: no answer within %s", what, s.timeout))
}

// statsTube sends stats-tube on the connection (dialled if there is
// none) and reads the answer. A connection that fails, or whose answer
// breaks the protocol, is closed: the next call dials again.
func (s *Scaler) statsTube(ctx context.Context) ([]byte, error) {
	conn, r, err := s.connection(ctx)
	if err != nil {
		return nil, err
	}
	dl, _ := ctx.Deadline()
	_ = conn.SetDeadline(dl)
	// A caller that gives up early interrupts the exchange.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	if _, err := io.WriteString(conn, "stats-tube "+s.md.Tube+"\r\n"); err != nil {
		s.drop(conn)
		if errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) {
			return nil, errors.New("send stats-tube: the server closed the connection")
		}
		return nil, fmt.Errorf("send stats-tube: %w", err)
	}
	body, err := ReadAnswer(r)
	switch {
	case err == nil, errors.Is(err, ErrNotFound):
		return body, err
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET):
		s.drop(conn)
		return nil, errors.New("stats-tube: the server closed the connection")
	default:
		s.drop(conn)
		return nil, err
	}
}

// connection returns the connection, dialling one if there is none.
func (s *Scaler) connection(ctx context.Context) (net.Conn, *bufio.Reader, error) {
	s.mu.Lock()
	conn, r, closed := s.conn, s.r, s.closed
	s.mu.Unlock()
	if closed {
		return nil, nil, scalers.Closed(Type)
	}
	if conn != nil {
		return conn, r, nil
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.md.Server)
	if err != nil {
		var se *os.SyscallError
		if errors.As(err, &se) {
			err = se.Err
		}
		return nil, nil, fmt.Errorf("connect: %w", err)
	}
	r = bufio.NewReaderSize(conn, 4096)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		_ = conn.Close()
		return nil, nil, scalers.Closed(Type)
	}
	s.conn, s.r = conn, r
	return conn, r, nil
}

// drop closes conn and forgets it.
func (s *Scaler) drop(conn net.Conn) {
	s.mu.Lock()
	if s.conn == conn {
		s.conn, s.r = nil, nil
	}
	s.mu.Unlock()
	_ = conn.Close()
}

// release is Single's Release: it closes the connection (a call under
// way fails at once).
func (s *Scaler) release() error {
	s.mu.Lock()
	s.closed = true
	conn := s.conn
	s.conn, s.r = nil, nil
	s.mu.Unlock()
	if conn != nil {
		_ = conn.Close()
	}
	return nil
}
