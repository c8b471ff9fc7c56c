package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/hpa-autoscaler/hpa-autoscaler/backend/api"
)

// serveFile is the design's backend configuration: everything under
// backend:. Keys serve does not use (auth.jwt, auth.rbac, the database
// pool's idle settings, logging.enableStackTrace) are accepted and
// documented as such in docs/backend.md; an unknown key is an error that
// names it.
type serveFile struct {
	Backend serveConfig `yaml:"backend"`
}

// serveConfig is the file's backend: block. Pointers tell a key left out
// from one set to its zero value.
type serveConfig struct {
	Port     *int    `yaml:"port"`
	GRPCPort *int    `yaml:"grpcPort"`
	Host     *string `yaml:"host"`
	Database struct {
		// URL is the direct form of --db (sqlite:PATH or postgres://...);
		// the other keys build one.
		URL  string `yaml:"url" secret:"url"`
		Type string `yaml:"type"`
		// Path is the SQLite file of type sqlite.
		Path         string `yaml:"path"`
		Host         string `yaml:"host"`
		Port         *int   `yaml:"port"`
		Name         string `yaml:"name"`
		User         string `yaml:"user"`
		Password     string `yaml:"password" secret:"true"`
		PasswordFile string `yaml:"passwordFile"`
		SSL          *bool  `yaml:"ssl"`
		// MaxConnections is the read pool's size (the writer holds one
		// or two more).
		MaxConnections *int `yaml:"maxConnections"`
		// MaxIdleConnections and ConnectionMaxLifetime are accepted, not
		// used: the store keeps its pools' connections open.
		MaxIdleConnections    *int      `yaml:"maxIdleConnections"`
		ConnectionMaxLifetime *duration `yaml:"connectionMaxLifetime"`
	} `yaml:"database"`
	GRPC struct {
		MaxConcurrentStreams  *int      `yaml:"maxConcurrentStreams"`
		KeepaliveTime         *duration `yaml:"keepaliveTime"`
		KeepaliveTimeout      *duration `yaml:"keepaliveTimeout"`
		MaxConnectionAge      *duration `yaml:"maxConnectionAge"`
		MaxConnectionAgeGrace *duration `yaml:"maxConnectionAgeGrace"`
		TLS                   struct {
			Enabled    *bool  `yaml:"enabled"`
			CertFile   string `yaml:"certFile"`
			KeyFile    string `yaml:"keyFile"`
			CAFile     string `yaml:"caFile"`
			ClientAuth string `yaml:"clientAuth"`
		} `yaml:"tls"`
	} `yaml:"grpc"`
	// HTTP is this project's: how the HTTP port asks for client
	// certificates when grpc.tls has a caFile (--http-client-auth).
	HTTP struct {
		ClientAuth string `yaml:"clientAuth"`
	} `yaml:"http"`
	// Auth is accepted, not used: API tokens replace the shared JWT
	// secret, and roles are the tokens' roles.
	Auth struct {
		JWT struct {
			Secret     string    `yaml:"secret" secret:"true"`
			Expiration *duration `yaml:"expiration"`
		} `yaml:"jwt"`
		RBAC struct {
			Enabled   *bool  `yaml:"enabled"`
			ConfigMap string `yaml:"configMap"`
		} `yaml:"rbac"`
	} `yaml:"auth"`
	RateLimit struct {
		Enabled           *bool `yaml:"enabled"`
		RequestsPerMinute *int  `yaml:"requestsPerMinute"`
		BurstSize         *int  `yaml:"burstSize"`
	} `yaml:"rateLimit"`
	Metrics struct {
		Enabled *bool  `yaml:"enabled"`
		Port    *int   `yaml:"port"`
		Path    string `yaml:"path"`
	} `yaml:"metrics"`
	Logging struct {
		Level  string `yaml:"level"`
		Format string `yaml:"format"`
		// EnableStackTrace is accepted, not used (Go errors carry no
		// stack; a panic is logged with its stack by the gRPC
		// interceptor).
		EnableStackTrace *bool `yaml:"enableStackTrace"`
	} `yaml:"logging"`
	// Audit is this project's: the checkpoints' key and origin.
	Audit struct {
		SigningKeyFile string `yaml:"signingKeyFile"`
		Instance       string `yaml:"instance"`
	} `yaml:"audit"`
}

// The client-auth values of the file and the flags.
const (
	clientAuthNone             = "none"
	clientAuthRequireAndVerify = "require-and-verify"
	// httpAuthExceptProbes: the HTTP port verifies a client certificate
	// when one is given, and /healthz and /readyz answer without one
	// (kubelet's probes present none); everything else needs one.
	httpAuthExceptProbes = "require-except-probes"
	// httpAuthRequire: the handshake fails without a verified client
	// certificate, probes included.
	httpAuthRequire = "require"
)

// passwordEnv is the database password's variable; it overrides the
// file's password and passwordFile.
const passwordEnv = "HPA_DATABASE_PASSWORD"

// redacted replaces every secret in what serve shows.
const redacted = "<redacted>"

// configError is one problem of the file, at a key.
type configError struct {
	line int // 0: not known
	key  string
	msg  string // after the key: ` "abc": expected an integer` or `: unknown key`
}

func (e *configError) Error() string {
	if e.line > 0 {
		return fmt.Sprintf("line %d: %s%s", e.line, e.key, e.msg)
	}
	return e.key + e.msg
}

func keyErr(key, format string, args ...any) error {
	return &configError{key: key, msg: fmt.Sprintf(format, args...)}
}

// readServeConfig reads and checks the file.
func readServeConfig(path string) (*serveConfig, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseServeConfig(raw)
}

// parseServeConfig decodes the backend configuration strictly: every key
// must be known and of its type, each error names the key's path and
// line, every problem at once. A secret's value is never quoted.
func parseServeConfig(raw []byte) (*serveConfig, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) == 0 {
		return nil, errors.New("empty: expected the backend: block")
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: expected a mapping with the backend: block", root.Line)
	}
	if err := checkNode(root, reflect.TypeFor[serveFile](), "", false); err != nil {
		return nil, err
	}
	var f serveFile
	if err := root.Decode(&f); err != nil {
		// checkNode has seen every value: this is not expected, and
		// yaml's message may quote a secret.
		return nil, errors.New("backend: the file does not decode")
	}
	c := &f.Backend
	return c, c.validate()
}

// checkNode reports every key of n that t (a struct, through pointers)
// has no yaml field for, every value not of its field's type and every
// duration that does not parse, each with its path and line. secret
// values are not quoted. Aliases are refused (an alias of an alias of
// ... would make the walk, and the decoding, explode).
func checkNode(n *yaml.Node, t reflect.Type, path string, secret bool) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		return &configError{line: n.Line, key: orRoot(path), msg: ": anchors and aliases are not supported"}
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	quoted := func() string {
		if secret || len(n.Value) > 80 {
			return ""
		}
		return " " + strconv.Quote(n.Value)
	}
	isDuration := t == reflect.TypeFor[duration]()
	if t.Kind() == reflect.Struct && !isDuration {
		if n.Kind != yaml.MappingNode {
			return &configError{line: n.Line, key: orRoot(path), msg: ": expected a mapping"}
		}
		fields := map[string]reflect.StructField{}
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			fields[name] = f
		}
		var errs []error
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := strings.TrimPrefix(path+"."+k.Value, ".")
			if line, dup := seen[k.Value]; dup {
				errs = append(errs, &configError{line: k.Line, key: p, msg: fmt.Sprintf(": also set at line %d", line)})
				continue
			}
			seen[k.Value] = k.Line
			f, ok := fields[k.Value]
			if !ok || k.Kind != yaml.ScalarNode {
				errs = append(errs, &configError{line: k.Line, key: p, msg: ": unknown key"})
				continue
			}
			errs = append(errs, checkNode(v, f.Type, p, f.Tag.Get("secret") != ""))
		}
		return errors.Join(errs...)
	}
	if n.Kind != yaml.ScalarNode {
		return &configError{line: n.Line, key: path, msg: ": expected " + kindName(t, isDuration)}
	}
	if isDuration {
		if n.Tag != "!!str" {
			return &configError{line: n.Line, key: path, msg: quoted() + `: expected a duration such as "15s"`}
		}
		if _, err := time.ParseDuration(n.Value); err != nil {
			return &configError{line: n.Line, key: path, msg: quoted() + `: expected a duration such as "15s"`}
		}
		return nil
	}
	var bad bool
	switch t.Kind() {
	case reflect.String:
		bad = n.Tag != "!!str"
	case reflect.Int:
		var v int
		bad = n.Tag != "!!int" || n.Decode(&v) != nil
	case reflect.Bool:
		bad = n.Tag != "!!bool"
	}
	if bad {
		return &configError{line: n.Line, key: path, msg: quoted() + ": expected " + kindName(t, false)}
	}
	return nil
}

func orRoot(path string) string {
	if path == "" {
		return "(top level)"
	}
	return path
}

func kindName(t reflect.Type, isDuration bool) string {
	switch {
	case isDuration:
		return `a duration such as "15s"`
	case t.Kind() == reflect.Int:
		return "an integer"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() == reflect.String:
		return "a string"
	}
	return "a mapping"
}

// validate checks the values (ports, client auth, the database's
// combination of keys), every problem at once.
func (c *serveConfig) validate() error {
	var errs []error
	add := func(key, format string, args ...any) { errs = append(errs, keyErr(key, format, args...)) }
	port := func(key string, p *int) {
		if p != nil && (*p < 0 || *p > 65535) {
			add(key, " %d: expected 0 (a free port) to 65535", *p)
		}
	}
	port("backend.port", c.Port)
	port("backend.grpcPort", c.GRPCPort)
	port("backend.metrics.port", c.Metrics.Port)
	if c.Port != nil && c.GRPCPort != nil && *c.Port == *c.GRPCPort && *c.Port != 0 {
		add("backend.grpcPort", " %d: same as backend.port", *c.GRPCPort)
	}
	if c.Host != nil && *c.Host != "" && net.ParseIP(*c.Host) == nil && !isHostName(*c.Host) {
		// No lookup here: --http-addr's check resolves the name.
		add("backend.host", " %q: expected an IP address or a host name", *c.Host)
	}
	errs = append(errs, c.validateDatabase())
	g := &c.GRPC
	if v := g.MaxConcurrentStreams; v != nil && *v < 0 {
		add("backend.grpc.maxConcurrentStreams", " %d: expected 0 (no limit) or more", *v)
	}
	for _, d := range []struct {
		key  string
		v    *duration
		zero bool // 0 is allowed (no bound)
	}{
		{"keepaliveTime", g.KeepaliveTime, false}, {"keepaliveTimeout", g.KeepaliveTimeout, false},
		{"maxConnectionAge", g.MaxConnectionAge, true}, {"maxConnectionAgeGrace", g.MaxConnectionAgeGrace, true},
	} {
		switch {
		case d.v == nil:
		case d.zero && d.v.Duration < 0:
			add("backend.grpc."+d.key, " %v: must not be negative (0: no bound)", d.v.Duration)
		case !d.zero && d.v.Duration <= 0:
			add("backend.grpc."+d.key, " %v: must be > 0", d.v.Duration)
		}
	}
	t := &g.TLS
	on := t.Enabled == nil || *t.Enabled
	if on {
		if (t.CertFile == "") != (t.KeyFile == "") {
			if t.CertFile == "" {
				add("backend.grpc.tls.certFile", ": required with keyFile")
			} else {
				add("backend.grpc.tls.keyFile", ": required with certFile")
			}
		}
		if t.Enabled != nil && t.CertFile == "" && t.KeyFile == "" {
			add("backend.grpc.tls.certFile", ": required with enabled: true")
		}
		if t.CAFile != "" && t.CertFile == "" {
			add("backend.grpc.tls.caFile", ": needs certFile and keyFile (mTLS is TLS plus client certificates)")
		}
	}
	switch t.ClientAuth {
	case "":
	case clientAuthNone:
		if on && t.CAFile != "" {
			add("backend.grpc.tls.clientAuth", " %q: a caFile is given: leave it out, or say %s", t.ClientAuth, clientAuthRequireAndVerify)
		}
	case clientAuthRequireAndVerify:
		if on && t.CAFile == "" {
			add("backend.grpc.tls.clientAuth", " %q: needs caFile (the CA that signs the clients' certificates)", t.ClientAuth)
		}
	default:
		add("backend.grpc.tls.clientAuth", " %q: expected %s or %s", t.ClientAuth, clientAuthRequireAndVerify, clientAuthNone)
	}
	if err := checkHTTPClientAuth(c.HTTP.ClientAuth); err != nil && c.HTTP.ClientAuth != "" {
		add("backend.http.clientAuth", " %q: %v", c.HTTP.ClientAuth, err)
	}
	r := &c.RateLimit
	if v := r.RequestsPerMinute; v != nil && *v < 1 {
		add("backend.rateLimit.requestsPerMinute", " %d: expected at least 1 (enabled: false turns the limit off)", *v)
	}
	if v := r.BurstSize; v != nil && *v < 1 {
		add("backend.rateLimit.burstSize", " %d: expected at least 1", *v)
	}
	if p := c.Metrics.Path; p != "" {
		switch {
		case !strings.HasPrefix(p, "/") || strings.ContainsAny(p, " ?#"):
			add("backend.metrics.path", " %q: expected a path such as /metrics", p)
		case p != "/metrics" && !c.metricsListener():
			add("backend.metrics.path", " %q: the HTTP port serves /metrics only; set metrics.port to another port to serve this path there", p)
		}
	}
	if _, err := logFormatOf(c.Logging.Format); err != nil {
		add("backend.logging.format", " %q: expected json, structured (json) or text", c.Logging.Format)
	}
	switch c.Logging.Level {
	case "", "debug", "info", "warn", "error":
	default:
		add("backend.logging.level", " %q: expected debug, info, warn or error", c.Logging.Level)
	}
	if d := c.Auth.JWT.Expiration; d != nil && d.Duration <= 0 {
		add("backend.auth.jwt.expiration", " %v: must be > 0", d.Duration)
	}
	if v := c.Database.MaxIdleConnections; v != nil && *v < 0 {
		add("backend.database.maxIdleConnections", " %d: must not be negative", *v)
	}
	if d := c.Database.ConnectionMaxLifetime; d != nil && d.Duration < 0 {
		add("backend.database.connectionMaxLifetime", " %v: must not be negative", d.Duration)
	}
	return errors.Join(errs...)
}

// isHostName reports whether h has the form of a DNS name.
func isHostName(h string) bool {
	if len(h) > 253 {
		return false
	}
	for _, r := range h {
		if (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') && r != '-' && r != '.' {
			return false
		}
	}
	return true
}

// metricsListener reports whether the file asks for /metrics on a port
// of its own: metrics.port set, other than port, and metrics not off.
func (c *serveConfig) metricsListener() bool {
	m := &c.Metrics
	if m.Port == nil || (m.Enabled != nil && !*m.Enabled) {
		return false
	}
	return c.Port == nil || *m.Port != *c.Port || *m.Port == 0
}

func checkHTTPClientAuth(v string) error {
	switch v {
	case httpAuthExceptProbes, httpAuthRequire:
		return nil
	}
	return fmt.Errorf("expected %s or %s", httpAuthExceptProbes, httpAuthRequire)
}

// validateDatabase checks that the database keys make one database.
func (c *serveConfig) validateDatabase() error {
	d := &c.Database
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, keyErr("backend.database."+key, format, args...))
	}
	if d.Password != "" && d.PasswordFile != "" {
		add("password", ": given inline and in passwordFile: keep one")
	}
	if d.Port != nil && (*d.Port < 1 || *d.Port > 65535) {
		add("port", " %d: expected 1 to 65535", *d.Port)
	}
	if v := d.MaxConnections; v != nil && *v < 1 {
		add("maxConnections", " %d: expected at least 1", *v)
	}
	pgKeys := []struct {
		key string
		set bool
	}{
		{"host", d.Host != ""}, {"port", d.Port != nil}, {"name", d.Name != ""}, {"user", d.User != ""}, {"ssl", d.SSL != nil},
	}
	if d.URL != "" {
		if d.Type != "" || d.Path != "" {
			add("url", ": give either url or type and its keys")
		}
		for _, k := range pgKeys {
			if k.set {
				add(k.key, ": not with url (put it in the URL)")
			}
		}
		switch {
		case strings.HasPrefix(d.URL, "sqlite:"):
			if d.Password != "" || d.PasswordFile != "" {
				add("password", ": not with a sqlite: url")
			}
		case strings.HasPrefix(d.URL, "postgres://"), strings.HasPrefix(d.URL, "postgresql://"):
			u, err := url.Parse(d.URL)
			if err != nil {
				// url.Parse quotes the URL, password and all.
				add("url", " (secret, not shown): cannot parse")
			} else if _, has := u.User.Password(); has && (d.Password != "" || d.PasswordFile != "") {
				add("password", ": the url has a password already")
			}
		default:
			add("url", " (secret, not shown): expected sqlite:PATH or postgres://...")
		}
		return errors.Join(errs...)
	}
	switch d.Type {
	case "":
		for _, k := range append(pgKeys, struct {
			key string
			set bool
		}{"path", d.Path != ""}) {
			if k.set {
				add(k.key, ": needs type (postgres or sqlite)")
			}
		}
	case "postgres", "postgresql":
		if d.Path != "" {
			add("path", ": only with type sqlite")
		}
		if d.Host == "" {
			add("host", ": required with type postgres")
		}
		if d.Name == "" {
			add("name", ": required with type postgres")
		}
		if d.User == "" && (d.Password != "" || d.PasswordFile != "") {
			add("user", ": required with a password")
		}
	case "sqlite":
		for _, k := range pgKeys {
			if k.set {
				add(k.key, ": only with type postgres")
			}
		}
		if d.Password != "" || d.PasswordFile != "" {
			add("password", ": only with type postgres")
		}
		if d.Path == "" || strings.ContainsAny(d.Path, "?#") {
			add("path", " %q: expected the SQLite file (without '?' or '#')", d.Path)
		}
	default:
		add("type", " %q: expected postgres or sqlite", d.Type)
	}
	return errors.Join(errs...)
}

// databaseURL is the --db value the file's database keys make ("" when
// they name none), the password from HPA_DATABASE_PASSWORD, passwordFile
// or password, in that order. Errors never hold the password.
func (c *serveConfig) databaseURL(getenv func(string) string) (string, error) {
	d := &c.Database
	password, err := func() (string, error) {
		if p := getenv(passwordEnv); p != "" {
			return p, nil
		}
		if d.PasswordFile != "" {
			b, err := readSmallFile(d.PasswordFile, maxPasswordFileBytes)
			if err != nil {
				return "", keyErr("backend.database.passwordFile", " %s: %v", d.PasswordFile, pathErrOnly(err))
			}
			return strings.TrimRight(string(b), "\r\n"), nil
		}
		return d.Password, nil
	}()
	if err != nil {
		return "", err
	}
	switch {
	case d.URL != "":
		if password == "" || strings.HasPrefix(d.URL, "sqlite:") {
			return d.URL, nil
		}
		u, err := url.Parse(d.URL)
		if err != nil {
			return "", keyErr("backend.database.url", " (secret, not shown): cannot parse")
		}
		// validate refused a URL with a password and one of the file's:
		// this one is the variable's, which wins over the file.
		if u.User == nil || u.User.Username() == "" {
			return "", keyErr("backend.database.url", " (secret, not shown): a password needs a user in the URL")
		}
		u.User = url.UserPassword(u.User.Username(), password)
		return u.String(), nil
	case d.Type == "sqlite":
		return "sqlite:" + d.Path, nil
	case d.Type == "postgres" || d.Type == "postgresql":
		port := 5432
		if d.Port != nil {
			port = *d.Port
		}
		u := &url.URL{Scheme: "postgres", Host: net.JoinHostPort(d.Host, strconv.Itoa(port)), Path: "/" + d.Name}
		switch {
		case d.User != "" && password != "":
			u.User = url.UserPassword(d.User, password)
		case d.User != "":
			u.User = url.User(d.User)
		}
		if d.SSL != nil {
			q := url.Values{"sslmode": {"disable"}}
			if *d.SSL {
				q.Set("sslmode", "require")
			}
			u.RawQuery = q.Encode()
		}
		return u.String(), nil
	}
	return "", nil
}

// maxPasswordFileBytes bounds a password file (a wrong path such as
// /dev/zero must not fill the memory).
const maxPasswordFileBytes = 64 << 10

// readSmallFile reads a file of at most limit bytes.
func readSmallFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("more than %d bytes: not a password file", limit)
	}
	return b, nil
}

// pathErrOnly is an error without the path an *os.PathError repeats.
func pathErrOnly(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// redactURL is a database URL with its password (user info or query
// parameter) replaced by <redacted>; a URL that does not parse is shown
// by its scheme only.
func redactURL(db string) string {
	if strings.HasPrefix(db, "sqlite:") {
		return db
	}
	u, err := url.Parse(db)
	if err != nil {
		scheme, _, _ := strings.Cut(db, ":")
		return scheme + ":" + redacted
	}
	const marker = "REDACTEDPASSWORDMARKER"
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), marker)
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", marker)
		u.RawQuery = q.Encode()
	}
	return strings.ReplaceAll(u.String(), marker, redacted)
}

// flagValues maps the file onto serve's flags: flag name to value, for
// the keys the file sets. getenv reads HPA_DATABASE_PASSWORD.
func (c *serveConfig) flagValues(getenv func(string) string, defaults func(flag string) string) (map[string]string, error) {
	v := map[string]string{}
	addr := func(flag string, port *int) {
		if port == nil && c.Host == nil {
			return
		}
		host, p, _ := net.SplitHostPort(defaults(flag))
		if c.Host != nil {
			host = *c.Host
		}
		if port != nil {
			p = strconv.Itoa(*port)
		}
		v[flag] = net.JoinHostPort(host, p)
	}
	addr("http-addr", c.Port)
	addr("grpc-addr", c.GRPCPort)
	db, err := c.databaseURL(getenv)
	if err != nil {
		return nil, err
	}
	if db != "" {
		v["db"] = db
	}
	if n := c.Database.MaxConnections; n != nil {
		v["db-max-connections"] = strconv.Itoa(*n)
	}
	g := &c.GRPC
	if n := g.MaxConcurrentStreams; n != nil {
		v["grpc-max-concurrent-streams"] = strconv.Itoa(*n)
	}
	for flag, d := range map[string]*duration{
		"grpc-keepalive-time": g.KeepaliveTime, "grpc-keepalive-timeout": g.KeepaliveTimeout,
		"grpc-max-connection-age": g.MaxConnectionAge, "grpc-max-connection-age-grace": g.MaxConnectionAgeGrace,
	} {
		if d != nil {
			v[flag] = d.String()
		}
	}
	if t := &g.TLS; t.Enabled == nil || *t.Enabled {
		if t.CertFile != "" {
			v["tls-cert"], v["tls-key"] = t.CertFile, t.KeyFile
		}
		if t.CAFile != "" {
			v["tls-client-ca"] = t.CAFile
		}
	} else {
		// enabled: false: no TLS, whatever the file names.
		v["tls-cert"], v["tls-key"], v["tls-client-ca"] = "", "", ""
	}
	if a := c.HTTP.ClientAuth; a != "" {
		v["http-client-auth"] = a
	}
	r := &c.RateLimit
	switch {
	case r.Enabled != nil && !*r.Enabled:
		v["rate-limit"] = "-1"
	case r.RequestsPerMinute != nil:
		v["rate-limit"] = strconv.Itoa(*r.RequestsPerMinute)
	}
	if r.BurstSize != nil {
		v["rate-limit-burst"] = strconv.Itoa(*r.BurstSize)
	}
	m := &c.Metrics
	if m.Enabled != nil && !*m.Enabled {
		v["http-metrics"] = "false"
		v["metrics-addr"] = ""
	} else if c.metricsListener() {
		host, _, _ := net.SplitHostPort(defaults("http-addr"))
		if c.Host != nil {
			host = *c.Host
		}
		v["metrics-addr"] = net.JoinHostPort(host, strconv.Itoa(*m.Port))
		if m.Path != "" {
			v["metrics-path"] = m.Path
		}
	}
	if l := c.Logging.Level; l != "" {
		v["log-level"] = l
	}
	if f, _ := logFormatOf(c.Logging.Format); f != "" {
		v["log-format"] = f
	}
	if k := c.Audit.SigningKeyFile; k != "" {
		v["audit-signing-key-file"] = k
	}
	if i := c.Audit.Instance; i != "" {
		v["audit-instance"] = i
	}
	return v, nil
}

// fileFlags are the flags --config can set, with the design's keys they
// come from and whether a reload applies a change live. The addresses
// (http-addr, grpc-addr, metrics-addr) are reported by their host and
// port keys.
var fileFlags = []struct {
	flag string
	key  string
	live bool
}{
	{"http-addr", "backend.port", false},
	{"grpc-addr", "backend.grpcPort", false},
	{"db", "backend.database", false},
	{"db-max-connections", "backend.database.maxConnections", false},
	{"grpc-max-concurrent-streams", "backend.grpc.maxConcurrentStreams", false},
	{"grpc-keepalive-time", "backend.grpc.keepaliveTime", false},
	{"grpc-keepalive-timeout", "backend.grpc.keepaliveTimeout", false},
	{"grpc-max-connection-age", "backend.grpc.maxConnectionAge", false},
	{"grpc-max-connection-age-grace", "backend.grpc.maxConnectionAgeGrace", false},
	{"tls-cert", "backend.grpc.tls.certFile", true},
	{"tls-key", "backend.grpc.tls.keyFile", true},
	{"tls-client-ca", "backend.grpc.tls.caFile", true},
	{"http-client-auth", "backend.http.clientAuth", true},
	{"rate-limit", "backend.rateLimit.requestsPerMinute", true},
	{"rate-limit-burst", "backend.rateLimit.burstSize", true},
	{"metrics-addr", "backend.metrics.port", false},
	{"metrics-path", "backend.metrics.path", false},
	{"http-metrics", "backend.metrics.enabled", false},
	{"log-level", "backend.logging.level", true},
	{"log-format", "backend.logging.format", false},
	{"audit-signing-key-file", "backend.audit.signingKeyFile", false},
	{"audit-instance", "backend.audit.instance", false},
}

// serveConfigSource is serve's api.ConfigSource: the configuration in
// effect (the file merged with flags and HPA_* variables, which win) and
// its reload. Current and Reload may be called concurrently (the API and
// SIGHUP).
type serveConfigSource struct {
	path     string            // --config; "" without
	userSet  map[string]string // the fileFlags given as flags or HPA_* variables
	defaults map[string]string // every fileFlag's default
	base     serveOpts         // serve's options at start (the flags --config cannot set)
	logger   *slog.Logger
	level    *slog.LevelVar
	tls      *servingTLS  // nil without TLS
	api      *api.Handler // set before serving starts

	mu      sync.Mutex
	running map[string]string // every fileFlag's value in effect
	file    *serveConfig      // as last read; nil without --config
}

// newServeConfigSource applies the file (when o.config is set) to the
// flags of fs the user did not give, and returns the source that shows
// and reloads it.
func newServeConfigSource(fs *pflag.FlagSet, o *serveOpts) (*serveConfigSource, error) {
	s := &serveConfigSource{path: o.config, userSet: map[string]string{}, defaults: map[string]string{}, running: map[string]string{}}
	for _, ff := range fileFlags {
		f := fs.Lookup(ff.flag)
		s.defaults[ff.flag] = f.DefValue
		if f.Changed {
			s.userSet[ff.flag] = f.Value.String()
		}
	}
	if s.path != "" {
		c, vals, err := s.read()
		if err != nil {
			return nil, &usageError{err: fmt.Errorf("--config %s: %w", s.path, err)}
		}
		s.file = c
		var errs []error
		for name, v := range vals {
			if _, user := s.userSet[name]; user {
				continue
			}
			if err := fs.Set(name, v); err != nil {
				errs = append(errs, fmt.Errorf("--config %s: --%s: %v", s.path, name, err))
			}
		}
		if err := errors.Join(errs...); err != nil {
			return nil, &usageError{err: err}
		}
	}
	for _, ff := range fileFlags {
		s.running[ff.flag] = fs.Lookup(ff.flag).Value.String()
	}
	s.base = *o
	return s, nil
}

// read reads the file and maps it onto flags.
func (s *serveConfigSource) read() (*serveConfig, map[string]string, error) {
	c, err := readServeConfig(s.path)
	if err != nil {
		return nil, nil, err
	}
	vals, err := c.flagValues(os.Getenv, func(flag string) string { return s.defaults[flag] })
	if err != nil {
		return nil, nil, err
	}
	return c, vals, nil
}

// errNoConfigFile is Reload's answer without --config.
var errNoConfigFile = &api.Error{Status: http.StatusBadRequest, Code: api.CodeInvalid,
	Message: "serve was started without --config: there is no file to reload"}

// Reload re-reads the file and applies what changes live: the rate
// limit, the log level, the TLS files and the HTTP port's client auth.
// Other changed keys are listed as needing a restart; keys a flag or
// HPA_* variable sets keep its value. A bad file changes nothing.
func (s *serveConfigSource) Reload(context.Context) (api.ReloadResult, error) {
	res, err := s.reload()
	if err != nil {
		s.logger.Warn("configuration not reloaded; nothing changed", "file", s.path, "err", err)
		return res, err
	}
	s.logger.Info("configuration reloaded", "file", s.path, "applied", res.Applied, "restartRequired", res.RestartRequired)
	// At the level just applied.
	s.logger.Debug("configuration: the keys set by flags or HPA_* variables keep their values", "setByFlags", s.Current().(shownConfig).SetByFlags)
	return res, nil
}

func (s *serveConfigSource) reload() (api.ReloadResult, error) {
	var res api.ReloadResult
	if s.path == "" {
		return res, errNoConfigFile
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, vals, err := s.read()
	if err != nil {
		return res, reloadError(s.path, err)
	}
	next := map[string]string{}
	for _, ff := range fileFlags {
		v, ok := s.userSet[ff.flag]
		if !ok {
			v, ok = vals[ff.flag]
		}
		if !ok {
			v = s.defaults[ff.flag]
		}
		next[ff.flag] = v
	}
	o, level, err := s.options(next)
	if err != nil {
		return res, reloadError(s.path, err)
	}
	// Everything is checked before anything changes: the TLS files load.
	var commitTLS func()
	tlsChanged := next["tls-cert"] != s.running["tls-cert"] || next["tls-key"] != s.running["tls-key"] ||
		next["tls-client-ca"] != s.running["tls-client-ca"] || next["http-client-auth"] != s.running["http-client-auth"]
	tlsLive := s.tls != nil && o.tls.Enabled()
	if tlsChanged && tlsLive {
		if commitTLS, err = s.tls.prepare(o.tls, o.httpClientAuth); err != nil {
			return res, &api.Error{Status: http.StatusBadRequest, Code: api.CodeInvalid, Field: "backend.grpc.tls.certFile",
				Message: fmt.Sprintf("--config %s: backend.grpc.tls: %v", s.path, err)}
		}
	}
	rateChanged := next["rate-limit"] != s.running["rate-limit"] || next["rate-limit-burst"] != s.running["rate-limit-burst"]
	levelChanged := next["log-level"] != s.running["log-level"]
	for _, ff := range fileFlags {
		old, now := s.running[ff.flag], next[ff.flag]
		if old == now {
			continue
		}
		keys := changedKeys(ff.flag, ff.key, old, now)
		live := ff.live
		if strings.HasPrefix(ff.flag, "tls-") || ff.flag == "http-client-auth" {
			// TLS on or off is the listeners' own: a restart.
			live = tlsLive
			if (s.running["tls-cert"] == "") != (next["tls-cert"] == "") {
				keys = []string{"backend.grpc.tls.enabled"}
			}
		}
		if !live {
			res.RestartRequired = appendNew(res.RestartRequired, keys...)
			continue
		}
		res.Applied = appendNew(res.Applied, keys...)
		s.running[ff.flag] = now
	}
	if commitTLS != nil {
		commitTLS()
	}
	if levelChanged {
		s.level.Set(level)
	}
	if rateChanged && s.api != nil {
		// SetRateLimit refills every bucket: only on a change.
		s.api.SetRateLimit(o.backend.rateLimit, o.backend.rateBurst)
	}
	s.file = c
	return res, nil
}

// options are serve's options with the fileFlags at values (the other
// flags as at start), checked, and the log level.
func (s *serveConfigSource) options(values map[string]string) (*serveOpts, slog.Level, error) {
	o := s.base
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	o.addFileFlags(fs)
	o.backend.addFlags(fs)
	var levelName, format string
	fs.StringVar(&levelName, "log-level", "", "")
	fs.StringVar(&format, "log-format", "", "")
	var errs []error
	for name, v := range values {
		if err := fs.Set(name, v); err != nil {
			errs = append(errs, fmt.Errorf("--%s: %v", name, err))
		}
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(levelName)); err != nil {
		errs = append(errs, keyErr("backend.logging.level", " %q: expected debug, info, warn or error", levelName))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, 0, err
	}
	if err := o.validate(); err != nil {
		return nil, 0, err
	}
	return &o, level, nil
}

// reloadError is err as the API answers it: 400, the first key named.
func reloadError(path string, err error) error {
	e := &api.Error{Status: http.StatusBadRequest, Code: api.CodeInvalid, Message: fmt.Sprintf("--config %s: %v", path, err)}
	var ce *configError
	if errors.As(err, &ce) {
		e.Field = ce.key
	}
	return e
}

// changedKeys names what changed in a flag: the host and port keys of an
// address, the flag's key otherwise.
func changedKeys(flag, key, old, now string) []string {
	switch flag {
	case "http-addr", "grpc-addr", "metrics-addr":
		oh, op, _ := net.SplitHostPort(old)
		nh, np, _ := net.SplitHostPort(now)
		var keys []string
		if oh != nh {
			keys = append(keys, "backend.host")
		}
		if op != np || len(keys) == 0 {
			keys = append(keys, key)
		}
		return keys
	case "rate-limit":
		if old == "-1" || now == "-1" {
			return []string{"backend.rateLimit.enabled"}
		}
	}
	return []string{key}
}

func appendNew(list []string, keys ...string) []string {
	for _, k := range keys {
		if !slices.Contains(list, k) {
			list = append(list, k)
		}
	}
	return list
}

// Current is the configuration in effect in the design's shape, every
// secret redacted.
func (s *serveConfigSource) Current() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.shown()
}

// shownConfig is what GET /api/v1/config answers.
type shownConfig struct {
	// File is --config ("" without).
	File string `json:"file"`
	// SetByFlags are the keys a flag or HPA_* variable sets: the file's
	// value for them is not used.
	SetByFlags []string     `json:"setByFlags"`
	Backend    shownBackend `json:"backend"`
}

type shownBackend struct {
	Port     int           `json:"port"`
	GRPCPort int           `json:"grpcPort"`
	Host     string        `json:"host"`
	Database shownDatabase `json:"database"`
	GRPC     struct {
		MaxConcurrentStreams  int    `json:"maxConcurrentStreams"`
		KeepaliveTime         string `json:"keepaliveTime"`
		KeepaliveTimeout      string `json:"keepaliveTimeout"`
		MaxConnectionAge      string `json:"maxConnectionAge"`
		MaxConnectionAgeGrace string `json:"maxConnectionAgeGrace"`
		TLS                   struct {
			Enabled    bool   `json:"enabled"`
			CertFile   string `json:"certFile"`
			KeyFile    string `json:"keyFile"`
			CAFile     string `json:"caFile"`
			ClientAuth string `json:"clientAuth"`
		} `json:"tls"`
	} `json:"grpc"`
	HTTP struct {
		// Addr is the HTTP port's host:port (the file's host and port).
		Addr       string `json:"addr"`
		TLS        bool   `json:"tls"`
		ClientAuth string `json:"clientAuth"`
	} `json:"http"`
	Auth struct {
		JWT struct {
			Secret     string `json:"secret"`
			Expiration string `json:"expiration"`
		} `json:"jwt"`
		RBAC struct {
			Enabled   *bool  `json:"enabled"`
			ConfigMap string `json:"configMap"`
		} `json:"rbac"`
		// Used is false: API tokens and their roles are serve's
		// authentication (docs/backend.md).
		Used bool `json:"used"`
	} `json:"auth"`
	RateLimit struct {
		Enabled           bool `json:"enabled"`
		RequestsPerMinute int  `json:"requestsPerMinute"`
		BurstSize         int  `json:"burstSize"`
	} `json:"rateLimit"`
	Metrics struct {
		// Enabled: /metrics on the HTTP port.
		Enabled bool `json:"enabled"`
		// Port and Path: the listener of its own, 0 without one.
		Port int    `json:"port"`
		Addr string `json:"addr"`
		Path string `json:"path"`
	} `json:"metrics"`
	Logging struct {
		Level            string `json:"level"`
		Format           string `json:"format"`
		EnableStackTrace *bool  `json:"enableStackTrace"`
	} `json:"logging"`
	Audit struct {
		SigningKeyFile string `json:"signingKeyFile"`
		Instance       string `json:"instance"`
	} `json:"audit"`
}

type shownDatabase struct {
	// URL is --db, its password redacted.
	URL                   string `json:"url"`
	Type                  string `json:"type"`
	Host                  string `json:"host,omitempty"`
	Port                  int    `json:"port,omitempty"`
	Name                  string `json:"name,omitempty"`
	User                  string `json:"user,omitempty"`
	Password              string `json:"password,omitempty"`
	PasswordFile          string `json:"passwordFile,omitempty"`
	SSLMode               string `json:"sslmode,omitempty"`
	Path                  string `json:"path,omitempty"`
	MaxConnections        int    `json:"maxConnections"`
	MaxIdleConnections    *int   `json:"maxIdleConnections"`
	ConnectionMaxLifetime string `json:"connectionMaxLifetime"`
}

func (s *serveConfigSource) shown() shownConfig {
	r := s.running
	out := shownConfig{File: s.path, SetByFlags: []string{}}
	for _, ff := range fileFlags {
		if _, ok := s.userSet[ff.flag]; ok {
			out.SetByFlags = append(out.SetByFlags, ff.key)
		}
	}
	b := &out.Backend
	atoi := func(v string) int { n, _ := strconv.Atoi(v); return n }
	host, port, _ := net.SplitHostPort(r["http-addr"])
	b.Host, b.Port = host, atoi(port)
	_, gport, _ := net.SplitHostPort(r["grpc-addr"])
	b.GRPCPort = atoi(gport)
	b.Database = showDatabase(r["db"])
	b.Database.MaxConnections = atoi(r["db-max-connections"])
	g := &b.GRPC
	g.MaxConcurrentStreams = atoi(r["grpc-max-concurrent-streams"])
	g.KeepaliveTime, g.KeepaliveTimeout = r["grpc-keepalive-time"], r["grpc-keepalive-timeout"]
	g.MaxConnectionAge, g.MaxConnectionAgeGrace = r["grpc-max-connection-age"], r["grpc-max-connection-age-grace"]
	g.TLS.Enabled = r["tls-cert"] != ""
	g.TLS.CertFile, g.TLS.KeyFile, g.TLS.CAFile = r["tls-cert"], r["tls-key"], r["tls-client-ca"]
	g.TLS.ClientAuth = clientAuthNone
	if r["tls-client-ca"] != "" {
		g.TLS.ClientAuth = clientAuthRequireAndVerify
	}
	b.HTTP.Addr, b.HTTP.TLS = r["http-addr"], g.TLS.Enabled
	b.HTTP.ClientAuth = clientAuthNone
	if g.TLS.ClientAuth != clientAuthNone {
		b.HTTP.ClientAuth = r["http-client-auth"]
	}
	rpm := atoi(r["rate-limit"])
	b.RateLimit.Enabled, b.RateLimit.RequestsPerMinute, b.RateLimit.BurstSize = rpm > 0, max(rpm, 0), atoi(r["rate-limit-burst"])
	b.Metrics.Enabled = r["http-metrics"] == "true"
	if a := r["metrics-addr"]; a != "" {
		_, mport, _ := net.SplitHostPort(a)
		b.Metrics.Addr, b.Metrics.Port, b.Metrics.Path = a, atoi(mport), r["metrics-path"]
	}
	b.Logging.Level, b.Logging.Format = r["log-level"], r["log-format"]
	b.Audit.SigningKeyFile, b.Audit.Instance = r["audit-signing-key-file"], r["audit-instance"]
	if c := s.file; c != nil {
		// The keys serve accepts but does not use, as the file has them.
		if c.Auth.JWT.Secret != "" {
			b.Auth.JWT.Secret = redacted
		}
		if d := c.Auth.JWT.Expiration; d != nil {
			b.Auth.JWT.Expiration = d.String()
		}
		b.Auth.RBAC.Enabled, b.Auth.RBAC.ConfigMap = c.Auth.RBAC.Enabled, c.Auth.RBAC.ConfigMap
		b.Database.MaxIdleConnections = c.Database.MaxIdleConnections
		if d := c.Database.ConnectionMaxLifetime; d != nil {
			b.Database.ConnectionMaxLifetime = d.String()
		}
		if _, user := s.userSet["db"]; !user {
			b.Database.PasswordFile = c.Database.PasswordFile
		}
		b.Logging.EnableStackTrace = c.Logging.EnableStackTrace
	}
	return out
}

// showDatabase is a --db value in the design's database keys, the
// password redacted.
func showDatabase(db string) shownDatabase {
	d := shownDatabase{URL: redactURL(db)}
	if p, ok := strings.CutPrefix(db, "sqlite:"); ok {
		d.Type, d.Path = "sqlite", p
		return d
	}
	u, err := url.Parse(db)
	if err != nil {
		d.Type = "unknown"
		return d
	}
	d.Type = "postgres"
	d.Host = u.Hostname()
	d.Port, _ = strconv.Atoi(u.Port())
	d.Name = strings.TrimPrefix(u.Path, "/")
	d.User = u.User.Username()
	if _, has := u.User.Password(); has || u.Query().Has("password") {
		d.Password = redacted
	}
	d.SSLMode = u.Query().Get("sslmode")
	return d
}
