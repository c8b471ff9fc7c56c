package etcd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"k8s.io/utils/clock"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// KEDA's backoff between two watches of Run: 2 s, doubling, at most 1 min.
const (
	DefaultRetryFirst = 2 * time.Second
	DefaultRetryMax   = time.Minute
)

// Options are optional dependencies of a Scaler.
type Options struct {
	// Clock times Run's backoff and its progress watchdog (nil: the real
	// clock).
	Clock clock.Clock
	// RetryFirst and RetryMax are Run's backoff between two watches (0:
	// KEDA's 2 s and 1 min).
	RetryFirst, RetryMax time.Duration
}

// Scaler reads the number at the watched key. It is safe for concurrent
// use. MetricSpecs, Metrics, Value and Close come from scalers.Single: one
// metric, KEDA's "etcd-<watchKey>", with value as its target, active while
// the number is above activationValue. Run (scalers.PushScaler) watches
// the key.
type Scaler struct {
	*scalers.Single
	md      Metadata
	timeout time.Duration
	log     *slog.Logger
	red     *scalers.Redactor
	clock   clock.Clock
	retry   [2]time.Duration

	// life is the context of the client; cancelled by Close.
	life   context.Context
	cancel context.CancelFunc
	// making is held while a client is made (a login may take the
	// bound), so that concurrent first calls make one client.
	making chan struct{}
	mu     sync.Mutex
	cli    *clientv3.Client
	closed bool
}

var (
	_ scalers.Scaler     = (*Scaler)(nil)
	_ scalers.PushScaler = (*Scaler)(nil)
)

// New is the scalers.Factory of the etcd type. It does no I/O.
func New(ctx context.Context, cfg scalers.Config) (scalers.Scaler, error) {
	s, err := NewWithOptions(ctx, cfg, Options{})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// NewWithOptions is New with explicit dependencies.
func NewWithOptions(_ context.Context, cfg scalers.Config, opts Options) (*Scaler, error) {
	md, err := ParseMetadata(cfg.Metadata, cfg.SecretFiles)
	if err != nil {
		return nil, err
	}
	if fe := cfg.Limits.CheckList("endpoints", len(md.Endpoints)); fe != nil {
		return nil, scalers.Invalid(fe)
	}
	if md.TLS == TLSEnable {
		// Check the TLS material now: bad metadata is a configuration
		// error, not a failed call.
		if _, err := md.TLSConfig.Build(); err != nil {
			return nil, scalers.Invalid(err)
		}
	}
	log := cfg.ScalerLogger(Type)
	if cfg.Timeouts.Capped(md.Timeout) {
		log.Info("timeout above the server's maximum, lowered to it",
			"key", "timeout", "asked", md.Timeout, "max", cfg.Timeouts.WithDefaults().Max)
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.RetryFirst <= 0 {
		opts.RetryFirst = DefaultRetryFirst
	}
	if opts.RetryMax <= 0 {
		opts.RetryMax = DefaultRetryMax
	}
	life, cancel := context.WithCancel(context.Background())
	s := &Scaler{
		md:      md,
		timeout: cfg.Timeouts.For(md.Timeout),
		log:     log,
		red:     scalers.NewRedactor(md.Password, md.TLSConfig.KeyPassword),
		clock:   opts.Clock,
		retry:   [2]time.Duration{opts.RetryFirst, max(opts.RetryFirst, opts.RetryMax)},
		life:    life,
		cancel:  cancel,
		making:  make(chan struct{}, 1),
	}
	s.Single = scalers.NewSingle(scalers.SingleOptions{
		Type:    Type,
		Metric:  scalers.MetricSpec{Name: MetricName(md.WatchKey), Target: md.Value},
		Read:    scalers.ActiveAbove(md.ActivationValue, s.read),
		Release: s.release,
		Bound:   s.timeout,
	})
	return s, nil
}

// where names the key and the endpoints in errors.
func (s *Scaler) where() string {
	return fmt.Sprintf("%s: key %s at %s", Type, scalers.Quote(s.md.WatchKey), scalers.Excerpt(strings.Join(s.md.Endpoints, ",")))
}

// read returns the number at the key, within the bound.
func (s *Scaler) read(parent context.Context) (float64, error) {
	ctx, cancel := context.WithTimeout(parent, s.timeout)
	defer cancel()
	v, _, err := s.get(ctx)
	if err != nil && parent.Err() != nil {
		return 0, fmt.Errorf("%s: %w", s.where(), parent.Err())
	}
	return v, err
}

// get reads the key: its number and the revision of the answer.
func (s *Scaler) get(ctx context.Context) (float64, int64, error) {
	cli, err := s.client(ctx)
	if err != nil {
		return 0, 0, err
	}
	resp, err := cli.Get(ctx, s.md.WatchKey)
	if err != nil {
		return 0, 0, s.callError(ctx, cli, "get", err)
	}
	if len(resp.Kvs) == 0 {
		return 0, resp.Header.GetRevision(), fmt.Errorf("%s: %w", s.where(), noData("the key does not exist"))
	}
	v, err := ParseValue(resp.Kvs[0].Value)
	if err != nil {
		return 0, resp.Header.GetRevision(), fmt.Errorf("%s: %w", s.where(), err)
	}
	return v, resp.Header.GetRevision(), nil
}

// callError words a failed call as the source being unavailable. An
// authentication failure drops the client, so that the next call logs in
// again with the password as it is then (a rotated passwordFile).
func (s *Scaler) callError(ctx context.Context, cli *clientv3.Client, what string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
		return scalers.Unavailable(s.where(), fmt.Errorf("%s: no answer within %s", what, s.timeout))
	}
	err = rpctypes.Error(err)
	if errors.Is(err, rpctypes.ErrAuthFailed) || errors.Is(err, rpctypes.ErrInvalidAuthToken) || errors.Is(err, rpctypes.ErrUserEmpty) {
		s.drop(cli)
	}
	return scalers.Unavailable(s.where(), s.red.Error(fmt.Errorf("%s: %w", what, err)))
}

// client returns the client, made at the first call (again after drop).
func (s *Scaler) client(ctx context.Context) (*clientv3.Client, error) {
	select {
	case s.making <- struct{}{}:
	case <-ctx.Done():
		return nil, scalers.Unavailable(s.where(), fmt.Errorf("connect: no answer within %s", s.timeout))
	}
	defer func() { <-s.making }()
	s.mu.Lock()
	cli, closed := s.cli, s.closed
	s.mu.Unlock()
	if closed {
		return nil, scalers.Closed(Type)
	}
	if cli != nil {
		return cli, nil
	}
	cli, err := s.dial(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		_ = cli.Close()
		return nil, scalers.Closed(Type)
	}
	s.cli = cli
	return cli, nil
}

// dial makes a client; with a username it logs in, within ctx's time.
func (s *Scaler) dial(ctx context.Context) (*clientv3.Client, error) {
	conf := clientv3.Config{
		Endpoints: s.md.Endpoints,
		Context:   s.life,
		// No zap output: failures come back as errors.
		Logger:      zap.NewNop(),
		DialTimeout: s.timeout,
		// A dead connection is noticed while a watch is idle.
		DialKeepAliveTime:    30 * time.Second,
		DialKeepAliveTimeout: 10 * time.Second,
	}
	if dl, ok := ctx.Deadline(); ok {
		conf.DialTimeout = max(time.Until(dl), time.Millisecond)
	}
	if s.md.Username != "" {
		pw, err := scalers.ReadSecret("password", s.md.Password)
		if err != nil {
			return nil, scalers.Unavailable(s.where(), err)
		}
		conf.Username, conf.Password = s.md.Username, pw
	}
	if s.md.TLS == TLSEnable {
		tc, err := s.md.TLSConfig.Build()
		if err != nil {
			return nil, scalers.Unavailable(s.where(), err)
		}
		conf.TLS = tc
	}
	cli, err := clientv3.New(conf)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
			return nil, scalers.Unavailable(s.where(), fmt.Errorf("log in as %s: no answer within %s", scalers.Quote(s.md.Username), s.timeout))
		}
		return nil, scalers.Unavailable(s.where(), s.red.Error(fmt.Errorf("connect: %w", rpctypes.Error(err))))
	}
	return cli, nil
}

// drop forgets cli (if it is still the client) and closes it.
func (s *Scaler) drop(cli *clientv3.Client) {
	s.mu.Lock()
	if s.cli != cli {
		s.mu.Unlock()
		return
	}
	s.cli = nil
	s.mu.Unlock()
	_ = cli.Close()
}

// release is Single's Release: the client is closed, and Run returns.
func (s *Scaler) release() error {
	s.mu.Lock()
	s.closed = true
	cli := s.cli
	s.cli = nil
	s.mu.Unlock()
	s.cancel()
	if cli == nil {
		return nil
	}
	if err := cli.Close(); err != nil && !errors.Is(err, context.Canceled) {
		return s.red.Error(fmt.Errorf("%s: close: %w", Type, err))
	}
	return nil
}

// Run implements scalers.PushScaler: it watches the key and sends the
// trigger's activity at the start of each watch and after each change,
// until ctx ends (or the scaler is closed). A watch that ends is started
// again after KEDA's backoff; the backoff starts again from its first
// step after a watch that delivered anything.
func (s *Scaler) Run(ctx context.Context, active chan<- bool) {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		select {
		case <-s.life.Done():
			stop()
		case <-ctx.Done():
		}
	}()
	pause := s.retry[0]
	for {
		if s.watch(ctx, active) {
			pause = s.retry[0]
		}
		if ctx.Err() != nil {
			return
		}
		t := s.clock.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
		pause = min(2*pause, s.retry[1])
	}
}

// watch runs one watch until it ends; it reports whether it delivered
// anything (its first read included).
func (s *Scaler) watch(ctx context.Context, active chan<- bool) (delivered bool) {
	send := func(a bool) bool {
		select {
		case active <- a:
			delivered = true
			return true
		case <-ctx.Done():
			return false
		}
	}
	// Read the key first: the activity now, and the revision from which
	// the watch misses nothing.
	gctx, cancel := context.WithTimeout(ctx, s.timeout)
	v, rev, err := s.get(gctx)
	cancel()
	switch {
	case err == nil:
	case errors.Is(err, scalers.ErrNoData) && rev > 0:
		// A missing key or a value that is not a number counts as 0, as
		// KEDA's watch treats it.
		s.log.Debug("watched key has no number, counted as 0", "error", err)
		v = 0
	default:
		if ctx.Err() == nil {
			s.log.Info("watch not started", "error", err)
		}
		return false
	}
	if !send(v > s.md.ActivationValue) {
		return delivered
	}
	s.mu.Lock()
	cli := s.cli
	s.mu.Unlock()
	if cli == nil {
		return delivered
	}
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	ch := cli.Watch(wctx, s.md.WatchKey, clientv3.WithProgressNotify(), clientv3.WithRev(rev+1))
	quiet := 2 * time.Duration(s.md.WatchProgressNotifyInterval) * time.Second
	dog := s.clock.NewTimer(quiet)
	defer dog.Stop()
	for {
		select {
		case <-ctx.Done():
			return delivered
		case <-dog.C():
			// The server may be cut off from its cluster: watch again,
			// perhaps through another endpoint.
			s.log.Info("no watch progress notification in twice watchProgressNotifyInterval, watching again",
				"interval", time.Duration(s.md.WatchProgressNotifyInterval)*time.Second)
			return delivered
		case resp, ok := <-ch:
			if !ok {
				return delivered
			}
			if !dog.Stop() {
				select {
				case <-dog.C():
				default:
				}
			}
			dog.Reset(quiet)
			if err := resp.Err(); err != nil {
				if ctx.Err() == nil {
					s.log.Info("watch ended by the server, watching again", "error", s.red.Error(err))
				}
				return delivered
			}
			if len(resp.Events) == 0 {
				continue
			}
			if !send(eventValue(resp.Events[len(resp.Events)-1], s.log) > s.md.ActivationValue) {
				return delivered
			}
		}
	}
}

// eventValue is the number an event leaves at the key: 0 for a deletion
// or a value that is not a number, as in KEDA.
func eventValue(ev *clientv3.Event, log *slog.Logger) float64 {
	if ev.Type == mvccpb.DELETE {
		return 0
	}
	v, err := ParseValue(ev.Kv.Value)
	if err != nil {
		log.Debug("watched key has no number, counted as 0", "error", err)
		return 0
	}
	return v
}
