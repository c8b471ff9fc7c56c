package natsjetstream

import (
	"net/url"
	"strings"
	"time"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// Type is the scaler type of this package, as in KEDA.
const Type = "nats-jetstream"

// DefaultLagThreshold is KEDA's default lagThreshold.
const DefaultLagThreshold = 10

// Metadata is the typed trigger metadata, with KEDA's keys and defaults.
type Metadata struct {
	// Endpoint is the host:port of a NATS server's monitoring port
	// (nats-server -m), KEDA's natsServerMonitoringEndpoint; it may carry
	// user:password@ for a proxy in front of it.
	Endpoint string `meta:"natsServerMonitoringEndpoint"`
	// Account is the account's name; AccountID its id. One of them is
	// required; an account matches when its id is AccountID or its name
	// is Account. AccountID defaults to Account, as in KEDA.
	Account   string `meta:"account,optional"`
	AccountID string `meta:"accountID,optional"`
	// Stream and Consumer name the durable consumer of a stream.
	Stream   string `meta:"stream"`
	Consumer string `meta:"consumer"`
	// LagThreshold is the target lag per replica.
	LagThreshold int64 `meta:"lagThreshold,default=10,gt=0"`
	// ActivationLagThreshold: the trigger is active while the lag is
	// above it.
	ActivationLagThreshold int64 `meta:"activationLagThreshold,default=0"`
	// UseHTTPS asks the endpoint over https.
	UseHTTPS bool `meta:"useHttps,default=false"`
	// Timeout is the bound of one fetch the trigger asks for (every
	// request of a cluster's leader search included); a plain number is
	// milliseconds, as the other HTTP scalers' timeout keys. 0 (absent)
	// means the server's default (see scalers.Timeouts). Not a KEDA key.
	Timeout time.Duration `meta:"timeout,unit=ms,min=0,optional"`
	// TLS holds ca, cert, key and unsafeSsl for useHttps (not KEDA keys:
	// KEDA trusts the system's roots only).
	TLS scalers.TLSConfig

	monitoring *url.URL // set by Validate
}

// Validate checks the account keys and the endpoint, and builds the /jsz
// URL.
func (m *Metadata) Validate() error {
	var errs []error
	if m.Account == "" && m.AccountID == "" {
		errs = append(errs, &scalers.FieldError{Key: "account", Missing: true,
			Msg: "required key is missing (set account, the account's name, or accountID)"})
	}
	if m.AccountID == "" {
		m.AccountID = m.Account
	}
	shown := RedactEndpoint(m.Endpoint)
	if strings.ContainsAny(m.Endpoint, "/?#") || strings.ContainsFunc(m.Endpoint, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		errs = append(errs, scalers.NewFieldError("natsServerMonitoringEndpoint", shown,
			"expected host:port of the monitoring port (e.g. nats.nats:8222), without a scheme or path (useHttps chooses https)"))
		return scalers.Invalid(errs...)
	}
	raw := MonitoringURL(m.UseHTTPS, m.Endpoint, m.AccountID)
	if err := scalers.ValidateHTTPURL("natsServerMonitoringEndpoint", raw); err != nil {
		errs = append(errs, scalers.NewFieldError("natsServerMonitoringEndpoint", shown,
			"expected host:port of the monitoring port (e.g. nats.nats:8222)"))
		return scalers.Invalid(errs...)
	}
	u, err := url.Parse(raw)
	if err != nil {
		errs = append(errs, scalers.NewFieldError("natsServerMonitoringEndpoint", shown, "not a host:port"))
		return scalers.Invalid(errs...)
	}
	m.monitoring = u
	return scalers.Invalid(errs...)
}

// RedactEndpoint is the endpoint as errors show it: a password in
// user:password@ hidden.
func RedactEndpoint(ep string) string {
	return strings.TrimPrefix(scalers.RedactURL("http://"+ep), "http://")
}

// MonitoringURL is KEDA's /jsz URL of an endpoint: the account's details
// with its consumers and their configuration,
// scheme://endpoint/jsz?acc=<id>&config=true&consumers=true (the id
// escaped, so that it cannot add parameters).
func MonitoringURL(useHTTPS bool, endpoint, accountID string) string {
	scheme := "http"
	if useHTTPS {
		scheme = "https"
	}
	q := url.Values{}
	q.Set("acc", accountID)
	q.Set("consumers", "true")
	q.Set("config", "true")
	return scheme + "://" + endpoint + "/jsz?" + q.Encode()
}

// normalizer is KEDA's kedautil.NormalizeString.
var normalizer = strings.NewReplacer("/", "-", ".", "-", ":", "-", "%", "-", "(", "-", ")", "-")

// MetricName is KEDA's name of the metric (without the "sN-" prefix KEDA
// adds): "nats-jetstream-" and the stream, with KEDA's normalization.
func MetricName(stream string) string { return normalizer.Replace("nats-jetstream-" + stream) }

// ParseMetadata parses and validates trigger metadata; errors wrap
// scalers.ErrInvalidConfig and name every bad key. Pass a
// scalers.FileAccess to allow <key>File keys (none are without one).
func ParseMetadata(md map[string]string, opts ...scalers.ParseOption) (Metadata, error) {
	var m Metadata
	if err := scalers.ParseMetadata(md, &m, opts...); err != nil {
		return Metadata{}, err
	}
	return m, nil
}
