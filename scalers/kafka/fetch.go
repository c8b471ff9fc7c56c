package kafka

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// fetch reads the offsets of one round: the group's committed offsets (one
// OffsetFetch to the group coordinator) and the end offsets of the measured
// partitions (one ListOffsets per partition leader). The partitions come
// from metadata cached for metadataAge: a Metadata request is sent only when
// that is stale or the topics changed.
//
// The result has one entry per measured partition that the brokers reported
// an end offset for, in topic and partition order.
//
// c is the call, for the errors (sourceErr).
func (s *Scaler) fetch(ctx context.Context, c call) ([]Offsets, error) {
	if s.md.Topic == "" {
		// The topics are those the group has committed offsets for, so the
		// commits come first; they also serve as the committed offsets.
		committed, err := s.fetchCommitted(ctx, c)
		if err != nil {
			return nil, err
		}
		topics := make([]string, 0, len(committed))
		for t := range committed {
			topics = append(topics, t)
		}
		if len(topics) == 0 {
			// A group without commits has no topics: nothing to measure.
			return nil, nil
		}
		if most := s.md.limits.MaxListItems; len(topics) > most {
			// One Metadata and one ListOffsets request name every topic:
			// the list limit bounds them as it bounds the lists of the
			// metadata.
			return nil, fmt.Errorf("kafka: group %q has committed offsets on %d topics, more than the limit of %d (set topic to measure one): %w",
				s.md.ConsumerGroup, len(topics), most, scalers.ErrLimit)
		}
		slices.Sort(topics)
		tps, err := s.partitions(ctx, c, topics)
		if err != nil {
			return nil, err
		}
		latest, err := s.listLatest(ctx, c, tps)
		if err != nil {
			return nil, err
		}
		return join(tps, committed, latest)
	}

	// With a topic, the commits do not decide what to ask for: fetch them
	// from the coordinator while the end offsets are listed.
	type commitResult struct {
		offsets kadm.OffsetResponses
		err     error
	}
	done := make(chan commitResult, 1)
	go func() {
		o, err := s.fetchCommitted(ctx, c)
		done <- commitResult{o, err}
	}()
	tps, err := s.partitions(ctx, c, []string{s.md.Topic})
	var latest map[TopicPartition]int64
	if err == nil {
		latest, err = s.listLatest(ctx, c, tps)
	}
	cr := <-done // never leave the goroutine behind
	if err != nil {
		return nil, err
	}
	if cr.err != nil {
		return nil, cr.err
	}
	return join(tps, cr.offsets, latest)
}

// fetchCommitted returns every committed offset of the group.
func (s *Scaler) fetchCommitted(ctx context.Context, c call) (kadm.OffsetResponses, error) {
	o, err := await(ctx, func() (kadm.OffsetResponses, error) { return s.adm.FetchOffsets(ctx, s.md.ConsumerGroup) })
	if errors.Is(err, kerr.GroupIDNotFound) {
		// Some brokers (and kfake) answer so for a group that never
		// committed; others answer with no offsets. Both mean no commits.
		return kadm.OffsetResponses{}, nil
	}
	if err != nil {
		return nil, s.sourceErr(ctx, c, fmt.Sprintf("kafka: fetch committed offsets of group %q", s.md.ConsumerGroup), err)
	}
	return o, nil
}

// partitionCache remembers the measured partitions of the last topic set
// for metadataAge: partitions rarely change, and a moved leader is handled
// by the client (NOT_LEADER answers make it refresh and retry).
type partitionCache struct {
	mu  sync.Mutex
	key string // the topics, joined by NUL
	at  time.Time
	tps []TopicPartition // read-only once stored
}

// forget drops the cached partitions.
func (c *partitionCache) forget() {
	c.mu.Lock()
	c.key, c.tps = "", nil
	c.mu.Unlock()
}

// partitions returns the measured partitions of topics (sorted by topic,
// then partition), filtered by partitionLimitation. It asks the brokers for
// metadata only when its cache is older than metadataAge or the topics
// changed.
func (s *Scaler) partitions(ctx context.Context, c call, topics []string) ([]TopicPartition, error) {
	key := strings.Join(topics, "\x00")
	pc := &s.partCache
	pc.mu.Lock()
	if pc.key == key && pc.tps != nil && s.clock.Since(pc.at) < s.metadataAge {
		tps := pc.tps
		pc.mu.Unlock()
		return tps, nil
	}
	pc.mu.Unlock()

	req := kmsg.NewPtrMetadataRequest()
	for _, t := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(t)
		req.Topics = append(req.Topics, rt)
	}
	// A direct request (not the client's cache): the answer also refreshes
	// the client's cache, which the sharded ListOffsets uses for leaders.
	resp, err := await(ctx, func() (*kmsg.MetadataResponse, error) { return req.RequestWith(ctx, s.cl) })
	if err != nil {
		return nil, s.sourceErr(ctx, c, "kafka: read topic metadata", err)
	}
	byName := make(map[string]*kmsg.MetadataResponseTopic, len(resp.Topics))
	for i := range resp.Topics {
		if t := resp.Topics[i].Topic; t != nil {
			byName[*t] = &resp.Topics[i]
		}
	}
	var tps []TopicPartition
	for _, t := range topics {
		mt, ok := byName[t]
		var err error = kerr.UnknownTopicOrPartition
		if ok {
			err = kerr.ErrorForCode(mt.ErrorCode)
		}
		if errors.Is(err, kerr.UnknownTopicOrPartition) {
			// The brokers answered and do not know the topic.
			return nil, fmt.Errorf("kafka: topic %q: %v: %w", t, err, scalers.ErrNoData)
		}
		if err != nil {
			return nil, scalers.Unavailable(fmt.Sprintf("kafka: topic %q", t), err)
		}
		first := len(tps)
		for _, p := range mt.Partitions {
			if !s.md.partitions.empty() && !s.md.partitions.contains(p.Partition) {
				continue
			}
			tps = append(tps, TopicPartition{Topic: t, Partition: p.Partition})
		}
		if len(tps) == first {
			if !s.md.partitions.empty() {
				return nil, fmt.Errorf("kafka: topic %q has no partition in partitionLimitation %q: %w",
					t, s.md.partitions.String(), scalers.ErrNoData)
			}
			return nil, fmt.Errorf("kafka: topic %q has no partitions: %w", t, scalers.ErrNoData)
		}
		slices.SortFunc(tps[first:], func(a, b TopicPartition) int { return cmp.Compare(a.Partition, b.Partition) })
	}

	pc.mu.Lock()
	pc.key, pc.at, pc.tps = key, s.clock.Now(), tps
	pc.mu.Unlock()
	return tps, nil
}

// listLatest returns the end offsets of tps. The client splits the request
// by partition leader: one ListOffsets per broker, sent in parallel.
func (s *Scaler) listLatest(ctx context.Context, c call, tps []TopicPartition) (map[TopicPartition]int64, error) {
	req := kmsg.NewPtrListOffsetsRequest()
	// The broker's own time limit (KIP-1023, for offsets in remote
	// storage) is also what the client adds to its read deadline: 30 s by
	// default, which would hold the connection, and every request queued
	// behind this one, well past the call's bound.
	req.TimeoutMillis = int32(min(s.bound.Milliseconds(), math.MaxInt32))
	for i := 0; i < len(tps); {
		t := kmsg.NewListOffsetsRequestTopic()
		t.Topic = tps[i].Topic
		for ; i < len(tps) && tps[i].Topic == t.Topic; i++ {
			p := kmsg.NewListOffsetsRequestTopicPartition()
			p.Partition = tps[i].Partition
			p.Timestamp = -1 // the end of the log
			t.Partitions = append(t.Partitions, p)
		}
		req.Topics = append(req.Topics, t)
	}
	latest := make(map[TopicPartition]int64, len(tps))
	// After a failure the partitions are read again next round: the error
	// may come from a topic that was deleted or changed.
	fail := func(what string, err error) (map[TopicPartition]int64, error) {
		s.partCache.forget()
		return nil, scalers.Unavailable(what, err)
	}
	shards, err := await(ctx, func() ([]kgo.ResponseShard, error) { return s.cl.RequestSharded(ctx, req), nil })
	if err != nil {
		s.partCache.forget()
		return nil, s.sourceErr(ctx, c, "kafka: list end offsets", err)
	}
	for _, shard := range shards {
		if shard.Err != nil {
			s.partCache.forget()
			return nil, s.sourceErr(ctx, c, "kafka: list end offsets", shard.Err)
		}
		resp, ok := shard.Resp.(*kmsg.ListOffsetsResponse)
		if !ok {
			return fail("kafka: list end offsets", fmt.Errorf("unexpected response %T", shard.Resp))
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					return fail(fmt.Sprintf("kafka: list end offset of %s/%d", t.Topic, p.Partition), err)
				}
				off := p.Offset
				if resp.Version == 0 {
					// v0 (brokers before 0.10.1) answers with a list.
					off = InvalidOffset
					if len(p.OldStyleOffsets) > 0 {
						off = p.OldStyleOffsets[0]
					}
				}
				latest[TopicPartition{t.Topic, p.Partition}] = off
			}
		}
	}
	return latest, nil
}

// await returns f's result, or ctx's error as soon as ctx ends, whichever
// comes first. franz-go does not bound everything it does for a request by
// the request's context: a coordinator lookup (before an OffsetFetch) runs
// with the client's own context, bounded only by the client's timeouts,
// which add up to several times the call's bound when a broker does not
// answer. f then runs on to its own end, within those timeouts (or at
// Close), and its result is dropped; the requests it makes still go
// through the dialer's backoff.
func await[T any](ctx context.Context, f func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := f()
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// join pairs the end offsets with the committed ones. A partition without an
// end offset is not measured (KEDA iterates over the end offsets); one
// without a commit has InvalidOffset. A per-partition error in the commits
// fails the round, as in KEDA.
func join(tps []TopicPartition, committed kadm.OffsetResponses, latest map[TopicPartition]int64) ([]Offsets, error) {
	out := make([]Offsets, 0, len(tps))
	for _, tp := range tps {
		end, ok := latest[tp]
		if !ok {
			continue
		}
		c := int64(InvalidOffset)
		if r, found := committed.Lookup(tp.Topic, tp.Partition); found {
			if r.Err != nil {
				return nil, scalers.Unavailable(fmt.Sprintf("kafka: committed offset of %s/%d", tp.Topic, tp.Partition), r.Err)
			}
			c = r.At
		}
		out = append(out, Offsets{Topic: tp.Topic, Partition: tp.Partition, Committed: c, Latest: end})
	}
	return out, nil
}
