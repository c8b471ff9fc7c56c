package kafka

import (
	"cmp"
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// Reset policies, as in KEDA's offsetResetPolicy.
const (
	ResetLatest   = "latest"
	ResetEarliest = "earliest"
)

// SASL mechanisms this scaler speaks (the values of the sasl key).
const (
	SASLNone        = "none"
	SASLPlaintext   = "plaintext"
	SASLScramSHA256 = "scram_sha256"
	SASLScramSHA512 = "scram_sha512"
	SASLOAuthBearer = "oauthbearer"
)

// TokenProviderBearer is the one saslTokenProvider this scaler speaks: an
// OAuth 2.0 client credentials grant at oauthTokenEndpointUri.
const TokenProviderBearer = "bearer"

// tokenProviderMSK is KEDA's other saslTokenProvider, rejected here.
const tokenProviderMSK = "aws_msk_iam"

// Metadata is the parsed and validated trigger metadata of a kafka trigger.
// The keys and defaults are KEDA's; see docs/scalers/kafka.md.
type Metadata struct {
	// BootstrapServers are the seed brokers: "host:port", "host" (port
	// 9092), "[IPv6]:port" or "[IPv6]". KEDA also reads
	// bootstrapServersFromEnv; so do we.
	BootstrapServers []string `meta:"bootstrapServers|bootstrapServersFromEnv"`
	// ConsumerGroup is the group whose lag is measured.
	ConsumerGroup string `meta:"consumerGroup|consumerGroupFromEnv"`
	// Topic is the topic to measure; empty means every topic the group has
	// committed offsets for.
	Topic string `meta:"topic|topicFromEnv,optional"`
	// PartitionLimitation is the raw "1,2,10-20" list; only these partitions
	// of Topic count. Ignored when Topic is empty (as in KEDA).
	PartitionLimitation string `meta:"partitionLimitation,optional"`

	LagThreshold           int64  `meta:"lagThreshold,default=10,gt=0"`
	ActivationLagThreshold int64  `meta:"activationLagThreshold,default=0,min=0"`
	OffsetResetPolicy      string `meta:"offsetResetPolicy,default=latest,enum=latest|earliest"`

	AllowIdleConsumers                 bool `meta:"allowIdleConsumers,default=false"`
	ExcludePersistentLag               bool `meta:"excludePersistentLag,default=false"`
	ScaleToZeroOnInvalidOffset         bool `meta:"scaleToZeroOnInvalidOffset,default=false"`
	LimitToPartitionsWithLag           bool `meta:"limitToPartitionsWithLag,default=false"`
	EnsureEvenDistributionOfPartitions bool `meta:"ensureEvenDistributionOfPartitions,default=false"`
	// FullMetadata is accepted for compatibility: this scaler always asks
	// for the metadata of the topics it measures only. KEDA's rule that
	// false needs a topic is kept.
	FullMetadata bool `meta:"fullMetadata,default=true"`
	// Version caps the Kafka protocol versions used to those of this broker
	// release ("2.8.0", "0.10.2.0"); empty negotiates with the brokers.
	Version string `meta:"version,optional"`

	// TLS is "enable" or "disable". With enable, ca, cert, key, keyPassword
	// (each also as <key>File) and unsafeSsl configure it.
	TLS       string `meta:"tls,default=disable,enum=enable|disable"`
	UnsafeSsl bool   `meta:"unsafeSsl,default=false"`
	// SASL is none, plaintext, scram_sha256, scram_sha512 or oauthbearer;
	// KEDA's gssapi (Kerberos) is rejected, and so is aws_msk_iam.
	SASL string `meta:"sasl,default=none"`
	// Username and Password are the SASL credentials; with oauthbearer they
	// are the OAuth client id and secret of the token request.
	Username scalers.Secret `meta:"username,secret,optional"`
	Password scalers.Secret `meta:"password,secret,optional"`

	// SASLTokenProvider is where oauthbearer tokens come from: bearer, a
	// client credentials grant at OAuthTokenEndpointURI. KEDA's aws_msk_iam
	// is rejected. Like KEDA, the value is checked whatever sasl is.
	SASLTokenProvider     string   `meta:"saslTokenProvider,default=bearer"`
	OAuthTokenEndpointURI string   `meta:"oauthTokenEndpointUri,optional"`
	Scopes                []string `meta:"scopes,optional"`
	// OAuthExtensions is the raw "k1=v1,k2=v2" list of SASL extensions sent
	// with the token (RFC 7628), e.g. Confluent Cloud's logicalCluster.
	OAuthExtensions string `meta:"oauthExtensions,optional"`

	partitions partitionSet       // parsed PartitionLimitation; empty when Topic is empty
	tlsConfig  *scalers.TLSConfig // set when TLS is "enable"
	tls        *tls.Config        // built from tlsConfig
	maxVersion *kversion.Versions // set when Version is given
	release    [3]int             // Version as numbers ("0.10.2.0": 0, 10, 2)
	extensions map[string]string  // parsed OAuthExtensions, with oauthbearer
	failedKeys map[string]bool    // keys the field parser reported
	limits     scalers.Limits
	// opts are ParseMetadata's, for the TLS keys parsed in validate.
	opts []scalers.ParseOption
}

// ParseMetadata parses KEDA kafka trigger metadata; limits bound its lists
// (bootstrapServers, partitionLimitation, scopes, oauthExtensions). Every
// problem is reported at once in an error wrapping
// scalers.ErrInvalidConfig; secret values never appear in it. Nothing is
// dialled; files named by <key>File keys are read, if a scalers.FileAccess
// in opts allows them (none are without one).
func ParseMetadata(md map[string]string, limits scalers.Limits, opts ...scalers.ParseOption) (*Metadata, error) {
	m := &Metadata{limits: limits.WithDefaults(), opts: opts}
	// Fields first; relations between keys are checked below even when a
	// field failed, so the user sees every problem in one round.
	parseErr := scalers.ParseMetadata(md, m, opts...)
	if me, ok := errors.AsType[*scalers.MetadataError](parseErr); ok {
		m.failedKeys = map[string]bool{}
		for _, fe := range me.Errs {
			m.failedKeys[fe.Key] = true
		}
	}
	errs := []error{parseErr}
	errs = append(errs, m.validate(md)...)
	if err := scalers.Invalid(errs...); err != nil {
		return nil, err
	}
	return m, nil
}

// validate checks what field tags cannot express: KEDA's invalid
// combinations, partitionLimitation, version, TLS and SASL settings. It
// returns every problem.
func (m *Metadata) validate(md map[string]string) []error {
	var errs []error
	errs = append(errs, m.validateBrokers(md)...)
	if m.Topic != "" {
		if msg := checkTopic(m.Topic); msg != "" {
			key, _ := lookupRaw(md, "topic", "topicFromEnv")
			errs = append(errs, scalers.NewFieldError(key, m.Topic, msg))
		}
	}

	if strings.TrimSpace(m.PartitionLimitation) != "" {
		ps, err := m.parsePartitions()
		if err != nil {
			errs = append(errs, err)
		} else if m.Topic != "" {
			// Without a topic KEDA ignores the limitation (after checking
			// its syntax): the partitions of different topics have nothing
			// in common.
			m.partitions = ps
		}
	}

	if m.AllowIdleConsumers && m.LimitToPartitionsWithLag {
		errs = append(errs, scalers.NewFieldError("limitToPartitionsWithLag", "true",
			"cannot be set together with allowIdleConsumers"))
	}
	if m.Topic == "" && m.LimitToPartitionsWithLag {
		errs = append(errs, scalers.NewFieldError("limitToPartitionsWithLag", "true",
			"needs a topic (set the topic key)"))
	}
	if m.LimitToPartitionsWithLag && m.EnsureEvenDistributionOfPartitions {
		errs = append(errs, scalers.NewFieldError("ensureEvenDistributionOfPartitions", "true",
			"cannot be set together with limitToPartitionsWithLag"))
	}
	if m.Topic == "" && m.EnsureEvenDistributionOfPartitions {
		errs = append(errs, scalers.NewFieldError("ensureEvenDistributionOfPartitions", "true",
			"needs a topic (set the topic key)"))
	}
	if !m.FullMetadata && m.Topic == "" {
		errs = append(errs, scalers.NewFieldError("fullMetadata", "false", "needs a topic (set the topic key)"))
	}

	if m.Version != "" {
		v, msg := parseVersion(m.Version)
		if msg != "" {
			errs = append(errs, scalers.NewFieldError("version", m.Version, msg))
		}
		m.maxVersion = v
		if v != nil {
			m.release = releaseOf(m.Version)
			errs = append(errs, m.validateVersion()...)
		}
	}
	if fe := m.limits.CheckList("scopes", len(m.Scopes)); fe != nil && m.SASL == SASLOAuthBearer {
		errs = append(errs, fe)
	}

	if m.SASLTokenProvider != TokenProviderBearer && m.SASLTokenProvider != tokenProviderMSK {
		errs = append(errs, scalers.NewFieldError("saslTokenProvider", m.SASLTokenProvider,
			"expected bearer (the one token provider of this scaler)"))
	}
	const saslValues = "expected one of none, plaintext, scram_sha256, scram_sha512, oauthbearer"
	switch m.SASL {
	case SASLNone:
	case SASLPlaintext, SASLScramSHA256, SASLScramSHA512:
		errs = append(errs, m.requireCredentials()...)
	case SASLOAuthBearer:
		errs = append(errs, m.validateOAuth()...)
	case "gssapi":
		errs = append(errs, scalers.NewFieldError("sasl", m.SASL,
			"not supported by this scaler (Kerberos needs a realm, a keytab and a KDC), "+saslValues))
	case "aws_msk_iam":
		errs = append(errs, scalers.NewFieldError("sasl", m.SASL,
			"not supported by this scaler (AWS MSK IAM signs with AWS credentials; in KEDA it is saslTokenProvider aws_msk_iam), "+saslValues))
	default:
		errs = append(errs, scalers.NewFieldError("sasl", m.SASL, saslValues))
	}

	if m.TLS == "enable" {
		// The TLS keys only matter (and are only checked, as in KEDA) when
		// TLS is on. unsafeSsl is already a field of m.
		tmd := maps.Clone(md)
		delete(tmd, "unsafeSsl")
		tc := &scalers.TLSConfig{}
		if err := scalers.ParseMetadata(tmd, tc, m.opts...); err != nil {
			errs = append(errs, err)
		} else {
			tc.UnsafeSsl = m.UnsafeSsl
			// Built now so that a CA or a key pair that does not parse,
			// or a wrong keyPassword, is a configuration error of the
			// trigger rather than a failure of its first connection.
			// The client certificate is still read at every handshake.
			built, err := tc.Build()
			if err != nil {
				errs = append(errs, err)
			} else {
				m.tlsConfig, m.tls = tc, built
			}
		}
	}
	return errs
}

// lookupRaw returns the first of keys whose value is not blank (the one the
// field parser read) and that value, or keys[0] and "".
func lookupRaw(md map[string]string, keys ...string) (key, raw string) {
	for _, k := range keys {
		if v := md[k]; strings.TrimSpace(v) != "" {
			return k, v
		}
	}
	return keys[0], ""
}

// validateBrokers checks bootstrapServers as given: no empty item, no more
// items than the limit, and each an address that reads one way only.
func (m *Metadata) validateBrokers(md map[string]string) []error {
	key, raw := lookupRaw(md, "bootstrapServers", "bootstrapServersFromEnv")
	if raw == "" {
		return nil // reported by the field parser
	}
	items := strings.Split(raw, ",")
	if fe := m.limits.CheckList(key, len(items)); fe != nil {
		return []error{fe}
	}
	var errs []error
	for i, item := range items {
		if strings.TrimSpace(item) == "" {
			errs = append(errs, scalers.NewFieldError(key, strings.TrimSpace(raw),
				fmt.Sprintf("item %d of %d is empty (expected a list like \"kafka-0:9092,kafka-1:9092\")", i+1, len(items))))
			break
		}
	}
	for _, b := range m.BootstrapServers {
		if msg := checkBroker(b); msg != "" {
			errs = append(errs, scalers.NewFieldError(key, b, msg))
		}
	}
	return errs
}

// parsePartitions parses PartitionLimitation within the list limit: the
// items are counted before anything is parsed, and the partitions they
// cover are counted as ranges, so "0-1000000" is refused without a million
// of anything being made.
func (m *Metadata) parsePartitions() (partitionSet, error) {
	if fe := m.limits.CheckList("partitionLimitation", strings.Count(m.PartitionLimitation, ",")+1); fe != nil {
		return partitionSet{}, fe
	}
	ps, err := parsePartitionLimitation(m.PartitionLimitation)
	if err != nil {
		return partitionSet{}, err
	}
	if n, most := ps.size(), int64(m.limits.MaxListItems); n > most {
		return partitionSet{}, &scalers.FieldError{Key: "partitionLimitation", Missing: true,
			Msg: fmt.Sprintf("%d partitions, more than the limit of %d", n, most)}
	}
	return ps, nil
}

// validateVersion checks that the brokers' release given by version can do
// what the trigger asks: read group offsets, TLS, the SASL mechanism.
// Without these checks the trigger would fail at its first connection with
// a protocol error.
func (m *Metadata) validateVersion() []error {
	tooOld := func(what string, need [3]int) error {
		return scalers.NewFieldError("version", m.Version, fmt.Sprintf("too old for %s (Kafka %d.%d.%d or later)", what, need[0], need[1], need[2]))
	}
	var errs []error
	if !m.maxVersion.HasKey(int16(kmsg.FindCoordinator)) {
		errs = append(errs, tooOld("this scaler, which reads the group's offsets from its coordinator", [3]int{0, 8, 2}))
	}
	if m.TLS == "enable" && olderThan(m.release, [3]int{0, 9, 0}) {
		errs = append(errs, tooOld("tls enable", [3]int{0, 9, 0}))
	}
	need := map[string][3]int{
		SASLPlaintext:   {0, 10, 0},
		SASLScramSHA256: {0, 10, 2},
		SASLScramSHA512: {0, 10, 2},
		SASLOAuthBearer: {2, 0, 0},
	}
	if n, ok := need[m.SASL]; ok && olderThan(m.release, n) {
		errs = append(errs, tooOld("sasl "+m.SASL, n))
	}
	return errs
}

// releaseOf turns a version accepted by parseVersion into numbers:
// "2.8.0" is 2, 8, 0 and "0.10.2.0" is 0, 10, 2.
func releaseOf(s string) [3]int {
	var r [3]int
	parts := strings.Split(s, ".")
	for i := 0; i < 3 && i < len(parts); i++ {
		r[i], _ = strconv.Atoi(parts[i])
	}
	return r
}

func olderThan(a, b [3]int) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

// checkTopic returns why t cannot be the name of a Kafka topic, or "":
// Kafka allows ASCII letters, digits, ".", "_" and "-", at most 249 of
// them, and not "." or "..".
func checkTopic(t string) string {
	const want = `not a Kafka topic name (letters, digits, ".", "_" and "-", at most 249 characters)`
	if len(t) > 249 || t == "." || t == ".." {
		return want
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '.' && c != '_' && c != '-' {
			return want
		}
	}
	return ""
}

// requireCredentials checks that the SASL mechanism has its username and
// password.
func (m *Metadata) requireCredentials() []error {
	var errs []error
	// A usernameFile or passwordFile that cannot be read is reported by the
	// parser (naming the path); it was given, so it is not missing.
	if !m.Username.IsSet() && !m.failedKeys["usernameFile"] {
		errs = append(errs, &scalers.FieldError{Key: "username", Missing: true,
			Msg: "required with sasl " + m.SASL + " (set username, usernameFromEnv or usernameFile)"})
	}
	if !m.Password.IsSet() && !m.failedKeys["passwordFile"] {
		errs = append(errs, &scalers.FieldError{Key: "password", Missing: true,
			Msg: "required with sasl " + m.SASL + " (set password, passwordFromEnv or passwordFile)"})
	}
	return errs
}

// validateOAuth checks the keys of sasl oauthbearer: the token provider,
// the client credentials, the token endpoint and the extensions.
func (m *Metadata) validateOAuth() []error {
	switch m.SASLTokenProvider {
	case TokenProviderBearer:
	case tokenProviderMSK:
		return []error{scalers.NewFieldError("saslTokenProvider", m.SASLTokenProvider,
			"not supported by this scaler (AWS MSK IAM signs requests with AWS credentials), expected bearer")}
	default:
		return nil // reported by validate
	}
	errs := m.requireCredentials()
	if m.OAuthTokenEndpointURI == "" {
		errs = append(errs, &scalers.FieldError{Key: "oauthTokenEndpointUri", Missing: true,
			Msg: "required with sasl oauthbearer (the URL of the OAuth 2.0 token endpoint)"})
	} else if err := scalers.ValidateHTTPURL("oauthTokenEndpointUri", m.OAuthTokenEndpointURI); err != nil {
		errs = append(errs, err)
	}
	if strings.TrimSpace(m.OAuthExtensions) != "" {
		if fe := m.limits.CheckList("oauthExtensions", strings.Count(m.OAuthExtensions, ",")+1); fe != nil {
			return append(errs, fe)
		}
		ext, err := parseOAuthExtensions(m.OAuthExtensions)
		if err != nil {
			errs = append(errs, err)
		}
		m.extensions = ext
	}
	return errs
}

// parseOAuthExtensions parses KEDA's oauthExtensions, "k1=v1,k2=v2", into
// the SASL extensions sent with the token. It holds them to what RFC 7628
// (section 3.1) allows and a Kafka broker parses: a key is letters only and
// not "auth", a value is printable ASCII, spaces and tabs. Spaces around
// items, keys and values are dropped. A value may contain "=" (KEDA rejects
// that; base64 values need it).
func parseOAuthExtensions(raw string) (map[string]string, error) {
	fail := func(msg string) (map[string]string, error) {
		return nil, scalers.NewFieldError("oauthExtensions", raw,
			msg+` (expected a list like "logicalCluster=lkc-1,identityPoolId=pool-2")`)
	}
	out := map[string]string{}
	for item := range strings.SplitSeq(raw, ",") {
		item = strings.TrimSpace(item)
		k, v, ok := strings.Cut(item, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch {
		case !ok || k == "":
			return fail(strconv.Quote(item) + " is not a key=value pair")
		case !isLetters(k):
			msg := "key " + strconv.Quote(k) + " is not letters only"
			if name, found := strings.CutPrefix(k, "extension_"); found && isLetters(name) {
				// A JAAS config names the extension X "extension_X".
				msg += " (the JAAS option extension_" + name + " is the extension " + name + ")"
			}
			return fail(msg)
		case k == "auth":
			return fail(`key "auth" is reserved for the token`)
		case v == "":
			return fail("key " + strconv.Quote(k) + " has an empty value")
		case !isExtensionValue(v):
			return fail("the value of " + strconv.Quote(k) + " has a character other than printable ASCII, space or tab")
		}
		if _, dup := out[k]; dup {
			return fail("key " + strconv.Quote(k) + " is given twice")
		}
		out[k] = v
	}
	return out, nil
}

func isLetters(s string) bool {
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') {
			return false
		}
	}
	return s != ""
}

// isExtensionValue reports whether s is a value RFC 7628 allows, without
// the CR and LF it also allows (a metadata value has no business with them).
func isExtensionValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x21 || c > 0x7e) && c != ' ' && c != '\t' {
			return false
		}
	}
	return true
}

// checkBroker returns why addr is not a broker address that reads one way
// only, or "". Accepted: "host:port", "host" (port 9092), "[IPv6]:port" and
// "[IPv6]" (port 9092). An IPv6 address must be in brackets, as for KEDA
// (whose client dials the address as it is): "::1:6379" could be the host
// ::1 on port 6379 or the host ::1:6379 on port 9092.
func checkBroker(addr string) string {
	const want = `expected "host:port", "host" (port 9092) or "[IPv6 address]:port"`
	if strings.Contains(addr, "://") || strings.ContainsAny(addr, " \t\r\n/?#@") {
		return want
	}
	var host, port string
	switch {
	case strings.HasPrefix(addr, "["):
		end := strings.IndexByte(addr, ']')
		if end < 0 {
			return want
		}
		host = addr[1:end]
		if a, err := netip.ParseAddr(host); err != nil || !a.Is6() {
			return strconv.Quote(host) + " in brackets is not an IPv6 address (" + want + ")"
		}
		rest := addr[end+1:]
		if rest == "" {
			return ""
		}
		var ok bool
		if port, ok = strings.CutPrefix(rest, ":"); !ok {
			return want
		}
	case strings.Count(addr, ":") > 1:
		return ipv6Unbracketed(addr)
	default:
		var ok bool
		host, port, ok = strings.Cut(addr, ":")
		if host == "" {
			return want
		}
		if !ok {
			return checkHost(host, want)
		}
		if msg := checkHost(host, want); msg != "" {
			return msg
		}
	}
	if !isPort(port) {
		return "port " + strconv.Quote(port) + " is not a number from 1 to 65535"
	}
	return ""
}

// ipv6Unbracketed explains how to write an address with more than one
// colon outside brackets.
func ipv6Unbracketed(addr string) string {
	i := strings.LastIndexByte(addr, ':')
	if h, p := addr[:i], addr[i+1:]; isPort(p) {
		if a, err := netip.ParseAddr(h); err == nil && a.Is6() {
			return "ambiguous: an IPv6 address must be in brackets, " +
				strconv.Quote("["+h+"]:"+p) + " for port " + p + " or " + strconv.Quote("["+addr+"]") + " for port 9092"
		}
	}
	if a, err := netip.ParseAddr(addr); err == nil && a.Is6() {
		return "an IPv6 address must be in brackets: " + strconv.Quote("["+addr+"]:9092")
	}
	return `expected "host:port", "host" (port 9092) or "[IPv6 address]:port"`
}

// checkHost returns want unless h is a DNS name or an IPv4 address.
func checkHost(h, want string) string {
	for i := 0; i < len(h); i++ {
		c := h[i]
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '.' && c != '-' && c != '_' {
			return want
		}
	}
	return ""
}

// isPort reports whether p is a port number from 1 to 65535 in digits.
func isPort(p string) bool {
	if p == "" || len(p) > 5 || strings.Trim(p, "0123456789") != "" {
		return false
	}
	n, _ := strconv.Atoi(p)
	return n >= 1 && n <= 65535
}

// versionSyntax is the shape of Kafka release versions KEDA (sarama) accepts:
// "2.8.0", or "0.10.2.0" for the 0.x releases.
var versionSyntax = regexp.MustCompile(`^(?:[1-9]\d*\.\d+\.\d+|0\.\d+\.\d+\.\d+)$`)

func parseVersion(s string) (*kversion.Versions, string) {
	if !versionSyntax.MatchString(s) {
		return nil, `not a Kafka version (e.g. "2.8.0" or "0.10.2.0")`
	}
	v := kversion.FromString(s)
	if v == nil {
		return nil, "unknown Kafka release, expected one of " + strings.Join(kversion.VersionStrings(), ", ")
	}
	return v, ""
}

// partitionSet is a set of partition numbers kept as sorted, disjoint,
// non-adjacent inclusive ranges, so "0-2147483646" costs 8 bytes instead of
// 8 GiB. The zero value is the empty set, which means "no limitation".
type partitionSet struct {
	ranges [][2]int32
}

func (s partitionSet) empty() bool { return len(s.ranges) == 0 }

// size returns the number of partitions in the set.
func (s partitionSet) size() int64 {
	var n int64
	for _, r := range s.ranges {
		n += int64(r[1]) - int64(r[0]) + 1
	}
	return n
}

// contains reports whether p is in the set.
func (s partitionSet) contains(p int32) bool {
	_, found := slices.BinarySearchFunc(s.ranges, p, func(r [2]int32, p int32) int {
		switch {
		case r[1] < p:
			return -1
		case r[0] > p:
			return 1
		}
		return 0
	})
	return found
}

// String returns the canonical form ("1-4,8,10-12").
func (s partitionSet) String() string {
	var b strings.Builder
	for i, r := range s.ranges {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(int64(r[0]), 10))
		if r[1] != r[0] {
			b.WriteByte('-')
			b.WriteString(strconv.FormatInt(int64(r[1]), 10))
		}
	}
	return b.String()
}

// parsePartitionLimitation parses KEDA's partitionLimitation: a comma
// separated list of partition numbers and inclusive "a-b" ranges, spaces
// allowed around numbers. Like KEDA, an empty item ("1,,2") or a malformed
// range ("1-2-3") is an error. Unlike KEDA, which silently drops it, a
// reversed range ("5-1") is an error too.
func parsePartitionLimitation(raw string) (partitionSet, error) {
	fail := func(item, msg string) (partitionSet, error) {
		return partitionSet{}, scalers.NewFieldError("partitionLimitation", raw,
			strconv.Quote(item)+" "+msg+` (expected a list like "1,2,10-20")`)
	}
	num := func(s string) (int32, bool) {
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 32)
		return int32(n), err == nil && n >= 0
	}
	var ranges [][2]int32
	for item := range strings.SplitSeq(raw, ",") {
		item = strings.TrimSpace(item)
		if lo, hi, isRange := strings.Cut(item, "-"); isRange {
			if strings.Contains(hi, "-") {
				return fail(item, "is not a range of two partition numbers")
			}
			a, okA := num(lo)
			b, okB := num(hi)
			if !okA || !okB {
				return fail(item, "is not a range of two partition numbers")
			}
			if a > b {
				return fail(item, "is a reversed range (the first number must not be greater than the second)")
			}
			ranges = append(ranges, [2]int32{a, b})
			continue
		}
		n, ok := num(item)
		if !ok {
			return fail(item, "is not a partition number")
		}
		ranges = append(ranges, [2]int32{n, n})
	}
	return partitionSet{ranges: mergeRanges(ranges)}, nil
}

// mergeRanges sorts ranges and merges overlapping and adjacent ones.
func mergeRanges(rs [][2]int32) [][2]int32 {
	slices.SortFunc(rs, func(a, b [2]int32) int { return cmp.Compare(a[0], b[0]) })
	out := rs[:0]
	for _, r := range rs {
		if n := len(out); n > 0 && int64(r[0]) <= int64(out[n-1][1])+1 {
			if r[1] > out[n-1][1] {
				out[n-1][1] = r[1]
			}
			continue
		}
		out = append(out, r)
	}
	return out
}

// metricName is KEDA's metric name: "kafka-<topic>", or
// "kafka-<group>-topics" without a topic.
func (m *Metadata) metricName() string {
	if m.Topic != "" {
		return scalers.MetricName("kafka", m.Topic)
	}
	return scalers.MetricName("kafka", m.ConsumerGroup, "topics")
}

// lagOptions returns the arithmetic settings.
func (m *Metadata) lagOptions() LagOptions {
	return LagOptions{
		LagThreshold:                       m.LagThreshold,
		OffsetResetPolicy:                  m.OffsetResetPolicy,
		AllowIdleConsumers:                 m.AllowIdleConsumers,
		ExcludePersistentLag:               m.ExcludePersistentLag,
		ScaleToZeroOnInvalidOffset:         m.ScaleToZeroOnInvalidOffset,
		LimitToPartitionsWithLag:           m.LimitToPartitionsWithLag,
		EnsureEvenDistributionOfPartitions: m.EnsureEvenDistributionOfPartitions,
	}
}
