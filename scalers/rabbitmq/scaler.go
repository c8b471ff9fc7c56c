package rabbitmq

import (
	"context"
	"log/slog"
	"regexp"
	"strings"
	"sync/atomic"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// Type is the scaler type name, as in KEDA.
const Type = "rabbitmq"

// Scaler is a configured rabbitmq trigger. It is safe for concurrent use.
type Scaler struct {
	md     *Metadata
	metric string
	src    source
	log    *slog.Logger
	closed atomic.Bool
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
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("scaler", Type, "queue", md.QueueName)
	s := &Scaler{md: md, metric: scalers.MetricName(Type, md.QueueName), log: log}

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
	return s, nil
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

// MetricSpecs returns the one metric of the trigger, named after the queue
// (or expression), with the target value.
func (s *Scaler) MetricSpecs() []scalers.MetricSpec {
	return []scalers.MetricSpec{{Name: s.metric, Target: s.md.value}}
}

// Metrics fetches the queue statistics and evaluates the mode.
func (s *Scaler) Metrics(ctx context.Context) (scalers.Metrics, error) {
	if s.closed.Load() {
		return scalers.Metrics{}, errClosed
	}
	st, err := s.src.stats(ctx)
	if err != nil {
		return scalers.Metrics{}, s.md.redactor().Error(err)
	}
	v, active := Evaluate(s.md.mode, s.md.ActivationValue, s.md.ExcludeUnacknowledged, st)
	return scalers.Metrics{Values: []scalers.MetricValue{{Name: s.metric, Value: v}}, Active: active}, nil
}

// Close closes the AMQP connection or the idle HTTP connections.
func (s *Scaler) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	return s.src.close()
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
