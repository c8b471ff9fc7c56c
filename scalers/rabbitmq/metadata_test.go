package rabbitmq

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

const (
	amqpHost  = "amqp://user:s3cr3t-pw@somehost.com:5236/vhost"
	amqpsHost = "amqps://user:s3cr3t-pw@somehost.com:5671/vhost"
	httpHost  = "http://user:s3cr3t-pw@somehost.com:15672/vhost"
	httpsHost = "https://user:s3cr3t-pw@somehost.com:15671/vhost"
)

// with returns base plus the extra keys.
func with(base map[string]string, kv ...string) map[string]string {
	out := maps.Clone(base)
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// TestParseMetadata follows the cases of KEDA's rabbitmq scaler tests
// (metadata and auth params; KEDA's ResolvedEnv and AuthParams arrive merged
// into the metadata of an external scaler), plus our own. wantErr lists one
// substring per expected field error; nil means success with the resolved
// protocol, mode and target.
func TestParseMetadata(t *testing.T) {
	c := newCerts(t)
	amqpMD := map[string]string{"queueName": "sample", "hostFromEnv": amqpHost}
	httpMD := map[string]string{"queueName": "sample", "host": httpHost}
	tests := []struct {
		name     string
		md       map[string]string
		wantErr  []string
		protocol string
		mode     string
		value    float64
	}{
		// KEDA testRabbitMQMetadata.
		{name: "nothing passed", md: map[string]string{},
			wantErr: []string{"host: required key is missing (set host, hostFromEnv or hostFile)", "queueName: required key is missing"}},
		{name: "queueLength form", md: with(amqpMD, "queueLength", "10"), protocol: "amqp", mode: ModeQueueLength, value: 10},
		{name: "malformed queueLength", md: with(amqpMD, "queueLength", "AA"), wantErr: []string{`queueLength "AA": not a number`}},
		{name: "missing host and malformed queueLength", md: map[string]string{"queueLength": "AA", "queueName": "sample"},
			wantErr: []string{"host: required key is missing", `queueLength "AA": not a number`}},
		{name: "missing queueName", md: map[string]string{"queueLength": "10", "hostFromEnv": amqpHost}, wantErr: []string{"queueName: required key is missing"}},
		{name: "http protocol", md: with(httpMD, "queueLength", "10", "protocol", "http"), protocol: "http", mode: ModeQueueLength, value: 10},
		{name: "queue name with slashes", md: with(amqpMD, "queueLength", "10", "queueName", "namespace/name"), protocol: "amqp", mode: ModeQueueLength, value: 10},
		{name: "vhostName", md: with(amqpMD, "vhostName", "myVhost"), protocol: "amqp", mode: ModeQueueLength, value: DefaultValue},
		{name: "empty vhostName", md: with(amqpMD, "vhostName", ""), protocol: "amqp", mode: ModeQueueLength, value: DefaultValue},
		{name: "auto protocol and unknown scheme", md: map[string]string{"queueName": "sample", "host": "something://"},
			wantErr: []string{`host (secret, not shown): unknown URL scheme "something": expected amqp, amqps, http or https`}},
		{name: "auto protocol and http URL", md: with(httpMD), protocol: "http", mode: ModeQueueLength, value: DefaultValue},
		{name: "auto protocol and https URL", md: with(httpMD, "host", httpsHost), protocol: "http", mode: ModeQueueLength, value: DefaultValue},
		{name: "queueLength and mode", md: with(httpMD, "queueLength", "10", "mode", "QueueLength"), wantErr: []string{`queueLength "10": is deprecated`}},
		{name: "queueLength and value", md: with(httpMD, "queueLength", "10", "value", "20"), wantErr: []string{`queueLength "10": is deprecated`}},
		{name: "queueLength, mode and value", md: with(httpMD, "queueLength", "10", "mode", "QueueLength", "value", "20"), wantErr: []string{`queueLength "10": is deprecated`}},
		{name: "only mode", md: with(httpMD, "mode", "QueueLength"), wantErr: []string{"value: required (and not 0) when mode is given"}},
		{name: "only value", md: with(httpMD, "value", "20"), wantErr: []string{"mode: required when value is given"}},
		{name: "mode and value", md: with(httpMD, "mode", "QueueLength", "value", "20"), protocol: "http", mode: ModeQueueLength, value: 20},
		{name: "invalid mode", md: with(httpMD, "mode", "Feelings", "value", "20"),
			wantErr: []string{`mode "Feelings": expected one of QueueLength, MessageRate, DeliverGetRate, PublishedToDeliveredRatio, ExpectedQueueConsumptionTime`}},
		{name: "invalid value", md: with(httpMD, "mode", "QueueLength", "value", "lots"), wantErr: []string{`value "lots": not a number`}},
		{name: "QueueLength over amqps", md: with(amqpMD, "host", amqpsHost, "mode", "QueueLength", "value", "20"), protocol: "amqp", mode: ModeQueueLength, value: 20},
		{name: "MessageRate over amqps", md: with(amqpMD, "hostFromEnv", amqpsHost, "mode", "MessageRate", "value", "1000"),
			wantErr: []string{`mode "MessageRate": needs the management API`}},
		{name: "MessageRate over amqp", md: with(amqpMD, "mode", "MessageRate", "value", "1000"), wantErr: []string{`mode "MessageRate": needs the management API`}},
		{name: "MessageRate over http", md: with(httpMD, "mode", "MessageRate", "value", "1000"), protocol: "http", mode: ModeMessageRate, value: 1000},
		{name: "MessageRate over https", md: with(httpMD, "host", httpsHost, "mode", "MessageRate", "value", "1000"), protocol: "http", mode: ModeMessageRate, value: 1000},
		{name: "DeliverGetRate over amqp", md: with(amqpMD, "mode", "DeliverGetRate", "value", "1000"), wantErr: []string{`mode "DeliverGetRate": needs the management API`}},
		{name: "DeliverGetRate over http", md: with(httpMD, "mode", "DeliverGetRate", "value", "1000"), protocol: "http", mode: ModeDeliverGetRate, value: 1000},
		{name: "ratio over amqp", md: with(amqpMD, "mode", "PublishedToDeliveredRatio", "value", "2"), wantErr: []string{`mode "PublishedToDeliveredRatio": needs the management API`}},
		{name: "consumption time over http", md: with(httpMD, "mode", "ExpectedQueueConsumptionTime", "value", "30"), protocol: "http", mode: ModeExpectedQueueConsumptionTime, value: 30},
		{name: "amqps and useRegex", md: with(amqpMD, "hostFromEnv", amqpsHost, "useRegex", "true"), wantErr: []string{`useRegex "true": only supported with protocol http`}},
		{name: "http and useRegex", md: with(httpMD, "useRegex", "true"), protocol: "http", mode: ModeQueueLength, value: DefaultValue},
		{name: "MessageRate and useRegex", md: with(httpMD, "mode", "MessageRate", "value", "1000", "useRegex", "true"), protocol: "http", mode: ModeMessageRate, value: 1000},
		{name: "http timeout in milliseconds", md: with(httpMD, "mode", "QueueLength", "value", "1000", "timeout", "1000"), protocol: "http", mode: ModeQueueLength, value: 1000},
		{name: "negative timeout", md: with(httpMD, "mode", "QueueLength", "value", "1000", "timeout", "-10"), wantErr: []string{`timeout "-10": must be >= 0`}},
		{name: "timeout not a duration", md: with(httpMD, "mode", "QueueLength", "value", "1000", "timeout", "error"), wantErr: []string{`timeout "error": not a duration`}},
		{name: "amqp timeout with mode and value", md: with(amqpMD, "mode", "QueueLength", "value", "1000", "timeout", "10"),
			wantErr: []string{`timeout "10ms": not supported with protocol amqp`}},
		{name: "amqp timeout in queueLength form is ignored as in KEDA", md: with(amqpMD, "queueLength", "5", "timeout", "10"), protocol: "amqp", mode: ModeQueueLength, value: 5},
		{name: "pageSize", md: with(httpMD, "useRegex", "true", "pageSize", "100"), protocol: "http", mode: ModeQueueLength, value: DefaultValue},
		{name: "pageSize below 1", md: with(httpMD, "useRegex", "true", "pageSize", "-1"), wantErr: []string{`pageSize "-1": must be >= 1`}},
		{name: "pageSize not a number", md: with(httpMD, "useRegex", "true", "pageSize", "a"), wantErr: []string{`pageSize "a": not an integer`}},
		{name: "activationValue", md: with(amqpMD, "activationValue", "10", "queueLength", "20"), protocol: "amqp", mode: ModeQueueLength, value: 20},
		{name: "malformed activationValue", md: with(amqpMD, "activationValue", "AA", "queueLength", "10"), wantErr: []string{`activationValue "AA": not a number`}},
		{name: "http and excludeUnacknowledged", md: with(httpMD, "useRegex", "true", "excludeUnacknowledged", "true"), protocol: "http", mode: ModeQueueLength, value: DefaultValue},
		{name: "amqp and excludeUnacknowledged", md: with(amqpMD, "useRegex", "true", "excludeUnacknowledged", "true"),
			wantErr: []string{`useRegex "true": only supported with protocol http`, `excludeUnacknowledged "true": only supported with protocol http`}},
		{name: "unsafeSsl", md: with(httpMD, "host", httpsHost, "unsafeSsl", "true"), protocol: "http", mode: ModeQueueLength, value: DefaultValue},
		{name: "unsafeSsl not a boolean", md: with(httpMD, "unsafeSsl", "random"), wantErr: []string{`unsafeSsl "random": not a boolean`}},
		{name: "operation", md: with(httpMD, "useRegex", "true", "operation", "avg"), protocol: "http", mode: ModeQueueLength, value: DefaultValue},
		{name: "unknown operation", md: with(httpMD, "useRegex", "true", "operation", "median"), wantErr: []string{`operation "median": expected one of sum, max, avg`}},

		// KEDA testRabbitMQAuthParamData.
		{name: "tls with ca, cert and key", md: with(amqpMD, "tls", "enable", "ca", c.caPEM, "cert", c.certPEM, "key", c.keyPEM), protocol: "amqp", mode: ModeQueueLength, value: DefaultValue},
		{name: "tls with cert and key", md: with(amqpMD, "tls", "enable", "cert", c.certPEM, "key", c.keyPEM), protocol: "amqp", mode: ModeQueueLength, value: DefaultValue},
		{name: "tls with ca only", md: with(amqpMD, "tls", "enable", "ca", c.caPEM), protocol: "amqp", mode: ModeQueueLength, value: DefaultValue},
		{name: "tls key without cert", md: with(amqpMD, "tls", "enable", "ca", c.caPEM, "key", c.keyPEM), wantErr: []string{"cert and key must be given together"}},
		{name: "tls cert without key", md: with(amqpMD, "tls", "enable", "ca", c.caPEM, "cert", c.certPEM), wantErr: []string{"cert and key must be given together"}},
		{name: "tls not enable or disable", md: with(amqpMD, "tls", "yes", "ca", c.caPEM, "cert", c.certPEM, "key", c.keyPEM), wantErr: []string{`tls "yes": expected one of enable, disable`}},
		{name: "tls with a ca that is not PEM", md: with(amqpMD, "tls", "enable", "ca", "caaa"), wantErr: []string{"no PEM certificate found"}},
		{name: "username and password", md: with(amqpMD, "username", "user", "password", "PASSWORD"), protocol: "amqp", mode: ModeQueueLength, value: DefaultValue},
		{name: "username without password", md: with(amqpMD, "username", "user"), wantErr: []string{"password: username and password must be given together"}},
		{name: "password without username", md: with(amqpMD, "password", "PASSWORD"), wantErr: []string{"username: username and password must be given together"}},
		{name: "vhostName from auth params", md: with(amqpMD, "vhostName", "myVhost"), protocol: "amqp", mode: ModeQueueLength, value: DefaultValue},
		{name: "username and password from env", md: with(amqpMD, "usernameFromEnv", "user", "passwordFromEnv", "Password"), protocol: "amqp", mode: ModeQueueLength, value: DefaultValue},
		{name: "username from env without password", md: with(amqpMD, "usernameFromEnv", "user"), wantErr: []string{"password: username and password must be given together"}},
		{name: "workload identity is not available to an external scaler", md: with(httpMD, "workloadIdentityResource", "rabbitmq-resource-id"),
			wantErr: []string{`workloadIdentityResource "rabbitmq-resource-id": Azure Workload Identity is not available`}},
		{name: "oauth2 minimal", md: with(httpMD, "host", "http://localhost:15672", "oauthTokenURI", "https://oauth.example.com/token", "clientID", "my-client", "clientSecret", "my-secret"),
			protocol: "http", mode: ModeQueueLength, value: DefaultValue},
		{name: "oauth2 with scopes", md: with(httpMD, "host", "https://localhost:15672", "oauthTokenURI", "https://oauth.example.com/token", "clientID", "my-client", "clientSecret", "my-secret", "scopes", "rabbitmq.read,rabbitmq.write"),
			protocol: "http", mode: ModeQueueLength, value: DefaultValue},
		{name: "oauth2 with endpoint params", md: with(httpMD, "host", "http://localhost:15672", "oauthTokenURI", "https://oauth.example.com/token", "clientID", "my-client", "clientSecret", "my-secret", "endpointParams", "audience=rabbitmq&resource=api"),
			protocol: "http", mode: ModeQueueLength, value: DefaultValue},
		{name: "oauth2 with tls", md: with(httpMD, "host", "https://localhost:15672", "oauthTokenURI", "https://oauth.example.com/token", "clientID", "my-client", "clientSecret", "my-secret", "tls", "enable", "ca", c.caPEM),
			protocol: "http", mode: ModeQueueLength, value: DefaultValue},
		{name: "oauth2 with amqp", md: with(amqpMD, "host", "amqp://localhost:5672", "protocol", "amqp", "oauthTokenURI", "https://oauth.example.com/token", "clientID", "my-client", "clientSecret", "my-secret"),
			wantErr: []string{"OAuth2 is only supported with protocol http"}},
		{name: "oauth2 and basic auth", md: with(httpMD, "host", "http://localhost:15672", "oauthTokenURI", "https://oauth.example.com/token", "clientID", "my-client", "clientSecret", "my-secret", "username", "user", "password", "pass"),
			wantErr: []string{"username (secret, not shown): OAuth2 cannot be combined with username/password"}},
		{name: "oauth2 and workload identity", md: with(httpMD, "oauthTokenURI", "https://oauth.example.com/token", "clientID", "my-client", "clientSecret", "my-secret", "workloadIdentityResource", "rabbitmq-resource-id"),
			wantErr: []string{"Azure Workload Identity is not available", "OAuth2 cannot be combined with Azure Workload Identity"}},
		{name: "oauth2 missing token URI", md: with(httpMD, "clientID", "my-client", "clientSecret", "my-secret"), wantErr: []string{"oauthTokenURI: required for OAuth2"}},
		{name: "oauth2 missing client ID", md: with(httpMD, "oauthTokenURI", "https://oauth.example.com/token", "clientSecret", "my-secret"), wantErr: []string{"clientID: required for OAuth2"}},
		{name: "oauth2 missing client secret", md: with(httpMD, "oauthTokenURI", "https://oauth.example.com/token", "clientID", "my-client"), wantErr: []string{"clientSecret: required for OAuth2"}},

		// Ours.
		{name: "defaults", md: amqpMD, protocol: "amqp", mode: ModeQueueLength, value: DefaultValue},
		{name: "protocol does not match the host scheme", md: with(amqpMD, "protocol", "http"),
			wantErr: []string{`protocol "http": does not match the host URL scheme "amqp" (protocol http needs http:// or https://)`}},
		{name: "protocol amqp with an http host", md: with(httpMD, "protocol", "amqp"), wantErr: []string{`protocol "amqp": does not match the host URL scheme "http"`}},
		{name: "unknown protocol", md: with(amqpMD, "protocol", "stomp"), wantErr: []string{`protocol "stomp": expected one of auto, amqp, http`}},
		{name: "http URL without a host", md: with(httpMD, "host", "http://"), wantErr: []string{"host (secret, not shown): URL has no host name"}},
		{name: "host without scheme", md: with(httpMD, "host", "rabbit:15672"), wantErr: []string{`host (secret, not shown): unknown URL scheme "rabbit"`}},
		{name: "host that is no URL", md: with(httpMD, "host", "http://a b:c@%zz"), wantErr: []string{"host (secret, not shown): not a valid URL"}},
		{name: "negative value", md: with(httpMD, "mode", "QueueLength", "value", "-5"), wantErr: []string{`value "-5": must be > 0`}},
		{name: "negative queueLength", md: with(httpMD, "queueLength", "-5"), wantErr: []string{`queueLength "-5": must be > 0`}},
		{name: "value 0 counts as absent", md: with(httpMD, "value", "0"), protocol: "http", mode: ModeQueueLength, value: DefaultValue},
		{name: "negative activationValue means always active", md: with(httpMD, "activationValue", "-1"), protocol: "http", mode: ModeQueueLength, value: DefaultValue},
		{name: "timeout as a duration string", md: with(httpMD, "timeout", "1.5s"), protocol: "http", mode: ModeQueueLength, value: DefaultValue},
		{name: "authModes basic", md: with(httpMD, "authModes", "basic", "username", "u", "password", "p"), protocol: "http", mode: ModeQueueLength, value: DefaultValue},
		{name: "authModes basic without username", md: with(httpMD, "authModes", "basic"), wantErr: []string{"username: required when authModes includes basic"}},
		{name: "authModes bearer", md: with(httpMD, "authModes", "bearer"), wantErr: []string{`authModes "bearer": not supported by the rabbitmq scaler`}},
		{name: "authModes basic and oauth", md: with(httpMD, "authModes", "basic,oauth", "username", "u", "password", "p", "oauthTokenURI", "https://t.example/token", "clientID", "c", "clientSecret", "s"),
			wantErr: []string{`authModes "basic,oauth": basic and oauth cannot be combined`, "OAuth2 cannot be combined with username/password"}},
		{name: "authModes tls without cert", md: with(httpMD, "authModes", "tls", "tls", "enable"), wantErr: []string{"cert: cert and key are required when authModes includes tls"}},
		{name: "oauth token URI not http", md: with(httpMD, "oauthTokenURI", "ftp://t.example/token", "clientID", "c", "clientSecret", "s"),
			wantErr: []string{`oauthTokenURI "ftp://t.example/token": not an http:// or https:// URL`}},
		{name: "oauth endpoint params not a query", md: with(httpMD, "oauthTokenURI", "https://t.example/token", "clientID", "c", "clientSecret", "s", "endpointParams", "a=%zz"),
			wantErr: []string{`endpointParams "a=%zz": not a URL query`}},
		{name: "every relation error at once", md: with(amqpMD, "useRegex", "true", "excludeUnacknowledged", "true", "username", "u", "mode", "MessageRate", "value", "5"),
			wantErr: []string{`mode "MessageRate": needs the management API`, `useRegex "true"`, `excludeUnacknowledged "true"`, "password: username and password must be given together"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			md, err := ParseMetadata(tt.md, scalers.Limits{})
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("got error %q, want none", err)
				}
				if md.ResolvedProtocol() != tt.protocol || md.ResolvedMode() != tt.mode || md.Target() != tt.value {
					t.Errorf("got protocol %q mode %q value %v, want %q %q %v",
						md.ResolvedProtocol(), md.ResolvedMode(), md.Target(), tt.protocol, tt.mode, tt.value)
				}
				return
			}
			if err == nil {
				t.Fatalf("got no error, want %q", tt.wantErr)
			}
			if !errors.Is(err, scalers.ErrInvalidConfig) {
				t.Errorf("got error %q, want it to wrap ErrInvalidConfig", err)
			}
			var me *scalers.MetadataError
			if !errors.As(err, &me) {
				t.Fatalf("got %T, want *scalers.MetadataError", err)
			}
			if got := len(me.Errs) + len(me.Other); got != len(tt.wantErr) {
				t.Errorf("got %d errors (%q), want %d", got, err, len(tt.wantErr))
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("got error %q, want it to contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "s3cr3t-pw") {
				t.Errorf("error %q contains the URL password", err)
			}
		})
	}
}

func TestParseMetadataDefaults(t *testing.T) {
	md, err := ParseMetadata(map[string]string{"queueName": "q", "host": httpHost}, scalers.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if md.PageSize != 100 || md.Operation != OperationSum || md.Timeout != 0 || md.TLS != "disable" || md.ActivationValue != 0 {
		t.Errorf("got pageSize %d operation %q timeout %v tls %q activation %v, want 100 sum 0 disable 0",
			md.PageSize, md.Operation, md.Timeout, md.TLS, md.ActivationValue)
	}
	md, err = ParseMetadata(map[string]string{"queueName": "q", "host": httpHost, "timeout": "250"}, scalers.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if md.Timeout != 250*time.Millisecond {
		t.Errorf("got timeout %v, want 250ms (a number means milliseconds, as in KEDA)", md.Timeout)
	}
}

// TestParseMetadataHostURIFiles: the files an amqps host URI names
// (amqp091-go's cacertfile, certfile and keyfile) follow the <key>File
// rule: refused unless under an allowed directory, and only regular files;
// with tls enable they are not used, and not checked.
func TestParseMetadataHostURIFiles(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, []byte("PEM"), 0o600); err != nil {
		t.Fatal(err)
	}
	allowed, err := scalers.NewFileAccess(dir, "/dev")
	if err != nil {
		t.Fatal(err)
	}
	const token = "/var/run/secrets/kubernetes.io/serviceaccount/token"
	host := func(query string) map[string]string {
		return map[string]string{"host": "amqps://u:s3cr3t-pw@rabbit:5671/v?" + query, "queueName": "q"}
	}
	tests := []struct {
		name    string
		md      map[string]string
		files   scalers.FileAccess
		wantErr string
	}{
		{name: "refused without a directory", md: host("cacertfile=" + token),
			wantErr: `host (secret, not shown): cacertfile of the URI: read secret file ` + token + `: not under a --secret-file-dir of the server (none set): reading files of the server's pod is off`},
		{name: "outside the directories", md: host("certfile=" + token + "&keyfile=" + ca), files: allowed,
			wantErr: `host (secret, not shown): certfile of the URI: read secret file ` + token + `: not under a --secret-file-dir of the server (` + dir + `, /dev)`},
		{name: "traversal", md: host("keyfile=" + dir + "/../../etc/passwd"), files: allowed,
			wantErr: `host (secret, not shown): keyfile of the URI: read secret file ` + dir + `/../../etc/passwd: not under a --secret-file-dir of the server (` + dir + `, /dev)`},
		{name: "a device", md: host("keyfile=/dev/zero"), files: allowed,
			wantErr: `host (secret, not shown): keyfile of the URI: read secret file /dev/zero: not a regular file`},
		{name: "under the directory", md: host("cacertfile=" + ca), files: allowed},
		{name: "not used with tls enable", md: scalertest.WithKeys(host("cacertfile="+token), "tls", "enable", "unsafeSsl", "true")},
		{name: "not used by amqp://", md: map[string]string{"host": "amqp://u:p@rabbit:5672/v?cacertfile=" + token, "queueName": "q"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseMetadata(tt.md, scalers.Limits{}, tt.files)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("got error %q, want none", err)
				}
				return
			}
			checkErr(t, err, scalers.ErrInvalidConfig, "s3cr3t-pw")
			if diff := cmp.Diff("invalid metadata: "+tt.wantErr, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

// TestParseMetadataHostFile reads the host URL from a mounted file.
func TestParseMetadataHostFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "host")
	if err := os.WriteFile(path, []byte(httpHost+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	files, err := scalers.NewFileAccess(dir)
	if err != nil {
		t.Fatal(err)
	}
	md, err := ParseMetadata(map[string]string{"queueName": "q", "hostFile": path}, scalers.Limits{}, files)
	if err != nil {
		t.Fatalf("got error %q, want none", err)
	}
	if md.ResolvedProtocol() != ProtocolHTTP {
		t.Errorf("got protocol %q, want http", md.ResolvedProtocol())
	}
	missing := filepath.Join(dir, "missing")
	_, err = ParseMetadata(map[string]string{"queueName": "q", "hostFile": missing}, scalers.Limits{}, files)
	checkErr(t, err, scalers.ErrInvalidConfig)
	want := fmt.Sprintf(`invalid metadata: hostFile %q: cannot read: no such file or directory`, missing)
	if diff := cmp.Diff(want, err.Error()); diff != "" {
		t.Errorf("error (-want +got):\n%s", diff)
	}
}

// TestManagementPath is KEDA's table of vhost and path resolution for
// management API URLs.
func TestManagementPath(t *testing.T) {
	tests := []struct {
		rawPath, vhostName, wantVhost, wantPrefix string
	}{
		{"myVhost", "", "myVhost", ""},
		{"%2FmyVhost", "", "%2FmyVhost", ""},
		{"/", "", "%2F", ""},
		{"//", "", "%2F", ""},
		{"/%2F", "", "%2F", ""},
		{"", "", "%2F", ""},
		{"sub1/myVhost", "", "myVhost", "/sub1"},
		{"sub1/", "overridenVhost", "overridenVhost", "/sub1"},
		{"myVhost", "overridenVhost", "overridenVhost", ""},
		{"sub1/%2FmyVhost", "", "%2FmyVhost", "/sub1"},
		{"sub1/", "", "%2F", "/sub1"},
		{"sub1/", "myVhost", "myVhost", "/sub1"},
		{"sub1//", "", "%2F", "/sub1"},
		{"sub1/%2F", "", "%2F", "/sub1"},
		{"sub1/sub2/myVhost", "", "myVhost", "/sub1/sub2"},
		{"sub1/sub2/myVhost", "overridenVhost", "overridenVhost", "/sub1/sub2"},
		{"sub1/sub2/%2FmyVhost", "", "%2FmyVhost", "/sub1/sub2"},
		{"sub1/sub2/", "", "%2F", "/sub1/sub2"},
		{"sub1/sub2//", "", "%2F", "/sub1/sub2"},
		{"sub1/sub2/%2F", "", "%2F", "/sub1/sub2"},
		// Ours: vhostName is escaped as one path segment.
		{"/", "/", "%2F", ""},
		{"/x", "team/a b", "team%2Fa%20b", ""},
	}
	for _, tt := range tests {
		t.Run(tt.rawPath+"|"+tt.vhostName, func(t *testing.T) {
			prefix, vhost := managementPath(tt.rawPath, tt.vhostName)
			if prefix != tt.wantPrefix || vhost != tt.wantVhost {
				t.Errorf("got prefix %q vhost %q, want %q %q", prefix, vhost, tt.wantPrefix, tt.wantVhost)
			}
		})
	}
}

// FuzzParseMetadata: any metadata either parses into a usable
// configuration (positive target, resolved protocol and mode) or fails with
// an ErrInvalidConfig error that does not quote the host URL; never a panic.
func FuzzParseMetadata(f *testing.F) {
	f.Add("amqp://u:pw-123@h:5672/v", "auto", "q", "", "", "", "", "false", "100", "")
	f.Add("http://u:pw-123@h:15672/sub/v", "http", "^q.*", "MessageRate", "10", "1", "", "true", "5", "1000")
	f.Add("https://h", "auto", "q", "QueueLength", "0", "-3", "7", "false", "0", "1s")
	f.Add("amqps://h/%2F", "amqp", "q", "DeliverGetRate", "2", "", "", "true", "a", "-1")
	f.Add("ftp://u:pw-123@h", "auto", "", "Feelings", "x", "y", "z", "maybe", "", "soon")
	f.Fuzz(func(t *testing.T, host, protocol, queue, mode, value, activation, queueLength, regex, pageSize, timeout string) {
		md := map[string]string{
			"host": host, "protocol": protocol, "queueName": queue, "mode": mode, "value": value,
			"activationValue": activation, "queueLength": queueLength, "useRegex": regex,
			"pageSize": pageSize, "timeout": timeout,
		}
		m, err := ParseMetadata(md, scalers.Limits{})
		if err != nil {
			if !errors.Is(err, scalers.ErrInvalidConfig) {
				t.Fatalf("got error %q, want ErrInvalidConfig", err)
			}
			if len(strings.TrimSpace(host)) >= 8 && strings.Contains(err.Error(), strings.TrimSpace(host)) {
				t.Fatalf("error %q quotes the host URL", err)
			}
			return
		}
		if !(m.Target() > 0) {
			t.Fatalf("got target %v, want > 0", m.Target())
		}
		if p := m.ResolvedProtocol(); p != ProtocolAMQP && p != ProtocolHTTP {
			t.Fatalf("got protocol %q, want amqp or http", p)
		}
		if !httpOnlyModes[m.ResolvedMode()] && m.ResolvedMode() != ModeQueueLength {
			t.Fatalf("got mode %q", m.ResolvedMode())
		}
		if httpOnlyModes[m.ResolvedMode()] && m.ResolvedProtocol() != ProtocolHTTP {
			t.Fatalf("mode %q accepted with protocol %q", m.ResolvedMode(), m.ResolvedProtocol())
		}
		if m.UseRegex && m.ResolvedProtocol() != ProtocolHTTP {
			t.Fatalf("useRegex accepted with protocol %q", m.ResolvedProtocol())
		}
		if m.PageSize < 1 {
			t.Fatalf("got pageSize %d, want >= 1", m.PageSize)
		}
	})
}

// TestParseMetadataFoundEarly: configuration errors that used to show only
// when a call was made (as Unavailable or Internal) are found when the
// metadata is parsed, with the whole message; the host never shows.
func TestParseMetadataFoundEarly(t *testing.T) {
	c := newCerts(t)
	long := strings.Repeat("q", 256)
	tests := []struct {
		name   string
		md     map[string]string
		limits scalers.Limits
		want   string
	}{
		{name: "http port above 65535", md: map[string]string{"host": "http://u:s3cr3t-pw@h:99999/", "queueName": "q"},
			want: `invalid metadata: host (secret, not shown): port "99999": expected 1..65535`},
		{name: "http port past 32 bits", md: map[string]string{"host": "http://u:s3cr3t-pw@h:4294967297/", "queueName": "q"},
			want: `invalid metadata: host (secret, not shown): port "4294967297": expected 1..65535`},
		{name: "amqp port above 65535", md: map[string]string{"host": "amqp://u:s3cr3t-pw@h:99999/", "queueName": "q"},
			want: `invalid metadata: host (secret, not shown): port "99999": expected 1..65535`},
		{name: "amqp port past 32 bits", md: map[string]string{"host": "amqp://u:s3cr3t-pw@h:4294967297/", "queueName": "q"},
			want: `invalid metadata: host (secret, not shown): port "4294967297": expected 1..65535`},
		{name: "amqps port 0", md: map[string]string{"host": "amqps://u:s3cr3t-pw@h:0/", "queueName": "q"},
			want: `invalid metadata: host (secret, not shown): port "0": expected 1..65535`},
		{name: "IPv6 zone not escaped", md: map[string]string{"host": "http://[::1%lo]:1/", "queueName": "q"},
			want: "invalid metadata: host (secret, not shown): not a valid URL (expected amqp[s]://user:password@host:port/vhost or http[s]://user:password@host:port/vhost)"},
		{name: "oauthTokenURI port", md: map[string]string{"host": "http://h", "queueName": "q", "oauthTokenURI": "https://idp:99999/token", "clientID": "c", "clientSecret": "s3cr3t-pw"},
			want: `invalid metadata: oauthTokenURI "https://idp:99999/token": port "99999": expected 1..65535`},
		{name: "queue name too long", md: map[string]string{"host": "http://h", "queueName": long},
			want: "invalid metadata: queueName: 256 bytes long, more than the 255 a RabbitMQ queue name may have"},
		{name: "queue name too long over AMQP", md: map[string]string{"host": "amqp://h", "queueName": long},
			want: "invalid metadata: queueName: 256 bytes long, more than the 255 a RabbitMQ queue name may have"},
		{name: "vhostName too long for AMQP", md: map[string]string{"host": "amqp://h", "queueName": "q", "vhostName": long},
			want: "invalid metadata: vhostName: 256 bytes long, more than the 255 AMQP carries"},
		{name: "vhost of the URL too long for AMQP", md: map[string]string{"host": "amqp://u:s3cr3t-pw@h/" + long, "queueName": "q"},
			want: "invalid metadata: host (secret, not shown): the vhost of the URL is 256 bytes long, more than the 255 AMQP carries"},
		{name: "request too long for the management API", md: map[string]string{"host": "http://h", "queueName": strings.Repeat("(a|b)", 1600), "useRegex": "true"},
			want: "invalid metadata: queueName: the management API request for it (URL-escaped, with the vhost and path) is 17785 bytes long, more than the 8000 the API accepts"},
		{name: "unbalanced expression", md: map[string]string{"host": "http://h", "queueName": "jobs-([0-9]+", "useRegex": "true"},
			want: `invalid metadata: queueName "jobs-([0-9]+": not a valid regular expression (with useRegex): missing closing ): "jobs-([0-9]+"`},
		{name: "unclosed class", md: map[string]string{"host": "http://h", "queueName": "([", "useRegex": "true"},
			want: `invalid metadata: queueName "([": not a valid regular expression (with useRegex): missing closing ]: "["`},
		{name: "repeat of nothing", md: map[string]string{"host": "http://h", "queueName": "*jobs", "useRegex": "true"},
			want: `invalid metadata: queueName "*jobs": not a valid regular expression (with useRegex): missing argument to repetition operator: "*"`},
		{name: "pageSize above the API's page", md: map[string]string{"host": "http://h", "queueName": "^q", "useRegex": "true", "pageSize": "501"},
			want: `invalid metadata: pageSize "501": must be <= 500 (the management API serves at most 500 queues a page)`},
		{name: "authModes over the limit", md: map[string]string{"host": "http://h", "queueName": "q", "authModes": "basic,tls,oauth,bearer"}, limits: scalers.Limits{MaxListItems: 3},
			want: "invalid metadata: authModes: 4 items, more than the limit of 3"},
		{name: "scopes over the limit", md: map[string]string{"host": "http://h", "queueName": "q", "oauthTokenURI": "https://idp/token", "clientID": "c", "clientSecret": "s3cr3t-pw", "scopes": "a,b,c,d"},
			limits: scalers.Limits{MaxListItems: 3},
			want:   "invalid metadata: scopes: 4 items, more than the limit of 3"},
		{name: "SASL EXTERNAL without TLS", md: map[string]string{"host": "amqp://h", "queueName": "q", "tls": "enable", "cert": c.certPEM, "key": c.keyPEM},
			want: "invalid metadata: cert (secret, not shown): with no password, the client certificate is the login (SASL EXTERNAL), which needs TLS: the host URL is amqp://, use amqps://"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseMetadata(tt.md, tt.limits)
			wantErr(t, err, scalers.ErrInvalidConfig, tt.want, "s3cr3t-pw")
		})
	}
}

// TestParseMetadataAccepted: what the checks above must not refuse.
func TestParseMetadataAccepted(t *testing.T) {
	tests := []struct {
		name        string
		md          map[string]string
		wantWarning string
	}{
		{name: "an IPv6 zone, escaped", md: map[string]string{"host": "http://[::1%25lo]:15672/", "queueName": "q"}},
		{name: "port 65535", md: map[string]string{"host": "amqp://h:65535/", "queueName": "q"}},
		{name: "a 255-byte queue name", md: map[string]string{"host": "amqp://h", "queueName": strings.Repeat("q", 255)}},
		{name: "pageSize above 500 without useRegex (unused, as in KEDA)", md: map[string]string{"host": "http://h", "queueName": "q", "pageSize": "1000"}},
		{name: "pageSize 500", md: map[string]string{"host": "http://h", "queueName": "^q", "useRegex": "true", "pageSize": "500"}},
		{name: "a lookahead (PCRE, not Go)", md: map[string]string{"host": "http://h", "queueName": "^(?!tmp-)", "useRegex": "true"},
			wantWarning: "error parsing regexp: invalid or unsupported Perl syntax: `(?!`"},
		{name: "a long expression that fits", md: map[string]string{"host": "http://h", "queueName": strings.Repeat("(a|b)", 600), "useRegex": "true"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			md, err := ParseMetadata(tt.md, scalers.Limits{})
			if err != nil {
				t.Fatalf("got error %q, want none", err)
			}
			if md.regexWarning != tt.wantWarning {
				t.Errorf("got warning %q, want %q", md.regexWarning, tt.wantWarning)
			}
		})
	}
}

// TestZoneHostIsUnavailable: a host with an IPv6 zone makes a request the
// transport sends (here to nothing): Unavailable, not Internal.
func TestZoneHostIsUnavailable(t *testing.T) {
	s := newBoundScaler(t, map[string]string{"host": "http://[::1%25lo]:1/", "queueName": "q"}, testBound, frozenClock())
	err := metricsWithin(t, s, testBound, "a call to [::1%lo]:1")
	checkErr(t, err, scalers.ErrUnavailable)
}
