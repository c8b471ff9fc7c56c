package scalers

import (
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
)

// TestHTTPAuthCheckedWhenParsed: credentials net/http cannot send are
// configuration errors when they are given inline or through FromEnv
// (they cannot change), named as secrets; from a file they are checked
// when the file is read.
func TestHTTPAuthCheckedWhenParsed(t *testing.T) {
	pair := newPEMPair(t)
	dir := t.TempDir()
	crlfFile := filepath.Join(dir, "token")
	if err := os.WriteFile(crlfFile, []byte("tok\r\nX-Injected: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const badValue = "not a valid HTTP header value (control characters such as CR and LF cannot be sent)"
	const badName = "not a valid HTTP header name (letters, digits and !#$%&'*+-.^_`|~ only)"
	many := func(item string, n int) string {
		items := make([]string, n)
		for i := range items {
			items[i] = item + strconv.Itoa(i)
		}
		return strings.Join(items, ",")
	}
	oauth := func(kv ...string) map[string]string {
		return scalertest.WithKeys(map[string]string{"authModes": "oauth", "oauthTokenURI": "https://idp/token", "clientID": "c"}, kv...)
	}
	tests := []struct {
		name    string
		md      map[string]string
		wantErr string // "" when it parses
	}{
		{name: "bearerToken with CR LF", md: map[string]string{"authModes": "bearer", "bearerToken": "tok\r\nX-Injected: 1"},
			wantErr: "bearerToken (secret, not shown): " + badValue},
		{name: "bearerToken from env with LF", md: map[string]string{"authModes": "bearer", "bearerTokenFromEnv": "a\nb"},
			wantErr: "bearerToken (secret, not shown): " + badValue},
		{name: "bearerToken with a trailing newline is trimmed", md: map[string]string{"authModes": "bearer", "bearerToken": "tok\n"}},
		{name: "bearerTokenFile checked when read", md: map[string]string{"authModes": "bearer", "bearerTokenFile": crlfFile}},
		{name: "customAuthHeader not a name", md: map[string]string{"authModes": "custom", "customAuthHeader": "X Org", "customAuthValue": "v"},
			wantErr: "customAuthHeader (secret, not shown): " + badName},
		{name: "customAuthValue with CR", md: map[string]string{"authModes": "custom", "customAuthHeader": "X-Org", "customAuthValue": "v\rw"},
			wantErr: "customAuthValue (secret, not shown): " + badValue},
		{name: "apiKey in a header with LF", md: map[string]string{"authModes": "apiKey", "apiKey": "k\ny"},
			wantErr: "apiKey (secret, not shown): " + badValue},
		{name: "apiKey in the query may hold anything", md: map[string]string{"authModes": "apiKey", "apiKey": "k\ny", "method": "query"}},
		{name: "keyParamName not a header name", md: map[string]string{"authModes": "apiKey", "apiKey": "k", "keyParamName": "X Key"},
			wantErr: `keyParamName "X Key": not a valid HTTP header name`},
		{name: "keyParamName in the query may be anything", md: map[string]string{"authModes": "apiKey", "apiKey": "k", "keyParamName": "X Key", "method": "query"}},
		{name: "username with a colon", md: map[string]string{"authModes": "basic", "username": "a:b"},
			wantErr: `username (secret, not shown): contains ":", which basic authentication cannot carry in a user name (RFC 7617)`},
		{name: "keys of modes not listed are not checked", md: map[string]string{"bearerToken": "a\nb", "customAuthHeader": "X Y"}},
		{name: "ca not PEM", md: map[string]string{"ca": "hunter2"},
			wantErr: "ca (secret, not shown): no PEM certificate found"},
		{name: "cert and key that do not match", md: map[string]string{"authModes": "tls", "cert": pair.cert, "key": newPEMPair(t).key},
			wantErr: "cert (secret, not shown): invalid certificate/key pair: tls: private key does not match public key"},
		{name: "cert and key, used without authModes tls too", md: map[string]string{"cert": "c", "key": "k"},
			wantErr: "cert (secret, not shown): invalid certificate/key pair: tls: failed to find any PEM data in certificate input"},
		{name: "a good pair", md: map[string]string{"authModes": "tls", "cert": pair.cert, "key": pair.key}},
		{name: "oauthTokenURI port", md: oauth("oauthTokenURI", "https://idp:99999/token"),
			wantErr: `oauthTokenURI "https://idp:99999/token": port "99999": expected 1..65535`},
		{name: "oauthTokenURI that does not parse, password hidden", md: oauth("oauthTokenURI", "https://u:S3CR3T@[idp/token"),
			wantErr: `oauthTokenURI "https://xxxxx@[idp/token": not a URL`},
		{name: "authModes over the limit", md: map[string]string{"authModes": many("m", 101)},
			wantErr: "authModes: 101 items, more than the limit of 100"},
		{name: "scopes over the limit", md: oauth("scopes", many("s", 101)),
			wantErr: "scopes: 101 items, more than the limit of 100"},
		{name: "scopes at the limit", md: oauth("scopes", many("s", 100))},
		{name: "endpointParams over the limit", md: oauth("endpointParams", strings.ReplaceAll(many("p=", 101), ",", "&")),
			wantErr: "endpointParams: 101 items, more than the limit of 100"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h authHolder
			err := ParseMetadata(tc.md, &h, allowDirs(t, dir))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("ParseMetadata: %v", err)
				}
				return
			}
			scalertest.CheckErr(t, err, ErrInvalidConfig)
			scalertest.CheckMessage(t, err, "invalid metadata: "+tc.wantErr)
		})
	}

	t.Run("a file is checked when it is read", func(t *testing.T) {
		var h authHolder
		if err := ParseMetadata(map[string]string{"authModes": "bearer", "bearerTokenFile": crlfFile}, &h, allowDirs(t, dir)); err != nil {
			t.Fatal(err)
		}
		req, err := http.NewRequest(http.MethodGet, "http://h/", nil)
		if err != nil {
			t.Fatal(err)
		}
		err = h.Auth.Apply(req)
		scalertest.CheckMessage(t, err, `bearerTokenFile "`+crlfFile+`": `+badValue)
	})
}

func TestHTTPAuthLimits(t *testing.T) {
	var h authHolder
	h.Auth.SetLimits(Limits{MaxListItems: 2})
	err := ParseMetadata(map[string]string{"authModes": "oauth,tls,basic", "username": "u"}, &h)
	scalertest.CheckMessage(t, err, "invalid metadata: authModes: 3 items, more than the limit of 2")
}
