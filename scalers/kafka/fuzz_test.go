package kafka

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// FuzzParseMetadata feeds arbitrary values to the keys the parser reads. It
// must never panic; an error must be an ErrInvalidConfig; a success must
// satisfy every rule the parser promises.
func FuzzParseMetadata(f *testing.F) {
	f.Add("broker:9092", "group", "topic", "1,2,10-20", "10", "0", "latest", "false", "false", "none", "disable", "true")
	f.Add("a:1,b:2", "g", "", "", "5", "3", "earliest", "true", "true", "plaintext", "enable", "false")
	f.Add("[::1]:9092", "g", "t", "0-2147483647", "1", "1", "latest", "true", "false", "scram_sha512", "disable", "true")
	f.Add("kafka://x", "", "t", "5-1,a", "0", "-1", "foo", "maybe", "1", "gssapi", "yes", "nope")
	f.Add("b:1", "g", "t", "", "10", "0", "latest", "false", "false", "oauthbearer", "disable", "true")
	f.Add("h", "g", "t", " 1 - 4 , 8 ", "9223372036854775807", "9223372036854775807", "latest", "false", "true", "scram_sha256", "enable", "false")
	f.Add("::1:6379,a:1,,[::1", "g", "t a", "0-1000000", "1", "0", "latest", "false", "false", "none", "disable", "true")
	f.Add("[fe80::1%eth0]:9092,b:4294967297", "g", "t", "1,1,1", "1", "0", "latest", "false", "false", "none", "disable", "true")
	f.Fuzz(func(t *testing.T, brokers, group, topic, limitation, lag, activation, policy, allowIdle, limitToLag, sasl, tls, fullMetadata string) {
		md := map[string]string{
			"bootstrapServers": brokers, "consumerGroup": group, "topic": topic, "partitionLimitation": limitation,
			"lagThreshold": lag, "activationLagThreshold": activation, "offsetResetPolicy": policy,
			"allowIdleConsumers": allowIdle, "limitToPartitionsWithLag": limitToLag, "ensureEvenDistributionOfPartitions": limitToLag,
			"sasl": sasl, "username": "user", "password": "pass", "tls": tls, "fullMetadata": fullMetadata,
			"oauthTokenEndpointUri": "https://idp.example/token",
		}
		m, err := ParseMetadata(md, scalers.Limits{})
		if err != nil {
			if !errors.Is(err, scalers.ErrInvalidConfig) {
				t.Fatalf("got error %v, want it to wrap ErrInvalidConfig", err)
			}
			if strings.Contains(err.Error(), "invalid metadata: ;") {
				t.Fatalf("got an empty problem in %q", err)
			}
			return
		}
		switch {
		case len(m.BootstrapServers) == 0 || m.ConsumerGroup == "":
			t.Fatalf("accepted without brokers or group: %+v", m)
		case m.LagThreshold <= 0 || m.ActivationLagThreshold < 0:
			t.Fatalf("accepted thresholds %d, %d", m.LagThreshold, m.ActivationLagThreshold)
		case m.OffsetResetPolicy != ResetLatest && m.OffsetResetPolicy != ResetEarliest:
			t.Fatalf("accepted offsetResetPolicy %q", m.OffsetResetPolicy)
		case !slices.Contains([]string{SASLNone, SASLPlaintext, SASLScramSHA256, SASLScramSHA512, SASLOAuthBearer}, m.SASL):
			t.Fatalf("accepted sasl %q", m.SASL)
		case m.AllowIdleConsumers && m.LimitToPartitionsWithLag,
			m.LimitToPartitionsWithLag && m.EnsureEvenDistributionOfPartitions,
			m.Topic == "" && (m.LimitToPartitionsWithLag || m.EnsureEvenDistributionOfPartitions || !m.FullMetadata):
			t.Fatalf("accepted an invalid combination: %+v", m)
		case m.Topic == "" && !m.partitions.empty():
			t.Fatalf("kept partitionLimitation %q without a topic", m.partitions)
		case (m.TLS == "enable") != (m.tlsConfig != nil):
			t.Fatalf("tls %q but TLS config set: %v", m.TLS, m.tlsConfig != nil)
		}
		if len(m.BootstrapServers) > scalers.DefaultMaxListItems || m.partitions.size() > scalers.DefaultMaxListItems {
			t.Fatalf("accepted %d brokers and %d partitions, beyond the list limit", len(m.BootstrapServers), m.partitions.size())
		}
		for _, b := range m.BootstrapServers {
			if checkBroker(b) != "" {
				t.Fatalf("accepted broker %q", b)
			}
			// What is accepted reads one way: an IPv6 address only in
			// brackets, a port only after the last colon outside them.
			if !strings.HasPrefix(b, "[") && strings.Count(b, ":") > 1 {
				t.Fatalf("accepted unbracketed IPv6 %q", b)
			}
		}
		if m.Topic != "" && checkTopic(m.Topic) != "" {
			t.Fatalf("accepted topic %q", m.Topic)
		}
		// The metric name is valid for any accepted metadata.
		name := m.metricName()
		if name == "" || len(name) > 200 || strings.Trim(name, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
			t.Fatalf("metric name %q is not a valid metric name", name)
		}
	})
}

// FuzzOAuthExtensions checks the oauthExtensions parser: never a panic, an
// error names the key, and what it accepts can be sent in an OAUTHBEARER
// message (RFC 7628 keys and values, no %x01 to break the framing) and
// reads back the same from "k=v" pairs.
func FuzzOAuthExtensions(f *testing.F) {
	for _, s := range []string{"logicalCluster=lkc-1,identityPoolId=pool-2", " a = b ", "a=b=c", "extension_a=b", "auth=x", "a=", "=b", "a=b,,c=d", "a=\x01", "a=b,a=c", "é=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		ext, err := parseOAuthExtensions(raw)
		if err != nil {
			if !errors.Is(err, scalers.ErrInvalidConfig) || !strings.HasPrefix(err.Error(), "oauthExtensions ") {
				t.Fatalf("parse %q: got error %v, want an oauthExtensions field error", raw, err)
			}
			return
		}
		if len(ext) == 0 {
			t.Fatalf("parse %q: accepted no extension", raw)
		}
		pairs := make([]string, 0, len(ext))
		for k, v := range ext {
			if !isLetters(k) || k == "auth" || v == "" || strings.ContainsAny(v, "\x01\r\n") || !isExtensionValue(v) {
				t.Fatalf("parse %q: accepted %q=%q", raw, k, v)
			}
			pairs = append(pairs, k+"="+v)
		}
		again, err := parseOAuthExtensions(strings.Join(pairs, ","))
		if err != nil {
			t.Fatalf("parse %q: its pairs %q do not parse again: %v", raw, pairs, err)
		}
		if len(again) != len(ext) {
			t.Fatalf("parse %q: got %v, again %v", raw, ext, again)
		}
		for k, v := range ext {
			if again[k] != v {
				t.Fatalf("parse %q: got %v, again %v", raw, ext, again)
			}
		}
	})
}

// FuzzPartitionLimitation checks the partitionLimitation parser against a
// plain reading of the list: never a panic, membership as listed, and the
// canonical form parses back to the same set.
func FuzzPartitionLimitation(f *testing.F) {
	for _, s := range []string{"1,2,10-20", "1-4,8,10-12", " 1 - 4 ", "0-2147483647", "5-1", "1,,2", "a-b", "-1", "1-2-3", "3,2,1,2-3", "2147483647"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		set, err := parsePartitionLimitation(raw)
		ref, refOK := referenceLimitation(raw)
		if (err == nil) != refOK {
			t.Fatalf("parse %q: got error %v, reference accepts: %v", raw, err, refOK)
		}
		if err != nil {
			if !errors.Is(err, scalers.ErrInvalidConfig) || !strings.Contains(err.Error(), "partitionLimitation") {
				t.Fatalf("parse %q: got error %v, want a partitionLimitation field error", raw, err)
			}
			return
		}
		if set.empty() {
			t.Fatalf("parse %q: accepted an empty set", raw)
		}
		for i := 1; i < len(set.ranges); i++ {
			if int64(set.ranges[i][0]) <= int64(set.ranges[i-1][1])+1 {
				t.Fatalf("parse %q: ranges %v not sorted, disjoint and apart", raw, set.ranges)
			}
		}
		// Probe around every bound the reference knows, and a few fixed
		// points.
		probes := []int32{0, 1, 2, 100, 1<<31 - 1}
		for _, r := range ref {
			for _, d := range []int64{-1, 0, 1} {
				for _, b := range r {
					if v := int64(b) + d; v >= 0 && v <= 1<<31-1 {
						probes = append(probes, int32(v))
					}
				}
			}
		}
		for _, p := range probes {
			want := false
			for _, r := range ref {
				if r[0] <= p && p <= r[1] {
					want = true
				}
			}
			if got := set.contains(p); got != want {
				t.Fatalf("parse %q: contains(%d) = %v, want %v", raw, p, got, want)
			}
		}
		again, err := parsePartitionLimitation(set.String())
		if err != nil || again.String() != set.String() {
			t.Fatalf("parse %q: canonical form %q parses to %q, %v", raw, set.String(), again.String(), err)
		}
	})
}

// referenceLimitation reads the list the plain way: items split on commas,
// each a number or "a-b" with a <= b, all within int32 and not negative.
func referenceLimitation(raw string) ([][2]int32, bool) {
	var out [][2]int32
	for _, item := range strings.Split(raw, ",") {
		bounds := strings.Split(item, "-")
		if len(bounds) > 2 {
			return nil, false
		}
		var nums []int32
		for _, b := range bounds {
			n, err := strconv.ParseInt(strings.TrimSpace(b), 10, 32)
			if err != nil || n < 0 {
				return nil, false
			}
			nums = append(nums, int32(n))
		}
		if len(nums) == 1 {
			nums = append(nums, nums[0])
		}
		if nums[0] > nums[1] {
			return nil, false
		}
		out = append(out, [2]int32{nums[0], nums[1]})
	}
	return out, true
}

// FuzzCalculateLag checks the arithmetic's promises on arbitrary offsets and
// settings: the cap holds, activity never counts less than the metric's
// lag, and prev is left alone.
func FuzzCalculateLag(f *testing.F) {
	f.Add([]byte{10, 0, 20, 5, 0, 0, 255, 3}, int64(10), uint8(0))
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9}, int64(1), uint8(0xff))
	f.Add([]byte{}, int64(3), uint8(4))
	f.Fuzz(func(t *testing.T, data []byte, threshold int64, flags uint8) {
		if threshold <= 0 || threshold > 1<<40 {
			return
		}
		opts := LagOptions{
			LagThreshold: threshold, OffsetResetPolicy: ResetLatest,
			AllowIdleConsumers:                 flags&1 != 0,
			ExcludePersistentLag:               flags&2 != 0,
			ScaleToZeroOnInvalidOffset:         flags&4 != 0,
			LimitToPartitionsWithLag:           flags&8 != 0,
			EnsureEvenDistributionOfPartitions: flags&16 != 0,
		}
		if flags&32 != 0 {
			opts.OffsetResetPolicy = ResetEarliest
		}
		if opts.LimitToPartitionsWithLag && (opts.AllowIdleConsumers || opts.EnsureEvenDistributionOfPartitions) {
			return // combinations ParseMetadata rejects
		}
		// Each partition takes 3 bytes: committed (255 = no commit), the
		// lag to the end, and the previous commit (255 = none).
		var ps []Offsets
		prev := map[TopicPartition]int64{}
		for i := 0; i+2 < len(data); i += 3 {
			p := int32(i / 3)
			c := int64(data[i]) * 1000
			if data[i] == 255 {
				c = InvalidOffset
			}
			latest := max(c, 0) + int64(data[i+1])
			ps = append(ps, Offsets{Topic: "t", Partition: p, Committed: c, Latest: latest})
			if data[i+2] != 255 {
				prev[TopicPartition{"t", p}] = int64(data[i+2]) * 1000
			}
		}
		before := len(prev)
		r := CalculateLag(ps, opts, prev)
		if len(prev) != before {
			t.Fatalf("prev changed size: %d -> %d", before, len(prev))
		}
		if r.Partitions != int64(len(ps)) || r.PartitionsWithLag > r.Partitions {
			t.Fatalf("partitions %d with lag %d for %d inputs", r.Partitions, r.PartitionsWithLag, len(ps))
		}
		if r.TotalLag < 0 || r.TotalLagWithPersistent < r.TotalLag {
			t.Fatalf("total lag %d, with persistent %d", r.TotalLag, r.TotalLagWithPersistent)
		}
		if !opts.ExcludePersistentLag && r.TotalLag != r.TotalLagWithPersistent {
			t.Fatalf("without excludePersistentLag: total lag %d != with persistent %d", r.TotalLag, r.TotalLagWithPersistent)
		}
		capped := !opts.AllowIdleConsumers || opts.LimitToPartitionsWithLag || opts.EnsureEvenDistributionOfPartitions
		upper := r.Partitions
		if opts.LimitToPartitionsWithLag {
			upper = r.PartitionsWithLag
		}
		switch {
		case capped && r.Metric/threshold > upper:
			t.Fatalf("metric %d / threshold %d exceeds the cap %d", r.Metric, threshold, upper)
		case !capped && r.Metric != r.TotalLag:
			t.Fatalf("uncapped metric %d != total lag %d", r.Metric, r.TotalLag)
		case opts.EnsureEvenDistributionOfPartitions && r.Partitions > 0 && (r.Metric%threshold != 0 || r.Partitions%(r.Metric/threshold) != 0):
			t.Fatalf("even distribution: metric %d is not threshold %d times a factor of %d", r.Metric, threshold, r.Partitions)
		case !opts.EnsureEvenDistributionOfPartitions && r.Metric > r.TotalLag:
			t.Fatalf("metric %d above total lag %d", r.Metric, r.TotalLag)
		}
	})
}
