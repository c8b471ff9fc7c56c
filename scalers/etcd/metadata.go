package etcd

import (
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// Type is the scaler type of this package, as in KEDA.
const Type = "etcd"

// KEDA's values of the tls key, and its default
// watchProgressNotifyInterval (seconds).
const (
	TLSEnable                          = "enable"
	TLSDisable                         = "disable"
	DefaultWatchProgressNotifyInterval = 600
)

// Metadata is the typed trigger metadata, with KEDA's keys and defaults.
type Metadata struct {
	// Endpoints are the cluster's client URLs: host:port, or
	// http(s)://host:port.
	Endpoints []string `meta:"endpoints"`
	// WatchKey is the key whose value is the metric.
	WatchKey string `meta:"watchKey"`
	// Value is the target value per replica.
	Value float64 `meta:"value,gt=0"`
	// ActivationValue: the trigger is active while the value is above it.
	ActivationValue float64 `meta:"activationValue,default=0"`
	// WatchProgressNotifyInterval (seconds): a watch that has had no
	// progress notification for twice this long is started again (the
	// server may be cut off from its cluster).
	WatchProgressNotifyInterval int `meta:"watchProgressNotifyInterval,default=600,gt=0"`
	// Username and Password log in to a cluster with authentication
	// enabled; both or neither.
	Username string         `meta:"username|usernameFromEnv,optional"`
	Password scalers.Secret `meta:"password,secret,optional"`
	// TLS is KEDA's tls key, "enable" or "disable".
	TLS string `meta:"tls,default=disable,enum=enable|disable"`
	// TLSConfig holds ca, cert, key and keyPassword (used with
	// tls=enable) and unsafeSsl (not a KEDA key).
	TLSConfig scalers.TLSConfig
	// Timeout bounds one fetch (a plain number is milliseconds); 0
	// (absent) means the server's default (see scalers.Timeouts). Not a
	// KEDA key: KEDA waits 5 s.
	Timeout time.Duration `meta:"timeout,unit=ms,min=0,optional"`
}

// Validate checks the endpoints, the value's finiteness and that username
// and password come together.
func (m *Metadata) Validate() error {
	var errs []error
	for i, ep := range m.Endpoints {
		if msg := checkEndpoint(ep); msg != "" {
			errs = append(errs, scalers.NewFieldError("endpoints", ep, "item "+strconv.Itoa(i+1)+": "+msg))
		}
	}
	if math.IsInf(m.Value, 0) {
		errs = append(errs, scalers.NewFieldError("value", strconv.FormatFloat(m.Value, 'g', -1, 64), "not a finite number"))
	}
	if math.IsNaN(m.ActivationValue) || math.IsInf(m.ActivationValue, 0) {
		errs = append(errs, scalers.NewFieldError("activationValue", strconv.FormatFloat(m.ActivationValue, 'g', -1, 64), "not a finite number"))
	}
	switch {
	case m.Password.IsSet() && m.Username == "":
		errs = append(errs, &scalers.FieldError{Key: "username", Missing: true, Msg: "required with password: username and password must be given together"})
	case m.Username != "" && !m.Password.IsSet():
		errs = append(errs, &scalers.FieldError{Key: "password", Missing: true, Msg: "required with username: username and password must be given together"})
	}
	return scalers.Invalid(errs...)
}

// checkEndpoint returns what is wrong with an endpoint, or "".
func checkEndpoint(ep string) string {
	hostPort := ep
	if _, rest, ok := strings.Cut(ep, "://"); ok {
		scheme := ep[:strings.Index(ep, "://")]
		if scheme != "http" && scheme != "https" {
			return "expected host:port or http(s)://host:port, the scheme is not http or https"
		}
		hostPort = rest
	}
	if strings.ContainsAny(hostPort, "/?#@") || strings.ContainsFunc(hostPort, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return "expected host:port or http(s)://host:port, without a path, user info or spaces"
	}
	host, port, err := net.SplitHostPort(hostPort)
	if err != nil || host == "" {
		return "expected host:port"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "the port is not a number from 1 to 65535"
	}
	return ""
}

// normalizer is KEDA's kedautil.NormalizeString.
var normalizer = strings.NewReplacer("/", "-", ".", "-", ":", "-", "%", "-", "(", "-", ")", "-")

// MetricName is KEDA's name of the metric (without the "sN-" prefix KEDA
// adds): "etcd-" and the watched key, with KEDA's normalization.
func MetricName(watchKey string) string { return normalizer.Replace("etcd-" + watchKey) }

// ParseMetadata parses and validates trigger metadata; errors wrap
// scalers.ErrInvalidConfig and name every bad key. Pass a
// scalers.FileAccess to allow <key>File keys (passwordFile, caFile...).
func ParseMetadata(md map[string]string, opts ...scalers.ParseOption) (Metadata, error) {
	var m Metadata
	if err := scalers.ParseMetadata(md, &m, opts...); err != nil {
		return Metadata{}, err
	}
	return m, nil
}
