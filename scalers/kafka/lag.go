package kafka

import (
	"math"
	"math/bits"
)

// InvalidOffset is the committed offset Kafka reports for a partition the
// group has never committed to.
const InvalidOffset = -1

// Offsets is what was fetched for one partition.
type Offsets struct {
	Topic     string
	Partition int32
	// Committed is the group's committed offset (the next record it will
	// read), or InvalidOffset when the group has no commit for the
	// partition.
	Committed int64
	// Latest is the partition's end offset (high watermark): the offset the
	// next produced record will get.
	Latest int64
}

// TopicPartition identifies a partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// LagOptions are the settings of the lag arithmetic (the KEDA keys of the
// same names).
type LagOptions struct {
	LagThreshold                       int64
	OffsetResetPolicy                  string // ResetLatest or ResetEarliest
	AllowIdleConsumers                 bool
	ExcludePersistentLag               bool
	ScaleToZeroOnInvalidOffset         bool
	LimitToPartitionsWithLag           bool
	EnsureEvenDistributionOfPartitions bool
}

// LagResult is the outcome of CalculateLag.
type LagResult struct {
	// Metric is the value reported to the autoscaler: TotalLag after the
	// cap (see CalculateLag).
	Metric int64
	// TotalLag is the sum of the partitions' lag, persistent lag excluded.
	TotalLag int64
	// TotalLagWithPersistent is the sum with persistent lag included; the
	// trigger is active when it is above activationLagThreshold.
	TotalLagWithPersistent int64
	// Partitions is the number of partitions measured.
	Partitions int64
	// PartitionsWithLag counts partitions whose lag (persistent lag
	// excluded) is above zero.
	PartitionsWithLag int64
}

// PartitionLag returns the lag of one partition as KEDA computes it: the
// lag counted in the metric and the lag counted for activity.
//
// prev/hasPrev is the committed offset seen for this partition in the
// previous round; it only matters with ExcludePersistentLag.
func PartitionLag(o Offsets, opts LagOptions, prev int64, hasPrev bool) (lag, lagWithPersistent int64) {
	if o.Committed == InvalidOffset {
		// The group has never committed here: a consumer would start from
		// the reset policy's end of the log.
		if opts.ScaleToZeroOnInvalidOffset {
			// The user asked that such partitions never cause scaling.
			return 0, 0
		}
		if opts.OffsetResetPolicy == ResetEarliest {
			// A new consumer reads the partition from its start: KEDA
			// counts every offset up to the end (not end - log start).
			return o.Latest, o.Latest
		}
		// latest: a new consumer skips what is there, so there is no real
		// lag; 1 keeps one consumer around to make the first commit.
		return 1, 1
	}
	lag = o.Latest - o.Committed
	if opts.ExcludePersistentLag && hasPrev && prev == o.Committed {
		// The group has not moved since the last round: probably stuck on
		// a record it cannot process. More consumers would not help, so
		// the lag is left out of the metric, but it still keeps the
		// trigger active.
		return 0, lag
	}
	return lag, lag
}

// CalculateLag is the lag arithmetic of KEDA's kafka scaler over fetched
// offsets. It is pure: prev (the committed offsets of the previous round, for
// ExcludePersistentLag; may be nil) is only read. Use RememberCommitted to
// update it afterwards.
//
// Each partition's lag comes from PartitionLag. Unless AllowIdleConsumers is
// set (and neither LimitToPartitionsWithLag nor
// EnsureEvenDistributionOfPartitions is), the total is capped so that
// total/LagThreshold (integer division, as in KEDA) does not exceed the
// number of partitions (or of partitions with lag, with
// LimitToPartitionsWithLag): there is no point in more consumers than
// partitions. With EnsureEvenDistributionOfPartitions the total is first
// rounded up to LagThreshold times the smallest factor of the partition
// count that covers it, so every consumer gets the same number of
// partitions.
//
// Because the cap compares the integer quotient, a total between
// partitions*LagThreshold and (partitions+1)*LagThreshold is not reduced, and
// an HPA dividing it by LagThreshold then asks for partitions+1 replicas.
// This is what KEDA does; it is kept so the numbers match.
func CalculateLag(parts []Offsets, opts LagOptions, prev map[TopicPartition]int64) LagResult {
	var r LagResult
	for _, o := range parts {
		var p int64
		var hasPrev bool
		if opts.ExcludePersistentLag && prev != nil {
			p, hasPrev = prev[TopicPartition{o.Topic, o.Partition}]
		}
		lag, withPersistent := PartitionLag(o, opts, p, hasPrev)
		r.TotalLag += lag
		r.TotalLagWithPersistent += withPersistent
		if lag > 0 {
			r.PartitionsWithLag++
		}
	}
	r.Partitions = int64(len(parts))
	r.Metric = r.TotalLag

	threshold := opts.LagThreshold
	if threshold <= 0 {
		// Not a valid configuration (ParseMetadata rejects it); report the
		// plain total rather than divide by zero.
		return r
	}
	if !opts.AllowIdleConsumers || opts.LimitToPartitionsWithLag || opts.EnsureEvenDistributionOfPartitions {
		upper := r.Partitions
		if opts.EnsureEvenDistributionOfPartitions {
			r.Metric = mulSat(evenFactor(r.Metric, r.Partitions, threshold), threshold)
		}
		if opts.LimitToPartitionsWithLag {
			upper = r.PartitionsWithLag
		}
		if r.Metric/threshold > upper {
			r.Metric = mulSat(upper, threshold)
		}
	}
	return r
}

// RememberCommitted records the valid committed offsets of parts in prev, for
// the next round's persistent-lag check. Storing every valid commit is the
// same as KEDA's rule (store when new or changed; an unchanged one is
// already stored). Partitions without a commit are not recorded.
func RememberCommitted(prev map[TopicPartition]int64, parts []Offsets) {
	for _, o := range parts {
		if o.Committed != InvalidOffset {
			prev[TopicPartition{o.Topic, o.Partition}] = o.Committed
		}
	}
}

// evenFactor returns the smallest factor f of partitions with
// f*threshold >= totalLag, or partitions when none is (KEDA's
// getNextFactorThatBalancesConsumersToTopicPartitions). For 0 partitions it
// returns 0.
func evenFactor(totalLag, partitions, threshold int64) int64 {
	for _, f := range factors(partitions) {
		if mulSat(f, threshold) >= totalLag {
			return f
		}
	}
	return partitions
}

// factors returns the factors of n in increasing order (nil for n < 1).
func factors(n int64) []int64 {
	if n < 1 {
		return nil
	}
	var low, high []int64
	for i := int64(1); i <= n/i; i++ {
		if n%i == 0 {
			low = append(low, i)
			if j := n / i; j != i {
				high = append(high, j)
			}
		}
	}
	for i := len(high) - 1; i >= 0; i-- {
		low = append(low, high[i])
	}
	return low
}

// mulSat multiplies non-negative a and b, saturating at math.MaxInt64 (KEDA
// would wrap around; only absurd thresholds get there).
func mulSat(a, b int64) int64 {
	if a < 0 || b < 0 {
		return a * b
	}
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi != 0 || lo > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(lo)
}
