package rabbitmq

import (
	"context"
	"log/slog"
	"regexp"
	"strings"

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

// New builds a rabbitmq scaler from KEDA trigger metadata. With AMQP it
// connects at once, so unreachable brokers and refused credentials are
// reported here (wrapping scalers.ErrUnavailable); bad metadata wraps
// scalers.ErrInvalidConfig.
func New(ctx context.Context, cfg scalers.Config) (scalers.Scaler, error) {
	md, err := ParseMetadata(cfg.Metadata)
	if err != nil {
		return nil, err
	}
	log := cfg.ScalerLogger(Type).With("queue", md.QueueName)
	s := &Scaler{md: md, log: log}

	if md.UseRegex {
		// The broker matches with PCRE, a superset of Go's syntax for
		// most uses; an expression Go rejects is likely a mistake, and the
		// broker answers a broken one with no match at all, silently.
		if _, err := regexp.Compile(md.QueueName); err != nil {
			log.Warn("rabbitmq: queueName is not a valid regular expression in Go's syntax; the broker may match nothing", "error", err.Error())
		}
	}
	if md.TLS != "enable" && (md.CA.IsSet() || md.Cert.IsSet()) {
		log.Warn("rabbitmq: ca/cert/key are ignored unless tls is \"enable\"")
	}
	switch md.protocol {
	case ProtocolHTTP:
		src, err := newHTTPSource(md)
		if err != nil {
			return nil, md.redactor().Error(err)
		}
		s.src = src
	default:
		if md.Timeout != 0 {
			log.Warn("rabbitmq: timeout applies to the management API only; ignored with protocol amqp")
		}
		src := newAMQPSource(md, connectionName(cfg), log)
		if err := src.connect(ctx); err != nil {
			_ = src.close()
			return nil, md.redactor().Error(err)
		}
		s.src = src
	}
	s.Single = scalers.NewSingle(scalers.SingleOptions{
		Type:    Type,
		Metric:  scalers.MetricSpec{Name: scalers.MetricName(Type, md.QueueName), Target: md.value},
		Read:    s.read,
		Release: s.src.close,
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
