package rabbitmq

import (
	"context"
	"log/slog"
	"strings"

	"k8s.io/utils/clock"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// Type is the scaler type name, as in KEDA.
const Type = "rabbitmq"

// Scaler is a configured rabbitmq trigger: one metric, named after the
// queue (or expression), with the target value; Metrics fetches the queue
// statistics and evaluates the mode (see Evaluate). MetricSpecs, Metrics,
// Value and Close come from scalers.Single. It is safe for concurrent use.
type Scaler struct {
	*scalers.Single
	md  *Metadata
	src source
	log *slog.Logger
}

// source fetches queue statistics (AMQP or management API).
type source interface {
	stats(ctx context.Context) (QueueStats, error)
	close() error
}

var _ scalers.Scaler = (*Scaler)(nil)

// New builds a rabbitmq scaler from KEDA trigger metadata. It does no I/O:
// the AMQP connection is made by the first call, and the management API is
// asked at each call. Bad metadata wraps scalers.ErrInvalidConfig.
func New(_ context.Context, cfg scalers.Config) (scalers.Scaler, error) {
	s, err := build(cfg, defaultOptions())
	if err != nil {
		return nil, err
	}
	return s, nil
}

// options are what tests set besides the configuration.
type options struct {
	clock   clock.PassiveClock // decides when a backoff has passed
	backoff Backoff
}

func defaultOptions() options {
	return options{clock: clock.RealClock{}, backoff: DefaultBackoff}
}

func build(cfg scalers.Config, o options) (*Scaler, error) {
	md, err := ParseMetadata(cfg.Metadata, cfg.Limits, cfg.SecretFiles)
	if err != nil {
		return nil, err
	}
	log := cfg.ScalerLogger(Type).With("queue", md.QueueName)
	s := &Scaler{md: md, log: log}

	if md.regexWarning != "" {
		// The broker matches with PCRE, a superset of Go's syntax for
		// most uses; it refuses an expression it cannot compile (400).
		log.Warn("rabbitmq: queueName is not a valid regular expression in Go's syntax; the broker (PCRE) may still accept it", "error", md.regexWarning)
	}
	if md.tlsWarning != "" {
		log.Warn("rabbitmq: " + md.tlsWarning)
	}
	if md.TLS != "enable" && (md.CA.IsSet() || md.Cert.IsSet()) {
		log.Warn("rabbitmq: ca/cert/key are ignored unless tls is \"enable\"")
	}
	if md.protocol == ProtocolAMQP && md.TLS != "enable" && md.UnsafeSsl {
		log.Warn("rabbitmq: unsafeSsl is ignored with protocol amqp unless tls is \"enable\" (as in KEDA)")
	}
	bound := cfg.Timeouts.For(md.Timeout)
	if cfg.Timeouts.Capped(md.Timeout) {
		log.Info("timeout above the server's maximum, lowered to it", "key", "timeout", "asked", md.Timeout, "max", bound)
	}
	switch md.protocol {
	case ProtocolHTTP:
		src, err := newHTTPSource(md, bound)
		if err != nil {
			return nil, md.redactor().Error(err)
		}
		s.src = src
	default:
		s.src = newAMQPSource(md, connectionName(cfg), log, bound, o)
	}
	s.Single = scalers.NewSingle(scalers.SingleOptions{
		Type:    Type,
		Metric:  scalers.MetricSpec{Name: scalers.MetricName(Type, md.QueueName), Target: md.value},
		Read:    s.read,
		Release: s.src.close,
		Bound:   bound,
	})
	return s, nil
}

// read fetches the queue statistics and evaluates the mode.
func (s *Scaler) read(ctx context.Context) (scalers.Reading, error) {
	st, err := s.src.stats(ctx)
	if err != nil {
		return scalers.Reading{}, s.md.redactor().Error(err)
	}
	v, active := Evaluate(s.md.mode, s.md.ActivationValue, s.md.ExcludeUnacknowledged, st)
	return scalers.Reading{Value: v, Active: active}, nil
}

// connectionName is the AMQP connection name the broker shows.
func connectionName(cfg scalers.Config) string {
	parts := []string{"hpa-autoscaler"}
	for _, p := range []string{cfg.Namespace, cfg.Name} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, "-")
}

// redactor hides every secret the trigger holds, with their current values
// (file secrets may have been rotated).
func (m *Metadata) redactor() *scalers.Redactor {
	r := scalers.NewRedactor(m.Host, m.Password, m.ClientSecret, m.Key, m.KeyPassword)
	if host, err := m.Host.Value(); err == nil {
		r.AddURL(strings.TrimSpace(host))
	}
	return r
}
