package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
)

// serveDefaults are the defaults fileFlags' mapping falls back on for
// a host or port the file leaves out.
func serveDefaults(flag string) string {
	return map[string]string{"http-addr": "127.0.0.1:8080", "grpc-addr": "127.0.0.1:9443"}[flag]
}

func noEnv(string) string { return "" }

// TestServeConfigDesign: the design's backend configuration
// (shared/design/original-design.md, "Backend Configuration"), verbatim
// in testdata, parses and maps onto serve's flags.
func TestServeConfigDesign(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "serve-config-design.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := parseServeConfig(raw)
	if err != nil {
		t.Fatalf("the design's configuration: %v", err)
	}
	got, err := c.flagValues(noEnv, serveDefaults)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"http-addr":                     "0.0.0.0:8080",
		"grpc-addr":                     "0.0.0.0:50051",
		"db":                            "postgres://hpa_user:secure_password@localhost:5432/hpa_autoscaler?sslmode=require",
		"db-max-connections":            "50",
		"grpc-max-concurrent-streams":   "1000",
		"grpc-keepalive-time":           "2h0m0s",
		"grpc-keepalive-timeout":        "20s",
		"grpc-max-connection-age":       "30m0s",
		"grpc-max-connection-age-grace": "5m0s",
		"tls-cert":                      "/etc/certs/server.crt",
		"tls-key":                       "/etc/certs/server.key",
		"tls-client-ca":                 "/etc/certs/ca.crt",
		"rate-limit":                    "1000",
		"rate-limit-burst":              "100",
		"metrics-addr":                  "0.0.0.0:9091",
		"metrics-path":                  "/metrics",
		"log-level":                     "info",
		"log-format":                    "json",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("flags (-want +got):\n%s", diff)
	}
	// The password from the environment wins over the file's.
	got, err = c.flagValues(func(k string) string {
		if k == passwordEnv {
			return "from env/?@"
		}
		return ""
	}, serveDefaults)
	if err != nil {
		t.Fatal(err)
	}
	if want := "postgres://hpa_user:from%20env%2F%3F%40@localhost:5432/hpa_autoscaler?sslmode=require"; got["db"] != want {
		t.Errorf("db with %s: got %q, want %q", passwordEnv, got["db"], want)
	}
}

func TestServeConfigDatabase(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte("file-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, yaml, want string
	}{
		{name: "sqlite", yaml: "type: sqlite\n    path: /var/lib/hpa/hpa.db", want: "sqlite:/var/lib/hpa/hpa.db"},
		{name: "url", yaml: "url: sqlite:x.db", want: "sqlite:x.db"},
		{name: "url with a password file", yaml: "url: postgres://hpa@db:5432/hpa\n    passwordFile: " + pwFile, want: "postgres://hpa:file-secret@db:5432/hpa"},
		{name: "password file", yaml: "type: postgres\n    host: db\n    name: hpa\n    user: u\n    passwordFile: " + pwFile, want: "postgres://u:file-secret@db:5432/hpa"},
		{name: "no ssl key, no password", yaml: "type: postgresql\n    host: ::1\n    port: 6432\n    name: hpa", want: "postgres://[::1]:6432/hpa"},
		{name: "ssl off", yaml: "type: postgres\n    host: db\n    name: hpa\n    ssl: false", want: "postgres://db:5432/hpa?sslmode=disable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseServeConfig([]byte("backend:\n  database:\n    " + tc.yaml + "\n"))
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.databaseURL(noEnv)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestServeConfigErrors: every problem is an error naming its key (and
// its line when the parser knows it), all of them at once.
func TestServeConfigErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	tests := []struct {
		name, yaml, want string
	}{
		{name: "empty", yaml: "", want: "empty: expected the backend: block"},
		{name: "not a mapping", yaml: "- a\n", want: "line 1: expected a mapping with the backend: block"},
		{name: "unknown keys", yaml: "backend:\n  rateLimit:\n    burstsize: 1\n  prot: 1\nfrontend: {}\n",
			want: "line 3: backend.rateLimit.burstsize: unknown key\nline 4: backend.prot: unknown key\nline 5: frontend: unknown key"},
		{name: "wrong types", yaml: "backend:\n  port: abc\n  grpc:\n    tls:\n      enabled: yes please\n  rateLimit: 5\n  database:\n    password: [a]\n    ssl: 1\n",
			want: "line 2: backend.port \"abc\": expected an integer\nline 5: backend.grpc.tls.enabled \"yes please\": expected true or false\n" +
				"line 6: backend.rateLimit: expected a mapping\nline 8: backend.database.password: expected a string\nline 9: backend.database.ssl \"1\": expected true or false"},
		{name: "bad durations", yaml: "backend:\n  grpc:\n    keepaliveTime: 2 hours\n    keepaliveTimeout: 20\n",
			want: "line 3: backend.grpc.keepaliveTime \"2 hours\": expected a duration such as \"15s\"\nline 4: backend.grpc.keepaliveTimeout \"20\": expected a duration such as \"15s\""},
		{name: "a secret of the wrong type is not quoted", yaml: "backend:\n  auth:\n    jwt:\n      secret: 12345\n",
			want: "line 4: backend.auth.jwt.secret: expected a string"},
		{name: "negative ports", yaml: "backend:\n  port: -1\n  grpcPort: 70000\n  metrics:\n    port: -5\n",
			want: "backend.port -1: expected 0 (a free port) to 65535\nbackend.grpcPort 70000: expected 0 (a free port) to 65535\nbackend.metrics.port -5: expected 0 (a free port) to 65535"},
		{name: "host", yaml: "backend:\n  host: \"a b\"\n", want: `backend.host "a b": expected an IP address or a host name`},
		{name: "same port twice", yaml: "backend:\n  port: 8080\n  grpcPort: 8080\n", want: "backend.grpcPort 8080: same as backend.port"},
		{name: "client auth", yaml: "backend:\n  grpc:\n    tls:\n      certFile: c\n      keyFile: k\n      clientAuth: require\n",
			want: `backend.grpc.tls.clientAuth "require": expected require-and-verify or none`},
		{name: "client auth without a CA", yaml: "backend:\n  grpc:\n    tls:\n      certFile: c\n      keyFile: k\n      clientAuth: require-and-verify\n",
			want: `backend.grpc.tls.clientAuth "require-and-verify": needs caFile (the CA that signs the clients' certificates)`},
		{name: "TLS halves", yaml: "backend:\n  grpc:\n    tls:\n      enabled: true\n      caFile: ca\n",
			want: "backend.grpc.tls.certFile: required with enabled: true\nbackend.grpc.tls.caFile: needs certFile and keyFile (mTLS is TLS plus client certificates)"},
		{name: "HTTP client auth", yaml: "backend:\n  http:\n    clientAuth: optional\n",
			want: `backend.http.clientAuth "optional": expected require-except-probes or require`},
		{name: "password inline and in a file", yaml: "backend:\n  database:\n    type: postgres\n    host: db\n    name: hpa\n    user: u\n    password: hunter2\n    passwordFile: /run/pw\n",
			want: "backend.database.password: given inline and in passwordFile: keep one"},
		{name: "database keys", yaml: "backend:\n  database:\n    type: sqlite\n    host: db\n    maxConnections: 0\n",
			want: "backend.database.maxConnections 0: expected at least 1\nbackend.database.host: only with type postgres\nbackend.database.path \"\": expected the SQLite file (without '?' or '#')"},
		{name: "url and keys", yaml: "backend:\n  database:\n    url: postgres://u:hunter2@db/hpa\n    type: postgres\n    host: db\n    password: other\n",
			want: "backend.database.url: give either url or type and its keys\nbackend.database.host: not with url (put it in the URL)\nbackend.database.password: the url has a password already"},
		{name: "bad url", yaml: "backend:\n  database:\n    url: mysql://u:hunter2@db/hpa\n",
			want: "backend.database.url (secret, not shown): expected sqlite:PATH or postgres://..."},
		{name: "database type", yaml: "backend:\n  database:\n    type: mysql\n", want: `backend.database.type "mysql": expected postgres or sqlite`},
		{name: "rate limit", yaml: "backend:\n  rateLimit:\n    requestsPerMinute: 0\n    burstSize: -1\n",
			want: "backend.rateLimit.requestsPerMinute 0: expected at least 1 (enabled: false turns the limit off)\nbackend.rateLimit.burstSize -1: expected at least 1"},
		{name: "gRPC", yaml: "backend:\n  grpc:\n    maxConcurrentStreams: -1\n    keepaliveTime: 0s\n    maxConnectionAge: -1m\n",
			want: "backend.grpc.maxConcurrentStreams -1: expected 0 (no limit) or more\nbackend.grpc.keepaliveTime 0s: must be > 0\nbackend.grpc.maxConnectionAge -1m0s: must not be negative (0: no bound)"},
		{name: "metrics path on the HTTP port", yaml: "backend:\n  port: 8080\n  metrics:\n    port: 8080\n    path: /stats\n",
			want: `backend.metrics.path "/stats": the HTTP port serves /metrics only; set metrics.port to another port to serve this path there`},
		{name: "logging", yaml: "backend:\n  logging:\n    level: loud\n    format: xml\n",
			want: "backend.logging.format \"xml\": expected json, structured (json) or text\nbackend.logging.level \"loud\": expected debug, info, warn or error"},
		{name: "aliases", yaml: "backend:\n  port: &p 1\n  grpcPort: *p\n",
			want: "line 2: backend.port: anchors and aliases are not supported\nline 3: backend.grpcPort: anchors and aliases are not supported"},
		{name: "duplicate key", yaml: "backend:\n  port: 1\n  port: 2\n", want: "line 3: backend.port: also set at line 2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseServeConfig([]byte(tc.yaml))
			if err == nil {
				t.Fatal("no error")
			}
			if diff := cmp.Diff(tc.want, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			for _, secret := range []string{"hunter2", "12345"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q holds the secret %q", err, secret)
				}
			}
		})
	}
	t.Run("password file not a password file", func(t *testing.T) {
		c, err := parseServeConfig([]byte("backend:\n  database:\n    url: postgres://u@db/hpa\n    passwordFile: /dev/zero\n"))
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.databaseURL(noEnv)
		if want := "backend.database.passwordFile /dev/zero: more than 65536 bytes: not a password file"; err == nil || err.Error() != want {
			t.Errorf("got %v, want %s", err, want)
		}
	})
	t.Run("password file missing", func(t *testing.T) {
		c, err := parseServeConfig([]byte("backend:\n  database:\n    url: postgres://u@db/hpa\n    passwordFile: " + missing + "\n"))
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.databaseURL(noEnv)
		if want := "backend.database.passwordFile " + missing + ": no such file or directory"; err == nil || err.Error() != want {
			t.Errorf("got %v, want %s", err, want)
		}
	})
}

// FuzzServeConfig: the parser never panics, and no error holds a
// secret. PASSWORD in the input, where it is the whole value of a
// password, secret or url key, is replaced by the password (a quoted
// YAML string); a leak is the password in the error of that input but
// not in the error of the same input with another password (so a key or
// a word of the message that happens to be the password is not one).
func FuzzServeConfig(f *testing.F) {
	design, err := os.ReadFile(filepath.Join("testdata", "serve-config-design.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	seed := strings.ReplaceAll(string(design), `"secure_password"`, "PASSWORD")
	seed = strings.ReplaceAll(seed, `"your-jwt-secret"`, "PASSWORD")
	f.Add(seed, "s3cr3t-pw")
	f.Add("backend:\n  database:\n    password: PASSWORD\n    ssl: 1\n  port: x\n", "hunter22")
	f.Add("backend:\n  database:\n    url: PASSWORD\n", "postgres://u:pw@h/db")
	f.Add("backend:\n  database:\n    url: PASSWORD\n", "mysql://u:pw@h/db")
	f.Add("backend:\n  auth:\n    jwt:\n      secret: PASSWORD\n      expiration: 1\n", "xyzzy123")
	f.Add("backend:\n  database:\n    type: postgres\n    host: h\n    name: n\n    password: PASSWORD\n    passwordFile: /x\n", "hunter22")
	f.Add("backend:\n  port:\n    password: PASSWORD\n  password: PASSWORD\n", "hunter22")
	secretLine := regexp.MustCompile(`^\s*(password|secret|url):\s*PASSWORD\s*$`)
	f.Fuzz(func(t *testing.T, doc, password string) {
		if len(password) < 6 || strings.Contains(doc, password) {
			return // out of the property's domain: a password that is short or in the document itself
		}
		for _, line := range strings.Split(doc, "\n") {
			if strings.Contains(line, "PASSWORD") && !secretLine.MatchString(line) {
				return // out of the domain: PASSWORD must stand only as a secret key's value
			}
		}
		errOf := func(pw string) string {
			q, _ := json.Marshal(pw)
			done := make(chan error, 1)
			go func() {
				c, err := parseServeConfig([]byte(strings.ReplaceAll(doc, "PASSWORD", string(q))))
				if err == nil {
					_, err = c.flagValues(noEnv, serveDefaults)
				}
				done <- err
			}()
			select {
			case err := <-done:
				if err == nil {
					return ""
				}
				return err.Error()
			case <-time.After(10 * time.Second):
				t.Fatalf("no answer within 10s for %q", doc)
				return ""
			}
		}
		got := errOf(password)
		if strings.Contains(got, password) && !strings.Contains(errOf("other-"+strconv.Itoa(len(password))), password) {
			t.Errorf("error %q holds the password %q", got, password)
		}
	})
}

// writeConfig writes content to dir/serve-config.yaml and returns its path.
func writeConfig(t testing.TB, dir, content string) string {
	t.Helper()
	p := filepath.Join(dir, "serve-config.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestServeConfigUsageErrors: a bad file is exit code 2, the message
// naming the file and the key.
func TestServeConfigUsageErrors(t *testing.T) {
	dir := t.TempDir()
	file := writeConfig(t, dir, "backend:\n  rateLimit:\n    burstsize: 5\n  database:\n    type: postgres\n    host: db\n    name: n\n    user: u\n    password: hunter2\n    passwordFile: /x\n")
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"serve", "--config", file}, strings.NewReader(""), &stdout, &stderr)
	if code != 2 {
		t.Fatalf("exit code %d, want 2; stderr %q", code, stderr.String())
	}
	want := "error: --config " + file + ": line 3: backend.rateLimit.burstsize: unknown key\n"
	if stderr.String() != want {
		t.Errorf("stderr %q, want %q", stderr.String(), want)
	}
}

// configGet GETs /api/v1/config and decodes it.
func configGet(t *testing.T, base, token string) (shownConfig, string) {
	t.Helper()
	code, body := get(t, base+"/api/v1/config", token)
	if code != http.StatusOK {
		t.Fatalf("GET /api/v1/config: %d %s", code, body)
	}
	var c shownConfig
	if err := json.Unmarshal([]byte(body), &c); err != nil {
		t.Fatalf("GET /api/v1/config: %v: %s", err, body)
	}
	return c, body
}

// reload POSTs /api/v1/config/reload.
func reload(t *testing.T, base, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/api/v1/config/reload", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

// serveConfigYAML is a backend configuration on PostgreSQL with a
// password and a JWT secret, on free loopback ports.
func serveConfigYAML(pgPort int, dbName, rateLimit string) string {
	return fmt.Sprintf(`backend:
  port: 0
  grpcPort: 0
  host: 127.0.0.1
  database:
    type: postgres
    host: 127.0.0.1
    port: %d
    name: %s
    user: postgres
    password: "db-secret-Quux42"
    ssl: false
    maxIdleConnections: 10
  auth:
    jwt:
      secret: "jwt-secret-Zork99"
      expiration: 24h
  rateLimit:
%s
  logging:
    level: info
    format: json
  audit:
    instance: from-file
`, pgPort, dbName, rateLimit)
}

// TestServeConfigReload runs serve with --config on PostgreSQL (whose
// trust authentication takes any password) and checks, through the API:
// the configuration in effect with its secrets redacted, the precedence
// of flags and HPA_* variables over the file, a reload that changes the
// rate limit (the new burst holds: 429 after it), one that changes the
// port (restart required) and one of a bad file (400 naming the key,
// nothing changed). No secret is in any answer or log line.
func TestServeConfigReload(t *testing.T) {
	pg := testenv.StartPostgres(t)
	dir := t.TempDir()
	// For PostgreSQL the token and key files are in the working directory.
	t.Chdir(dir)
	dbURL, err := url.Parse(pg.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	db := strings.TrimPrefix(dbURL.Path, "/")
	secrets := []string{"db-secret-Quux42", "jwt-secret-Zork99"}
	file := writeConfig(t, dir, serveConfigYAML(pg.Port(), db, "    requestsPerMinute: 1000\n    burstSize: 100"))
	// HPA_DB comes from this package's init: not for this test.
	t.Setenv("HPA_DB", "")
	os.Unsetenv("HPA_DB")
	// Precedence: the flag over the variable over the file over the default.
	t.Setenv("HPA_RATE_LIMIT_BURST", "9")
	t.Setenv("HPA_AUDIT_INSTANCE", "from-env")
	s := startServeConfig(t, "--config", file, "--rate-limit-burst", "8")
	base := "http://" + s.http
	token := readToken(t, filepath.Join(".", adminTokenFileName))

	c, body := configGet(t, base, token)
	for _, secret := range secrets {
		if strings.Contains(body, secret) {
			t.Errorf("GET /api/v1/config holds a secret: %s", body)
		}
	}
	b := c.Backend
	wantURL := fmt.Sprintf("postgres://postgres:<redacted>@127.0.0.1:%d/%s?sslmode=disable", pg.Port(), db)
	if b.Database.URL != wantURL || b.Database.Password != "<redacted>" || b.Auth.JWT.Secret != "<redacted>" {
		t.Errorf("database url %q password %q, jwt secret %q: want %q and <redacted>", b.Database.URL, b.Database.Password, b.Auth.JWT.Secret, wantURL)
	}
	if c.File != file || b.Host != "127.0.0.1" || b.Database.Type != "postgres" || b.Database.Name != db ||
		b.Database.MaxIdleConnections == nil || *b.Database.MaxIdleConnections != 10 || b.Auth.JWT.Expiration != "24h0m0s" {
		t.Errorf("configuration: %s", body)
	}
	if b.RateLimit.RequestsPerMinute != 1000 || b.RateLimit.BurstSize != 8 || b.Audit.Instance != "from-env" ||
		b.GRPC.KeepaliveTimeout != "20s" || b.Logging.Format != "json" {
		t.Errorf("precedence: rpm %d (file 1000), burst %d (flag 8 over env 9 over file 100), instance %q (env over file), keepalive timeout %q (default 20s), format %q (file json)",
			b.RateLimit.RequestsPerMinute, b.RateLimit.BurstSize, b.Audit.Instance, b.GRPC.KeepaliveTimeout, b.Logging.Format)
	}
	if want := []string{"backend.rateLimit.burstSize", "backend.logging.format", "backend.audit.instance"}; !cmp.Equal(c.SetByFlags, want) {
		t.Errorf("setByFlags %v, want %v", c.SetByFlags, want)
	}

	// A bad file: 400 naming the key, nothing changed.
	writeConfig(t, dir, serveConfigYAML(pg.Port(), db, "    requestsPerMinute: 1\n    burstsize: 3"))
	code, body := reload(t, base, token)
	if code != http.StatusBadRequest || !strings.Contains(body, `"field":"backend.rateLimit.burstsize"`) || !strings.Contains(body, "unknown key") {
		t.Errorf("bad file: %d %s, want 400 naming backend.rateLimit.burstsize", code, body)
	}
	if c, _ := configGet(t, base, token); c.Backend.RateLimit.RequestsPerMinute != 1000 {
		t.Errorf("after a bad file: requestsPerMinute %d, want 1000 still", c.Backend.RateLimit.RequestsPerMinute)
	}

	// The port: a restart.
	yaml := serveConfigYAML(pg.Port(), db, "    requestsPerMinute: 1000\n    burstSize: 100")
	writeConfig(t, dir, strings.Replace(yaml, "port: 0\n", "port: 1\n", 1))
	code, body = reload(t, base, token)
	if code != http.StatusOK || body != `{"applied":[],"restartRequired":["backend.port"]}`+"\n" {
		t.Errorf("port changed: %d %s, want restartRequired backend.port", code, body)
	}
	if c, _ := configGet(t, base, token); c.Backend.Port == 1 {
		t.Error("the configuration shows the port that needs a restart as in effect")
	}

	// The rate limit and the log level: live. The burst is the flag's
	// still; the limit of one a minute holds after the burst of 8.
	writeConfig(t, dir, strings.Replace(serveConfigYAML(pg.Port(), db, "    requestsPerMinute: 1\n    burstSize: 2"), "level: info", "level: debug", 1))
	code, body = reload(t, base, token)
	if code != http.StatusOK || body != `{"applied":["backend.rateLimit.requestsPerMinute","backend.logging.level"],"restartRequired":[]}`+"\n" {
		t.Errorf("rate limit changed: %d %s", code, body)
	}
	for i := range 8 {
		if code, body := get(t, base+"/api/v1/scalers", token); code != http.StatusOK {
			t.Fatalf("request %d of the burst of 8: %d %s", i+1, code, body)
		}
	}
	if code, body := get(t, base+"/api/v1/scalers", token); code != http.StatusTooManyRequests {
		t.Errorf("request 9 after a burst of 8 at 1/min: %d %s, want 429", code, body)
	}
	if !strings.Contains(s.stderr.String(), `"level":"DEBUG"`) {
		t.Error("no debug line after the reload to level debug")
	}

	s.stop()
	logs := s.stderr.String()
	for _, secret := range append(secrets, token) {
		if strings.Contains(logs, secret) {
			t.Errorf("the log holds a secret (%.6s...)", secret)
		}
	}
	for _, want := range []string{"backend.auth.jwt.secret is set but not used", `"msg":"configuration reloaded"`, `"msg":"configuration not reloaded; nothing changed"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("no log line %q", want)
		}
	}
}

// startServeConfig runs `serve args...` in process with JSON logs and no
// address flags (the file gives them) and waits for its serving line.
func startServeConfig(t *testing.T, args ...string) *served {
	t.Helper()
	s := &served{stderr: &syncBuffer{}}
	code := make(chan int, 1)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		code <- run(ctx, append([]string{"serve", "--log-format", "json"}, args...), strings.NewReader(""), &bytes.Buffer{}, s.stderr)
	}()
	var exit int
	stopped := false
	s.stop = func() int {
		if !stopped {
			stopped = true
			cancel()
			exit = <-code
		}
		return exit
	}
	t.Cleanup(func() { s.stop() })
	scalertest.Eventually(t, waitLimit, "serve's serving line", func() error {
		select {
		case c := <-code:
			stopped = true
			t.Fatalf("serve exited with %d; stderr:\n%s", c, s.stderr.String())
		default:
		}
		var rec struct {
			HTTP string `json:"http"`
		}
		if !logRecord(s.stderr.String(), "external scaler serving", &rec) {
			return errors.New("no serving line yet")
		}
		s.http = rec.HTTP
		return nil
	})
	return s
}

// TestServeConfigWithoutFile: Current shows the flags, and Reload says
// there is no file.
func TestServeConfigWithoutFile(t *testing.T) {
	dir := t.TempDir()
	s := startServeInProcess(t, "--db", "sqlite:"+filepath.Join(dir, "hpa.db"), "--rate-limit", "-1")
	base := "http://" + s.http
	token := readToken(t, filepath.Join(dir, adminTokenFileName))
	c, _ := configGet(t, base, token)
	if c.File != "" || c.Backend.RateLimit.Enabled || c.Backend.Database.Type != "sqlite" || !slices.Contains(c.SetByFlags, "backend.port") {
		t.Errorf("without --config: %+v", c)
	}
	code, body := reload(t, base, token)
	if code != http.StatusBadRequest || !strings.Contains(body, "serve was started without --config") {
		t.Errorf("reload without --config: %d %s", code, body)
	}
}

// TestServeConfigSIGHUP runs serve as a child process: SIGHUP reloads the
// file as the API does, logging what it applied and what needs a
// restart; a bad file is logged and changes nothing; serve keeps running
// and stops cleanly on SIGTERM.
func TestServeConfigSIGHUP(t *testing.T) {
	dir := t.TempDir()
	conf := func(rpm, burst, conns int) string {
		return fmt.Sprintf("backend:\n  database:\n    maxConnections: %d\n  rateLimit:\n    requestsPerMinute: %d\n    burstSize: %d\n  logging:\n    level: debug\n", conns, rpm, burst)
	}
	file := writeConfig(t, dir, conf(1000, 100, 5))
	c := startServe(t, "--config", file, "--db", "sqlite:"+filepath.Join(dir, "hpa.db"))
	// reloadLine waits for the n-th log line of a reload.
	reloadLine := func(n int) map[string]any {
		t.Helper()
		var rec map[string]any
		scalertest.Eventually(t, waitLimit, fmt.Sprintf("reload log line %d", n), func() error {
			seen := 0
			for _, line := range strings.Split(c.stderr.String(), "\n") {
				var r map[string]any
				if json.Unmarshal([]byte(line), &r) != nil || !strings.HasPrefix(fmt.Sprint(r["msg"]), "configuration ") || r["file"] == nil {
					continue
				}
				if seen++; seen == n {
					rec = r
					return nil
				}
			}
			return errors.New("not logged yet")
		})
		return rec
	}

	writeConfig(t, dir, conf(10, 5, 6))
	if err := c.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	rec := reloadLine(2) // the first is the start's "configuration file read"
	if rec["msg"] != "configuration reloaded" || fmt.Sprint(rec["applied"]) != "[backend.rateLimit.requestsPerMinute backend.rateLimit.burstSize]" ||
		fmt.Sprint(rec["restartRequired"]) != "[backend.database.maxConnections]" {
		t.Errorf("after SIGHUP: %v", rec)
	}

	writeConfig(t, dir, "backend:\n  rateLimit:\n    enabled: maybe\n")
	if err := c.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	rec = reloadLine(3)
	if rec["msg"] != "configuration not reloaded; nothing changed" || !strings.Contains(fmt.Sprint(rec["err"]), "backend.rateLimit.enabled") {
		t.Errorf("after SIGHUP with a bad file: %v", rec)
	}

	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := c.exitCode(t, waitLimit, "serve's exit after SIGTERM"); code != 0 {
		t.Errorf("exit code %d after SIGTERM; stderr:\n%s", code, c.stderr.String())
	}
}

// TestServeConfigMetrics: metrics.port other than port serves the
// metrics at metrics.path on a listener of its own (plain HTTP, no
// token), and /metrics stays on the HTTP port; metrics.enabled false
// turns both off.
func TestServeConfigMetrics(t *testing.T) {
	t.Setenv("HPA_DB", "")
	os.Unsetenv("HPA_DB")
	for _, tc := range []struct {
		name, metrics string
		own           bool // a metrics listener of its own
		onHTTP        int  // status of /metrics on the HTTP port
	}{
		{name: "own port", metrics: "    port: 0\n    path: /prom\n", own: true, onHTTP: http.StatusOK},
		{name: "off", metrics: "    enabled: false\n    port: 0\n", onHTTP: http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			file := writeConfig(t, dir, "backend:\n  port: 0\n  grpcPort: 0\n  host: 127.0.0.1\n  database:\n    url: sqlite:"+filepath.Join(dir, "hpa.db")+"\n  metrics:\n"+tc.metrics)
			s := startServeConfig(t, "--config", file)
			if code, body := get(t, "http://"+s.http+"/metrics", ""); code != tc.onHTTP {
				t.Errorf("/metrics on the HTTP port: %d %.100s, want %d", code, body, tc.onHTTP)
			}
			var rec struct {
				Metrics string `json:"metrics"`
			}
			logRecord(s.stderr.String(), "metrics serving", &rec)
			addr := rec.Metrics
			if !tc.own {
				if addr != "" {
					t.Errorf("a metrics listener on %s", addr)
				}
				return
			}
			if addr == "" {
				t.Fatalf("no metrics listener in the log:\n%s", s.stderr.String())
			}
			if code, body := get(t, "http://"+addr+"/prom", ""); code != http.StatusOK || !strings.Contains(body, "go_goroutines") {
				t.Errorf("GET /prom on the metrics port: %d %.100s", code, body)
			}
			if code, _ := get(t, "http://"+addr+"/api/v1/scalers", ""); code != http.StatusNotFound {
				t.Errorf("the API on the metrics port: %d, want 404", code)
			}
		})
	}
}

// logRecord decodes into rec the first JSON log line of logs whose msg
// is msg, and reports whether there was one.
func logRecord(logs, msg string, rec any) bool {
	for _, line := range strings.Split(logs, "\n") {
		var m struct {
			Msg string `json:"msg"`
		}
		if json.Unmarshal([]byte(line), &m) == nil && m.Msg == msg {
			return json.Unmarshal([]byte(line), rec) == nil
		}
	}
	return false
}

// TestServeConfigGRPCOptions: the file's grpc keys reach the gRPC
// server: with maxConnectionAge a connection is closed by the server
// (GOAWAY) and the client's channel leaves READY.
func TestServeConfigGRPCOptions(t *testing.T) {
	t.Setenv("HPA_DB", "")
	os.Unsetenv("HPA_DB")
	dir := t.TempDir()
	file := writeConfig(t, dir, "backend:\n  port: 0\n  grpcPort: 0\n  host: 127.0.0.1\n  database:\n    url: sqlite:"+filepath.Join(dir, "hpa.db")+
		"\n  grpc:\n    maxConcurrentStreams: 10\n    maxConnectionAge: 300ms\n    maxConnectionAgeGrace: 100ms\n")
	s := startServeConfig(t, "--config", file)
	var rec struct {
		GRPC string `json:"grpc"`
	}
	if !logRecord(s.stderr.String(), "external scaler serving", &rec) {
		t.Fatal("no serving line")
	}
	conn, err := grpc.NewClient(rec.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	// Awaited: the channel's state changes from READY (the server closed
	// the connection at its age), within waitLimit.
	for conn.GetState() == connectivity.Ready {
		if !conn.WaitForStateChange(ctx, connectivity.Ready) {
			t.Fatalf("the connection stayed READY for %v: maxConnectionAge not applied", waitLimit)
		}
	}
}
