package redis

import (
	"context"
	"strconv"
	"sync/atomic"

	"github.com/redis/go-redis/v9"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// keyKind is the Redis type of the measured key, as last seen.
type keyKind int32

const (
	kindUnknown keyKind = iota
	kindList
	kindSet
	kindZSet
	kindHash
)

// kindOf maps a TYPE reply to a kind. A missing key ("none") counts as an
// empty list, as in KEDA; other types (string, stream, ...) have no length
// this scaler measures, and map to kindUnknown with ok false.
func kindOf(typ string) (k keyKind, ok bool) {
	switch typ {
	case "list", "none":
		return kindList, true
	case "set":
		return kindSet, true
	case "zset":
		return kindZSet, true
	case "hash":
		return kindHash, true
	default:
		return kindUnknown, false
	}
}

// listScaler reports the length of a list, set, sorted set or hash.
type listScaler struct {
	*base
	meta   *listMeta
	metric string
	// measure is length, as a func value made once (a method value made
	// per call would be allocated per call).
	measure func(context.Context) (int64, error)
	// kind is the key's type as last seen; it selects the one length
	// command sent per Metrics call.
	kind atomic.Int32
}

var _ scalers.Scaler = (*listScaler)(nil)

func (c *Clients) newList(cfg scalers.Config, topo topology) (scalers.Scaler, error) {
	m, err := parseListMeta(cfg.Metadata, topo, cfg.Limits, cfg.SecretFiles)
	if err != nil {
		return nil, err
	}
	b, err := newBase(c, &m.Conn, "list", m.ListName, cfg)
	if err != nil {
		return nil, err
	}
	s := &listScaler{base: b, meta: m, metric: scalers.MetricName("redis", m.ListName)}
	s.measure = s.length
	s.kind.Store(int32(kindList))
	return s, nil
}

// MetricSpecs returns the one metric: the key's length per replica.
func (s *listScaler) MetricSpecs() []scalers.MetricSpec {
	return []scalers.MetricSpec{{Name: s.metric, Target: float64(s.meta.ListLength)}}
}

// Metrics fetches the key's current length; the trigger is active when the
// length is above activationListLength.
func (s *listScaler) Metrics(ctx context.Context) (scalers.Metrics, error) {
	if s.closed.Load() {
		return scalers.Metrics{}, errClosed
	}
	n, err := s.fetch(ctx, s.measure)
	if err != nil {
		return scalers.Metrics{}, err
	}
	return scalers.Metrics{
		Values: []scalers.MetricValue{{Name: s.metric, Value: float64(n)}},
		Active: n > s.meta.ActivationListLength,
	}, nil
}

// length is one round trip while the key keeps its type: the length
// command of the type seen last (a list at first). Every length command
// answers 0 for a missing key, which is what KEDA reports for one, and
// fails with WRONGTYPE when the key has another type; only then is TYPE
// asked and the right command sent. A key of a type without a length
// (string, stream) is asked its TYPE on every call, in case it changes.
func (s *listScaler) length(ctx context.Context) (int64, error) {
	key := s.meta.ListName
	kind := keyKind(s.kind.Load())
	// Three tries: the key may change type between TYPE and the length
	// command; more changes than that in one call is not a queue.
	for range 3 {
		if kind == kindUnknown {
			cmd := redis.NewStatusCmd(ctx, "type", key)
			if err := s.sc.run(ctx, cmd); err != nil {
				return 0, err
			}
			typ := cmd.Val()
			k, ok := kindOf(typ)
			s.kind.Store(int32(k))
			if !ok {
				return 0, &noData{msg: "key " + strconv.Quote(key) + " holds a " + typ + "; expected a list, set, sorted set or hash"}
			}
			kind = k
		}
		cmd := lengthCmd(ctx, kind, key)
		err := s.sc.run(ctx, cmd)
		if err == nil {
			return cmd.Val(), nil
		}
		if !redisReply(err, "WRONGTYPE") {
			return 0, err
		}
		kind = kindUnknown
	}
	return 0, &noData{msg: "key " + strconv.Quote(key) + " kept changing its type"}
}

func lengthCmd(ctx context.Context, kind keyKind, key string) *redis.IntCmd {
	name := "llen"
	switch kind {
	case kindSet:
		name = "scard"
	case kindZSet:
		name = "zcard"
	case kindHash:
		name = "hlen"
	}
	return redis.NewIntCmd(ctx, name, key)
}
