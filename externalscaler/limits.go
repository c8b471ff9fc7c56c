package externalscaler

import (
	"fmt"
	"unicode/utf8"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// Defaults of Limits. The gRPC port is unauthenticated inside the cluster,
// so what one client may make the server hold is bounded: a trigger's
// metadata, the instances kept, the length of every message sent back.
const (
	// DefaultMaxMetadataBytes bounds one trigger's metadata, every key and
	// value together. KEDA's largest triggers (a custom expression over
	// several sources, a CA certificate inline) stay far below it.
	DefaultMaxMetadataBytes = 32 << 10
	// DefaultMaxMetadataValueBytes bounds one metadata value (an inline
	// PEM certificate is 1-2 KiB).
	DefaultMaxMetadataValueBytes = 16 << 10
	// DefaultMaxScalers bounds the scaler instances the server keeps (one
	// per ScaledObject trigger, built or being built, and failed builds it
	// remembers).
	DefaultMaxScalers = 5000
	// DefaultMaxMessageBytes bounds a status message sent to a client and
	// every value of a log line.
	DefaultMaxMessageBytes = 4 << 10
)

// Bounds of a ScaledObjectRef's names: Kubernetes object names are DNS
// subdomains (253 characters), namespaces DNS labels (63).
const (
	maxNameBytes      = 253
	maxNamespaceBytes = 63
	// maxMetricNameBytes bounds GetMetrics's metricName: ours are derived
	// from metadata values, which the value limit already bounds.
	maxMetricNameBytes = DefaultMaxMetadataValueBytes
)

// Limits bound what one client can make the server hold. Zero fields take
// their defaults.
type Limits struct {
	// MaxMetadataBytes bounds the bytes of one trigger's metadata, keys and
	// values together (default 32 KiB). Bigger metadata is refused with
	// InvalidArgument before anything is built or kept, and the gRPC
	// server's receive limit is derived from it.
	MaxMetadataBytes int
	// MaxMetadataValueBytes bounds one metadata value (default 16 KiB).
	MaxMetadataValueBytes int
	// MaxScalers bounds the scaler instances kept (default 5000). At the
	// limit, the least recently used idle instance is closed to make room;
	// when every one is in use, the call is refused with ResourceExhausted.
	MaxScalers int
	// MaxMessageBytes bounds every status message the server sends and
	// every value of the lines it logs (default 4 KiB); longer ones are
	// cut, saying how long they were.
	MaxMessageBytes int
}

func (l Limits) withDefaults() Limits {
	if l.MaxMetadataBytes <= 0 {
		l.MaxMetadataBytes = DefaultMaxMetadataBytes
	}
	if l.MaxMetadataValueBytes <= 0 {
		l.MaxMetadataValueBytes = DefaultMaxMetadataValueBytes
	}
	if l.MaxScalers <= 0 {
		l.MaxScalers = DefaultMaxScalers
	}
	if l.MaxMessageBytes <= 0 {
		l.MaxMessageBytes = DefaultMaxMessageBytes
	}
	return l
}

// maxRecvMsgBytes is the gRPC receive limit for l: metadata at its limit
// encoded with the most protobuf overhead (a map entry of one-byte keys
// costs about four times its content), plus the names of the request.
func (l Limits) maxRecvMsgBytes() int {
	return 4*l.MaxMetadataBytes + 16<<10
}

// Names of the limits, as the limit label of hpa_requests_refused_total
// and in messages (the flag of the binary has the same name with "--").
const (
	limitMetadataBytes      = "max-metadata-bytes"
	limitMetadataValueBytes = "max-metadata-value-bytes"
	limitScalers            = "max-scalers"
	limitRef                = "scaled-object-ref"
)

var limitNames = []string{limitMetadataBytes, limitMetadataValueBytes, limitScalers, limitRef}

// checkMetadata enforces the metadata limits; the error names the limit,
// the size and the key (cut), never the value.
func (l Limits) checkMetadata(md map[string]string) (limit string, err error) {
	total := 0
	var bigKey string
	bigLen := 0
	for k, v := range md {
		total += len(k) + len(v)
		if len(v) > l.MaxMetadataValueBytes && len(v) > bigLen {
			bigKey, bigLen = k, len(v)
		}
	}
	switch {
	case total > l.MaxMetadataBytes:
		return limitMetadataBytes, &scalers.MetadataError{Errs: []*scalers.FieldError{{
			Key: "metadata", Missing: true,
			Msg: fmt.Sprintf("%d bytes of keys and values, more than the limit of %d (%s)", total, l.MaxMetadataBytes, limitMetadataBytes),
		}}}
	case bigLen > 0:
		return limitMetadataValueBytes, &scalers.MetadataError{Errs: []*scalers.FieldError{{
			Key: truncate(bigKey, maxKeyInMessage), Missing: true,
			Msg: fmt.Sprintf("value of %d bytes, more than the limit of %d (%s)", bigLen, l.MaxMetadataValueBytes, limitMetadataValueBytes),
		}}}
	}
	return "", nil
}

// maxKeyInMessage bounds a metadata key named in a limit error: the key
// itself may be what is too long.
const maxKeyInMessage = 64

// truncate cuts s to at most n bytes (at a character boundary) and says how
// long it was: "abc... (truncated, 1048576 bytes in all)".
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s... (truncated, %d bytes in all)", s[:cut], len(s))
}
