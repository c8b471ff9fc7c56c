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
	f.Add("h", "g", "t", " 1 - 4 , 8 ", "9223372036854775807", "9223372036854775807", "latest", "false", "true", "scram_sha256", "enable", "false")
	f.Fuzz(func(t *testing.T, brokers, group, topic, limitation, lag, activation, policy, allowIdle, limitToLag, sasl, tls, fullMetadata string) {
		md := map[string]string{
			"bootstrapServers": brokers, "consumerGroup": group, "topic": topic, "partitionLimitation": limitation,
			"lagThreshold": lag, "activationLagThreshold": activation, "offsetResetPolicy": policy,
			"allowIdleConsumers": allowIdle, "limitToPartitionsWithLag": limitToLag, "ensureEvenDistributionOfPartitions": limitToLag,
			"sasl": sasl, "username": "user", "password": "pass", "tls": tls, "fullMetadata": fullMetadata,
		}
		m, err := ParseMetadata(md)
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
		case !slices.Contains([]string{SASLNone, SASLPlaintext, SASLScramSHA256, SASLScramSHA512}, m.SASL):
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
		for _, b := range m.BootstrapServers {
			if checkBroker(b) != "" {
				t.Fatalf("accepted broker %q", b)
			}
		}
		// The metric name is valid for any accepted metadata.
		name := m.metricName()
		if name == "" || len(name) > 200 || strings.Trim(name, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
			t.Fatalf("metric name %q is not a valid metric name", name)
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
