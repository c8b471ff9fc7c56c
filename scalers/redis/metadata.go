package redis

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// topology is how the scaler reaches Redis. The zero value is a single
// server.
type topology int

const (
	standalone topology = iota
	cluster
	sentinel
)

func (t topology) String() string {
	switch t {
	case cluster:
		return "redis cluster"
	case sentinel:
		return "redis sentinel"
	default:
		return "redis"
	}
}

// connMeta holds the connection keys every Redis scaler type shares. The
// "...FromEnv" aliases are there because KEDA resolves a key ending in
// FromEnv from the target container's environment before it calls an
// external scaler, and sends the value under that same key.
type connMeta struct {
	topo topology

	Addresses []string `meta:"address|addresses|addressFromEnv|addressesFromEnv,optional"`
	Hosts     []string `meta:"host|hosts|hostFromEnv|hostsFromEnv,optional"`
	Ports     []int    `meta:"port|ports|portFromEnv|portsFromEnv,optional,min=1,max=65535"`

	Username string         `meta:"username|usernameFromEnv,optional"`
	Password scalers.Secret `meta:"password,secret,optional"`

	SentinelUsername string         `meta:"sentinelUsername|sentinelUsernameFromEnv,optional"`
	SentinelPassword scalers.Secret `meta:"sentinelPassword,secret,optional"`
	SentinelMaster   string         `meta:"sentinelMaster|sentinelMasterFromEnv,optional"`

	DatabaseIndex int `meta:"databaseIndex,default=0,min=0"`

	// EnableTLS is KEDA's trigger key for TLS to Redis. KEDA's external
	// scaler reads the same key for its own gRPC connection to this server,
	// so TLSMode (KEDA's "tls: enable|disable" of the redis scaler's
	// TriggerAuthentication, accepted here in the metadata) overrides it.
	EnableTLS bool              `meta:"enableTLS,default=false"`
	TLSMode   string            `meta:"tls,optional,enum=enable|disable"`
	TLS       scalers.TLSConfig // ca, cert, key, keyPassword, unsafeSsl

	// Set before parsing: the server's limits and the keys the metadata
	// gives the addresses under (address or addresses, ...), for errors.
	limits                    scalers.Limits
	addrKey, hostKey, portKey string

	// Set by Validate.
	addrs  []string
	useTLS bool
}

// newConnMeta returns the connection keys of topology topo to parse md
// into, under the server's limits.
func newConnMeta(md map[string]string, topo topology, limits scalers.Limits) connMeta {
	return connMeta{
		topo:    topo,
		limits:  limits,
		addrKey: keyIn(md, "address", "addresses", "addressFromEnv", "addressesFromEnv"),
		hostKey: keyIn(md, "host", "hosts", "hostFromEnv", "hostsFromEnv"),
		portKey: keyIn(md, "port", "ports", "portFromEnv", "portsFromEnv"),
	}
}

// keyIn returns the first of keys (aliases, in the order of the meta tag)
// that md gives a value, or the first of keys when none.
func keyIn(md map[string]string, keys ...string) string {
	for _, k := range keys {
		if strings.TrimSpace(md[k]) != "" {
			return k
		}
	}
	return keys[0]
}

// Validate resolves the addresses and the TLS switch. Every address is
// checked here, so that one which cannot be dialled ("[::1", a port out of
// range, a host with a space) is a configuration error, not a connection
// failure at every call.
func (m *connMeta) Validate() error {
	var errs []error
	// The limits first: a list over them is not worth checking item by item.
	var over bool
	for _, l := range []struct {
		key string
		n   int
	}{{m.addrKey, len(m.Addresses)}, {m.hostKey, len(m.Hosts)}, {m.portKey, len(m.Ports)}} {
		if fe := m.limits.CheckList(l.key, l.n); fe != nil {
			errs, over = append(errs, fe), true
		}
	}
	if over {
		return scalers.Invalid(errs...)
	}
	addrs := make([]string, 0, len(m.Addresses)+len(m.Hosts))
	for _, a := range m.Addresses {
		if err := checkAddress(a); err != nil {
			errs = append(errs, scalers.NewFieldError(m.addrKey, a, err.Error()))
			continue
		}
		addrs = append(addrs, a)
	}
	switch {
	case len(m.Hosts) > 0 && len(m.Ports) > 0:
		if len(m.Hosts) != len(m.Ports) {
			errs = append(errs, scalers.NewFieldError(m.portKey, joinInts(m.Ports),
				fmt.Sprintf("%d hosts but %d ports: give one port per host", len(m.Hosts), len(m.Ports))))
			break
		}
		for i, h := range m.Hosts {
			if err := checkHost(h); err != nil {
				errs = append(errs, scalers.NewFieldError(m.hostKey, h, err.Error()))
				continue
			}
			addrs = append(addrs, net.JoinHostPort(h, strconv.Itoa(m.Ports[i])))
		}
	case len(m.Addresses) == 0 && len(m.Hosts) > 0:
		errs = append(errs, &scalers.FieldError{Key: "port", Missing: true, Msg: "required with host"})
	case len(m.Addresses) == 0 && len(m.Ports) > 0:
		errs = append(errs, &scalers.FieldError{Key: "host", Missing: true, Msg: "required with port"})
	}
	if len(errs) == 0 && len(addrs) == 0 {
		errs = append(errs, &scalers.FieldError{Key: "address", Missing: true,
			Msg: "no Redis address: set address (host:port, or a comma-separated list), or host and port"})
	}
	if m.topo == sentinel && m.SentinelMaster == "" {
		errs = append(errs, &scalers.FieldError{Key: "sentinelMaster", Missing: true,
			Msg: "required: the name of the master the sentinels monitor"})
	}
	m.addrs = addrs
	m.useTLS = m.EnableTLS
	if m.TLSMode != "" {
		m.useTLS = m.TLSMode == "enable"
	}
	return scalers.Invalid(errs...)
}

// checkAddress accepts host:port with a port in 1..65535 and a host that
// checkHost accepts (or none, meaning localhost, as go-redis allows).
func checkAddress(a string) error {
	if strings.Contains(a, "/") {
		return fmt.Errorf("expected host:port, not a URL")
	}
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return fmt.Errorf("expected host:port (an IPv6 address in brackets: [::1]:6379)")
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("expected host:port with a port in 1..65535")
	}
	if host == "" {
		return nil
	}
	return checkHost(host)
}

// checkHost accepts an IP address (IPv6 without brackets, with an optional
// zone) or a DNS name: labels of letters, digits, '-' and '_' (as
// Kubernetes service names and some internal names have) separated by
// dots, at most 253 characters.
func checkHost(h string) error {
	const want = "expected a host name or an IP address"
	if strings.Contains(h, "/") {
		return fmt.Errorf("%s, not a URL", want)
	}
	if strings.Contains(h, ":") {
		ip, zone, hasZone := strings.Cut(h, "%")
		if net.ParseIP(ip) == nil || (hasZone && (zone == "" || strings.ContainsAny(zone, "%[]"))) {
			return fmt.Errorf("%s (an IPv6 address without brackets)", want)
		}
		return nil
	}
	if len(h) > 253 {
		return fmt.Errorf("%s: longer than 253 characters", want)
	}
	for label := range strings.SplitSeq(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("%s: each dot-separated part 1 to 63 characters", want)
		}
		for _, r := range label {
			if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_') {
				return fmt.Errorf("%s: %q is not allowed in a host name", want, r)
			}
		}
	}
	return nil
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

// listMeta is the metadata of KEDA's redis scaler.
type listMeta struct {
	Conn connMeta

	ListName             string `meta:"listName"`
	ListLength           int64  `meta:"listLength,default=5,gt=0"`
	ActivationListLength int64  `meta:"activationListLength,default=0"`
}

func parseListMeta(md map[string]string, topo topology, limits scalers.Limits, opts ...scalers.ParseOption) (*listMeta, error) {
	m := &listMeta{Conn: newConnMeta(md, topo, limits)}
	if err := scalers.ParseMetadata(md, m, opts...); err != nil {
		return nil, err
	}
	return m, nil
}

// streamMode is the number a streams scaler reports.
type streamMode int

const (
	// modePending: entries delivered to the consumer group but not yet
	// acknowledged (XPENDING summary count).
	modePending streamMode = iota + 1
	// modeLength: entries in the stream (XLEN).
	modeLength
	// modeLag: entries not yet delivered to the consumer group (XINFO
	// GROUPS lag, Redis 7+).
	modeLag
)

func (m streamMode) String() string {
	switch m {
	case modePending:
		return "pendingEntriesCount"
	case modeLength:
		return "streamLength"
	case modeLag:
		return "lagCount"
	default:
		return "unknown"
	}
}

// chooseStreamMode picks the mode as KEDA does: a consumer group selects
// XPENDING, or the group's lag when lagCount is set (non-zero); without a
// consumer group only the stream length is meaningful, whatever else is set.
func chooseStreamMode(consumerGroup string, lagCount int64) streamMode {
	switch {
	case consumerGroup == "":
		return modeLength
	case lagCount != 0:
		return modeLag
	default:
		return modePending
	}
}

// streamsMeta is the metadata of KEDA's redis-streams scaler.
type streamsMeta struct {
	Conn connMeta

	Stream              string `meta:"stream"`
	ConsumerGroup       string `meta:"consumerGroup,optional"`
	PendingEntriesCount int64  `meta:"pendingEntriesCount,default=5"`
	StreamLength        int64  `meta:"streamLength,default=5"`
	LagCount            int64  `meta:"lagCount,default=0,min=0"`
	ActivationLagCount  int64  `meta:"activationLagCount,default=0"`

	// Set by Validate.
	mode   streamMode
	target int64
}

// Validate picks the mode and checks the target of that mode only (KEDA
// ignores the targets of the other modes, and so do we).
func (m *streamsMeta) Validate() error {
	m.mode = chooseStreamMode(m.ConsumerGroup, m.LagCount)
	switch m.mode {
	case modePending:
		m.target = m.PendingEntriesCount
	case modeLength:
		m.target = m.StreamLength
	case modeLag:
		m.target = m.LagCount
	}
	if m.target <= 0 {
		return scalers.NewFieldError(m.mode.String(), strconv.FormatInt(m.target, 10), "must be > 0")
	}
	return nil
}

func parseStreamsMeta(md map[string]string, topo topology, limits scalers.Limits, opts ...scalers.ParseOption) (*streamsMeta, error) {
	m := &streamsMeta{Conn: newConnMeta(md, topo, limits)}
	if err := scalers.ParseMetadata(md, m, opts...); err != nil {
		return nil, err
	}
	return m, nil
}
