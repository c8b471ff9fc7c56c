package natsjetstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// MaxAnswerBytes caps one monitoring answer (a /jsz of an account with
// many streams can be large).
const MaxAnswerBytes = scalers.MaxHTTPAnswerBytes

// MaxNodes caps the nodes one leader search asks: a cluster larger than
// that (or an answer naming more) is searched in its first MaxNodes.
const MaxNodes = 64

// Options are optional dependencies of a Scaler.
type Options struct {
	// Transport replaces the HTTP transport (tests use one that sends a
	// cluster's node names to local servers); nil means a new transport
	// with the TLS settings of the metadata.
	Transport http.RoundTripper
}

// Scaler reads the consumer's lag. It is safe for concurrent use.
// MetricSpecs, Metrics, Value and Close come from scalers.Single: one
// metric, KEDA's "nats-jetstream-<stream>", with lagThreshold as its
// target, active while the lag is above activationLagThreshold.
type Scaler struct {
	*scalers.Single
	md      Metadata
	timeout time.Duration
	client  *http.Client
	red     *scalers.Redactor
	log     *slog.Logger

	mu     sync.Mutex
	leader leaderCache
}

// leaderCache is what a leader search found: the consumer's leader (a
// server name) and that node's /jsz URL. Zero outside a cluster.
type leaderCache struct {
	name, url string
}

var _ scalers.Scaler = (*Scaler)(nil)

// New is the scalers.Factory of the nats-jetstream type. It does no I/O.
func New(ctx context.Context, cfg scalers.Config) (scalers.Scaler, error) {
	s, err := NewWithOptions(ctx, cfg, Options{})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// NewWithOptions is New with explicit dependencies.
func NewWithOptions(_ context.Context, cfg scalers.Config, opts Options) (*Scaler, error) {
	md, err := ParseMetadata(cfg.Metadata, cfg.SecretFiles)
	if err != nil {
		return nil, err
	}
	log := cfg.ScalerLogger(Type)
	if cfg.Timeouts.Capped(md.Timeout) {
		log.Info("timeout above the server's maximum, lowered to it",
			"key", "timeout", "asked", md.Timeout, "max", cfg.Timeouts.WithDefaults().Max)
	}
	src, err := scalers.NewHTTPSource(scalers.HTTPSourceOptions{URL: md.monitoring.String(),
		Auth: &scalers.HTTPAuth{TLS: md.TLS}, Transport: opts.Transport, Logger: log})
	if err != nil {
		return nil, err
	}
	s := &Scaler{
		md:      md,
		timeout: cfg.Timeouts.For(md.Timeout),
		// Redirects are not followed: a monitoring endpoint has none, and
		// one would take the user info elsewhere.
		client: &http.Client{Transport: src.Transport, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}},
		red: src.Redactor,
		log: log,
	}
	s.Single = scalers.NewSingle(scalers.SingleOptions{
		Type:    Type,
		Metric:  scalers.MetricSpec{Name: MetricName(md.Stream), Target: float64(md.LagThreshold)},
		Read:    scalers.ActiveAbove(float64(md.ActivationLagThreshold), s.read),
		Release: src.Close,
		Bound:   s.timeout,
	})
	return s, nil
}

// read returns the consumer's lag, from its leader in a cluster.
func (s *Scaler) read(parent context.Context) (float64, error) {
	ctx, cancel := context.WithTimeout(parent, s.timeout)
	defer cancel()
	c, err := s.consumer(ctx)
	if err != nil {
		if perr := parent.Err(); perr != nil {
			return 0, fmt.Errorf("%s: %w", Type, perr)
		}
		return 0, err
	}
	return float64(Lag(c)), nil
}

// consumer follows KEDA's steps: ask the cached leader (else the
// configured node); outside a cluster, or when the leader it asked is
// still the leader, that answer is the one; otherwise search the cluster
// for the leader.
func (s *Scaler) consumer(ctx context.Context) (Consumer, error) {
	s.mu.Lock()
	cached := s.leader
	s.mu.Unlock()
	first := s.md.monitoring.String()
	if cached.url != "" {
		first = cached.url
	}
	j, err := s.jsz(ctx, first)
	if err != nil && cached.url != "" && ctx.Err() == nil {
		// The cached leader is down or gone (KEDA would keep asking it):
		// forget it and ask the configured node, which knows the new one.
		s.setLeader(leaderCache{})
		cached = leaderCache{}
		first = s.md.monitoring.String()
		j, err = s.jsz(ctx, first)
	}
	if err != nil {
		return Consumer{}, err
	}
	c, found := Find(j, &s.md)
	switch {
	case found == FoundConsumer && cached.name != "" && c.Cluster.Leader == cached.name:
		// The node asked leads the consumer still: its counts are current.
		return c, nil
	case j.MetaCluster.ClusterSize <= 1:
		// A single server (or one outside a cluster) has the only copy.
		s.setLeader(leaderCache{})
		if found != FoundConsumer {
			return Consumer{}, fmt.Errorf("%s: %s: %w", Type, s.shown(first), noData(notFound(found, &s.md)))
		}
		return c, nil
	}
	// In a cluster with no leader known, a leader that moved, or a cached
	// node that no longer has the consumer: forget it and search, since a
	// replica's counts lag its leader's.
	s.setLeader(leaderCache{})
	return s.searchLeader(ctx)
}

func (s *Scaler) setLeader(l leaderCache) {
	s.mu.Lock()
	s.leader = l
	s.mu.Unlock()
}

// searchLeader asks the configured node's /varz for the cluster's nodes
// and each node's /jsz for the consumer, until the node whose server name
// is the consumer's leader is found (KEDA's search: by the advertised
// client URLs when there are any, each node's name read from its /varz;
// else by the cluster routes, the node's name being the first label of
// its route's host and its address that name under the configured host).
func (s *Scaler) searchLeader(ctx context.Context) (Consumer, error) {
	v, err := s.varz(ctx, VarzURL(s.md.monitoring, ""))
	if err != nil {
		return Consumer{}, err
	}
	advertised := len(v.ConnectURLs) > 0
	nodes := v.ConnectURLs
	if !advertised {
		nodes = v.Cluster.URLs
	}
	if len(nodes) > MaxNodes {
		nodes = nodes[:MaxNodes]
	}
	// A node that fails is passed over (a replica down must not hide the
	// leader; KEDA gives up at the first), unless the call is out of time.
	var failed error
	for _, n := range nodes {
		var name, jszURL string
		if advertised {
			host := hostOf(n)
			nv, err := s.varz(ctx, VarzURL(s.md.monitoring, host))
			if err != nil {
				if ctx.Err() != nil {
					return Consumer{}, err
				}
				failed = err
				continue
			}
			name, jszURL = nv.ServerName, NodeURL(s.md.monitoring, host)
		} else {
			name = nodeOf(n)
			jszURL = NodeURLByName(s.md.monitoring, name)
		}
		j, err := s.jsz(ctx, jszURL)
		if err != nil {
			if ctx.Err() != nil {
				return Consumer{}, err
			}
			failed = err
			continue
		}
		if c, found := Find(j, &s.md); found == FoundConsumer && name != "" && name == c.Cluster.Leader {
			s.setLeader(leaderCache{name: name, url: jszURL})
			return c, nil
		}
	}
	notFound := fmt.Sprintf("%s: leader node not found for consumer %s (asked %d nodes)", s.shown(s.md.monitoring.String()),
		scalers.Quote(s.md.Consumer), len(nodes))
	if failed != nil {
		// Perhaps the leader is the node that failed.
		return Consumer{}, scalers.Unavailable(Type, errors.New(notFound+"; last failure: "+strings.TrimPrefix(failed.Error(), Type+": ")))
	}
	return Consumer{}, fmt.Errorf("%s: %w", Type, noData(errors.New(notFound)))
}

func (s *Scaler) jsz(ctx context.Context, raw string) (Jsz, error) {
	body, err := s.get(ctx, raw)
	if err != nil {
		return Jsz{}, err
	}
	j, err := ParseJsz(body)
	if err != nil {
		return Jsz{}, s.red.Error(fmt.Errorf("%s: %s: %w", Type, s.shown(raw), err))
	}
	return j, nil
}

func (s *Scaler) varz(ctx context.Context, raw string) (Varz, error) {
	body, err := s.get(ctx, raw)
	if err != nil {
		return Varz{}, err
	}
	v, err := ParseVarz(body)
	if err != nil {
		return Varz{}, s.red.Error(fmt.Errorf("%s: %s: %w", Type, s.shown(raw), err))
	}
	return v, nil
}

// shown is a URL as errors name it: scheme://host/path, without user info
// or query.
func (s *Scaler) shown(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return s.red.String((&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String())
}

// get GETs raw and returns the body of a 200 answer.
func (s *Scaler) get(ctx context.Context, raw string) ([]byte, error) {
	ctx, progress := scalers.TraceHTTP(ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		return nil, scalers.Unavailable(Type, fmt.Errorf("%s: %s", s.shown(raw), "cannot build the request"))
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, s.fetchError(ctx, raw, err, progress)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil, scalers.Unavailable(Type, s.red.Error(fmt.Errorf("%s: status %s, want 200", s.shown(raw), scalers.Excerpt(s.red.String(resp.Status)))))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxAnswerBytes+1))
	if err != nil {
		return nil, s.fetchError(ctx, raw, err, progress)
	}
	if len(body) > MaxAnswerBytes {
		return nil, scalers.Unavailable(Type, fmt.Errorf("%s: answer larger than %d MiB", s.shown(raw), MaxAnswerBytes>>20))
	}
	return body, nil
}

// fetchError words a failed exchange as the source being unavailable;
// the URL (with its user info) stays out of the message.
func (s *Scaler) fetchError(ctx context.Context, raw string, err error, progress *scalers.HTTPProgress) error {
	if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
		return scalers.Unavailable(Type, fmt.Errorf("%s: no answer within %s (timeout %s)", s.shown(raw), s.timeout, progress.Stage()))
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return scalers.Unavailable(Type, s.red.Error(fmt.Errorf("%s: %w", s.shown(raw), err)))
}
