package rabbitmq

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// maxBodyBytes bounds a management API answer. With the columns the
// scaler asks for, one queue takes about 150 bytes, so this fits a regular
// expression page of some 100,000 queues.
const maxBodyBytes = 16 << 20

// queueColumns limits the answer to the fields the scaler reads (the full
// queue object is several kilobytes).
const queueColumns = "name,messages,messages_ready,message_stats.publish_details.rate,message_stats.deliver_get_details.rate"

// httpSource reads queue statistics from the management API. Every call
// returns within bound of its start, the OAuth2 token request included.
// As with the other HTTP scalers, each call sends its request: there is no
// connection to keep, and no backoff.
type httpSource struct {
	md        *Metadata
	client    *http.Client
	transport *http.Transport
	bound     time.Duration
}

func newHTTPSource(md *Metadata, bound time.Duration) (*httpSource, error) {
	tlsCfg := md.tlsConfig
	if tlsCfg == nil && md.UnsafeSsl {
		// KEDA's HTTP client honours unsafeSsl with or without tls=enable.
		tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: true} //nolint:gosec // the user asked for it with unsafeSsl
	}
	// The call's context bounds each request as a whole, and its end
	// says where the request stalled; the transport's own timeouts, later,
	// are only a backstop.
	backstop := 2 * bound
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: backstop, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tlsCfg,
		TLSHandshakeTimeout:   backstop,
		ResponseHeaderTimeout: backstop,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	s := &httpSource{md: md, transport: tr, client: &http.Client{Transport: tr}, bound: bound}
	if md.oauth {
		rt, err := oauthTransport(md, tr)
		if err != nil {
			return nil, err
		}
		s.client = &http.Client{Transport: rt}
	}
	return s, nil
}

// oauthTransport sends management API requests with an OAuth2 access
// token (client credentials grant) through the shared scalers.HTTPSource.
// The token endpoint is called through tr, so the TLS settings apply, and
// within the request's timeout. The token is cached until it is due for
// renewal or the API refuses it (401: the request is sent once more with a
// new token). clientSecret is read at every token request, so a rotated
// clientSecretFile takes effect at the next one. The token goes to the
// host of the host URL as it was when the scaler was built, and nowhere
// else (not to a redirect's target).
func oauthTransport(md *Metadata, tr http.RoundTripper) (http.RoundTripper, error) {
	raw, err := md.Host.Value()
	if err != nil {
		return nil, scalers.Invalid(md.Host.ReadError("host", err))
	}
	auth := &scalers.HTTPAuth{
		Modes: []string{scalers.AuthModeOAuth},
		OAuth: scalers.OAuth{
			TokenURI:       md.OAuthTokenURI,
			ClientID:       md.ClientID,
			ClientSecret:   md.ClientSecret,
			Scopes:         md.Scopes,
			EndpointParams: md.EndpointParams,
		},
	}
	// ParseMetadata has checked these keys; Validate also parses
	// endpointParams for the token requests.
	if err := auth.Validate(); err != nil {
		return nil, err
	}
	src, err := scalers.NewHTTPSource(scalers.HTTPSourceOptions{URL: strings.TrimSpace(raw), Auth: auth, Transport: tr})
	if err != nil {
		return nil, err
	}
	return src.Transport, nil
}

func (s *httpSource) close() error {
	s.transport.CloseIdleConnections()
	return nil
}

// apiEndpoint is a management API request built from the host URL.
type apiEndpoint struct {
	url        string // without credentials
	user, pass string
	hasAuth    bool
	vhost      string // decoded, for messages
	addr       string // host:port, for messages
}

// endpoint builds the request URL from the current host URL (a file secret
// may have changed since the last call) and the credentials to send.
func (s *httpSource) endpoint() (apiEndpoint, error) {
	md := s.md
	raw, err := scalers.ReadSecret("host", md.Host)
	if err != nil {
		return apiEndpoint{}, err
	}
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return apiEndpoint{}, errors.New("host is not a valid URL")
	}
	var ep apiEndpoint
	if u.User != nil {
		ep.user = u.User.Username()
		ep.pass, _ = u.User.Password()
		ep.hasAuth = true
	}
	if md.Username.IsSet() {
		if ep.user, err = scalers.ReadSecret("username", md.Username); err != nil {
			return apiEndpoint{}, err
		}
		if ep.pass, err = scalers.ReadSecret("password", md.Password); err != nil {
			return apiEndpoint{}, err
		}
		ep.hasAuth = true
	}
	_, vhost := managementPath(u.EscapedPath(), md.VhostName)
	ep.vhost, _ = url.PathUnescape(vhost)
	ep.url = md.requestURL(u)
	ep.addr = u.Host
	return ep, nil
}

// requestURL is the management API request for the host URL u, without
// its credentials. ParseMetadata builds it too, to find a URL that cannot
// be made into a request, or is too long for the API, before any call.
func (m *Metadata) requestURL(u *url.URL) string {
	prefix, vhost := managementPath(u.EscapedPath(), m.VhostName)
	// Through url.URL, which escapes the host again: an IPv6 zone is
	// "%25" in a URL and "%" in u.Host.
	base := (&url.URL{Scheme: u.Scheme, Host: u.Host}).String() + prefix + "/api/queues/" + vhost
	if m.UseRegex {
		return base + "?page=1&use_regex=true&pagination=false&name=" + url.QueryEscape(m.QueueName) +
			"&page_size=" + strconv.FormatInt(m.PageSize, 10) + "&columns=" + queueColumns
	}
	return base + "/" + url.PathEscape(m.QueueName) + "?columns=" + queueColumns
}

// managementPath splits the escaped path of a management API host URL into
// the prefix the API is served under and the escaped vhost, which is the
// last segment, as KEDA reads it: "/sub/my-vhost" -> "/sub", "my-vhost".
// vhostName, if given, replaces the vhost; no vhost means "/" ("%2F").
func managementPath(escapedPath, vhostName string) (prefix, vhost string) {
	parts := strings.Split(escapedPath, "/")
	vhost = parts[len(parts)-1]
	if p := path.Join(parts[:len(parts)-1]...); p != "" {
		prefix = "/" + p
	}
	if vhostName != "" {
		vhost = url.PathEscape(vhostName)
	}
	if vhost == "" {
		vhost = "%2F"
	}
	return prefix, vhost
}

func (s *httpSource) stats(ctx context.Context) (QueueStats, error) {
	c, cancel := newCall(ctx, s.bound)
	defer cancel()
	ep, err := s.endpoint()
	if err != nil {
		return QueueStats{}, scalers.Unavailable("rabbitmq: read credentials", err)
	}
	rctx, progress := scalers.TraceHTTP(c.ctx)
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, ep.url, nil)
	if err != nil {
		// ParseMetadata built the same URL; only a rotated host file
		// that no longer makes one gets here.
		return QueueStats{}, scalers.Unavailable("rabbitmq management API", errors.New("host: cannot be made into a request URL"))
	}
	if ep.hasAuth && !s.md.oauth {
		req.SetBasicAuth(ep.user, ep.pass)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		if c.ctx.Err() != nil {
			return QueueStats{}, scalers.Unavailable("rabbitmq management API", c.ended(ep.addr+": timeout "+progress.Stage()))
		}
		if strings.Contains(err.Error(), `malformed HTTP response "AMQP`) {
			err = fmt.Errorf("%w (an AMQP broker answered: use an amqp:// host for this port, or the management API's port)", err)
		}
		return QueueStats{}, scalers.Unavailable("rabbitmq management API", err)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes+1))
	_ = resp.Body.Close()
	if err != nil {
		if c.ctx.Err() != nil {
			return QueueStats{}, scalers.Unavailable("rabbitmq management API", c.ended(ep.addr+": timeout "+progress.Stage()))
		}
		return QueueStats{}, scalers.Unavailable("rabbitmq management API: read answer", err)
	}
	return s.answer(resp, ep, body)
}

// answer turns the management API's answer into statistics.
func (s *httpSource) answer(resp *http.Response, ep apiEndpoint, body []byte) (QueueStats, error) {
	if len(body) > maxBodyBytes {
		return QueueStats{}, scalers.Unavailable("rabbitmq management API",
			fmt.Errorf("answer larger than %d MiB (lower pageSize or narrow the queueName expression)", maxBodyBytes>>20))
	}
	switch {
	case resp.StatusCode == http.StatusOK:
	case resp.StatusCode == http.StatusNotFound && s.md.UseRegex:
		return QueueStats{}, fmt.Errorf("vhost %q not found: %w", ep.vhost, scalers.ErrNoData)
	case resp.StatusCode == http.StatusNotFound:
		return QueueStats{}, fmt.Errorf("queue %q not found in vhost %q: %w", s.md.QueueName, ep.vhost, scalers.ErrNoData)
	case resp.StatusCode == http.StatusUnauthorized:
		return QueueStats{}, scalers.Unavailable("rabbitmq management API",
			fmt.Errorf("login refused (%s): check the credentials in host, username/password or OAuth2", resp.Status))
	case resp.StatusCode == http.StatusBadRequest && s.md.UseRegex && bytes.Contains(body, []byte(`"error":"bad_request"`)):
		// The broker's PCRE did not compile the expression (Go's syntax,
		// checked when the trigger was parsed, accepts more): the one
		// pagination parameter the trigger sets that ParseMetadata cannot
		// check entirely.
		return QueueStats{}, fmt.Errorf("rabbitmq management API: the broker refused the queueName expression (%s: %s): check it is a valid regular expression (PCRE): %w",
			resp.Status, snippet(body), scalers.ErrInvalidConfig)
	case resp.StatusCode == http.StatusForbidden:
		return QueueStats{}, scalers.Unavailable("rabbitmq management API",
			fmt.Errorf("access refused (%s): the user needs the management (or monitoring) tag and access to vhost %q", resp.Status, ep.vhost))
	default:
		return QueueStats{}, scalers.Unavailable("rabbitmq management API",
			fmt.Errorf("unexpected answer %s: %s", resp.Status, snippet(body)))
	}
	if s.md.UseRegex {
		qs, err := ParseQueuePage(body)
		if err != nil {
			return QueueStats{}, err
		}
		return Combine(s.md.Operation, qs), nil
	}
	return ParseQueue(body)
}

// snippet is the start of an error answer, for messages.
func snippet(b []byte) string {
	b = bytes.TrimSpace(b)
	const n = 200
	if len(b) > n {
		return strconv.Quote(string(b[:n])) + "..."
	}
	return strconv.Quote(string(b))
}

// apiQueue is the part of a management API queue object the scaler reads.
type apiQueue struct {
	Name          string `json:"name"`
	Messages      *int64 `json:"messages"`
	MessagesReady *int64 `json:"messages_ready"`
	MessageStats  struct {
		PublishDetails struct {
			Rate float64 `json:"rate"`
		} `json:"publish_details"`
		DeliverGetDetails struct {
			Rate float64 `json:"rate"`
		} `json:"deliver_get_details"`
	} `json:"message_stats"`
}

func (q *apiQueue) stats() QueueStats {
	st := QueueStats{
		PublishRate:    q.MessageStats.PublishDetails.Rate,
		DeliverGetRate: q.MessageStats.DeliverGetDetails.Rate,
	}
	if q.Messages != nil {
		st.Messages = *q.Messages
	}
	if q.MessagesReady != nil {
		st.Ready = *q.MessagesReady
	}
	return st
}

// ParseQueue reads the statistics from a management API answer for one
// queue (GET /api/queues/{vhost}/{name}). A queue the broker has not yet
// collected statistics for (its first seconds) has no message counts: that
// is an ErrNoData error, not zero.
func ParseQueue(body []byte) (QueueStats, error) {
	var q apiQueue
	if err := json.Unmarshal(body, &q); err != nil {
		return QueueStats{}, fmt.Errorf("rabbitmq management API: malformed queue answer: %w: %w", jsonErr(err), scalers.ErrNoData)
	}
	if q.Messages == nil || q.MessagesReady == nil {
		return QueueStats{}, fmt.Errorf("rabbitmq management API: queue %q has no message counts yet (statistics not collected): %w", q.Name, scalers.ErrNoData)
	}
	return q.stats(), nil
}

// ParseQueuePage reads the statistics of every queue in a management API
// page (GET /api/queues/{vhost}?use_regex=true...). More than one page is an
// error, as in KEDA: pageSize must cover every matching queue. Queues whose
// statistics are not collected yet count as empty.
func ParseQueuePage(body []byte) ([]QueueStats, error) {
	var page struct {
		Items     []apiQueue `json:"items"`
		PageCount int        `json:"page_count"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		return nil, fmt.Errorf("rabbitmq management API: malformed queue list answer: %w: %w", jsonErr(err), scalers.ErrNoData)
	}
	if page.PageCount > 1 {
		return nil, fmt.Errorf("rabbitmq management API: the expression matches more queues than one page holds (%d pages): raise pageSize: %w",
			page.PageCount, scalers.ErrNoData)
	}
	out := make([]QueueStats, len(page.Items))
	for i := range page.Items {
		out[i] = page.Items[i].stats()
	}
	return out, nil
}

// jsonErr keeps a JSON error short and free of the answer's content.
func jsonErr(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("invalid JSON at byte %d", se.Offset)
	case errors.As(err, &te) && te.Field == "":
		return fmt.Errorf("got JSON %s, want %s", te.Value, jsonKind(te.Type))
	case errors.As(err, &te):
		return fmt.Errorf("field %q: got JSON %s, want %s", te.Field, te.Value, jsonKind(te.Type))
	default:
		return errors.New("invalid JSON")
	}
}

// jsonKind names what JSON a Go type is decoded from: "an object", not the
// text of an unexported struct type.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return t.String()
}
