package scalertest

import (
	"bytes"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// FuzzSecret is the known secret the secret fuzz targets place in metadata:
// letters and digits only (no character a URL, a header or a quote would
// escape), and no prefix of it is a suffix, so it appears in a message
// only where the metadata put it.
const FuzzSecret = "S3CRqT9zkW"

// SecretKind says how a metadata key carries a secret.
type SecretKind int

const (
	// SecretValue is a key whose whole value is a credential (password,
	// bearerToken, passwordFromEnv, ...).
	SecretValue SecretKind = iota
	// SecretURL is a URL key whose user info holds a password.
	SecretURL
	// SecretMapValue is a k=v,k=v key (customHeaders) whose values may
	// be credentials.
	SecretMapValue
	// SecretQueryValue is a k=v&k=v key (endpointParams) whose values
	// may be credentials.
	SecretQueryValue
)

// SecretKey is a metadata key that may carry a secret, and the authModes
// that make the scaler use it ("" for none).
type SecretKey struct {
	Key  string
	Kind SecretKind
	Mode string
	// ModeKey is the key of the modes; "" means authModes.
	ModeKey string
}

// SecretKeys returns one SecretValue key per name, for mode, each also
// spelled <name>FromEnv (KEDA puts the resolved value there).
func SecretKeys(mode string, names ...string) []SecretKey {
	var out []SecretKey
	for _, n := range names {
		out = append(out, SecretKey{Key: n, Mode: mode}, SecretKey{Key: n + "FromEnv", Mode: mode})
	}
	return out
}

// HTTPAuthSecretKeys are the keys of scalers.HTTPAuth that may carry a
// secret, for the authModes given (basic, bearer, apiKey, custom, tls,
// oauth).
func HTTPAuthSecretKeys(modes ...string) []SecretKey {
	var out []SecretKey
	for _, m := range modes {
		switch m {
		case "basic":
			out = append(out, SecretKeys(m, "username", "password")...)
		case "bearer":
			out = append(out, SecretKeys(m, "bearerToken", "token")...)
		case "apiKey":
			out = append(out, SecretKeys(m, "apiKey")...)
		case "custom":
			out = append(out, SecretKeys(m, "customAuthHeader", "customAuthValue")...)
		case "tls":
			out = append(out, SecretKeys(m, "ca", "cert", "key", "keyPassword")...)
		case "oauth":
			out = append(out, SecretKeys(m, "clientSecret")...)
			out = append(out, SecretKey{Key: "oauthTokenURI", Kind: SecretURL, Mode: m},
				SecretKey{Key: "endpointParams", Kind: SecretQueryValue, Mode: m})
		}
	}
	return out
}

// PrefixSecretKeys returns keys as the keys of a source of a custom
// trigger spell them: prefix ("source.<name>.") before the key and before
// authModes.
func PrefixSecretKeys(prefix string, keys []SecretKey) []SecretKey {
	out := make([]SecretKey, len(keys))
	for i, k := range keys {
		k.Key = prefix + k.Key
		k.ModeKey = prefix + "authModes"
		out[i] = k
	}
	return out
}

// SecretMetadata is the metadata of one secret fuzz run: base, then the
// fuzzed lines of in ("key=value", which may override base; FuzzSecret is
// taken out of them), then key pos (modulo len(keys)) set to a value that
// holds FuzzSecret where that kind of key carries a secret, with the
// fuzzed text of wrap ("prefix|suffix") around it. Text around a value of
// a map or query key cannot move the secret into a name (its separators
// are dropped). The key's authModes are set unless in sets them.
func SecretMetadata(base map[string]string, keys []SecretKey, pos int, in, wrap string) map[string]string {
	md := WithKeys(base)
	for k, v := range LinesToMap(strings.ReplaceAll(in, FuzzSecret, "")) {
		md[k] = v
	}
	wrap = strings.ReplaceAll(wrap, FuzzSecret, "")
	prefix, suffix, _ := strings.Cut(wrap, "|")
	if pos < 0 {
		pos = -pos
	}
	key := keys[pos%len(keys)]
	modeKey := key.ModeKey
	if modeKey == "" {
		modeKey = "authModes"
	}
	if _, set := md[modeKey]; !set && key.Mode != "" {
		md[modeKey] = key.Mode
	}
	drop := func(s, chars string) string {
		return strings.Map(func(r rune) rune {
			if strings.ContainsRune(chars, r) {
				return -1
			}
			return r
		}, s)
	}
	switch key.Kind {
	case SecretValue:
		md[key.Key] = prefix + FuzzSecret + suffix
	case SecretURL:
		md[key.Key] = prefix + "user:" + FuzzSecret + "@" + suffix
	case SecretMapValue:
		md[key.Key] = "X-Fuzz=" + drop(prefix, ",=") + FuzzSecret + drop(suffix, ",=")
	case SecretQueryValue:
		md[key.Key] = "fuzz=" + drop(prefix, "&=;") + FuzzSecret + drop(suffix, "&=;")
	}
	return md
}

// Echo is an in-memory transport whose every answer repeats what the
// request carried (its URL, headers and body) in the status line and in
// the body, as format words it: a careless server, or a proxy, echoing
// credentials into the errors a scaler reports.
func Echo(status int, format func(echo string) string) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		var parts []string
		parts = append(parts, req.URL.String())
		for _, k := range slices.Sorted(maps.Keys(req.Header)) {
			parts = append(parts, k+": "+strings.Join(req.Header[k], ", "))
		}
		if req.Body != nil {
			b, _ := io.ReadAll(req.Body)
			_ = req.Body.Close()
			parts = append(parts, string(b))
		}
		echo := strings.Join(parts, " | ")
		return &http.Response{
			StatusCode: status,
			Status:     strconv.Itoa(status) + " " + strings.NewReplacer("\r", " ", "\n", " ").Replace(echo),
			Header:     http.Header{"Content-Type": {"application/json"}},
			Body:       io.NopCloser(bytes.NewReader([]byte(format(echo)))),
			Request:    req,
		}, nil
	})
}

// CheckNoSecret fails if FuzzSecret appears in err's message or in a line
// of logs (nil: none kept).
func CheckNoSecret(tb testing.TB, err error, logs *LogLines) {
	tb.Helper()
	if err != nil && strings.Contains(err.Error(), FuzzSecret) {
		tb.Fatalf("the secret is in the error: %s", err)
	}
	if logs == nil {
		return
	}
	for _, l := range logs.Lines() {
		if strings.Contains(l, FuzzSecret) {
			tb.Fatalf("the secret is in a log line: %s", l)
		}
	}
}
