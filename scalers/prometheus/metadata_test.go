package prometheus

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// md returns valid metadata with kv (key, value, ...) applied; an empty
// value deletes the key.
func md(kv ...string) map[string]string {
	return scalertest.WithKeys(map[string]string{"serverAddress": "http://localhost:9090", "query": "up", "threshold": "100"}, kv...)
}

// manyPairs is "<prefix>0=v,<prefix>1=v,..." with n pairs; pairsMap is
// what it parses into.
func manyPairs(prefix string, n int) string {
	items := make([]string, n)
	for i := range items {
		items[i] = prefix + strconv.Itoa(i) + "=v"
	}
	return strings.Join(items, ",")
}

func pairsMap(prefix string, n int) map[string]string {
	m := map[string]string{}
	for i := range n {
		m[prefix+strconv.Itoa(i)] = "v"
	}
	return m
}

func TestParseMetadata(t *testing.T) {
	// Timeout 0: the trigger sets none, the server's default applies.
	defaults := Metadata{ServerAddress: "http://localhost:9090", Query: "up", Threshold: 100, IgnoreNullValues: true}
	with := func(f func(*Metadata)) Metadata { m := defaults; f(&m); return m }
	tests := []struct {
		name    string
		md      map[string]string
		want    Metadata
		wantErr []string // the message of each problem, in the order reported
	}{
		{name: "defaults", md: md(), want: defaults},
		{name: "KEDA's extra keys are ignored", md: md("metricName", "http_requests_total", "scalerAddress", "x:9443", "awsRegion", "eu"), want: defaults},
		{
			name: "every key",
			md: md("namespace", "foo", "ignoreNullValues", "false", "activationThreshold", "50", "threshold", "2.5",
				"customHeaders", "X-Scope-OrgID=team-a, X-Other = b", "queryParameters", "dedup=true,partial_response=false",
				"timeout", "1500", "unsafeSsl", "true"),
			want: with(func(m *Metadata) {
				m.Namespace, m.IgnoreNullValues, m.ActivationThreshold, m.Threshold = "foo", false, 50, 2.5
				m.CustomHeaders = map[string]string{"X-Scope-OrgID": "team-a", "X-Other": "b"}
				m.QueryParameters = map[string]string{"dedup": "true", "partial_response": "false"}
				m.Timeout = 1500 * time.Millisecond
			}),
		},
		{name: "timeout as a duration", md: md("timeout", "2s"), want: with(func(m *Metadata) { m.Timeout = 2 * time.Second })},
		{name: "timeout 0 means none", md: md("timeout", "0"), want: defaults},
		{name: "timeout above the server's maximum is kept: the scaler lowers it", md: md("timeout", "1h"), want: with(func(m *Metadata) { m.Timeout = time.Hour })},
		{name: "negative activation threshold", md: md("activationThreshold", "-1"), want: with(func(m *Metadata) { m.ActivationThreshold = -1 })},

		{name: "empty", md: map[string]string{}, wantErr: []string{`serverAddress: required key is missing`, `query: required key is missing`, `threshold: required key is missing`}},
		{name: "empty serverAddress", md: md("serverAddress", " "), wantErr: []string{`serverAddress: required key is missing`}},
		{name: "serverAddress without scheme", md: md("serverAddress", "localhost:9090"), wantErr: []string{`serverAddress "localhost:9090": expected an http:// or https:// URL`}},
		{name: "serverAddress without host", md: md("serverAddress", "http:///x"), wantErr: []string{`serverAddress "http:///x": URL has no host`}},
		{name: "missing threshold", md: md("threshold", ""), wantErr: []string{"threshold: required key is missing"}},
		{name: "threshold not a number", md: md("threshold", "one"), wantErr: []string{`threshold "one": not a number`}},
		{name: "threshold zero", md: md("threshold", "0"), wantErr: []string{`threshold "0": must be > 0`}},
		{name: "activationThreshold not a number", md: md("activationThreshold", "one"), wantErr: []string{`activationThreshold "one": not a number`}},
		{name: "missing query", md: md("query", ""), wantErr: []string{`query: required key is missing`}},
		{name: "ignoreNullValues not a bool", md: md("ignoreNullValues", "xxxx"), wantErr: []string{`ignoreNullValues "xxxx": not a boolean (true or false)`}},
		{name: "unsafeSsl not a bool", md: md("unsafeSsl", "yes"), wantErr: []string{`unsafeSsl "yes": not a boolean (true or false)`}},
		{name: "customHeaders malformed", md: md("customHeaders", "key1=value1,key2"), wantErr: []string{`customHeaders (secret, not shown): item 2 is not a key=value pair (expected key=value pairs separated by ",")`}},
		{name: "customHeaders bad name", md: md("customHeaders", "bad name=1"), wantErr: []string{`customHeaders (secret, not shown): "bad name" is not a valid HTTP header name`}},
		{name: "customHeaders value with CR LF", md: md("customHeaders", "X-Tenant=a\r\nX-Injected: 1"),
			wantErr: []string{`customHeaders (secret, not shown): the value of "X-Tenant" is not a valid HTTP header value (control characters such as CR and LF cannot be sent)`}},
		{name: "customHeaders over the limit", md: md("customHeaders", manyPairs("X-H", 101)), wantErr: []string{`customHeaders: 101 items, more than the limit of 100`}},
		{name: "customHeaders at the limit", md: md("customHeaders", manyPairs("X-H", 100)), want: with(func(m *Metadata) { m.CustomHeaders = pairsMap("X-H", 100) })},
		{name: "queryParameters malformed", md: md("queryParameters", "key1=value1,key2"), wantErr: []string{`queryParameters (secret, not shown): item 2 is not a key=value pair (expected key=value pairs separated by ",")`}},
		{name: "queryParameters overriding the query", md: md("queryParameters", "query=up"), wantErr: []string{`queryParameters (secret, not shown): parameter "query" is set by the scaler and cannot be overridden`}},
		{name: "queryParameters over the limit", md: md("queryParameters", manyPairs("p", 101)), wantErr: []string{`queryParameters: 101 items, more than the limit of 100`}},
		{name: "serverAddress port out of range", md: md("serverAddress", "http://prom:99999"), wantErr: []string{`serverAddress "http://prom:99999": port "99999": expected 1..65535`}},
		{name: "serverAddress port beyond 32 bits", md: md("serverAddress", "http://prom:4294967297"), wantErr: []string{`serverAddress "http://prom:4294967297": port "4294967297": expected 1..65535`}},
		{name: "serverAddress that does not parse, password hidden", md: md("serverAddress", "http://user:S3CR3T@[::1"), wantErr: []string{`serverAddress "http://xxxxx@[::1": not a URL`}},
		{name: "a 1 MiB query in an error is cut", md: md("query", strings.Repeat("x", 1<<20), "threshold", "-1"), wantErr: []string{`threshold "-1": must be > 0`}},
		{name: "a 1 MiB bad value is cut", md: md("timeout", strings.Repeat("9", 1<<20)+"x"),
			wantErr: []string{`timeout "` + strings.Repeat("9", 120) + `…" (1048577 bytes): not a duration (e.g. "30s" or a number of milliseconds)`}},
		{name: "timeout negative", md: md("timeout", "-1"), wantErr: []string{`timeout "-1": must be >= 0`}},
		{name: "timeout not a number", md: md("timeout", "a"), wantErr: []string{`timeout "a": not a duration (e.g. "30s" or a number of milliseconds)`}},
		{
			name:    "every problem at once",
			md:      map[string]string{"serverAddress": "ftp://x", "threshold": "x", "timeout": "a"},
			wantErr: []string{`query: required key is missing`, `threshold "x": not a number`, `timeout "a": not a duration (e.g. "30s" or a number of milliseconds)`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseMetadata(tc.md)
			if len(tc.wantErr) > 0 {
				scalertest.CheckErr(t, err, scalers.ErrInvalidConfig)
				scalertest.CheckMessage(t, err, "invalid metadata: "+strings.Join(tc.wantErr, "; "))
				return
			}
			if err != nil {
				t.Fatalf("ParseMetadata: %v", err)
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.IgnoreFields(Metadata{}, "Auth"), cmpopts.IgnoreUnexported(Metadata{})); diff != "" {
				t.Errorf("metadata (-want +got):\n%s", diff)
			}
		})
	}
}

// pemPair returns a CA, a client certificate and its key, PEM, for
// metadata that must parse (the TLS material given inline is checked when
// it is parsed).
func pemPair(tb testing.TB) (ca, cert, key string) {
	tb.Helper()
	pki := testenv.NewPKI(tb)
	c := pki.ClientCert(tb, "test")
	return string(pki.CAPEM), string(c.CertPEM), string(c.KeyPEM)
}

func TestParseMetadataAuth(t *testing.T) {
	ca, cert, key := pemPair(t)
	missing := filepath.Join(t.TempDir(), "token")
	tests := []struct {
		name    string
		md      map[string]string
		modes   []string
		wantErr []string
	}{
		{name: "tls", md: md("authModes", "tls", "ca", ca, "cert", cert, "key", key), modes: []string{"tls"}},
		{name: "tls, ca is optional", md: md("authModes", "tls", "cert", cert, "key", key), modes: []string{"tls"}},
		{name: "tls without key", md: md("authModes", "tls", "ca", "caaa", "cert", "ceert"), wantErr: []string{`cert (secret, not shown): given without key: cert and key must be given together`}},
		{name: "tls without cert", md: md("authModes", "tls", "ca", "caaa", "key", "keey"), wantErr: []string{`key (secret, not shown): given without cert: cert and key must be given together`}},
		{name: "bearer", md: md("authModes", "bearer", "bearerToken", "tooooken"), modes: []string{"bearer"}},
		{name: "bearer, token alias", md: md("authModes", "bearer", "token", "tooooken"), modes: []string{"bearer"}},
		{name: "bearer from env", md: md("authModes", "bearer", "bearerTokenFromEnv", "tooooken"), modes: []string{"bearer"}},
		{name: "bearer without token", md: md("authModes", "bearer"), wantErr: []string{`bearerToken: required when authModes includes bearer (set bearerToken, bearerTokenFromEnv or bearerTokenFile)`}},
		{name: "basic", md: md("authModes", "basic", "username", "user", "password", "pass"), modes: []string{"basic"}},
		{name: "basic, password optional", md: md("authModes", "basic", "username", "user"), modes: []string{"basic"}},
		{name: "basic without username", md: md("authModes", "basic"), wantErr: []string{`username: required when authModes includes basic (set username, usernameFromEnv or usernameFile)`}},
		{name: "tls and basic", md: md("authModes", "tls, basic", "ca", ca, "cert", cert, "key", key, "username", "user", "password", "pass"), modes: []string{"tls", "basic"}},
		{name: "tls and basic without certs", md: md("authModes", "tls,basic", "username", "user", "password", "pass"), wantErr: []string{`cert: required when authModes includes tls (set cert, certFromEnv or certFile)`, `key: required when authModes includes tls (set key, keyFromEnv or keyFile)`}},
		{name: "custom", md: md("authModes", "custom", "customAuthHeader", "header", "customAuthValue", "value"), modes: []string{"custom"}},
		{name: "custom without header", md: md("authModes", "custom", "customAuthValue", "value"), wantErr: []string{`customAuthHeader: required when authModes includes custom (set customAuthHeader, customAuthHeaderFromEnv or customAuthHeaderFile)`}},
		{name: "custom without value", md: md("authModes", "custom", "customAuthHeader", "header"), wantErr: []string{`customAuthValue: required when authModes includes custom (set customAuthValue, customAuthValueFromEnv or customAuthValueFile)`}},
		{name: "authMode alias", md: md("authMode", "bearer", "bearerToken", "t0k"), modes: []string{"bearer"}},
		{name: "bearer and basic exclude each other", md: md("authModes", "bearer,basic", "bearerToken", "t", "username", "u"), wantErr: []string{`authModes "bearer,basic": only one of bearer, basic and oauth may be given`}},
		{name: "unknown mode", md: md("authModes", "kerberos"), wantErr: []string{`authModes "kerberos": unknown mode "kerberos", expected a comma-separated list of apiKey, basic, tls, bearer, custom, oauth`}},
		{name: "apiKey is not implemented here", md: md("authModes", "apiKey", "apiKey", "k"), wantErr: []string{`authModes "apiKey": mode "apiKey" is not supported by the prometheus scaler, expected some of basic, bearer, tls, custom, oauth`}},
		{name: "oauth without its keys", md: md("authModes", "oauth"), wantErr: []string{"oauthTokenURI: required when authModes includes oauth", "clientID: required when authModes includes oauth"}},
		{name: "cert without key", md: md("cert", "c"), wantErr: []string{`cert (secret, not shown): given without key: cert and key must be given together`}},
		{name: "missing secret file", md: md("authModes", "bearer", "bearerTokenFile", missing), wantErr: []string{`bearerTokenFile "` + missing + `": cannot read: no such file or directory`}},
		{name: "secret file refused without --secret-file-dir", md: md("authModes", "bearer", "bearerTokenFile", "/var/run/secrets/kubernetes.io/serviceaccount/token"),
			wantErr: []string{`bearerTokenFile "/var/run/secrets/kubernetes.io/serviceaccount/token": not under a --secret-file-dir of the server (none set): reading files of the server's pod is off`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			files := scalers.FileAccess{}
			if tc.md["bearerTokenFile"] == missing {
				files = secretFiles(t, tc.md)
			}
			got, err := ParseMetadata(tc.md, files)
			if len(tc.wantErr) > 0 {
				scalertest.CheckErr(t, err, scalers.ErrInvalidConfig)
				scalertest.CheckMessage(t, err, "invalid metadata: "+strings.Join(tc.wantErr, "; "))
				return
			}
			if err != nil {
				t.Fatalf("ParseMetadata: %v", err)
			}
			if diff := cmp.Diff(tc.modes, got.Auth.Modes); diff != "" {
				t.Errorf("modes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseMetadataHidesSecrets(t *testing.T) {
	m := md("serverAddress", "ftp://admin:hunter2-pw@prom:9090", "authModes", "bearer,basic",
		"bearerToken", "tok-XYZ-123", "username", "u", "password", "pw-ABC-456")
	_, err := ParseMetadata(m)
	if err == nil {
		t.Fatal("got no error, want one")
	}
	for _, secret := range []string{"hunter2-pw", "tok-XYZ-123", "pw-ABC-456"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q contains the secret %q", err, secret)
		}
	}
}
