package natsjetstream

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"strings"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// Jsz is the part of a /jsz answer the scaler reads.
type Jsz struct {
	Accounts    []Account   `json:"account_details"`
	MetaCluster MetaCluster `json:"meta_cluster"`
}

// MetaCluster is the JetStream meta group; ClusterSize is 0 or 1 on a
// server outside a cluster.
type MetaCluster struct {
	ClusterSize int `json:"cluster_size"`
}

// Account is one account's JetStream details.
type Account struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Streams []Stream `json:"stream_detail"`
}

// Stream is one stream with its consumers.
type Stream struct {
	Name      string     `json:"name"`
	Consumers []Consumer `json:"consumer_detail"`
}

// Consumer is one consumer's counts and its cluster's leader.
type Consumer struct {
	Name          string          `json:"name"`
	NumPending    int64           `json:"num_pending"`
	NumAckPending int64           `json:"num_ack_pending"`
	Cluster       ConsumerCluster `json:"cluster"`
}

// ConsumerCluster names the server leading the consumer's raft group.
type ConsumerCluster struct {
	Leader string `json:"leader"`
}

// Varz is the part of a /varz answer the leader search reads.
type Varz struct {
	ServerName string `json:"server_name"`
	// ConnectURLs are the client URLs (host:port) the cluster advertises.
	ConnectURLs []string `json:"connect_urls"`
	Cluster     struct {
		// URLs are the cluster routes (host:port), used when nothing is
		// advertised.
		URLs []string `json:"urls"`
	} `json:"cluster"`
}

// ErrAnswer marks an answer that is not the JSON object expected; such
// errors wrap scalers.ErrNoData too.
var ErrAnswer = errors.New("not a NATS monitoring answer")

// noDataError is an error wrapping scalers.ErrNoData (and more) without
// its words in the message.
type noDataError struct {
	err  error
	also error
}

func (e *noDataError) Error() string { return e.err.Error() }
func (e *noDataError) Unwrap() []error {
	if e.also != nil {
		return []error{e.err, e.also, scalers.ErrNoData}
	}
	return []error{e.err, scalers.ErrNoData}
}

// badAnswer is an ErrAnswer error saying why.
func badAnswer(format string, args ...any) error {
	return &noDataError{err: fmt.Errorf("not a NATS monitoring answer: "+format, args...), also: ErrAnswer}
}

// noData wraps err as scalers.ErrNoData.
func noData(err error) error { return &noDataError{err: err} }

// ParseJsz decodes a /jsz answer. Anything but one JSON object (an
// array, null, trailing data, a count that is not a whole number) is an
// error wrapping ErrAnswer, with an excerpt of the answer.
func ParseJsz(body []byte) (Jsz, error) {
	var j Jsz
	if err := decode(body, &j); err != nil {
		return Jsz{}, err
	}
	return j, nil
}

// ParseVarz decodes a /varz answer as ParseJsz does a /jsz one.
func ParseVarz(body []byte) (Varz, error) {
	var v Varz
	if err := decode(body, &v); err != nil {
		return Varz{}, err
	}
	return v, nil
}

func decode(body []byte, dst any) error {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return badAnswer("expected a JSON object, got %s", scalers.Quote(scalers.Excerpt(string(body))))
	}
	d := json.NewDecoder(bytes.NewReader(trimmed))
	if err := d.Decode(dst); err != nil {
		return badAnswer("%s", jsonReason(err))
	}
	if d.More() {
		return badAnswer("data after the JSON object")
	}
	return nil
}

// jsonReason is the decoder's reason without Go type names.
func jsonReason(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %s: %s is not of the expected type", scalers.Quote(te.Field), te.Value)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("invalid JSON at offset %d: %s", se.Offset, se.Error())
	}
	return "invalid JSON: " + err.Error()
}

// Found says how much of the trigger's consumer an answer holds.
type Found int

const (
	// NoAccount: the account is not in the answer (no JetStream in it,
	// or another account).
	NoAccount Found = iota
	// NoStream: the account is, the stream is not.
	NoStream
	// NoConsumer: the stream is, the consumer is not.
	NoConsumer
	// FoundConsumer: the consumer is.
	FoundConsumer
)

// Find returns the trigger's consumer in j: that of the first account
// whose id is md.AccountID or whose name is md.Account (KEDA's rule), in
// its first stream named md.Stream holding it.
func Find(j Jsz, md *Metadata) (Consumer, Found) {
	found := NoAccount
	for _, a := range j.Accounts {
		if a.ID != md.AccountID && a.Name != md.Account {
			continue
		}
		found = max(found, NoStream)
		for _, s := range a.Streams {
			if s.Name != md.Stream {
				continue
			}
			found = max(found, NoConsumer)
			for _, c := range s.Consumers {
				if c.Name == md.Consumer {
					return c, FoundConsumer
				}
			}
		}
	}
	return Consumer{}, found
}

// Lag is KEDA's lag of a consumer: the messages not yet delivered plus
// those delivered and not yet acknowledged. Negative counts (a hostile
// answer) count as 0 and the sum saturates.
func Lag(c Consumer) int64 {
	p, a := max(c.NumPending, 0), max(c.NumAckPending, 0)
	if p > math.MaxInt64-a {
		return math.MaxInt64
	}
	return p + a
}

// notFound words a Found other than FoundConsumer.
func notFound(f Found, md *Metadata) error {
	switch f {
	case NoAccount:
		return fmt.Errorf("account %s not found (no JetStream details for it)", scalers.Quote(accountShown(md)))
	case NoStream:
		return fmt.Errorf("stream %s not found in account %s", scalers.Quote(md.Stream), scalers.Quote(accountShown(md)))
	default:
		return fmt.Errorf("consumer %s not found in stream %s", scalers.Quote(md.Consumer), scalers.Quote(md.Stream))
	}
}

func accountShown(md *Metadata) string {
	if md.Account != "" {
		return md.Account
	}
	return md.AccountID
}

// VarzURL is the /varz URL of the configured monitoring URL's server, or,
// when host is not empty, of that host on the same monitoring port and
// scheme (KEDA's rule: every node's monitoring port is the configured
// one). The user info is kept for the configured host only.
func VarzURL(monitoring *url.URL, host string) string {
	u := url.URL{Scheme: monitoring.Scheme, Host: monitoring.Host, Path: "/varz"}
	if host == "" {
		u.User = monitoring.User
	} else {
		u.Host = withPort(host, monitoring.Port())
	}
	return u.String()
}

// NodeURL is the /jsz URL of host on the monitoring port, with the
// configured query.
func NodeURL(monitoring *url.URL, host string) string {
	u := url.URL{Scheme: monitoring.Scheme, Host: withPort(host, monitoring.Port()), Path: monitoring.Path, RawQuery: monitoring.RawQuery}
	return u.String()
}

// NodeURLByName is the /jsz URL KEDA uses for a node known only by its
// cluster route: the node's name as a sub-domain of the configured host
// (nats-1 and nats.nats:8222 give nats-1.nats.nats:8222), as a headless
// Service of a StatefulSet names its pods.
func NodeURLByName(monitoring *url.URL, node string) string {
	u := url.URL{Scheme: monitoring.Scheme, Host: node + "." + monitoring.Host, Path: monitoring.Path, RawQuery: monitoring.RawQuery}
	return u.String()
}

func withPort(host, port string) string {
	if port == "" {
		return host
	}
	return net.JoinHostPort(host, port)
}

// hostOf is KEDA's host of an advertised URL: what is before the first
// ':' (nats-1.nats.svc:4222 gives nats-1.nats.svc).
func hostOf(advertised string) string {
	h, _, _ := strings.Cut(advertised, ":")
	return h
}

// nodeOf is KEDA's node name of a cluster route: what is before the
// first '.' (nats-1.nats.svc:6222 gives nats-1).
func nodeOf(route string) string {
	n, _, _ := strings.Cut(route, ".")
	return n
}
