package kafka

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestPartitionLag ports KEDA's getLagForPartition facts
// (TestGetLagForPartition_MissingPartition and the branches of the
// function). KEDA's "partition missing from the end offsets" scenarios have
// no counterpart here: such a partition is not measured at all (see
// TestJoinSkipsPartitionsWithoutEndOffset), exactly as KEDA's loop over the
// end offsets never reaches it.
func TestPartitionLag(t *testing.T) {
	latest := LagOptions{OffsetResetPolicy: ResetLatest}
	earliest := LagOptions{OffsetResetPolicy: ResetEarliest}
	with := func(o LagOptions, f func(*LagOptions)) LagOptions { f(&o); return o }
	tests := []struct {
		name                  string
		o                     Offsets
		opts                  LagOptions
		prev                  int64
		hasPrev               bool
		wantLag, wantWithPers int64
	}{
		{name: "valid offsets", o: Offsets{Committed: 100, Latest: 150}, opts: earliest, wantLag: 50, wantWithPers: 50},
		{name: "valid offsets latest policy", o: Offsets{Committed: 100, Latest: 150}, opts: latest, wantLag: 50, wantWithPers: 50},
		{name: "caught up", o: Offsets{Committed: 150, Latest: 150}, opts: latest, wantLag: 0, wantWithPers: 0},
		{name: "commit ahead of the end is negative lag, as in KEDA", o: Offsets{Committed: 160, Latest: 150}, opts: latest, wantLag: -10, wantWithPers: -10},
		{name: "invalid offset latest", o: Offsets{Committed: InvalidOffset, Latest: 150}, opts: latest, wantLag: 1, wantWithPers: 1},
		{name: "invalid offset latest scaleToZeroOnInvalidOffset",
			o: Offsets{Committed: InvalidOffset, Latest: 150}, opts: with(latest, func(o *LagOptions) { o.ScaleToZeroOnInvalidOffset = true })},
		{name: "invalid offset earliest counts the whole log", o: Offsets{Committed: InvalidOffset, Latest: 150}, opts: earliest, wantLag: 150, wantWithPers: 150},
		{name: "invalid offset earliest scaleToZeroOnInvalidOffset",
			o: Offsets{Committed: InvalidOffset, Latest: 150}, opts: with(earliest, func(o *LagOptions) { o.ScaleToZeroOnInvalidOffset = true })},
		{name: "invalid offset earliest on an empty partition", o: Offsets{Committed: InvalidOffset, Latest: 0}, opts: earliest},
		{name: "other negative commits are not invalid", o: Offsets{Committed: -2, Latest: 10}, opts: latest, wantLag: 12, wantWithPers: 12},
		{name: "persistent lag, first round", o: Offsets{Committed: 100, Latest: 150},
			opts: with(latest, func(o *LagOptions) { o.ExcludePersistentLag = true }), wantLag: 50, wantWithPers: 50},
		{name: "persistent lag, consumer stuck", o: Offsets{Committed: 100, Latest: 150},
			opts: with(latest, func(o *LagOptions) { o.ExcludePersistentLag = true }), prev: 100, hasPrev: true, wantLag: 0, wantWithPers: 50},
		{name: "persistent lag, consumer moved", o: Offsets{Committed: 120, Latest: 150},
			opts: with(latest, func(o *LagOptions) { o.ExcludePersistentLag = true }), prev: 100, hasPrev: true, wantLag: 30, wantWithPers: 30},
		{name: "persistent lag off ignores prev", o: Offsets{Committed: 100, Latest: 150},
			opts: latest, prev: 100, hasPrev: true, wantLag: 50, wantWithPers: 50},
		{name: "persistent lag does not touch invalid offsets", o: Offsets{Committed: InvalidOffset, Latest: 150},
			opts: with(latest, func(o *LagOptions) { o.ExcludePersistentLag = true }), prev: InvalidOffset, hasPrev: true, wantLag: 1, wantWithPers: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lag, withPers := PartitionLag(tc.o, tc.opts, tc.prev, tc.hasPrev)
			if lag != tc.wantLag || withPers != tc.wantWithPers {
				t.Errorf("got lag %d, with persistent %d; want %d, %d", lag, withPers, tc.wantLag, tc.wantWithPers)
			}
		})
	}
}

// TestFactors ports KEDA's TestFindFactors.
func TestFactors(t *testing.T) {
	tests := []struct {
		n    int64
		want []int64
	}{
		{10, []int64{1, 2, 5, 10}},
		{13, []int64{1, 13}},
		{17, []int64{1, 17}},
		{25, []int64{1, 5, 25}},
		{50, []int64{1, 2, 5, 10, 25, 50}},
		{100, []int64{1, 2, 4, 5, 10, 20, 25, 50, 100}},
		{1, []int64{1}},
		{0, nil},
		{-4, nil},
	}
	for _, tc := range tests {
		if diff := cmp.Diff(tc.want, factors(tc.n)); diff != "" {
			t.Errorf("factors(%d) (-want +got):\n%s", tc.n, diff)
		}
	}
}

// TestEvenFactor ports KEDA's TestGetNextFactor.
func TestEvenFactor(t *testing.T) {
	tests := []struct{ lag, partitions, threshold, want int64 }{
		{10, 100, 10, 1},
		{20, 100, 10, 2},
		{40, 100, 10, 4},
		{50, 100, 10, 5},
		{99, 100, 10, 10},
		{100, 100, 10, 10},
		{101, 100, 10, 20},
		{0, 100, 10, 1},
		{100000, 100, 10, 100},
		{5, 0, 10, 0},
	}
	for _, tc := range tests {
		if got := evenFactor(tc.lag, tc.partitions, tc.threshold); got != tc.want {
			t.Errorf("evenFactor(%d, %d, %d): got %d, want %d", tc.lag, tc.partitions, tc.threshold, got, tc.want)
		}
	}
}

// parts builds one topic's offsets: committed[i], latest[i] for partition i.
func parts(topic string, committed, latest []int64) []Offsets {
	out := make([]Offsets, len(latest))
	for i := range latest {
		out[i] = Offsets{Topic: topic, Partition: int32(i), Committed: committed[i], Latest: latest[i]}
	}
	return out
}

func TestCalculateLag(t *testing.T) {
	inv := int64(InvalidOffset)
	opts := func(f func(*LagOptions)) LagOptions {
		o := LagOptions{LagThreshold: 10, OffsetResetPolicy: ResetLatest}
		if f != nil {
			f(&o)
		}
		return o
	}
	tests := []struct {
		name  string
		parts []Offsets
		opts  LagOptions
		prev  map[TopicPartition]int64
		want  LagResult
	}{
		{name: "no partitions", opts: opts(nil), want: LagResult{}},
		{name: "sum below the cap",
			parts: parts("t", []int64{0, 10, 20}, []int64{5, 15, 25}), opts: opts(nil),
			want: LagResult{Metric: 15, TotalLag: 15, TotalLagWithPersistent: 15, Partitions: 3, PartitionsWithLag: 3}},
		{name: "capped at the partition count",
			parts: parts("t", []int64{0, 0, 0}, []int64{100, 100, 100}), opts: opts(nil),
			want: LagResult{Metric: 30, TotalLag: 300, TotalLagWithPersistent: 300, Partitions: 3, PartitionsWithLag: 3}},
		{name: "cap compares the integer quotient, as KEDA",
			parts: parts("t", []int64{0, 0, 0}, []int64{12, 12, 11}), opts: opts(nil),
			want: LagResult{Metric: 35, TotalLag: 35, TotalLagWithPersistent: 35, Partitions: 3, PartitionsWithLag: 3}},
		{name: "allowIdleConsumers lifts the cap",
			parts: parts("t", []int64{0, 0, 0}, []int64{100, 100, 100}), opts: opts(func(o *LagOptions) { o.AllowIdleConsumers = true }),
			want: LagResult{Metric: 300, TotalLag: 300, TotalLagWithPersistent: 300, Partitions: 3, PartitionsWithLag: 3}},
		{name: "limitToPartitionsWithLag caps at partitions with lag",
			parts: parts("t", []int64{0, 5, 5, 5}, []int64{100, 5, 5, 5}), opts: opts(func(o *LagOptions) { o.LimitToPartitionsWithLag = true }),
			want: LagResult{Metric: 10, TotalLag: 100, TotalLagWithPersistent: 100, Partitions: 4, PartitionsWithLag: 1}},
		{name: "limitToPartitionsWithLag without lag",
			parts: parts("t", []int64{5, 5}, []int64{5, 5}), opts: opts(func(o *LagOptions) { o.LimitToPartitionsWithLag = true }),
			want: LagResult{Partitions: 2}},
		{name: "limitToPartitionsWithLag below the cap",
			parts: parts("t", []int64{0, 0, 5}, []int64{7, 8, 5}), opts: opts(func(o *LagOptions) { o.LimitToPartitionsWithLag = true }),
			want: LagResult{Metric: 15, TotalLag: 15, TotalLagWithPersistent: 15, Partitions: 3, PartitionsWithLag: 2}},
		{name: "ensureEvenDistributionOfPartitions rounds up to a factor",
			parts: parts("t", make([]int64, 10), []int64{35, 0, 0, 0, 0, 0, 0, 0, 0, 0}),
			opts:  opts(func(o *LagOptions) { o.EnsureEvenDistributionOfPartitions = true }),
			want:  LagResult{Metric: 50, TotalLag: 35, TotalLagWithPersistent: 35, Partitions: 10, PartitionsWithLag: 1}},
		{name: "ensureEvenDistributionOfPartitions at zero lag asks for one replica, as KEDA",
			parts: parts("t", make([]int64, 10), make([]int64, 10)),
			opts:  opts(func(o *LagOptions) { o.EnsureEvenDistributionOfPartitions = true }),
			want:  LagResult{Metric: 10, Partitions: 10}},
		{name: "ensureEvenDistributionOfPartitions beyond the partitions",
			parts: parts("t", make([]int64, 10), []int64{1000, 0, 0, 0, 0, 0, 0, 0, 0, 0}),
			opts:  opts(func(o *LagOptions) { o.EnsureEvenDistributionOfPartitions = true }),
			want:  LagResult{Metric: 100, TotalLag: 1000, TotalLagWithPersistent: 1000, Partitions: 10, PartitionsWithLag: 1}},
		{name: "ensureEvenDistributionOfPartitions with allowIdleConsumers",
			parts: parts("t", make([]int64, 6), []int64{25, 0, 0, 0, 0, 0}),
			opts:  opts(func(o *LagOptions) { o.EnsureEvenDistributionOfPartitions, o.AllowIdleConsumers = true, true }),
			want:  LagResult{Metric: 30, TotalLag: 25, TotalLagWithPersistent: 25, Partitions: 6, PartitionsWithLag: 1}},
		{name: "no commits, latest: one per partition",
			parts: parts("t", []int64{inv, inv, inv, inv}, []int64{9, 9, 0, 3}), opts: opts(nil),
			want: LagResult{Metric: 4, TotalLag: 4, TotalLagWithPersistent: 4, Partitions: 4, PartitionsWithLag: 4}},
		{name: "no commits, earliest: the whole log",
			parts: parts("t", []int64{inv, inv}, []int64{7, 3}), opts: opts(func(o *LagOptions) { o.OffsetResetPolicy = ResetEarliest }),
			want: LagResult{Metric: 10, TotalLag: 10, TotalLagWithPersistent: 10, Partitions: 2, PartitionsWithLag: 2}},
		{name: "no commits, scaleToZeroOnInvalidOffset",
			parts: parts("t", []int64{inv, inv}, []int64{7, 3}), opts: opts(func(o *LagOptions) { o.ScaleToZeroOnInvalidOffset = true }),
			want: LagResult{Partitions: 2}},
		{name: "persistent lag leaves the metric, not the activity",
			parts: parts("t", []int64{100, 0}, []int64{150, 20}),
			prev:  map[TopicPartition]int64{{"t", 0}: 100, {"t", 1}: 3},
			opts:  opts(func(o *LagOptions) { o.ExcludePersistentLag = true }),
			want:  LagResult{Metric: 20, TotalLag: 20, TotalLagWithPersistent: 70, Partitions: 2, PartitionsWithLag: 1}},
		{name: "persistent lag with limitToPartitionsWithLag",
			parts: parts("t", []int64{100, 0}, []int64{150, 20}),
			prev:  map[TopicPartition]int64{{"t", 0}: 100},
			opts:  opts(func(o *LagOptions) { o.ExcludePersistentLag, o.LimitToPartitionsWithLag = true, true }),
			want:  LagResult{Metric: 10, TotalLag: 20, TotalLagWithPersistent: 70, Partitions: 2, PartitionsWithLag: 1}},
		{name: "several topics count together",
			parts: append(parts("a", []int64{0, 0}, []int64{40, 40}), parts("b", []int64{0}, []int64{40})...), opts: opts(nil),
			want: LagResult{Metric: 30, TotalLag: 120, TotalLagWithPersistent: 120, Partitions: 3, PartitionsWithLag: 3}},
		{name: "huge threshold does not overflow",
			parts: parts("t", []int64{0}, []int64{5}),
			opts:  opts(func(o *LagOptions) { o.LagThreshold = math.MaxInt64; o.EnsureEvenDistributionOfPartitions = true }),
			want:  LagResult{Metric: math.MaxInt64, TotalLag: 5, TotalLagWithPersistent: 5, Partitions: 1, PartitionsWithLag: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := make(map[TopicPartition]int64, len(tc.prev))
			for k, v := range tc.prev {
				before[k] = v
			}
			got := CalculateLag(tc.parts, tc.opts, tc.prev)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
			if tc.prev != nil && !cmp.Equal(before, tc.prev) {
				t.Errorf("CalculateLag changed prev: got %v, want %v", tc.prev, before)
			}
		})
	}
}

// TestPersistentLagRounds runs the arithmetic over consecutive rounds as the
// scaler does, remembering commits in between.
func TestPersistentLagRounds(t *testing.T) {
	opts := LagOptions{LagThreshold: 10, OffsetResetPolicy: ResetLatest, ExcludePersistentLag: true}
	type round struct {
		committed, latest      []int64
		wantMetric, wantWithPr int64
	}
	rounds := []round{
		{committed: []int64{10, 0}, latest: []int64{60, 0}, wantMetric: 20, wantWithPr: 50},  // first sight: counted (capped at 2 partitions)
		{committed: []int64{10, 0}, latest: []int64{70, 5}, wantMetric: 0, wantWithPr: 65},   // p0 stuck, p1 unchanged commit 0: both persistent
		{committed: []int64{11, -1}, latest: []int64{70, 5}, wantMetric: 20, wantWithPr: 60}, // p0 moved; p1 lost its commit (invalid: 1)
		{committed: []int64{11, 0}, latest: []int64{70, 9}, wantMetric: 0, wantWithPr: 68},   // p0 stuck; p1's commit 0 matches the one remembered two rounds ago
		{committed: []int64{70, 9}, latest: []int64{70, 9}, wantMetric: 0, wantWithPr: 0},    // caught up
		{committed: []int64{70, 9}, latest: []int64{70, 9}, wantMetric: 0, wantWithPr: 0},    // idle is not lag
		{committed: []int64{70, 9}, latest: []int64{100, 9}, wantMetric: 0, wantWithPr: 30},  // new records while the commit did not move: persistent
	}
	prev := map[TopicPartition]int64{}
	for i, r := range rounds {
		ps := parts("t", r.committed, r.latest)
		got := CalculateLag(ps, opts, prev)
		RememberCommitted(prev, ps)
		if got.Metric != r.wantMetric || got.TotalLagWithPersistent != r.wantWithPr {
			t.Errorf("round %d: got metric %d, with persistent %d; want %d, %d", i, got.Metric, got.TotalLagWithPersistent, r.wantMetric, r.wantWithPr)
		}
	}
}

func TestMulSat(t *testing.T) {
	tests := []struct{ a, b, want int64 }{
		{3, 4, 12},
		{0, math.MaxInt64, 0},
		{2, math.MaxInt64, math.MaxInt64},
		{math.MaxInt64, math.MaxInt64, math.MaxInt64},
		{1 << 32, 1 << 31, math.MaxInt64},
		{1 << 31, 1 << 31, 1 << 62},
	}
	for _, tc := range tests {
		if got := mulSat(tc.a, tc.b); got != tc.want {
			t.Errorf("mulSat(%d, %d): got %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
