package redis

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/redis/go-redis/v9"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// streamsScaler reports the pending entries, the length or the consumer
// group lag of a stream.
type streamsScaler struct {
	*base
	meta   *streamsMeta
	metric string
	// measure is count, as a func value made once.
	measure func(context.Context) (int64, error)
	// versionOK records that the server is Redis 7+ (lag mode), checked on
	// the first lag fetch instead of on every call as KEDA does.
	versionOK atomic.Bool
}

var _ scalers.Scaler = (*streamsScaler)(nil)

func (c *Clients) newStreams(cfg scalers.Config, topo topology) (scalers.Scaler, error) {
	m, err := parseStreamsMeta(cfg.Metadata, topo, cfg.Limits, cfg.SecretFiles)
	if err != nil {
		return nil, err
	}
	b, err := newBase(c, &m.Conn, "stream", m.Stream, cfg)
	if err != nil {
		return nil, err
	}
	s := &streamsScaler{base: b, meta: m, metric: scalers.MetricName("redis-streams", m.Stream)}
	s.measure = s.count
	return s, nil
}

// MetricSpecs returns the one metric with the target of the mode in use
// (pendingEntriesCount, streamLength or lagCount).
func (s *streamsScaler) MetricSpecs() []scalers.MetricSpec {
	return []scalers.MetricSpec{{Name: s.metric, Target: float64(s.meta.target)}}
}

// Metrics fetches the mode's current count; the trigger is active when it
// is above activationLagCount, in every mode (as in KEDA).
func (s *streamsScaler) Metrics(ctx context.Context) (scalers.Metrics, error) {
	if s.closed.Load() {
		return scalers.Metrics{}, errClosed
	}
	n, err := s.fetch(ctx, s.measure)
	if err != nil {
		return scalers.Metrics{}, err
	}
	return scalers.Metrics{
		Values: []scalers.MetricValue{{Name: s.metric, Value: float64(n)}},
		Active: n > s.meta.ActivationLagCount,
	}, nil
}

func (s *streamsScaler) count(ctx context.Context) (int64, error) {
	c := s.sc.client()
	stream, group := s.meta.Stream, s.meta.ConsumerGroup
	switch s.meta.mode {
	case modePending:
		// A missing stream or group is a NOGROUP error reply, as in KEDA.
		p, err := c.XPending(ctx, stream, group).Result()
		if err != nil {
			return 0, err
		}
		return p.Count, nil
	case modeLag:
		return s.lag(ctx, c, stream, group)
	default:
		// A missing stream has length 0.
		return c.XLen(ctx, stream).Result()
	}
}

// lag follows KEDA: Redis 7+ is required; a stream that does not exist yet
// has lag 0; a group that is not registered yet (its consumers have not
// started, which is the case when scaling from zero) lags by the whole
// stream, so XLEN stands in for it; a lag Redis cannot compute (reported as
// nil, e.g. after entries were deleted with XDEL) is reported as -1, which
// go-redis returns for it and KEDA passes on.
func (s *streamsScaler) lag(ctx context.Context, c redis.UniversalClient, stream, group string) (int64, error) {
	if !s.versionOK.Load() {
		info, err := c.Info(ctx, "server").Result()
		if err != nil {
			return 0, err
		}
		major, ok := redisMajorVersion(info)
		switch {
		case !ok:
			return 0, &noData{msg: "could not find the Redis version in INFO server (lagCount needs Redis 7+)"}
		case major < 7:
			return 0, &noData{msg: "lagCount needs Redis 7 or newer (XINFO GROUPS lag), the server is Redis " + strconv.Itoa(major)}
		}
		s.versionOK.Store(true)
	}
	groups, err := c.XInfoGroups(ctx, stream).Result()
	if err != nil {
		if redisReply(err, "ERR no such key") {
			return 0, nil
		}
		return 0, err
	}
	for _, g := range groups {
		if g.Name == group {
			return g.Lag, nil
		}
	}
	return c.XLen(ctx, stream).Result()
}

// redisMajorVersion returns the major version from the redis_version line
// of an INFO reply.
func redisMajorVersion(info string) (int, bool) {
	for line := range strings.SplitSeq(info, "\n") {
		v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:")
		if !ok {
			continue
		}
		major, _, _ := strings.Cut(v, ".")
		n, err := strconv.Atoi(major)
		return n, err == nil
	}
	return 0, false
}
