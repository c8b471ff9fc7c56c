package metricsapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// Type is the scaler type of this package, as in KEDA.
const Type = "metrics-api"

// DefaultTimeout and MaxAnswerBytes are those of every HTTP source.
const (
	DefaultTimeout = scalers.DefaultHTTPTimeout
	MaxAnswerBytes = scalers.MaxHTTPAnswerBytes
)

// Metadata is the typed trigger metadata, with KEDA's keys and defaults.
type Metadata struct {
	// URL is fetched with GET on every poll.
	URL string `meta:"url"`
	// ValueLocation says where the number is in the answer; its syntax
	// depends on Format.
	ValueLocation string `meta:"valueLocation"`
	// TargetValue is the target value per replica.
	TargetValue float64 `meta:"targetValue,gt=0"`
	// ActivationTargetValue: the trigger is active while the value is
	// above it.
	ActivationTargetValue float64 `meta:"activationTargetValue,default=0"`
	// Format of the answer: json, yaml, xml or prometheus.
	Format string `meta:"format,default=json,enum=prometheus|json|xml|yaml"`
	// Timeout is the bound of one request the trigger asks for (the whole
	// answer included); a plain number is milliseconds, as in KEDA. 0
	// (absent) means the server's default (KEDA's 3000 ms unless the
	// server says otherwise); a value above the server's maximum is
	// lowered to it (see scalers.Timeouts).
	Timeout time.Duration `meta:"timeout,unit=ms,min=0,optional"`
	// AggregateFromKubeServiceEndpoints asks KEDA to query every endpoint
	// of a Service; it needs the Kubernetes API and is refused here.
	AggregateFromKubeServiceEndpoints bool   `meta:"aggregateFromKubeServiceEndpoints,default=false"`
	AggregationType                   string `meta:"aggregationType,default=average,enum=average|sum|max|min"`
	// Auth holds authModes (basic, bearer, apiKey, tls and custom) and
	// their credentials, plus ca and unsafeSsl.
	Auth scalers.HTTPAuth

	loc    locator
	limits scalers.Limits
}

// Supported authentication modes. KEDA 2.21's metrics-api scaler allows
// apiKey, basic, tls and bearer, and rejects custom and oauth. Here oauth
// is rejected as well; custom is accepted and its header sent, an
// extension of KEDA's vocabulary that no KEDA trigger can depend on.
var authModes = []string{scalers.AuthModeBasic, scalers.AuthModeBearer, scalers.AuthModeAPIKey, scalers.AuthModeTLS, scalers.AuthModeCustom}

// Validate checks relations ParseMetadata cannot express and compiles
// valueLocation.
func (m *Metadata) Validate() error {
	var errs []error
	if err := scalers.ValidateHTTPURL("url", m.URL); err != nil {
		errs = append(errs, err)
	}
	if m.AggregateFromKubeServiceEndpoints {
		errs = append(errs, scalers.NewFieldError("aggregateFromKubeServiceEndpoints", "true",
			"not supported by the external scaler (it would need the Kubernetes API); point url at a single endpoint or aggregate in the source"))
	}
	loc, err := compileLocation(m.Format, m.ValueLocation)
	if err != nil {
		errs = append(errs, scalers.NewFieldError("valueLocation", m.ValueLocation, err.Error()+" (format "+m.Format+")"))
	}
	m.loc = loc
	return scalers.Invalid(errs...)
}

// ParseMetadata parses and validates trigger metadata, with the default
// scalers.Limits; errors wrap scalers.ErrInvalidConfig and name every bad
// key. A Timeout of 0 means the trigger has none (the server's default
// applies). Pass a scalers.FileAccess to allow <key>File keys (none are
// without one).
func ParseMetadata(md map[string]string, opts ...scalers.ParseOption) (Metadata, error) {
	return parse(md, scalers.Limits{}, opts...)
}

func parse(md map[string]string, lim scalers.Limits, opts ...scalers.ParseOption) (Metadata, error) {
	m := Metadata{limits: lim}
	m.Auth.Allow(Type, authModes...)
	m.Auth.SetLimits(lim)
	if err := scalers.ParseMetadata(md, &m, opts...); err != nil {
		return Metadata{}, err
	}
	return m, nil
}

// Options are optional dependencies of a Scaler.
type Options struct {
	// Transport replaces the HTTP transport (tests and fuzzing use an
	// in-memory one); nil means a new transport with the TLS settings of
	// the metadata.
	Transport http.RoundTripper
}

// Scaler fetches the URL and reads the value. It is safe for concurrent
// use. MetricSpecs, Metrics, Value and Close come from scalers.Single: one
// metric, named after valueLocation as KEDA names it, with targetValue as
// its target, active while the value is above activationTargetValue.
type Scaler struct {
	*scalers.Single
	md      Metadata
	timeout time.Duration // the bound of one request
	client  *http.Client
	red     *scalers.Redactor
	target  string // scheme://host/path, for messages
}

var _ scalers.Scaler = (*Scaler)(nil)

// New is the scalers.Factory of the metrics-api type. It does no I/O.
func New(ctx context.Context, cfg scalers.Config) (scalers.Scaler, error) {
	s, err := NewWithOptions(ctx, cfg, Options{})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// NewWithOptions is New with explicit dependencies.
func NewWithOptions(_ context.Context, cfg scalers.Config, opts Options) (*Scaler, error) {
	md, err := parse(cfg.Metadata, cfg.Limits, cfg.SecretFiles)
	if err != nil {
		return nil, err
	}
	log := cfg.ScalerLogger(Type)
	if cfg.Timeouts.Capped(md.Timeout) {
		log.Info("timeout above the server's maximum, lowered to it",
			"key", "timeout", "asked", md.Timeout, "max", cfg.Timeouts.WithDefaults().Max)
	}
	src, err := scalers.NewHTTPSource(scalers.HTTPSourceOptions{URL: md.URL, Auth: &md.Auth, Transport: opts.Transport,
		Logger: log})
	if err != nil {
		return nil, err
	}
	u, _ := url.Parse(md.URL) // validated by ParseMetadata
	s := &Scaler{
		md:      md,
		timeout: cfg.Timeouts.For(md.Timeout),
		client:  &http.Client{Transport: src.Transport},
		red:     src.Redactor,
		// An '@' in the path may be a password's (see scalers.RedactURL).
		target: scalers.RedactURL((&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()),
	}
	s.Single = scalers.NewSingle(scalers.SingleOptions{
		Type:    Type,
		Metric:  scalers.MetricSpec{Name: scalers.MetricName("metric-api", md.ValueLocation), Target: md.TargetValue},
		Read:    scalers.ActiveAbove(md.ActivationTargetValue, s.read),
		Release: src.Close,
		Bound:   s.timeout,
	})
	return s, nil
}

// read fetches the URL and returns the number at valueLocation.
func (s *Scaler) read(ctx context.Context) (float64, error) {
	body, err := s.fetch(ctx)
	if err != nil {
		return 0, err
	}
	v, err := s.md.loc.value(body)
	if err != nil {
		return 0, s.red.Error(fmt.Errorf("metrics-api: %s: %w", s.target, err))
	}
	return v, nil
}

// fetch GETs the URL and returns the body of a 200 answer, all of it
// (redirects and the whole body included) within s.timeout.
func (s *Scaler) fetch(parent context.Context) ([]byte, error) {
	ctx, cancel := context.WithTimeout(parent, s.timeout)
	defer cancel()
	ctx, progress := scalers.TraceHTTP(ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.md.URL, nil)
	if err != nil {
		return nil, s.red.Error(scalers.Invalid(scalers.NewFieldError("url", scalers.RedactURL(s.md.URL), err.Error())))
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, s.fetchError(parent, err, progress)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// Read a little so the connection can be reused; the body itself
		// stays out of the error (a proxy may echo credentials).
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil, scalers.Unavailable("metrics-api", s.red.Error(fmt.Errorf("%s: status %s, want 200", s.target, scalers.Excerpt(s.red.String(resp.Status)))))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxAnswerBytes+1))
	if err != nil {
		return nil, s.fetchError(parent, err, progress)
	}
	if len(body) > MaxAnswerBytes {
		return nil, scalers.Unavailable("metrics-api", fmt.Errorf("%s: answer larger than %d MiB", s.target, MaxAnswerBytes>>20))
	}
	return body, nil
}

// fetchError words a failed exchange: the caller's own cancellation as is,
// everything else as the source being unavailable. The request URL (which
// may carry an API key) stays out of the message.
func (s *Scaler) fetchError(parent context.Context, err error, progress *scalers.HTTPProgress) error {
	if perr := parent.Err(); perr != nil {
		return fmt.Errorf("metrics-api: %w", perr)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return scalers.Unavailable("metrics-api", fmt.Errorf("%s: no answer within %s (timeout %s)", s.target, s.timeout, progress.Stage()))
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return scalers.Unavailable("metrics-api", s.red.Error(fmt.Errorf("%s: %w", s.target, err)))
}
