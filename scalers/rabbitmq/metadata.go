package rabbitmq

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"regexp/syntax"
	"strconv"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// Modes (metadata key mode). Every mode but QueueLength needs the
// management API (protocol http).
const (
	ModeQueueLength                  = "QueueLength"
	ModeMessageRate                  = "MessageRate"
	ModeDeliverGetRate               = "DeliverGetRate"
	ModePublishedToDeliveredRatio    = "PublishedToDeliveredRatio"
	ModeExpectedQueueConsumptionTime = "ExpectedQueueConsumptionTime"
)

// Protocols (metadata key protocol); "auto" picks one from the host URL's
// scheme.
const (
	ProtocolAuto = "auto"
	ProtocolAMQP = "amqp"
	ProtocolHTTP = "http"
)

// Operations over the queues a regular expression matches.
const (
	OperationSum = "sum"
	OperationMax = "max"
	OperationAvg = "avg"
)

const (
	// DefaultValue is the target when neither mode/value nor queueLength is
	// given (KEDA's default queue length).
	DefaultValue = 20
	// MaxPageSize is the largest page the management API serves: it
	// answers a larger page_size with 400 invalid_pagination_parameters.
	MaxPageSize = 500
	// MaxNameBytes bounds queue and (for AMQP) vhost names: RabbitMQ's
	// limit, and what AMQP's short strings (queue.declare,
	// connection.open) carry.
	MaxNameBytes = 255
	// MaxRequestURIBytes bounds the management API request's path and
	// query: the API (cowboy) answers a longer request line with 414.
	MaxRequestURIBytes = 8000
)

// Metadata is the trigger configuration, with KEDA's keys. Build it with
// ParseMetadata; the unexported fields hold what Validate resolved.
type Metadata struct {
	// Host is the broker URL: amqp[s]://user:pass@host:5672/vhost or
	// http[s]://user:pass@host:15672/[path/]vhost (the management API).
	Host     scalers.Secret `meta:"host,secret"`
	Protocol string         `meta:"protocol,default=auto,enum=auto|amqp|http"`
	// QueueName is a queue name, or a regular expression when UseRegex.
	QueueName string `meta:"queueName"`
	// Mode and Value: what is measured and its target per replica. Both
	// absent (and QueueLength absent) means QueueLength 20. A value of 0
	// counts as absent, as in KEDA.
	Mode  string  `meta:"mode,optional,enum=QueueLength|MessageRate|DeliverGetRate|PublishedToDeliveredRatio|ExpectedQueueConsumptionTime"`
	Value float64 `meta:"value,optional"`
	// QueueLength is the deprecated form of mode QueueLength + value.
	QueueLength     float64 `meta:"queueLength,optional"`
	ActivationValue float64 `meta:"activationValue,optional"`
	// VhostName overrides the vhost of the host URL.
	VhostName             string `meta:"vhostName,optional"`
	UseRegex              bool   `meta:"useRegex,optional"`
	Operation             string `meta:"operation,default=sum,enum=sum|max|avg"`
	PageSize              int64  `meta:"pageSize,default=100,min=1"`
	ExcludeUnacknowledged bool   `meta:"excludeUnacknowledged,optional"`
	// Timeout bounds each fetch, over either protocol (connecting
	// included); 0 means the server's default source timeout, and a
	// larger one than the server's maximum is lowered to it (see
	// scalers.Timeouts).
	Timeout time.Duration `meta:"timeout,optional,unit=ms,min=0"`

	// Username and Password override the credentials of the host URL.
	Username scalers.Secret `meta:"username,secret,optional"`
	Password scalers.Secret `meta:"password,secret,optional"`

	// TLS ("enable" or "disable") turns on ca, cert, key and keyPassword.
	TLS string `meta:"tls,default=disable,enum=enable|disable"`
	scalers.TLSConfig

	// AuthModes optionally names the authentication in use: oauth, basic
	// or tls.
	AuthModes []string `meta:"authModes|authMode,optional"`
	// OAuth2 client credentials (management API only).
	OAuthTokenURI  string         `meta:"oauthTokenURI,optional"`
	ClientID       string         `meta:"clientID,optional"`
	ClientSecret   scalers.Secret `meta:"clientSecret,secret,optional"`
	Scopes         []string       `meta:"scopes|scope,optional"`
	EndpointParams string         `meta:"endpointParams,optional"`
	// WorkloadIdentityResource is KEDA's Azure Workload Identity; it needs
	// the pod identity KEDA does not hand to external scalers, so it is
	// rejected with an explanation.
	WorkloadIdentityResource string `meta:"workloadIdentityResource,optional"`

	protocol       string // amqp or http
	mode           string
	value          float64
	oauth          bool
	endpointParams url.Values
	tlsConfig      *tls.Config // nil unless tls=enable
	// regexWarning says why queueName may not be the expression the user
	// meant (a feature Go's syntax lacks); New logs it.
	regexWarning string
	// tlsWarning says why tls=enable has no effect; New logs it.
	tlsWarning string
	limits     scalers.Limits
	// files is the rule for <key>File keys, which the files an amqps
	// host URI names (cacertfile, certfile, keyfile) follow too.
	files scalers.FileAccess
}

// ParseMetadata parses and checks trigger metadata, with limits bounding
// its lists. Every problem is reported at once in a
// *scalers.MetadataError that wraps scalers.ErrInvalidConfig; secret
// values never appear in it. Files (<key>File keys, and those of the host
// URI) are read only if a scalers.FileAccess in opts allows them.
func ParseMetadata(md map[string]string, limits scalers.Limits, opts ...scalers.ParseOption) (*Metadata, error) {
	m := &Metadata{limits: limits, files: scalers.FileAccessOf(opts...)}
	if err := scalers.ParseMetadata(md, m, opts...); err != nil {
		return nil, err
	}
	return m, nil
}

// ResolvedProtocol is "amqp" or "http".
func (m *Metadata) ResolvedProtocol() string { return m.protocol }

// ResolvedMode is the mode in effect (QueueLength when none was given).
func (m *Metadata) ResolvedMode() string { return m.mode }

// Target is the target value per replica in effect.
func (m *Metadata) Target() float64 { return m.value }

var httpOnlyModes = map[string]bool{
	ModeMessageRate:                  true,
	ModeDeliverGetRate:               true,
	ModePublishedToDeliveredRatio:    true,
	ModeExpectedQueueConsumptionTime: true,
}

// Validate checks the relations between keys, as KEDA's rabbitmq scaler
// does, and resolves protocol, mode and value. It is called by
// scalers.ParseMetadata once every key parsed.
func (m *Metadata) Validate() error {
	var errs []error
	add := func(key, value, msg string) { errs = append(errs, scalers.NewFieldError(key, value, msg)) }

	// Lists over the limit are refused before their items are checked:
	// 5,000 unknown authModes make one error, not 5,000.
	listOK := true
	for _, l := range []struct {
		key string
		n   int
	}{{"authModes", len(m.AuthModes)}, {"scopes", len(m.Scopes)}} {
		if fe := m.limits.CheckList(l.key, l.n); fe != nil {
			errs = append(errs, fe)
			listOK = false
		}
	}

	m.protocol = m.Protocol
	if err := m.checkHost(); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, m.checkQueueName()...)

	// Trigger: mode/value, or the deprecated queueLength, or neither.
	switch {
	case m.Value < 0:
		add("value", fmtFloat(m.Value), "must be > 0")
	case m.QueueLength < 0:
		add("queueLength", fmtFloat(m.QueueLength), "must be > 0")
	case m.QueueLength == 0 && m.Mode == "" && m.Value == 0:
		m.mode, m.value = ModeQueueLength, DefaultValue
	case m.QueueLength != 0 && (m.Mode != "" || m.Value != 0):
		add("queueLength", fmtFloat(m.QueueLength), "is deprecated and cannot be combined with mode or value; use mode and value only")
	case m.QueueLength != 0:
		m.mode, m.value = ModeQueueLength, m.QueueLength
	case m.Mode == "":
		errs = append(errs, &scalers.FieldError{Key: "mode", Missing: true,
			Msg: "required when value is given (one of QueueLength, MessageRate, DeliverGetRate, PublishedToDeliveredRatio, ExpectedQueueConsumptionTime)"})
	case m.Value == 0:
		errs = append(errs, &scalers.FieldError{Key: "value", Missing: true, Msg: "required (and not 0) when mode is given"})
	default:
		m.mode, m.value = m.Mode, m.Value
		if httpOnlyModes[m.Mode] && m.protocol == ProtocolAMQP {
			add("mode", m.Mode, "needs the management API (an http:// or https:// host or protocol http), the protocol is amqp")
		}
		// KEDA rejects a timeout with AMQP only in this mode/value form
		// (in the other forms it ignores it); we do the same so that every
		// trigger KEDA accepts is accepted here.
		if m.protocol == ProtocolAMQP && m.Timeout != 0 {
			add("timeout", m.Timeout.String(), "not supported with protocol amqp")
		}
	}

	if m.UseRegex && m.PageSize > MaxPageSize {
		add("pageSize", strconv.FormatInt(m.PageSize, 10),
			fmt.Sprintf("must be <= %d (the management API serves at most %d queues a page)", MaxPageSize, MaxPageSize))
	}

	if m.protocol == ProtocolAMQP {
		if m.UseRegex {
			add("useRegex", "true", "only supported with protocol http (the management API), the protocol is amqp")
		}
		if m.ExcludeUnacknowledged {
			add("excludeUnacknowledged", "true", "only supported with protocol http (the management API), the protocol is amqp")
		}
	}

	if m.Username.IsSet() != m.Password.IsSet() {
		missing := "password"
		if !m.Username.IsSet() {
			missing = "username"
		}
		errs = append(errs, &scalers.FieldError{Key: missing, Missing: true, Msg: "username and password must be given together"})
	}

	if listOK {
		errs = append(errs, m.checkAuth()...)
	}

	if m.WorkloadIdentityResource != "" {
		add("workloadIdentityResource", m.WorkloadIdentityResource,
			"Azure Workload Identity is not available to an external scaler (KEDA does not pass the pod identity); use username/password or OAuth2 (oauthTokenURI, clientID, clientSecret)")
	}

	if m.TLS == "enable" {
		if err := m.checkTLSUsed(); err != nil {
			errs = append(errs, err)
		}
		cfg, err := m.TLSConfig.Build()
		if err != nil {
			errs = append(errs, err)
		} else {
			m.tlsConfig = cfg
		}
	}
	return scalers.Invalid(errs...)
}

// checkHost parses the host URL and resolves the protocol. The URL holds
// credentials, so the errors never quote it; they quote the parts that are
// no secret (scheme, port).
func (m *Metadata) checkHost() error {
	raw, err := m.Host.Value()
	if err != nil {
		return m.Host.ReadError("host", err)
	}
	hostErr := func(msg string) error {
		return &scalers.FieldError{Key: "host", Secret: true, Msg: msg}
	}
	raw = strings.TrimSpace(raw)
	u, err := url.Parse(raw)
	if err != nil {
		return hostErr("not a valid URL (expected amqp[s]://user:password@host:port/vhost or http[s]://user:password@host:port/vhost)")
	}
	var schemeProto string
	switch strings.ToLower(u.Scheme) {
	case "amqp", "amqps":
		schemeProto = ProtocolAMQP
	case "http", "https":
		schemeProto = ProtocolHTTP
	case "":
		return hostErr("URL has no scheme: expected amqp://, amqps://, http:// or https://")
	default:
		return hostErr(fmt.Sprintf("unknown URL scheme %q: expected amqp, amqps, http or https", u.Scheme))
	}
	switch {
	case m.Protocol == ProtocolAuto:
		m.protocol = schemeProto
	case m.Protocol != schemeProto:
		// KEDA fails later, when it dials or requests; the combination
		// cannot work, so it is reported now.
		return scalers.NewFieldError("protocol", m.Protocol,
			fmt.Sprintf("does not match the host URL scheme %q (protocol %s needs %s)", u.Scheme, m.Protocol, schemesOf(m.Protocol)))
	}
	if msg := portProblem(u); msg != "" {
		return hostErr(msg)
	}
	switch m.protocol {
	case ProtocolAMQP:
		uri, err := amqp.ParseURI(raw)
		if err != nil {
			return hostErr("not a valid AMQP URI (expected amqp[s]://user:password@host:port/vhost)")
		}
		if uri.Scheme == "amqps" && m.TLS != "enable" {
			// amqp091-go's query keys: files of the server's pod, read
			// when a connection is made, under the <key>File rule.
			for _, f := range []struct{ key, path string }{{"cacertfile", uri.CACertFile}, {"certfile", uri.CertFile}, {"keyfile", uri.KeyFile}} {
				if f.path == "" {
					continue
				}
				if err := m.files.Check(f.path); err != nil {
					return hostErr(f.key + " of the URI: " + err.Error())
				}
			}
		}
		if m.VhostName == "" && len(uri.Vhost) > MaxNameBytes {
			return hostErr(fmt.Sprintf("the vhost of the URL is %d bytes long, more than the %d AMQP carries", len(uri.Vhost), MaxNameBytes))
		}
		if len(m.VhostName) > MaxNameBytes {
			return &scalers.FieldError{Key: "vhostName", Missing: true,
				Msg: fmt.Sprintf("%d bytes long, more than the %d AMQP carries", len(m.VhostName), MaxNameBytes)}
		}
	case ProtocolHTTP:
		if u.Host == "" {
			return hostErr("URL has no host name")
		}
		// The request the scaler will send, built now: what cannot be
		// built or is too long for the API is a configuration error,
		// not a failed call later.
		ru := m.requestURL(u)
		req, err := url.Parse(ru)
		if err != nil {
			return hostErr("cannot be made into a management API request URL")
		}
		if n := len(req.RequestURI()); n > MaxRequestURIBytes {
			return &scalers.FieldError{Key: "queueName", Missing: true,
				Msg: fmt.Sprintf("the management API request for it (URL-escaped, with the vhost and path) is %d bytes long, more than the %d the API accepts", n, MaxRequestURIBytes)}
		}
	}
	return nil
}

// portProblem says what is wrong with the port of u ("" if nothing is):
// url.Parse takes any digits, and a dial to port 99999 fails only when a
// call is made.
func portProblem(u *url.URL) string {
	p := u.Port()
	if p == "" {
		return ""
	}
	if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
		return fmt.Sprintf("port %s: expected 1..65535", strconv.Quote(p))
	}
	return ""
}

// checkQueueName checks the queue name, or with useRegex the expression,
// as far as it can be checked here.
func (m *Metadata) checkQueueName() []error {
	if !m.UseRegex {
		if len(m.QueueName) > MaxNameBytes {
			return []error{&scalers.FieldError{Key: "queueName", Missing: true,
				Msg: fmt.Sprintf("%d bytes long, more than the %d a RabbitMQ queue name may have", len(m.QueueName), MaxNameBytes)}}
		}
		return nil
	}
	// The broker matches with PCRE and answers an expression it cannot
	// compile with 400. Go's syntax is close to PCRE but lacks some of its
	// features (lookarounds, backreferences, possessive repeats): Go's
	// errors about unbalanced parentheses or brackets, a repeat of
	// nothing or a reversed range are PCRE's too and are refused here;
	// the others only make New log a warning.
	_, err := syntax.Parse(m.QueueName, syntax.Perl)
	var se *syntax.Error
	if !errors.As(err, &se) {
		return nil
	}
	switch se.Code {
	case syntax.ErrMissingParen, syntax.ErrUnexpectedParen, syntax.ErrMissingBracket,
		syntax.ErrTrailingBackslash, syntax.ErrMissingRepeatArgument, syntax.ErrInvalidCharRange:
		return []error{scalers.NewFieldError("queueName", m.QueueName,
			fmt.Sprintf("not a valid regular expression (with useRegex): %s: %s", se.Code, strconv.Quote(se.Expr)))}
	}
	m.regexWarning = se.Error()
	return nil
}

// checkTLSUsed finds tls=enable where no connection uses TLS: ca, cert and
// key are then ignored and the connection is made in the clear. KEDA
// accepts that, so it only makes New warn (tlsWarning); but a client
// certificate that is the login (SASL EXTERNAL, no password anywhere)
// over amqp:// cannot work and is refused.
func (m *Metadata) checkTLSUsed() error {
	raw, err := m.Host.Value()
	if err != nil {
		return nil // reported by checkHost
	}
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return nil // reported by checkHost
	}
	switch scheme := strings.ToLower(u.Scheme); {
	case scheme == "amqps" || scheme == "https":
	case scheme == "http" && m.oauth && strings.HasPrefix(strings.ToLower(m.OAuthTokenURI), "https://"):
		// The token endpoint is reached with the TLS settings.
	case scheme == "amqp" && m.Cert.IsSet() && !m.Username.IsSet() && !strings.Contains(userInfo(raw), ":"):
		return m.Cert.FieldError("cert", "with no password, the client certificate is the login (SASL EXTERNAL), which needs TLS: the host URL is amqp://, use amqps://")
	case scheme == "amqp" || scheme == "http":
		m.tlsWarning = fmt.Sprintf("tls is enable but the host URL is %s:// (no TLS): ca, cert and key are not used and the connection is not encrypted", scheme)
	}
	return nil
}

func schemesOf(protocol string) string {
	if protocol == ProtocolAMQP {
		return "amqp:// or amqps://"
	}
	return "http:// or https://"
}

// checkAuth checks authModes and the OAuth2 keys as KEDA does.
func (m *Metadata) checkAuth() []error {
	var errs []error
	modes := map[string]bool{}
	for _, mode := range m.AuthModes {
		switch mode = strings.ToLower(strings.TrimSpace(mode)); mode {
		case "oauth", "basic", "tls":
			modes[mode] = true
		default:
			errs = append(errs, scalers.NewFieldError("authModes", mode, "not supported by the rabbitmq scaler, expected oauth, basic or tls"))
		}
	}
	if modes["basic"] && modes["oauth"] {
		errs = append(errs, scalers.NewFieldError("authModes", strings.Join(m.AuthModes, ","), "basic and oauth cannot be combined"))
	}
	if modes["basic"] && !m.Username.IsSet() {
		errs = append(errs, &scalers.FieldError{Key: "username", Missing: true, Msg: "required when authModes includes basic"})
	}
	if modes["tls"] && (!m.Cert.IsSet() || !m.Key.IsSet()) {
		errs = append(errs, &scalers.FieldError{Key: "cert", Missing: true, Msg: "cert and key are required when authModes includes tls"})
	}

	anyOAuth := m.OAuthTokenURI != "" || m.ClientID != "" || m.ClientSecret.IsSet()
	// Without authModes the OAuth2 keys alone turn OAuth2 on (KEDA infers
	// the mode so older manifests keep working).
	m.oauth = modes["oauth"] || (anyOAuth && len(modes) == 0)
	if !m.oauth && !anyOAuth {
		return errs
	}
	if m.OAuthTokenURI == "" {
		errs = append(errs, &scalers.FieldError{Key: "oauthTokenURI", Missing: true, Msg: "required for OAuth2 (with clientID and clientSecret)"})
	} else if u, err := url.Parse(m.OAuthTokenURI); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, scalers.NewFieldError("oauthTokenURI", scalers.RedactURL(m.OAuthTokenURI), "not an http:// or https:// URL"))
	} else if msg := portProblem(u); msg != "" {
		errs = append(errs, scalers.NewFieldError("oauthTokenURI", scalers.RedactURL(m.OAuthTokenURI), msg))
	}
	if m.ClientID == "" {
		errs = append(errs, &scalers.FieldError{Key: "clientID", Missing: true, Msg: "required for OAuth2 (with oauthTokenURI and clientSecret)"})
	}
	if !m.ClientSecret.IsSet() {
		errs = append(errs, &scalers.FieldError{Key: "clientSecret", Missing: true, Msg: "required for OAuth2 (with oauthTokenURI and clientID)"})
	}
	if m.protocol == ProtocolAMQP {
		errs = append(errs, scalers.NewFieldError("oauthTokenURI", m.OAuthTokenURI, "OAuth2 is only supported with protocol http, the protocol is amqp"))
	}
	if m.Username.IsSet() && m.Password.IsSet() {
		errs = append(errs, &scalers.FieldError{Key: "username", Secret: true, Msg: "OAuth2 cannot be combined with username/password"})
	}
	if m.WorkloadIdentityResource != "" {
		errs = append(errs, scalers.NewFieldError("workloadIdentityResource", m.WorkloadIdentityResource, "OAuth2 cannot be combined with Azure Workload Identity"))
	}
	if m.EndpointParams != "" {
		v, err := url.ParseQuery(m.EndpointParams)
		if err != nil {
			errs = append(errs, scalers.NewFieldError("endpointParams", m.EndpointParams, "not a URL query (e.g. audience=rabbitmq&resource=api)"))
		}
		m.endpointParams = v
	}
	return errs
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
