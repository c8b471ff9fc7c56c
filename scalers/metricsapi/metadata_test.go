package metricsapi

import (
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
	return scalertest.WithKeys(map[string]string{"url": "http://dummy:1230/api/v1/", "valueLocation": "metric.test", "targetValue": "42"}, kv...)
}

func TestParseMetadata(t *testing.T) {
	// Timeout 0: the trigger sets none, the server's default applies.
	defaults := Metadata{URL: "http://dummy:1230/api/v1/", ValueLocation: "metric.test", TargetValue: 42,
		Format: "json", AggregationType: "average"}
	with := func(f func(*Metadata)) Metadata { m := defaults; f(&m); return m }
	ignore := cmp.Options{cmpopts.IgnoreFields(Metadata{}, "Auth"), cmpopts.IgnoreUnexported(Metadata{})}
	tests := []struct {
		name    string
		md      map[string]string
		want    Metadata
		wantErr []string
	}{
		{name: "defaults", md: md(), want: defaults},
		{name: "every key", md: md("targetValue", "8.8", "activationTargetValue", "3.8", "format", "yaml", "timeout", "1000", "unsafeSsl", "true"),
			want: with(func(m *Metadata) {
				m.TargetValue, m.ActivationTargetValue, m.Format, m.Timeout = 8.8, 3.8, "yaml", time.Second
			})},
		{name: "prometheus selector", md: md("format", "prometheus", "valueLocation", `backend_queue_size{queueName="two", instance="zero"}`),
			want: with(func(m *Metadata) {
				m.Format, m.ValueLocation = "prometheus", `backend_queue_size{queueName="two", instance="zero"}`
			})},
		{name: "gjson modifier", md: md("valueLocation", "@this"), want: with(func(m *Metadata) { m.ValueLocation = "@this" })},
		{name: "aggregation off", md: md("aggregateFromKubeServiceEndpoints", "false", "aggregationType", "sum"),
			want: with(func(m *Metadata) { m.AggregationType = "sum" })},

		{name: "no metadata", md: map[string]string{}, wantErr: []string{`url: required key is missing`, `valueLocation: required key is missing`, `targetValue: required key is missing`}},
		{name: "target not a number", md: md("targetValue", "aa"), wantErr: []string{`targetValue "aa": not a number`}},
		{name: "target zero", md: md("targetValue", "0"), wantErr: []string{`targetValue "0": must be > 0`}},
		{name: "activation target not a number", md: md("activationTargetValue", "aa"), wantErr: []string{`activationTargetValue "aa": not a number`}},
		{name: "missing valueLocation", md: md("valueLocation", ""), wantErr: []string{`valueLocation: required key is missing`}},
		{name: "missing url", md: md("url", ""), wantErr: []string{`url: required key is missing`}},
		{name: "missing targetValue", md: md("targetValue", ""), wantErr: []string{`targetValue: required key is missing`}},
		{name: "url without scheme", md: md("url", "dummy:1230/x"), wantErr: []string{`url "dummy:1230/x": expected an http:// or https:// URL`}},
		{name: "url port out of range", md: md("url", "http://stats:99999/x"), wantErr: []string{`url "http://stats:99999/x": port "99999": expected 1..65535`}},
		{name: "url port beyond 32 bits", md: md("url", "http://stats:4294967297/x"), wantErr: []string{`url "http://stats:4294967297/x": port "4294967297": expected 1..65535`}},
		{name: "url that does not parse, password hidden", md: md("url", "https://user:S3CR3T@[stats/x"), wantErr: []string{`url "https://xxxxx@[stats/x": not a URL`}},
		{name: "timeout above the server's maximum is kept: the scaler lowers it", md: md("timeout", "1h"), want: with(func(m *Metadata) { m.Timeout = time.Hour })},
		{name: "a 1 MiB valueLocation is cut", md: md("format", "yaml", "valueLocation", strings.Repeat("a", 1<<20)+".."),
			wantErr: []string{`valueLocation "` + strings.Repeat("a", 120) + `…" (1048578 bytes): empty path segment (expected dot-separated keys, e.g. components.0.tasks) (format yaml)`}},
		{name: "bearerToken with CR LF", md: md("authModes", "bearer", "bearerToken", "t\r\nX-Injected: 1"),
			wantErr: []string{`bearerToken (secret, not shown): not a valid HTTP header value (control characters such as CR and LF cannot be sent)`}},
		{name: "apiKey with LF", md: md("authModes", "apiKey", "apiKeyFromEnv", "k\nx"),
			wantErr: []string{`apiKey (secret, not shown): not a valid HTTP header value (control characters such as CR and LF cannot be sent)`}},
		{name: "customAuthHeader not a header name", md: md("authModes", "custom", "customAuthHeader", "X Key", "customAuthValue", "v"),
			wantErr: []string{"customAuthHeader (secret, not shown): not a valid HTTP header name (letters, digits and !#$%&'*+-.^_`|~ only)"}},
		{name: "customAuthValue with CR", md: md("authModes", "custom", "customAuthHeader", "X-Key", "customAuthValue", "v\rw"),
			wantErr: []string{`customAuthValue (secret, not shown): not a valid HTTP header value (control characters such as CR and LF cannot be sent)`}},
		{name: "timeout negative", md: md("timeout", "-1"), wantErr: []string{`timeout "-1": must be >= 0`}},
		{name: "timeout not a number", md: md("timeout", "a"), wantErr: []string{`timeout "a": not a duration (e.g. "30s" or a number of milliseconds)`}},
		{name: "unsafeSsl not a bool", md: md("unsafeSsl", "yes"), wantErr: []string{`unsafeSsl "yes": not a boolean (true or false)`}},
		{name: "unknown format", md: md("format", "csv"), wantErr: []string{`format "csv": expected one of prometheus, json, xml, yaml`}},
		{name: "bad yaml path", md: md("format", "yaml", "valueLocation", "a..b"), wantErr: []string{`valueLocation "a..b": empty path segment (expected dot-separated keys, e.g. components.0.tasks) (format yaml)`}},
		{name: "bad selector", md: md("format", "prometheus", "valueLocation", `backend_queue_size{invalid=test}`),
			wantErr: []string{`valueLocation "backend_queue_size{invalid=test}": not a metric selector such as queue_length{queue="jobs"}: at position 28: expected a quoted string (format prometheus)`}},
		{name: "bad regexp", md: md("format", "prometheus", "valueLocation", `q{a=~"("}`), wantErr: []string{"valueLocation \"q{a=~\\\"(\\\"}\": not a metric selector such as queue_length{queue=\"jobs\"}: label a: bad regular expression: error parsing regexp: missing closing ): `^(?s:()$` (format prometheus)"}},
		{name: "aggregation needs Kubernetes", md: md("aggregateFromKubeServiceEndpoints", "true"), wantErr: []string{`aggregateFromKubeServiceEndpoints "true": not supported by the external scaler (it would need the Kubernetes API); point url at a single endpoint or aggregate in the source`}},
		{name: "bad aggregation type", md: md("aggregationType", "median"), wantErr: []string{`aggregationType "median": expected one of average, sum, max, min`}},
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
			if diff := cmp.Diff(tc.want, got, ignore); diff != "" {
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
	tests := []struct {
		name    string
		md      map[string]string
		wantErr []string
	}{
		{name: "tls", md: md("authMode", "tls", "ca", ca, "cert", cert, "key", key)},
		{name: "tls, ca not given", md: md("authMode", "tls", "cert", cert, "key", key)},
		{name: "tls, key not given", md: md("authMode", "tls", "ca", "caaa", "cert", "ceert"), wantErr: []string{`cert (secret, not shown): given without key: cert and key must be given together`}},
		{name: "tls, cert not given", md: md("authMode", "tls", "ca", "caaa", "key", "keey"), wantErr: []string{`key (secret, not shown): given without cert: cert and key must be given together`}},
		{name: "apiKey", md: md("authMode", "apiKey", "apiKey", "apiikey")},
		{name: "apiKey as query", md: md("authMode", "apiKey", "apiKey", "apiikey", "method", "query")},
		{name: "apiKey header, custom name", md: md("authMode", "apiKey", "apiKey", "apiikey", "method", "header", "keyParamName", "custom")},
		{name: "apiKey query, custom name", md: md("authMode", "apiKey", "apiKey", "apiikey", "method", "query", "keyParamName", "custom")},
		{name: "apiKey without key", md: md("authMode", "apiKey"), wantErr: []string{`apiKey: required when authModes includes apiKey (set apiKey, apiKeyFromEnv or apiKeyFile)`}},
		{name: "apiKey bad method", md: md("authMode", "apiKey", "apiKey", "k", "method", "cookie"), wantErr: []string{`method "cookie": expected one of header, query`}},
		{name: "apiKey bad header name", md: md("authMode", "apiKey", "apiKey", "k", "keyParamName", "bad name"), wantErr: []string{`keyParamName "bad name": not a valid HTTP header name`}},
		{name: "basic", md: md("authMode", "basic", "username", "user", "password", "pass")},
		{name: "basic without username", md: md("authMode", "basic"), wantErr: []string{`username: required when authModes includes basic (set username, usernameFromEnv or usernameFile)`}},
		{name: "bearer, token alias", md: md("authMode", "bearer", "token", "bearerTokenValue")},
		{name: "bearer without token", md: md("authMode", "bearer"), wantErr: []string{`bearerToken: required when authModes includes bearer (set bearerToken, bearerTokenFromEnv or bearerTokenFile)`}},
		{name: "apiKey and tls", md: md("authMode", "apiKey,tls", "apiKey", "apiikey", "ca", ca, "cert", cert, "key", key)},
		{name: "custom header", md: md("authModes", "custom", "customAuthHeader", "X-Token", "customAuthValue", "v")},
		{name: "oauth is rejected, as KEDA 2.21 rejects it", md: md("authModes", "oauth"), wantErr: []string{`authModes "oauth": mode "oauth" is not supported by the metrics-api scaler, expected some of basic, bearer, apiKey, tls, custom`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseMetadata(tc.md)
			if len(tc.wantErr) > 0 {
				scalertest.CheckErr(t, err, scalers.ErrInvalidConfig)
				scalertest.CheckMessage(t, err, "invalid metadata: "+strings.Join(tc.wantErr, "; "))
				return
			}
			if err != nil {
				t.Fatalf("ParseMetadata: %v", err)
			}
		})
	}
}

func TestParseMetadataHidesSecrets(t *testing.T) {
	_, err := ParseMetadata(md("url", "ftp://admin:hunter2-pw@api", "authModes", "bearer,basic", "bearerToken", "tok-XYZ-123",
		"username", "u", "password", "pw-ABC-456"))
	if err == nil {
		t.Fatal("got no error, want one")
	}
	for _, secret := range []string{"hunter2-pw", "tok-XYZ-123", "pw-ABC-456"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q contains the secret %q", err, secret)
		}
	}
}
