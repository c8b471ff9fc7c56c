package kafka

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// base is a valid trigger with the keys of kv (key, value, ...) set; an
// empty value deletes the key.
func base(kv ...string) map[string]string {
	return scalertest.WithKeys(map[string]string{"bootstrapServers": "foobar:9092", "consumerGroup": "my-group", "topic": "my-topic"}, kv...)
}

// parsed is the part of Metadata the table compares.
type parsed struct {
	Brokers                            []string
	Group, Topic                       string
	Partitions                         string
	LagThreshold, Activation           int64
	OffsetResetPolicy                  string
	AllowIdleConsumers                 bool
	ExcludePersistentLag               bool
	ScaleToZeroOnInvalidOffset         bool
	LimitToPartitionsWithLag           bool
	EnsureEvenDistributionOfPartitions bool
	FullMetadata                       bool
	TLS                                bool
	SASL                               string
}

func summarize(m *Metadata) parsed {
	return parsed{
		Brokers: m.BootstrapServers, Group: m.ConsumerGroup, Topic: m.Topic,
		Partitions: m.partitions.String(), LagThreshold: m.LagThreshold, Activation: m.ActivationLagThreshold,
		OffsetResetPolicy: m.OffsetResetPolicy, AllowIdleConsumers: m.AllowIdleConsumers,
		ExcludePersistentLag: m.ExcludePersistentLag, ScaleToZeroOnInvalidOffset: m.ScaleToZeroOnInvalidOffset,
		LimitToPartitionsWithLag: m.LimitToPartitionsWithLag, EnsureEvenDistributionOfPartitions: m.EnsureEvenDistributionOfPartitions,
		FullMetadata: m.FullMetadata, TLS: m.tlsConfig != nil, SASL: m.SASL,
	}
}

// defaults is what base() parses to.
func defaults(change func(*parsed)) parsed {
	p := parsed{
		Brokers: []string{"foobar:9092"}, Group: "my-group", Topic: "my-topic", LagThreshold: 10,
		OffsetResetPolicy: "latest", FullMetadata: true, SASL: "none",
	}
	if change != nil {
		change(&p)
	}
	return p
}

// TestParseMetadata ports the facts of KEDA's parseKafkaMetadataTestDataset
// (and the auth cases, with the auth keys in the metadata, which is where an
// external scaler receives them).
func TestParseMetadata(t *testing.T) {
	p := newPKI(t)
	ca, cert, key := string(p.CAPEM), string(p.client.CertPEM), string(p.client.KeyPEM)
	tests := []struct {
		name    string
		md      map[string]string
		want    parsed
		wantErr []string // the problems the error lists, in order
	}{
		{name: "nothing", md: map[string]string{},
			wantErr: []string{
				"bootstrapServers: required key is missing",
				"consumerGroup: required key is missing",
			}},
		{name: "no consumer group", md: map[string]string{"bootstrapServers": "foobar:9092"},
			wantErr: []string{"consumerGroup: required key is missing"}},
		{name: "no topic", md: base("topic", ""),
			want: defaults(func(p *parsed) { p.Topic = "" })},
		{name: "partitionLimitation ignored without topic", md: base("topic", "", "partitionLimitation", "1,2,3,4,5,6"),
			want: defaults(func(p *parsed) { p.Topic = "" })},
		{name: "partitionLimitation checked even without topic", md: base("topic", "", "partitionLimitation", "1,x"),
			wantErr: []string{`partitionLimitation "1,x": "x" is not a partition number (expected a list like "1,2,10-20")`}},
		{name: "whitespace partitionLimitation is none", md: base("partitionLimitation", "           "),
			want: defaults(nil)},
		{name: "empty partitionLimitation is none", md: func() map[string]string {
			md := base()
			md["partitionLimitation"] = ""
			return md
		}(), want: defaults(nil)},
		{name: "version not supported", md: base("version", "1.2.3.4"),
			wantErr: []string{`version "1.2.3.4": not a Kafka version (e.g. "2.8.0" or "0.10.2.0")`}},
		{name: "version unknown release", md: base("version", "1.9.0"),
			wantErr: []string{`version "1.9.0": unknown Kafka release, expected one of ` + strings.Join(kversion.VersionStrings(), ", ")}},
		{name: "version supported", md: base("version", "1.0.0", "allowIdleConsumers", "true"),
			want: defaults(func(p *parsed) { p.AllowIdleConsumers = true })},
		{name: "version 0.x", md: base("version", "0.10.2.0"), want: defaults(nil)},
		{name: "lagThreshold negative", md: base("lagThreshold", "-1"),
			wantErr: []string{`lagThreshold "-1": must be > 0`}},
		{name: "lagThreshold zero", md: base("lagThreshold", "0"),
			wantErr: []string{`lagThreshold "0": must be > 0`}},
		{name: "lagThreshold fraction", md: base("lagThreshold", "1.5"),
			wantErr: []string{`lagThreshold "1.5": not an integer`}},
		{name: "lagThreshold 1000000", md: base("lagThreshold", "1000000", "activationLagThreshold", "0"),
			want: defaults(func(p *parsed) { p.LagThreshold = 1000000 })},
		{name: "activationLagThreshold not int", md: base("lagThreshold", "10", "activationLagThreshold", "AA"),
			wantErr: []string{`activationLagThreshold "AA": not an integer`}},
		{name: "activationLagThreshold negative", md: base("activationLagThreshold", "-1"),
			wantErr: []string{`activationLagThreshold "-1": must be >= 0`}},
		{name: "activationLagThreshold set", md: base("activationLagThreshold", "5"),
			want: defaults(func(p *parsed) { p.Activation = 5 })},
		{name: "partitionLimitation list", md: base("partitionLimitation", "1,2,3,4"),
			want: defaults(func(p *parsed) { p.Partitions = "1-4" })},
		{name: "partitionLimitation range", md: base("partitionLimitation", "1-4"),
			want: defaults(func(p *parsed) { p.Partitions = "1-4" })},
		{name: "partitionLimitation mixed", md: base("partitionLimitation", "1-4,8,10-12"),
			want: defaults(func(p *parsed) { p.Partitions = "1-4,8,10-12" })},
		{name: "partitionLimitation wrong type", md: base("partitionLimitation", "a,b,c,d"),
			wantErr: []string{`partitionLimitation "a,b,c,d": "a" is not a partition number (expected a list like "1,2,10-20")`}},
		{name: "more brokers", md: base("bootstrapServers", "foo:9092, bar:9092"),
			want: defaults(func(p *parsed) { p.Brokers = []string{"foo:9092", "bar:9092"} })},
		{name: "brokers from env", md: base("bootstrapServers", "", "bootstrapServersFromEnv", "env:9092"),
			want: defaults(func(p *parsed) { p.Brokers = []string{"env:9092"} })},
		{name: "group and topic from env", md: base("consumerGroup", "", "consumerGroupFromEnv", "g", "topic", "", "topicFromEnv", "t"),
			want: defaults(func(p *parsed) { p.Group, p.Topic = "g", "t" })},
		{name: "broker without port", md: base("bootstrapServers", "kafka"),
			want: defaults(func(p *parsed) { p.Brokers = []string{"kafka"} })},
		{name: "bad brokers", md: base("bootstrapServers", "kafka://a:9092,b:x,c:70000"),
			wantErr: []string{
				`bootstrapServers "kafka://a:9092": expected "host:port", "host" (port 9092) or "[IPv6 address]:port"`,
				`bootstrapServers "b:x": port "x" is not a number from 1 to 65535`,
				`bootstrapServers "c:70000": port "70000" is not a number from 1 to 65535`,
			}},
		{name: "offsetResetPolicy latest", md: base("offsetResetPolicy", "latest"), want: defaults(nil)},
		{name: "offsetResetPolicy earliest", md: base("offsetResetPolicy", "earliest"),
			want: defaults(func(p *parsed) { p.OffsetResetPolicy = "earliest" })},
		{name: "offsetResetPolicy wrong", md: base("offsetResetPolicy", "foo"),
			wantErr: []string{`offsetResetPolicy "foo": expected one of latest, earliest`}},
		{name: "allowIdleConsumers malformed", md: base("allowIdleConsumers", "notvalid"),
			wantErr: []string{`allowIdleConsumers "notvalid": not a boolean (true or false)`}},
		{name: "allowIdleConsumers", md: base("allowIdleConsumers", "true"),
			want: defaults(func(p *parsed) { p.AllowIdleConsumers = true })},
		{name: "excludePersistentLag malformed", md: base("excludePersistentLag", "notvalid"),
			wantErr: []string{`excludePersistentLag "notvalid": not a boolean (true or false)`}},
		{name: "excludePersistentLag", md: base("excludePersistentLag", "true"),
			want: defaults(func(p *parsed) { p.ExcludePersistentLag = true })},
		{name: "scaleToZeroOnInvalidOffset", md: base("scaleToZeroOnInvalidOffset", "true"),
			want: defaults(func(p *parsed) { p.ScaleToZeroOnInvalidOffset = true })},
		{name: "limitToPartitionsWithLag", md: base("limitToPartitionsWithLag", "true"),
			want: defaults(func(p *parsed) { p.LimitToPartitionsWithLag = true })},
		{name: "limitToPartitionsWithLag malformed", md: base("limitToPartitionsWithLag", "notvalid"),
			wantErr: []string{`limitToPartitionsWithLag "notvalid": not a boolean (true or false)`}},
		{name: "allowIdleConsumers with limitToPartitionsWithLag", md: base("allowIdleConsumers", "true", "limitToPartitionsWithLag", "true"),
			wantErr: []string{`limitToPartitionsWithLag "true": cannot be set together with allowIdleConsumers`}},
		{name: "allowIdleConsumers with limitToPartitionsWithLag false", md: base("allowIdleConsumers", "true", "limitToPartitionsWithLag", "false"),
			want: defaults(func(p *parsed) { p.AllowIdleConsumers = true })},
		{name: "limitToPartitionsWithLag without topic", md: base("topic", "", "limitToPartitionsWithLag", "true"),
			wantErr: []string{`limitToPartitionsWithLag "true": needs a topic (set the topic key)`}},
		{name: "ensureEvenDistributionOfPartitions", md: base("ensureEvenDistributionOfPartitions", "true"),
			want: defaults(func(p *parsed) { p.EnsureEvenDistributionOfPartitions = true })},
		{name: "ensureEven with allowIdleConsumers", md: base("ensureEvenDistributionOfPartitions", "true", "allowIdleConsumers", "true"),
			want: defaults(func(p *parsed) { p.EnsureEvenDistributionOfPartitions, p.AllowIdleConsumers = true, true })},
		{name: "limitToPartitionsWithLag with ensureEven", md: base("ensureEvenDistributionOfPartitions", "true", "limitToPartitionsWithLag", "true"),
			wantErr: []string{`ensureEvenDistributionOfPartitions "true": cannot be set together with limitToPartitionsWithLag`}},
		{name: "ensureEven without topic", md: base("topic", "", "ensureEvenDistributionOfPartitions", "true"),
			wantErr: []string{`ensureEvenDistributionOfPartitions "true": needs a topic (set the topic key)`}},
		{name: "fullMetadata true with topic", md: base("fullMetadata", "true"), want: defaults(nil)},
		{name: "fullMetadata true without topic", md: base("topic", "", "fullMetadata", "true"),
			want: defaults(func(p *parsed) { p.Topic = "" })},
		{name: "fullMetadata false with topic", md: base("fullMetadata", "false"),
			want: defaults(func(p *parsed) { p.FullMetadata = false })},
		{name: "fullMetadata false without topic", md: base("topic", "", "fullMetadata", "false"),
			wantErr: []string{`fullMetadata "false": needs a topic (set the topic key)`}},
		{name: "fullMetadata malformed", md: base("fullMetadata", "notabool"),
			wantErr: []string{`fullMetadata "notabool": not a boolean (true or false)`}},

		// SASL and TLS (KEDA's parseKafkaAuthParamsTestDataset).
		{name: "sasl plaintext", md: base("sasl", "plaintext", "username", "admin", "password", "admin"),
			want: defaults(func(p *parsed) { p.SASL = "plaintext" })},
		{name: "sasl scram_sha256", md: base("sasl", "scram_sha256", "username", "admin", "password", "admin"),
			want: defaults(func(p *parsed) { p.SASL = "scram_sha256" })},
		{name: "sasl scram_sha512", md: base("sasl", "scram_sha512", "username", "admin", "password", "admin"),
			want: defaults(func(p *parsed) { p.SASL = "scram_sha512" })},
		{name: "sasl with trailing newline", md: base("sasl", "plaintext\n", "username", "admin", "password", "admin"),
			want: defaults(func(p *parsed) { p.SASL = "plaintext" })},
		{name: "sasl with trailing space", md: base("sasl", "scram_sha512 ", "username", "admin", "password", "admin"),
			want: defaults(func(p *parsed) { p.SASL = "scram_sha512" })},
		{name: "sasl none", md: base("sasl", "none"), want: defaults(nil)},
		{name: "sasl credentials from env", md: base("sasl", "plaintext", "usernameFromEnv", "admin", "passwordFromEnv", "admin"),
			want: defaults(func(p *parsed) { p.SASL = "plaintext" })},
		{name: "sasl wrong", md: base("sasl", "foo", "username", "admin", "password", "admin"),
			wantErr: []string{`sasl "foo": expected one of none, plaintext, scram_sha256, scram_sha512, oauthbearer`}},
		{name: "sasl aws_msk_iam unsupported", md: base("sasl", "aws_msk_iam"),
			wantErr: []string{`sasl "aws_msk_iam": not supported by this scaler (AWS MSK IAM signs with AWS credentials; in KEDA it is saslTokenProvider aws_msk_iam), expected one of none, plaintext, scram_sha256, scram_sha512, oauthbearer`}},
		{name: "saslTokenProvider is checked whatever sasl is, as in KEDA", md: base("saslTokenProvider", "foo"),
			wantErr: []string{`saslTokenProvider "foo": expected bearer (the one token provider of this scaler)`}},
		{name: "sasl gssapi unsupported", md: base("sasl", "gssapi"),
			wantErr: []string{`sasl "gssapi": not supported by this scaler (Kerberos needs a realm, a keytab and a KDC), expected one of none, plaintext, scram_sha256, scram_sha512, oauthbearer`}},
		{name: "sasl missing username", md: base("sasl", "plaintext", "password", "admin"),
			wantErr: []string{"username: required with sasl plaintext (set username, usernameFromEnv or usernameFile)"}},
		{name: "sasl missing password", md: base("sasl", "plaintext", "username", "admin"),
			wantErr: []string{"password: required with sasl plaintext (set password, passwordFromEnv or passwordFile)"}},
		{name: "tls only", md: base("tls", "enable", "ca", ca, "cert", cert, "key", key),
			want: defaults(func(p *parsed) { p.TLS = true })},
		{name: "tls cert and key, public CA", md: base("tls", "enable", "cert", cert, "key", key),
			want: defaults(func(p *parsed) { p.TLS = true })},
		{name: "tls cert, key and keyPassword", md: base("tls", "enable", "cert", cert, "key", string(p.clientKeyEncryptedPEM), "keyPassword", keyPassword),
			want: defaults(func(p *parsed) { p.TLS = true })},
		{name: "tls ca only", md: base("tls", "enable", "ca", ca),
			want: defaults(func(p *parsed) { p.TLS = true })},
		{name: "tls ca only and unsafeSsl", md: base("tls", "enable", "ca", ca, "unsafeSsl", "true"),
			want: defaults(func(p *parsed) { p.TLS = true })},
		{name: "sasl and tls", md: base("sasl", "plaintext", "username", "admin", "password", "admin", "tls", "enable", "ca", ca, "cert", cert, "key", key),
			want: defaults(func(p *parsed) { p.SASL, p.TLS = "plaintext", true })},
		{name: "sasl and tls disabled", md: base("sasl", "plaintext", "username", "admin", "password", "admin", "tls", "disable"),
			want: defaults(func(p *parsed) { p.SASL = "plaintext" })},
		// KEDA's cases give "caaa", "ceert" and "keey": TLS material that
		// does not parse is a configuration error here, found when the
		// trigger is parsed rather than at its first connection.
		{name: "tls material that does not parse", md: base("tls", "enable", "ca", "caaa", "cert", "ceert", "key", "keey"),
			wantErr: []string{"ca (secret, not shown): no PEM certificate found"}},
		{name: "tls pair that does not parse", md: base("tls", "enable", "cert", "ceert", "key", "keey"),
			wantErr: []string{"cert (secret, not shown): invalid certificate/key pair: tls: failed to find any PEM data in certificate input"}},
		{name: "tls wrong keyPassword", md: base("tls", "enable", "cert", cert, "key", string(p.clientKeyEncryptedPEM), "keyPassword", "wrong-password-x"),
			wantErr: []string{"keyPassword (secret, not shown): cannot decrypt key"}},
		{name: "tls key and cert that do not match", md: base("tls", "enable", "cert", string(p.server.CertPEM), "key", key),
			wantErr: []string{"cert (secret, not shown): invalid certificate/key pair: tls: private key does not match public key"}},
		{name: "tls missing cert", md: base("tls", "enable", "ca", "caaa", "key", "keey"),
			wantErr: []string{"key (secret, not shown): given without cert: cert and key must be given together"}},
		{name: "tls missing key", md: base("tls", "enable", "ca", "caaa", "cert", "ceert"),
			wantErr: []string{"cert (secret, not shown): given without key: cert and key must be given together"}},
		{name: "tls disabled ignores a lone cert", md: base("tls", "disable", "cert", "ceert"),
			want: defaults(nil)},
		{name: "tls invalid", md: base("tls", "yes", "ca", "caaa", "cert", "ceert", "key", "keey"),
			wantErr: []string{`tls "yes": expected one of enable, disable`}},
		{name: "unsafeSsl malformed", md: base("tls", "enable", "unsafeSsl", "maybe"),
			wantErr: []string{`unsafeSsl "maybe": not a boolean (true or false)`}},
		{name: "every problem at once", md: map[string]string{
			"bootstrapServers": "a:1", "lagThreshold": "x", "allowIdleConsumers": "true", "limitToPartitionsWithLag": "true",
			"ensureEvenDistributionOfPartitions": "true", "partitionLimitation": "3-1", "sasl": "plaintext", "tls": "enable", "cert": "c",
		}, wantErr: []string{
			"consumerGroup: required key is missing",
			`lagThreshold "x": not an integer`,
			`partitionLimitation "3-1": "3-1" is a reversed range (the first number must not be greater than the second) (expected a list like "1,2,10-20")`,
			`limitToPartitionsWithLag "true": cannot be set together with allowIdleConsumers`,
			`limitToPartitionsWithLag "true": needs a topic (set the topic key)`,
			`ensureEvenDistributionOfPartitions "true": cannot be set together with limitToPartitionsWithLag`,
			`ensureEvenDistributionOfPartitions "true": needs a topic (set the topic key)`,
			"username: required with sasl plaintext (set username, usernameFromEnv or usernameFile)",
			"password: required with sasl plaintext (set password, passwordFromEnv or passwordFile)",
			"cert (secret, not shown): given without key: cert and key must be given together",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ParseMetadata(tc.md, scalers.Limits{})
			if len(tc.wantErr) > 0 {
				checkWholeError(t, err, scalers.ErrInvalidConfig, "invalid metadata: "+strings.Join(tc.wantErr, "; "))
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if diff := cmp.Diff(tc.want, summarize(m)); diff != "" {
				t.Errorf("parsed metadata (-want +got):\n%s", diff)
			}
		})
	}
}

// TestParseMetadataSecretsStayOut checks that credentials never reach an
// error message.
func TestParseMetadataSecretsStayOut(t *testing.T) {
	const pass = "s3cr3t-Passw0rd"
	md := base("sasl", "plaintext", "password", pass, "keyPassword", pass, "tls", "enable", "key", pass, "lagThreshold", pass)
	_, err := ParseMetadata(md, scalers.Limits{})
	if err == nil {
		t.Fatal("got no error, want one (missing username, cert, bad lagThreshold)")
	}
	// lagThreshold is not a secret: a user who puts a password there sees it
	// echoed; everything else must stay hidden.
	msg := strings.Replace(err.Error(), `lagThreshold "`+pass+`"`, "", 1)
	if strings.Contains(msg, pass) {
		t.Errorf("got error %q, want no secret in it", msg)
	}
}

func TestParseMetadataFileSecrets(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	md := base("sasl", "scram_sha512", "usernameFile", write("user", "alice\n"), "passwordFile", write("pass", "wonderland\n"))
	files := secretFiles(t, md)
	m, err := ParseMetadata(md, scalers.Limits{}, files)
	if err != nil {
		t.Fatalf("got error %v, want none", err)
	}
	if u, _ := m.Username.Value(); u != "alice" {
		t.Errorf("got username %q, want alice", u)
	}
	if p, _ := m.Password.Value(); p != "wonderland" {
		t.Errorf("got password %q, want wonderland", p)
	}

	nope := filepath.Join(dir, "nope")
	_, err = ParseMetadata(scalertest.WithKeys(md, "passwordFile", nope), scalers.Limits{}, files)
	checkWholeError(t, err, scalers.ErrInvalidConfig, `invalid metadata: passwordFile "`+nope+`": cannot read: no such file or directory`)

	// Without a FileAccess, as the server without --secret-file-dir:
	// refused, the TLS keys too.
	_, err = ParseMetadata(scalertest.WithKeys(md, "tls", "enable", "caFile", filepath.Join(dir, "ca.crt")), scalers.Limits{})
	refused := func(key, path string) string {
		return key + ` "` + path + `": not under a --secret-file-dir of the server (none set): reading files of the server's pod is off`
	}
	checkWholeError(t, err, scalers.ErrInvalidConfig, "invalid metadata: "+refused("usernameFile", filepath.Join(dir, "user"))+"; "+
		refused("passwordFile", filepath.Join(dir, "pass"))+"; "+refused("caFile", filepath.Join(dir, "ca.crt")))
}

func TestParsePartitionLimitation(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		want    string // canonical form
		wantErr string // the message after `partitionLimitation "<input>": `, without the example list
	}{
		{name: "single value", input: "1", want: "1"},
		{name: "comma-separated list", input: "1,2,3,4", want: "1-4"},
		{name: "list with whitespace around values", input: " 1 , 2 , 3 ", want: "1-3"},
		{name: "simple range", input: "1-4", want: "1-4"},
		{name: "single-element range", input: "3-3", want: "3"},
		{name: "range with whitespace", input: " 1 - 4 ", want: "1-4"},
		{name: "mixed list and ranges", input: "1-4,8,10-12", want: "1-4,8,10-12"},
		{name: "unsorted and overlapping", input: "10-20,1,15-25,2", want: "1-2,10-25"},
		{name: "partition 0", input: "0", want: "0"},
		{name: "huge range stays small", input: "0-2147483647", want: "0-2147483647"},
		{name: "non-numeric value", input: "a,b,c", wantErr: `"a" is not a partition number`},
		{name: "too many parts", input: "1-2-3", wantErr: `"1-2-3" is not a range of two partition numbers`},
		{name: "non-numeric start", input: "a-3", wantErr: `"a-3" is not a range of two partition numbers`},
		{name: "non-numeric end", input: "1-b", wantErr: `"1-b" is not a range of two partition numbers`},
		{name: "negative", input: "-1", wantErr: `"-1" is not a range of two partition numbers`},
		{name: "empty item", input: "1,,2", wantErr: `"" is not a partition number`},
		{name: "trailing comma", input: "1,2,", wantErr: `"" is not a partition number`},
		{name: "out of int32", input: "2147483648", wantErr: `"2147483648" is not a partition number`},
		{name: "reversed range", input: "5-1", wantErr: `"5-1" is a reversed range (the first number must not be greater than the second)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parsePartitionLimitation(tc.input)
			if tc.wantErr != "" {
				checkWholeError(t, err, scalers.ErrInvalidConfig,
					`partitionLimitation "`+tc.input+`": `+tc.wantErr+` (expected a list like "1,2,10-20")`)
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if got.String() != tc.want {
				t.Errorf("got %q, want %q", got.String(), tc.want)
			}
		})
	}
}

func TestPartitionSetContains(t *testing.T) {
	s, err := parsePartitionLimitation("1-4,8,10-12")
	if err != nil {
		t.Fatal(err)
	}
	want := map[int32]bool{1: true, 2: true, 3: true, 4: true, 8: true, 10: true, 11: true, 12: true}
	for p := int32(-1); p < 15; p++ {
		if got := s.contains(p); got != want[p] {
			t.Errorf("contains(%d): got %v, want %v", p, got, want[p])
		}
	}
}

func TestMetricName(t *testing.T) {
	tests := []struct {
		name string
		md   map[string]string
		want string
	}{
		{name: "topic", md: base(), want: "kafka-my-topic"},
		{name: "all topics of the group", md: base("topic", ""), want: "kafka-my-group-topics"},
		{name: "dots and underscores", md: base("topic", "Orders.v1_EU"), want: "kafka-orders-v1-eu"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ParseMetadata(tc.md, scalers.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if got := m.metricName(); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestParseMetadataOAuthBearer covers the keys of sasl oauthbearer (KEDA's
// parseKafkaOAuthbearerAuthParamsTestDataset and the ways they can be
// wrong), with the whole error message.
func TestParseMetadataOAuthBearer(t *testing.T) {
	oauth := func(kv ...string) map[string]string {
		return scalertest.WithKeys(base("sasl", "oauthbearer", "username", "admin", "password", "admin",
			"oauthTokenEndpointUri", "https://website.com"), kv...)
	}
	type parsedOAuth struct {
		Endpoint   string
		Scopes     []string
		Extensions map[string]string
	}
	const example = ` (expected a list like "logicalCluster=lkc-1,identityPoolId=pool-2")`
	tests := []struct {
		name    string
		md      map[string]string
		want    parsedOAuth
		wantErr string
	}{
		{name: "minimal", md: oauth(), want: parsedOAuth{Endpoint: "https://website.com"}},
		{name: "bearer token provider", md: oauth("saslTokenProvider", "bearer", "scopes", "scope"),
			want: parsedOAuth{Endpoint: "https://website.com", Scopes: []string{"scope"}}},
		{name: "several scopes", md: oauth("scopes", "scope1, scope2,"),
			want: parsedOAuth{Endpoint: "https://website.com", Scopes: []string{"scope1", "scope2"}}},
		{name: "credentials from env", md: oauth("username", "", "usernameFromEnv", "id", "password", "", "passwordFromEnv", "secret"),
			want: parsedOAuth{Endpoint: "https://website.com"}},
		{name: "extensions", md: oauth("oauthExtensions", " logicalCluster = lkc-1 ,identityPoolId=pool-2"),
			want: parsedOAuth{Endpoint: "https://website.com", Extensions: map[string]string{"logicalCluster": "lkc-1", "identityPoolId": "pool-2"}}},
		{name: "an extension value may contain =", md: oauth("oauthExtensions", "sig=YWJj=="),
			want: parsedOAuth{Endpoint: "https://website.com", Extensions: map[string]string{"sig": "YWJj=="}}},
		{name: "oauth keys without sasl oauthbearer are ignored", md: base("oauthExtensions", "bad", "oauthTokenEndpointUri", "ftp://x"),
			want: parsedOAuth{}},

		{name: "nothing but sasl", md: base("sasl", "oauthbearer"), wantErr: "invalid metadata: " +
			"username: required with sasl oauthbearer (set username, usernameFromEnv or usernameFile); " +
			"password: required with sasl oauthbearer (set password, passwordFromEnv or passwordFile); " +
			"oauthTokenEndpointUri: required with sasl oauthbearer (the URL of the OAuth 2.0 token endpoint)"},
		{name: "empty endpoint", md: oauth("oauthTokenEndpointUri", ""),
			wantErr: "invalid metadata: oauthTokenEndpointUri: required with sasl oauthbearer (the URL of the OAuth 2.0 token endpoint)"},
		{name: "endpoint not http", md: oauth("oauthTokenEndpointUri", "ftp://idp/token"),
			wantErr: `invalid metadata: oauthTokenEndpointUri "ftp://idp/token": expected an http:// or https:// URL`},
		{name: "endpoint without host", md: oauth("oauthTokenEndpointUri", "https:///token"),
			wantErr: `invalid metadata: oauthTokenEndpointUri "https:///token": URL has no host`},
		{name: "endpoint password hidden", md: oauth("oauthTokenEndpointUri", "ftp://u:hunter2@idp/token"),
			wantErr: `invalid metadata: oauthTokenEndpointUri "ftp://u:xxxxx@idp/token": expected an http:// or https:// URL`},
		{name: "aws_msk_iam token provider", md: oauth("saslTokenProvider", "aws_msk_iam"),
			wantErr: `invalid metadata: saslTokenProvider "aws_msk_iam": not supported by this scaler (AWS MSK IAM signs requests with AWS credentials), expected bearer`},
		{name: "unknown token provider", md: oauth("saslTokenProvider", "foo"),
			wantErr: `invalid metadata: saslTokenProvider "foo": expected bearer (the one token provider of this scaler)`},
		{name: "extension without =", md: oauth("oauthExtensions", "extension_foo=bar,extension_bazbaz"),
			wantErr: `invalid metadata: oauthExtensions "extension_foo=bar,extension_bazbaz": key "extension_foo" is not letters only (the JAAS option extension_foo is the extension foo)` + example},
		{name: "item without =", md: oauth("oauthExtensions", "foo=bar,bazbaz"),
			wantErr: `invalid metadata: oauthExtensions "foo=bar,bazbaz": "bazbaz" is not a key=value pair` + example},
		{name: "empty item", md: oauth("oauthExtensions", "foo=bar,"),
			wantErr: `invalid metadata: oauthExtensions "foo=bar,": "" is not a key=value pair` + example},
		{name: "empty key", md: oauth("oauthExtensions", "=bar"),
			wantErr: `invalid metadata: oauthExtensions "=bar": "=bar" is not a key=value pair` + example},
		{name: "key with a digit", md: oauth("oauthExtensions", "cluster1=a"),
			wantErr: `invalid metadata: oauthExtensions "cluster1=a": key "cluster1" is not letters only` + example},
		{name: "reserved key", md: oauth("oauthExtensions", "auth=Bearer x"),
			wantErr: `invalid metadata: oauthExtensions "auth=Bearer x": key "auth" is reserved for the token` + example},
		{name: "empty value", md: oauth("oauthExtensions", "foo= "),
			wantErr: `invalid metadata: oauthExtensions "foo=": key "foo" has an empty value` + example},
		{name: "value with a control character", md: oauth("oauthExtensions", "foo=a\x01b"),
			wantErr: `invalid metadata: oauthExtensions "foo=a\x01b": the value of "foo" has a character other than printable ASCII, space or tab` + example},
		{name: "value beyond ASCII", md: oauth("oauthExtensions", "foo=café"),
			wantErr: `invalid metadata: oauthExtensions "foo=café": the value of "foo" has a character other than printable ASCII, space or tab` + example},
		{name: "key given twice", md: oauth("oauthExtensions", "foo=a,foo=b"),
			wantErr: `invalid metadata: oauthExtensions "foo=a,foo=b": key "foo" is given twice` + example},
		{name: "every problem at once, no secret shown", md: oauth("username", "", "password", "s3cr3t-value", "oauthTokenEndpointUri", "idp", "oauthExtensions", "x"),
			wantErr: "invalid metadata: username: required with sasl oauthbearer (set username, usernameFromEnv or usernameFile); " +
				`oauthTokenEndpointUri "idp": expected an http:// or https:// URL; ` +
				`oauthExtensions "x": "x" is not a key=value pair` + example},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ParseMetadata(tc.md, scalers.Limits{})
			if tc.wantErr != "" {
				checkWholeError(t, err, scalers.ErrInvalidConfig, tc.wantErr)
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			got := parsedOAuth{Scopes: m.Scopes, Extensions: m.extensions}
			if m.SASL == SASLOAuthBearer {
				got.Endpoint = m.OAuthTokenEndpointURI
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("parsed oauthbearer keys (-want +got):\n%s", diff)
			}
		})
	}
}

// TestParseMetadataAddresses: a bootstrapServers entry is accepted only
// when it reads one way; an IPv6 address is always in brackets, as for
// KEDA's client (which dials the address as it is given).
func TestParseMetadataAddresses(t *testing.T) {
	const want = `expected "host:port", "host" (port 9092) or "[IPv6 address]:port"`
	tests := []struct {
		name    string
		servers string
		want    []string // the parsed brokers
		wantErr []string // the problems the error lists, in order
	}{
		{name: "host and port", servers: "kafka-0.kafka.shop:9093", want: []string{"kafka-0.kafka.shop:9093"}},
		{name: "host without port (9092)", servers: "kafka", want: []string{"kafka"}},
		{name: "IPv4", servers: "10.0.0.5:9092", want: []string{"10.0.0.5:9092"}},
		{name: "IPv6 with port", servers: "[::1]:6379", want: []string{"[::1]:6379"}},
		{name: "IPv6 without port (9092)", servers: "[fd00::5]", want: []string{"[fd00::5]"}},
		{name: "IPv6 with a zone", servers: "[fe80::1%eth0]:9092", want: []string{"[fe80::1%eth0]:9092"}},
		{name: "spaces around items", servers: " a:1 ,  b:2 ", want: []string{"a:1", "b:2"}},
		{name: "unbracketed IPv6 with what may be a port", servers: "::1:6379",
			wantErr: []string{`bootstrapServers "::1:6379": ambiguous: an IPv6 address must be in brackets, "[::1]:6379" for port 6379 or "[::1:6379]" for port 9092`}},
		{name: "unbracketed IPv6", servers: "fd00::5",
			wantErr: []string{`bootstrapServers "fd00::5": an IPv6 address must be in brackets: "[fd00::5]:9092"`}},
		{name: "two colons, not IPv6", servers: "a:b:c", wantErr: []string{`bootstrapServers "a:b:c": ` + want}},
		{name: "port out of range", servers: "a:99999", wantErr: []string{`bootstrapServers "a:99999": port "99999" is not a number from 1 to 65535`}},
		{name: "port beyond 32 bits", servers: "a:4294967297", wantErr: []string{`bootstrapServers "a:4294967297": port "4294967297" is not a number from 1 to 65535`}},
		{name: "port 0", servers: "a:0", wantErr: []string{`bootstrapServers "a:0": port "0" is not a number from 1 to 65535`}},
		{name: "port with a sign", servers: "a:+80", wantErr: []string{`bootstrapServers "a:+80": port "+80" is not a number from 1 to 65535`}},
		{name: "empty port", servers: "a:", wantErr: []string{`bootstrapServers "a:": port "" is not a number from 1 to 65535`}},
		{name: "IPv6 port out of range", servers: "[::1]:70000", wantErr: []string{`bootstrapServers "[::1]:70000": port "70000" is not a number from 1 to 65535`}},
		{name: "no host", servers: ":9092", wantErr: []string{`bootstrapServers ":9092": ` + want}},
		{name: "brackets without an IPv6 address", servers: "[kafka]:9092",
			wantErr: []string{`bootstrapServers "[kafka]:9092": "kafka" in brackets is not an IPv6 address (` + want + `)`}},
		{name: "IPv4 in brackets", servers: "[10.0.0.5]:9092",
			wantErr: []string{`bootstrapServers "[10.0.0.5]:9092": "10.0.0.5" in brackets is not an IPv6 address (` + want + `)`}},
		{name: "unclosed bracket", servers: "[::1:9092", wantErr: []string{`bootstrapServers "[::1:9092": ` + want}},
		{name: "junk after the bracket", servers: "[::1]9092", wantErr: []string{`bootstrapServers "[::1]9092": ` + want}},
		{name: "a URL", servers: "PLAINTEXT://kafka:9092", wantErr: []string{`bootstrapServers "PLAINTEXT://kafka:9092": ` + want}},
		{name: "a host with a character DNS names do not have", servers: "kaf!ka:9092", wantErr: []string{`bootstrapServers "kaf!ka:9092": ` + want}},
		{name: "empty item", servers: "a:1,,b:2",
			wantErr: []string{`bootstrapServers "a:1,,b:2": item 2 of 3 is empty (expected a list like "kafka-0:9092,kafka-1:9092")`}},
		{name: "trailing comma", servers: "a:1,",
			wantErr: []string{`bootstrapServers "a:1,": item 2 of 2 is empty (expected a list like "kafka-0:9092,kafka-1:9092")`}},
		{name: "each bad item", servers: "a:1,::1,b:99999",
			wantErr: []string{
				`bootstrapServers "::1": an IPv6 address must be in brackets: "[::1]:9092"`,
				`bootstrapServers "b:99999": port "99999" is not a number from 1 to 65535`,
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ParseMetadata(base("bootstrapServers", tc.servers), scalers.Limits{})
			if len(tc.wantErr) > 0 {
				checkWholeError(t, err, scalers.ErrInvalidConfig, "invalid metadata: "+strings.Join(tc.wantErr, "; "))
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if diff := cmp.Diff(tc.want, m.BootstrapServers); diff != "" {
				t.Errorf("brokers (-want +got):\n%s", diff)
			}
		})
	}
}

// TestParseMetadataLimits: every list of the metadata is held to the list
// limit when it is parsed, and a range of partitions is counted without
// being expanded.
func TestParseMetadataLimits(t *testing.T) {
	list := func(n int, item func(i int) string) string {
		items := make([]string, n)
		for i := range items {
			items[i] = item(i)
		}
		return strings.Join(items, ",")
	}
	brokers := func(n int) string { return list(n, func(i int) string { return "b" + strconv.Itoa(i) + ":9092" }) }
	numbers := func(n int) string { return list(n, strconv.Itoa) }
	oauth := func(kv ...string) map[string]string {
		return scalertest.WithKeys(base("sasl", "oauthbearer", "username", "id", "password", "secret",
			"oauthTokenEndpointUri", "https://idp.example/token"), kv...)
	}
	tests := []struct {
		name    string
		md      map[string]string
		limits  scalers.Limits
		wantErr string // "" for none
	}{
		{name: "100 brokers", md: base("bootstrapServers", brokers(100))},
		{name: "101 brokers", md: base("bootstrapServers", brokers(101)),
			wantErr: "invalid metadata: bootstrapServers: 101 items, more than the limit of 100"},
		{name: "brokers from env", md: base("bootstrapServers", "", "bootstrapServersFromEnv", brokers(101)),
			wantErr: "invalid metadata: bootstrapServersFromEnv: 101 items, more than the limit of 100"},
		{name: "a lower limit", md: base("bootstrapServers", brokers(4)), limits: scalers.Limits{MaxListItems: 3},
			wantErr: "invalid metadata: bootstrapServers: 4 items, more than the limit of 3"},
		{name: "100 partitions in a range", md: base("partitionLimitation", "0-99")},
		{name: "a range of a million partitions", md: base("partitionLimitation", "0-1000000"),
			wantErr: "invalid metadata: partitionLimitation: 1000001 partitions, more than the limit of 100"},
		{name: "the widest range", md: base("partitionLimitation", "0-2147483647"),
			wantErr: "invalid metadata: partitionLimitation: 2147483648 partitions, more than the limit of 100"},
		{name: "ranges and numbers counted together", md: base("partitionLimitation", "0-49,100-149,200"),
			wantErr: "invalid metadata: partitionLimitation: 101 partitions, more than the limit of 100"},
		{name: "overlaps counted once", md: base("partitionLimitation", "0-99,50-99,7")},
		{name: "101 items", md: base("partitionLimitation", numbers(101)),
			wantErr: "invalid metadata: partitionLimitation: 101 items, more than the limit of 100"},
		{name: "101 items, all the same partition", md: base("partitionLimitation", list(101, func(int) string { return "1" })),
			wantErr: "invalid metadata: partitionLimitation: 101 items, more than the limit of 100"},
		{name: "checked without a topic too", md: base("topic", "", "partitionLimitation", "0-100"),
			wantErr: "invalid metadata: partitionLimitation: 101 partitions, more than the limit of 100"},
		{name: "100 scopes", md: oauth("scopes", list(100, func(i int) string { return "s" + strconv.Itoa(i) }))},
		{name: "101 scopes", md: oauth("scopes", list(101, func(i int) string { return "s" + strconv.Itoa(i) })),
			wantErr: "invalid metadata: scopes: 101 items, more than the limit of 100"},
		{name: "scopes ignored without oauthbearer", md: base("scopes", list(101, func(i int) string { return "s" + strconv.Itoa(i) }))},
		{name: "101 extensions", md: oauth("oauthExtensions", list(101, func(i int) string { return "k=" + strconv.Itoa(i) })),
			wantErr: "invalid metadata: oauthExtensions: 101 items, more than the limit of 100"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { checkParse(t, tc.md, tc.limits, tc.wantErr) })
	}
}

// TestParseMetadataTopic: a topic name Kafka does not allow is refused when
// the trigger is parsed (it could never exist).
func TestParseMetadataTopic(t *testing.T) {
	const want = `not a Kafka topic name (letters, digits, ".", "_" and "-", at most 249 characters)`
	tests := []struct {
		name    string
		md      map[string]string
		wantErr string // "" for none
	}{
		{name: "letters, digits, dot, underscore, dash", md: base("topic", "Orders.v1_EU-2")},
		{name: "249 characters", md: base("topic", strings.Repeat("t", 249))},
		{name: "250 characters", md: base("topic", strings.Repeat("t", 250)),
			// A long value is shortened in the message, as every value is.
			wantErr: "invalid metadata: " + scalers.NewFieldError("topic", strings.Repeat("t", 250), want).Error()},
		{name: "a space", md: base("topic", "my topic"), wantErr: `invalid metadata: topic "my topic": ` + want},
		{name: "a slash", md: base("topic", "shop/orders"), wantErr: `invalid metadata: topic "shop/orders": ` + want},
		{name: "a comma (one topic only)", md: base("topic", "a,b"), wantErr: `invalid metadata: topic "a,b": ` + want},
		{name: "beyond ASCII", md: base("topic", "commandes-é"), wantErr: `invalid metadata: topic "commandes-é": ` + want},
		{name: "dot", md: base("topic", "."), wantErr: `invalid metadata: topic ".": ` + want},
		{name: "dot dot", md: base("topic", ".."), wantErr: `invalid metadata: topic "..": ` + want},
		{name: "from env", md: base("topic", "", "topicFromEnv", "a b"), wantErr: `invalid metadata: topicFromEnv "a b": ` + want},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { checkParse(t, tc.md, scalers.Limits{}, tc.wantErr) })
	}
}

// TestParseMetadataVersion: a version too old for what the trigger asks
// (group offsets, TLS, the SASL mechanism) is refused when it is parsed,
// not answered with a protocol error at the first connection.
func TestParseMetadataVersion(t *testing.T) {
	p := newPKI(t)
	sasl := func(mechanism string, kv ...string) map[string]string {
		return base(append([]string{"sasl", mechanism, "username", "u", "password", "p",
			"oauthTokenEndpointUri", "https://idp.example/token"}, kv...)...)
	}
	tests := []struct {
		name    string
		md      map[string]string
		wantErr string // "" for none
	}{
		{name: "0.8.2 reads group offsets", md: base("version", "0.8.2.0")},
		{name: "0.8.1 does not", md: base("version", "0.8.1.0"),
			wantErr: `invalid metadata: version "0.8.1.0": too old for this scaler, which reads the group's offsets from its coordinator (Kafka 0.8.2 or later)`},
		{name: "TLS from 0.9.0", md: base("version", "0.9.0.0", "tls", "enable", "ca", string(p.CAPEM))},
		{name: "TLS before 0.9.0", md: base("version", "0.8.2.0", "tls", "enable", "ca", string(p.CAPEM)),
			wantErr: `invalid metadata: version "0.8.2.0": too old for tls enable (Kafka 0.9.0 or later)`},
		{name: "PLAIN from 0.10.0", md: sasl("plaintext", "version", "0.10.0.0")},
		{name: "PLAIN before 0.10.0", md: sasl("plaintext", "version", "0.9.0.0"),
			wantErr: `invalid metadata: version "0.9.0.0": too old for sasl plaintext (Kafka 0.10.0 or later)`},
		{name: "SCRAM from 0.10.2", md: sasl("scram_sha256", "version", "0.10.2.0")},
		{name: "SCRAM before 0.10.2", md: sasl("scram_sha512", "version", "0.10.1.0"),
			wantErr: `invalid metadata: version "0.10.1.0": too old for sasl scram_sha512 (Kafka 0.10.2 or later)`},
		{name: "OAUTHBEARER from 2.0.0", md: sasl("oauthbearer", "version", "2.0.0")},
		{name: "OAUTHBEARER before 2.0.0", md: sasl("oauthbearer", "version", "1.1.0"),
			wantErr: `invalid metadata: version "1.1.0": too old for sasl oauthbearer (Kafka 2.0.0 or later)`},
		{name: "every reason at once", md: sasl("scram_sha256", "version", "0.8.0.0", "tls", "enable", "ca", string(p.CAPEM)),
			wantErr: `invalid metadata: version "0.8.0.0": too old for this scaler, which reads the group's offsets from its coordinator (Kafka 0.8.2 or later); ` +
				`version "0.8.0.0": too old for tls enable (Kafka 0.9.0 or later); ` +
				`version "0.8.0.0": too old for sasl scram_sha256 (Kafka 0.10.2 or later)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { checkParse(t, tc.md, scalers.Limits{}, tc.wantErr) })
	}
}

// checkParse parses md within limits and fails unless the error is
// wantErr, whole ("" for none).
func checkParse(t testing.TB, md map[string]string, limits scalers.Limits, wantErr string) {
	t.Helper()
	_, err := ParseMetadata(md, limits)
	if wantErr == "" {
		if err != nil {
			t.Fatalf("got error %v, want none", err)
		}
		return
	}
	checkWholeError(t, err, scalers.ErrInvalidConfig, wantErr)
}
