package prometheus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"golang.org/x/net/http/httpguts"
	"k8s.io/utils/clock"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// Type is the scaler type of this package, as in KEDA.
const Type = "prometheus"

// DefaultTimeout and MaxAnswerBytes are those of every HTTP source. A
// trigger without a timeout key is bounded by the server's default
// (scalers.Config.Timeouts), which is DefaultTimeout unless the server
// says otherwise.
const (
	DefaultTimeout = scalers.DefaultHTTPTimeout
	MaxAnswerBytes = scalers.MaxHTTPAnswerBytes
)

// Metadata is the typed trigger metadata, with KEDA's keys and defaults.
type Metadata struct {
	// ServerAddress is the base URL of the Prometheus HTTP API (the part
	// before /api/v1/query).
	ServerAddress string `meta:"serverAddress"`
	// Query is the PromQL expression.
	Query string `meta:"query"`
	// QueryParameters are added to the query string of every request
	// ("k1=v1,k2=v2"), e.g. Thanos's dedup=true. Their values may carry
	// credentials: errors never show them.
	QueryParameters map[string]string `meta:"queryParameters,optional,hide"`
	// Threshold is the target value per replica.
	Threshold float64 `meta:"threshold,gt=0"`
	// ActivationThreshold: the trigger is active while the value is above it.
	ActivationThreshold float64 `meta:"activationThreshold,default=0"`
	// Namespace is sent as the namespace query parameter, which tenancy
	// proxies in front of Thanos Querier (kube-rbac-proxy,
	// prom-label-proxy) use to restrict the query.
	Namespace string `meta:"namespace,optional"`
	// CustomHeaders are added to every request ("k1=v1,k2=v2"), e.g.
	// X-Scope-OrgID for Cortex and Mimir tenants. Their values may carry
	// credentials: errors name a header, never show a value.
	CustomHeaders map[string]string `meta:"customHeaders,optional,hide"`
	// IgnoreNullValues turns an empty answer, NaN and ±Inf into 0; when
	// false they are errors.
	IgnoreNullValues bool `meta:"ignoreNullValues,default=true"`
	// Timeout is the bound of one query the trigger asks for (the token
	// request of authModes oauth included); a plain number is
	// milliseconds, as in KEDA. 0 (absent) means the server's default; a
	// value above the server's maximum is lowered to it (see
	// scalers.Timeouts).
	Timeout time.Duration `meta:"timeout,unit=ms,min=0,optional"`
	// Auth holds authModes (basic, bearer, tls, custom, oauth) and their
	// credentials, plus ca and unsafeSsl.
	Auth scalers.HTTPAuth

	limits scalers.Limits
}

// Supported authentication modes: KEDA's prometheus scaler implements
// these (it accepts apiKey too, and sends nothing).
var authModes = []string{scalers.AuthModeBasic, scalers.AuthModeBearer, scalers.AuthModeTLS, scalers.AuthModeCustom, scalers.AuthModeOAuth}

// reservedParams are set by the client for every query.
var reservedParams = []string{"query", "time"}

// Validate checks relations ParseMetadata cannot express, and everything
// net/http would refuse at the first query (see scalers.ValidateHTTPURL),
// so that a bad trigger is refused when it is parsed. Errors about
// queryParameters and customHeaders name a parameter or a header, never a
// value.
func (m *Metadata) Validate() error {
	var errs []error
	if err := scalers.ValidateHTTPURL("serverAddress", m.ServerAddress); err != nil {
		errs = append(errs, err)
	}
	hidden := func(key, msg string) error { return &scalers.FieldError{Key: key, Secret: true, Msg: msg} }
	if fe := m.limits.CheckList("queryParameters", len(m.QueryParameters)); fe != nil {
		errs = append(errs, fe)
	} else {
		for _, k := range slices.Sorted(maps.Keys(m.QueryParameters)) {
			if slices.Contains(reservedParams, k) {
				errs = append(errs, hidden("queryParameters", "parameter "+scalers.Quote(k)+" is set by the scaler and cannot be overridden"))
			}
		}
	}
	if fe := m.limits.CheckList("customHeaders", len(m.CustomHeaders)); fe != nil {
		errs = append(errs, fe)
	} else {
		for _, k := range slices.Sorted(maps.Keys(m.CustomHeaders)) {
			if !httpguts.ValidHeaderFieldName(k) {
				errs = append(errs, hidden("customHeaders", scalers.Quote(k)+" is not a valid HTTP header name"))
			} else if !httpguts.ValidHeaderFieldValue(m.CustomHeaders[k]) {
				errs = append(errs, hidden("customHeaders", "the value of "+scalers.Quote(k)+" is not a valid HTTP header value (control characters such as CR and LF cannot be sent)"))
			}
		}
	}
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
	// Clock gives the evaluation time of every query; nil means the real
	// clock.
	Clock clock.PassiveClock
	// Transport replaces the HTTP transport (tests and fuzzing use an
	// in-memory one); nil means a new transport with the TLS settings of
	// the metadata.
	Transport http.RoundTripper
}

// Scaler queries Prometheus. It is safe for concurrent use. MetricSpecs,
// Metrics, Value and Close come from scalers.Single: one metric,
// "prometheus", with threshold as its target, active while the value is
// above activationThreshold.
type Scaler struct {
	*scalers.Single
	md      Metadata
	timeout time.Duration // the bound of one query
	api     v1.API
	clock   clock.PassiveClock
	log     *slog.Logger
	red     *scalers.Redactor
	server  string // redacted serverAddress for messages
}

var _ scalers.Scaler = (*Scaler)(nil)

// New is the scalers.Factory of the prometheus type. It does no I/O.
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
	params := url.Values{}
	for k, v := range md.QueryParameters {
		params.Set(k, v)
	}
	if md.Namespace != "" {
		params.Set("namespace", md.Namespace)
	}
	clk := opts.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	log := cfg.ScalerLogger(Type)
	if cfg.Timeouts.Capped(md.Timeout) {
		log.Info("timeout above the server's maximum, lowered to it",
			"key", "timeout", "asked", md.Timeout, "max", cfg.Timeouts.WithDefaults().Max)
	}
	src, err := scalers.NewHTTPSource(scalers.HTTPSourceOptions{
		URL:       md.ServerAddress,
		Auth:      &md.Auth,
		Transport: opts.Transport,
		Edit:      func(r *http.Request) { addParamsAndHeaders(r, params, md.CustomHeaders) },
		Clock:     clk,
		Logger:    log,
	})
	if err != nil {
		return nil, err
	}
	red := src.Redactor
	// A header or parameter value long enough to be a token is hidden in
	// what the server answers, as a credential would be.
	for _, m := range []map[string]string{md.CustomHeaders, md.QueryParameters} {
		red.AddLongValues(slices.Collect(maps.Values(m))...)
	}
	rt := &limitAnswers{next: src.Transport}
	client, err := api.NewClient(api.Config{Address: md.ServerAddress, Client: &http.Client{Transport: rt}})
	if err != nil {
		return nil, red.Error(scalers.Invalid(scalers.NewFieldError("serverAddress", scalers.RedactURL(md.ServerAddress), err.Error())))
	}
	s := &Scaler{
		md:      md,
		timeout: cfg.Timeouts.For(md.Timeout),
		api:     v1.NewAPI(client),
		clock:   clk,
		log:     log,
		red:     red,
		server:  scalers.RedactURL(md.ServerAddress),
	}
	s.Single = scalers.NewSingle(scalers.SingleOptions{
		Type:    Type,
		Metric:  scalers.MetricSpec{Name: scalers.MetricName(Type), Target: md.Threshold},
		Read:    scalers.ActiveAbove(md.ActivationThreshold, s.query),
		Release: src.Close,
		Bound:   s.timeout,
	})
	return s, nil
}

// query runs the query at the clock's now and returns its single value.
// Everything it sends (the query, a retry with GET, the token request of
// authModes oauth) is bounded by s.timeout together.
func (s *Scaler) query(ctx context.Context) (float64, error) {
	qctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	qctx, progress := scalers.TraceHTTP(qctx)
	res, warnings, _, err := s.api.Query(qctx, s.md.Query, s.clock.Now())
	if err != nil {
		return 0, s.queryError(ctx, err, progress)
	}
	if len(warnings) > 0 {
		s.log.DebugContext(ctx, "prometheus query warnings", "count", len(warnings),
			"warnings", scalers.Excerpt(s.red.String(strings.Join(warnings, "; "))))
	}
	v, err := SampleValue(res, s.md.IgnoreNullValues)
	if err != nil {
		return 0, s.red.Error(fmt.Errorf("prometheus query %s: %w", scalers.Quote(s.md.Query), err))
	}
	return v, nil
}

// queryError turns a failed exchange into an error for the caller: the
// caller's own cancellation as is, a query the server rejects as invalid
// configuration, anything else as the source being unavailable. Messages
// name the server (without credentials) and never carry a secret.
func (s *Scaler) queryError(parent context.Context, err error, progress *scalers.HTTPProgress) error {
	if perr := parent.Err(); perr != nil {
		return fmt.Errorf("prometheus query: %w", perr)
	}
	var apiErr *v1.Error
	var tokErr *scalers.TokenError
	var cause error
	switch {
	case errors.As(err, &tokErr):
		// Before the deadline case: a token request that ran out of time
		// is said so, with the token endpoint's name.
		cause = fmt.Errorf("%s: %w", s.server, tokErr)
	case errors.Is(err, context.DeadlineExceeded):
		cause = fmt.Errorf("%s: no answer within %s (timeout %s)", s.server, s.timeout, progress.Stage())
	case errors.Is(err, errAnswerTooLarge):
		cause = fmt.Errorf("%s: answer larger than %d MiB", s.server, MaxAnswerBytes>>20)
	case errors.As(err, &apiErr) && apiErr.Type == v1.ErrBadData:
		// The server parsed the request and refused it: the query (or a
		// query parameter) is wrong, and retrying cannot help.
		return s.red.Error(scalers.Invalid(scalers.NewFieldError("query", s.md.Query,
			"rejected by "+s.server+": "+scalers.Excerpt(s.red.String(apiErr.Msg)))))
	case errors.As(err, &apiErr):
		cause = fmt.Errorf("%s: %s", s.server, describeAPIError(apiErr, s.red))
	default:
		var ue *url.Error
		if errors.As(err, &ue) {
			// The url.Error would repeat the request URL, query
			// parameters included; the server name is enough.
			err = ue.Err
		}
		cause = fmt.Errorf("%s: %w", s.server, err)
	}
	return scalers.Unavailable("prometheus query", s.red.Error(cause))
}

// describeAPIError words a client_golang error. The body of a non-API
// error answer is left out: a proxy may echo the request, credentials
// included (even base64-encoded, which no redactor would find).
func describeAPIError(e *v1.Error, red *scalers.Redactor) string {
	// Redacted before it is cut: a secret cut in two is not found.
	msg := scalers.Excerpt(red.String(e.Msg))
	switch e.Type {
	case v1.ErrBadResponse:
		return "malformed answer: " + msg
	case v1.ErrExec, v1.ErrTimeout, v1.ErrCanceled:
		return "query failed on the server (" + scalers.Excerpt(red.String(string(e.Type))) + "): " + msg
	}
	return msg
}
