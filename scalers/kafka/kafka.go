package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	"k8s.io/utils/clock"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// Type is the scaler type name this package is registered under.
const Type = "kafka"

// DefaultMetadataAge is how long topic metadata (partitions and their
// leaders) is reused before it is asked for again. A leader change is
// noticed at once anyway: the broker answers NOT_LEADER and the client
// refreshes and retries. New partitions show up within this time.
const DefaultMetadataAge = 30 * time.Second

// ErrClosed is returned by Metrics after Close.
var ErrClosed = errors.New("kafka: scaler is closed")

// Scaler measures the consumer lag of one group. It is safe for concurrent
// use; it holds one Kafka client, shared by all calls.
type Scaler struct {
	md     *Metadata
	opts   LagOptions
	spec   scalers.MetricSpec
	log    *slog.Logger
	cl     *kgo.Client
	adm    *kadm.Client
	dial   *dialer
	redact *scalers.Redactor
	tokens *scalers.TokenSource // with sasl oauthbearer, else nil
	closed atomic.Bool

	// bound is the longest a call (Metrics) may take: cfg.Timeouts.For(0),
	// kafka having no timeout key. It is also every timeout of the client
	// (connect and TLS handshake, each request's read, its retries, a
	// token request), so that what the client does on its own goroutines
	// ends within it too.
	bound time.Duration

	clock       clock.PassiveClock
	metadataAge time.Duration
	partCache   partitionCache

	// mu guards prev, the committed offsets of the previous round (only
	// used with excludePersistentLag). The arithmetic and the update of
	// prev happen under it, so concurrent rounds see each other's commits
	// in order, as KEDA's single polling loop would.
	mu   sync.Mutex
	prev map[TopicPartition]int64
}

var _ scalers.Scaler = (*Scaler)(nil)

// options are the knobs tests turn.
type options struct {
	metadataAge  time.Duration
	clock        clock.PassiveClock // nil: the real clock
	tokenTimeout time.Duration      // 0: the call's bound
}

// New is the scalers.Factory of the "kafka" type. It parses cfg.Metadata
// (errors wrap scalers.ErrInvalidConfig) and creates the Kafka client; it
// does no I/O: no connection, no metadata, no token. An unreachable
// cluster shows as ErrUnavailable errors from Metrics, each within
// cfg.Timeouts.For(0), until it is reachable.
func New(ctx context.Context, cfg scalers.Config) (scalers.Scaler, error) {
	return newScaler(ctx, cfg, options{metadataAge: DefaultMetadataAge})
}

func newScaler(_ context.Context, cfg scalers.Config, o options) (*Scaler, error) {
	md, err := ParseMetadata(cfg.Metadata, cfg.Limits, cfg.SecretFiles)
	if err != nil {
		return nil, err
	}
	log := cfg.ScalerLogger(Type).With("group", md.ConsumerGroup, "topic", md.Topic)

	s := &Scaler{
		md:   md,
		opts: md.lagOptions(),
		spec: scalers.MetricSpec{Name: md.metricName(), Target: float64(md.LagThreshold)},
		log:  log,
		// The username is not hidden: a failed login names it, as the
		// identity whose credentials the broker refused.
		redact: scalers.NewRedactor(md.Password),
		prev:   map[TopicPartition]int64{},
		bound:  cfg.Timeouts.For(0),

		clock:       o.clock,
		metadataAge: o.metadataAge,
	}
	if s.clock == nil {
		s.clock = clock.RealClock{}
	}
	if s.metadataAge <= 0 {
		s.metadataAge = DefaultMetadataAge
	}
	o.metadataAge = s.metadataAge
	if o.tokenTimeout <= 0 {
		o.tokenTimeout = s.bound
	}
	if md.tlsConfig != nil {
		s.redact = scalers.NewRedactor(md.Password, md.tlsConfig.Key, md.tlsConfig.KeyPassword)
	}
	if md.SASL == SASLOAuthBearer {
		s.tokens = newTokenSource(md, o, s)
		s.redact.AddFunc(s.tokens.Secrets)
	}
	s.dial = newDialer(md.tls, md.SASL != SASLNone, s.bound, nil)
	kopts := clientOptions(md, log, o, s.dial, s.bound)
	if m := s.saslMechanism(); m != nil {
		kopts = append(kopts, kgo.SASL(m))
	}
	s.cl, err = kgo.NewClient(kopts...)
	if err != nil {
		s.closeTokens()
		return nil, s.redact.Error(scalers.Invalid(scalers.NewFieldError("bootstrapServers",
			fmt.Sprint(md.BootstrapServers), err.Error())))
	}
	s.adm = kadm.NewClient(s.cl)
	return s, nil
}

// clientOptions turns the metadata into franz-go options: d dials (and
// does the TLS handshake) and follows the connections; bound is every
// timeout of the client.
func clientOptions(md *Metadata, log *slog.Logger, o options, d *dialer, bound time.Duration) []kgo.Opt {
	age := o.metadataAge
	opts := []kgo.Opt{
		kgo.SeedBrokers(md.BootstrapServers...),
		kgo.ClientID("hpa-autoscaler"),
		kgo.Dialer(d.DialContext),
		kgo.WithHooks(d),
		// A read of an answer (ApiVersions and SASL on a new connection
		// included) waits at most bound, and a request is not retried
		// beyond bound after its first try (franz-go's defaults are 10 s
		// and 30 s): the client's own requests, made without a caller's
		// deadline, end within it too.
		kgo.RequestTimeoutOverhead(bound),
		kgo.RetryTimeout(bound),
		// The sharded ListOffsets reuses the client's metadata (leaders)
		// while younger than this.
		kgo.MetadataMinAge(age),
		kgo.MetadataMaxAge(max(age, 5*time.Minute)),
		kgo.WithLogger(kgoLogger{log}),
		// A scaler reads offsets; its client metrics (KIP-714) would only
		// add GetTelemetrySubscriptions and PushTelemetry requests to the
		// user's brokers, at times of the client's choosing.
		kgo.DisableClientMetrics(),
	}
	if md.maxVersion != nil {
		opts = append(opts, kgo.MaxVersions(md.maxVersion))
	}
	return opts
}

// saslMechanism returns the SASL mechanism, or nil for none. Credentials are
// read at every connection (for oauthbearer, at every token request), so a
// rotated usernameFile/passwordFile is used by the next one.
func (s *Scaler) saslMechanism() sasl.Mechanism {
	md := s.md
	creds := func() (user, pass string, err error) {
		if user, err = md.Username.Value(); err != nil {
			return "", "", err
		}
		pass, err = md.Password.Value()
		return user, pass, err
	}
	switch md.SASL {
	case SASLPlaintext:
		return plain.Plain(func(context.Context) (plain.Auth, error) {
			u, p, err := creds()
			return plain.Auth{User: u, Pass: p}, err
		})
	case SASLScramSHA256, SASLScramSHA512:
		fn := func(context.Context) (scram.Auth, error) {
			u, p, err := creds()
			return scram.Auth{User: u, Pass: p}, err
		}
		if md.SASL == SASLScramSHA256 {
			return scram.Sha256(fn)
		}
		return scram.Sha512(fn)
	case SASLOAuthBearer:
		return oauthMechanism(s.tokens, md.extensions, s.redact)
	}
	return nil
}

// MetricSpecs returns the one metric: the lag, with lagThreshold as the
// target per replica.
// Bound is the longest a Metrics call takes: cfg.Timeouts.For(0), kafka
// having no timeout key of its own. The external scaler gives a call that
// much (plus its grace) before it answers Unavailable itself.
func (s *Scaler) Bound() time.Duration { return s.bound }

func (s *Scaler) MetricSpecs() []scalers.MetricSpec {
	return []scalers.MetricSpec{s.spec}
}

// errBound is the cause of a call's context when the call's own bound
// ended it (not the caller's deadline).
var errBound = errors.New("the call's bound passed")

// Metrics fetches the offsets and returns the (capped) total lag; the
// trigger is active when the total lag including persistent lag is above
// activationLagThreshold. It returns within the scaler's bound
// (cfg.Timeouts.For(0)) of its start, or at ctx's end if that is earlier.
// Errors wrap scalers.ErrUnavailable when Kafka could not be asked (saying
// which broker did what: no answer, a refused connection, a failed TLS
// handshake or SASL login), scalers.ErrNoData when a topic does not exist,
// scalers.ErrLimit when the group's topics are more than the list limit;
// they never contain a secret.
func (s *Scaler) Metrics(ctx context.Context) (scalers.Metrics, error) {
	if s.closed.Load() {
		return scalers.Metrics{}, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return scalers.Metrics{}, scalers.Unavailable("kafka", err)
	}
	c := call{start: s.dial.clock.Now()}
	c.deadline = time.Now().Add(s.bound)
	ctx, cancel := context.WithDeadlineCause(ctx, c.deadline, errBound)
	defer cancel()
	if s.tokens != nil {
		// A token the connections will need is fetched here, within the
		// caller's deadline (franz-go asks for it with its own context);
		// a refused token request fails the round with its own reason
		// instead of a retried connection. Fresh tokens come from the cache.
		if _, _, err := s.tokens.Token(ctx); err != nil {
			return scalers.Metrics{}, s.redact.Error(scalers.Unavailable("kafka: sasl oauthbearer", err))
		}
	}
	parts, err := s.fetch(ctx, c)
	if err != nil {
		return scalers.Metrics{}, s.redact.Error(err)
	}
	s.mu.Lock()
	r := CalculateLag(parts, s.opts, s.prev)
	if s.opts.ExcludePersistentLag {
		RememberCommitted(s.prev, parts)
	}
	s.mu.Unlock()

	s.log.Debug("kafka lag", "metric", r.Metric, "totalLag", r.TotalLag,
		"totalLagWithPersistent", r.TotalLagWithPersistent, "partitions", r.Partitions,
		"partitionsWithLag", r.PartitionsWithLag)
	return scalers.Metrics{
		Values: []scalers.MetricValue{{Name: s.spec.Name, Value: float64(r.Metric)}},
		Active: r.TotalLagWithPersistent > s.md.ActivationLagThreshold,
	}, nil
}

// Close closes the Kafka client. It is safe to call more than once.
func (s *Scaler) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.cl.Close()
	s.closeTokens()
	return nil
}

func (s *Scaler) closeTokens() {
	if s.tokens != nil {
		s.tokens.CloseIdleConnections()
	}
}

// kgoLogger sends franz-go's log lines to slog: its errors and warnings as
// such, its info lines at debug level (they are about connections and
// metadata, chatty for a scaler), its debug lines not at all.
type kgoLogger struct{ l *slog.Logger }

func (k kgoLogger) Level() kgo.LogLevel {
	ctx := context.Background()
	switch {
	case k.l.Enabled(ctx, slog.LevelDebug):
		return kgo.LogLevelInfo
	case k.l.Enabled(ctx, slog.LevelWarn):
		return kgo.LogLevelWarn
	case k.l.Enabled(ctx, slog.LevelError):
		return kgo.LogLevelError
	}
	return kgo.LogLevelNone
}

func (k kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	l := slog.LevelDebug
	switch level {
	case kgo.LogLevelError:
		l = slog.LevelError
	case kgo.LogLevelWarn:
		l = slog.LevelWarn
	}
	k.l.Log(context.Background(), l, "kafka client: "+msg, keyvals...)
}
