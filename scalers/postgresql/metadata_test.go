package postgresql

import (
	"strings"
	"testing"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// kedaEnv stands for KEDA's resolvedEnv: KEDA sends the value of a
// <key>FromEnv under that key, so the metadata here holds the values.
func fromEnv(md map[string]string, env map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range md {
		if e, ok := env[v]; ok {
			v = e
		}
		out[k] = v
	}
	return out
}

// TestParseMetadataKEDA is every case of KEDA's TestParsePostgreSQLMetadata
// and of its testPostgreSQLMetadata table, with KEDA's verdict where ours
// is the same and the reason where it is not. KEDA's tables use
// placeholders ("test_port", "test_ssl_mode", "test_connection_string")
// that KEDA's parser lets through and its scaler then fails to connect
// with (it pings while it builds); ours refuses them while it parses,
// naming the key (docs/scalers/postgresql.md lists these).
func TestParseMetadataKEDA(t *testing.T) {
	env := map[string]string{"POSTGRE_PASSWORD": "pass", "POSTGRE_CONN_STR": "test_conn_str",
		"test_connection_string": "postgresql://localhost:5432", "test_connection_string2": "postgresql://test@localhost"}
	tests := []struct {
		name string
		md   map[string]string
		bad  []string // keys our error names; nil: valid
		keda bool     // KEDA's parser accepts it
	}{
		{"no metadata", map[string]string{}, []string{"query", "targetQueryValue"}, false},
		{"connectionFromEnv, a placeholder", map[string]string{"query": "query", "targetQueryValue": "12", "connectionFromEnv": "POSTGRE_CONN_STR"}, []string{"connection (secret, not shown)"}, true},
		{"params, port and sslmode valid", map[string]string{"query": "query", "targetQueryValue": "12", "host": "test_host", "port": "5432", "userName": "test_username", "passwordFromEnv": "POSTGRE_PASSWORD", "dbName": "test_dbname", "sslmode": "require"}, nil, true},
		{"params, port a placeholder", map[string]string{"query": "query", "targetQueryValue": "12", "host": "test_host", "port": "test_port", "userName": "test_username", "passwordFromEnv": "POSTGRE_PASSWORD", "dbName": "test_dbname", "sslmode": "require"}, []string{`port "test_port"`}, true},
		{"connection with username and password", map[string]string{"query": "test_query", "targetQueryValue": "5", "connectionFromEnv": "test_connection_string"}, nil, true},
		{"connection with username", map[string]string{"query": "test_query", "targetQueryValue": "5", "connectionFromEnv": "test_connection_string2"}, nil, true},
		{"activationTargetQueryValue", map[string]string{"query": "test_query", "targetQueryValue": "5", "activationTargetQueryValue": "3", "connectionFromEnv": "test_connection_string2"}, nil, true},
		// KEDA reads connection from authParams and resolvedEnv only (so
		// it refuses these two: no host); an external scaler has only the
		// metadata, where connection is read.
		{"connection in metadata", map[string]string{"query": "test_query", "targetQueryValue": "5", "connection": "postgresql://localhost:5432"}, nil, false},
		{"connection with password, metricName", map[string]string{"query": "test_query", "targetQueryValue": "5", "connection": "postgresql://username:password@localhost:5432", "metricName": "scaler_sql_data2"}, nil, false},
		{"dbName, placeholders", map[string]string{"query": "test_query", "targetQueryValue": "5", "host": "test_host", "port": "test_port", "userName": "test_user_name", "dbName": "test_db_name", "sslmode": "test_ssl_mode"}, []string{`port "test_port"`, `sslmode "test_ssl_mode"`}, true},
		{"dbName, metricName, placeholders", map[string]string{"query": "test_query", "targetQueryValue": "5", "host": "test_host", "port": "test_port", "userName": "test_user_name", "dbName": "test_db_name", "sslmode": "test_ssl_mode", "metricName": "scaler_sql_data"}, []string{`port "test_port"`, `sslmode "test_ssl_mode"`}, true},
		{"no targetQueryValue", map[string]string{"query": "q", "connection": "postgres://h/db"}, []string{"targetQueryValue"}, false},
		{"targetQueryValue 0", map[string]string{"query": "q", "targetQueryValue": "0", "connection": "postgres://h/db"}, []string{`targetQueryValue "0"`}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseMetadata(fromEnv(tt.md, env))
			if tt.keda != (tt.bad == nil) {
				t.Logf("a deliberate difference: KEDA's parser accepts it: %v", tt.keda)
			}
			if tt.bad == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			scalertest.CheckErr(t, err, scalers.ErrInvalidConfig, tt.bad...)
		})
	}
}

// TestKeyValueDSNKEDA: the strings of KEDA's
// TestPostgreSQLConnectionStringGeneration and its whitespace case, but
// for "password=...", which this scaler gives pgx for each connection
// instead of putting it in the string.
func TestKeyValueDSNKEDA(t *testing.T) {
	tests := []struct{ host, port, user, db, ssl, want string }{
		{"localhost", "1234", "user", "testDb", "required", "host=localhost port=1234 user=user dbname=testDb sslmode=required"},
		{"host1,host2", "1234", "user", "testDb", "required", "host=host1,host2 port=1234 user=user dbname=testDb sslmode=required"},
		{"db.example", "5432", "user\tsslmode=disable", "testdb", "require", "host=db.example port=5432 user='user\tsslmode=disable' dbname=testdb sslmode=require"},
	}
	for _, tt := range tests {
		if got := KeyValueDSN(tt.host, tt.port, tt.user, tt.db, tt.ssl); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

// TestQuoteValueKEDA is KEDA's TestEscapePostgreConnectionParameter.
func TestQuoteValueKEDA(t *testing.T) {
	tests := map[string]struct{ in, want string }{
		"simple":              {"simple", "simple"},
		"space":               {"with space", "'with space'"},
		"tab":                 {"user\tsslmode=disable", "'user\tsslmode=disable'"},
		"newline":             {"user\nhost=attacker", "'user\nhost=attacker'"},
		"single quote":        {"user'name", `'user\'name'`},
		"backslash":           {`user\name`, `'user\\name'`},
		"quote and backslash": {`user\'name`, `'user\\\'name'`},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := QuoteValue(tt.in); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestInjection: a user name or database with spaces cannot set another
// setting (KEDA's whitespace case), checked on what pgx reads.
func TestInjection(t *testing.T) {
	m, err := ParseMetadata(map[string]string{"query": "q", "targetQueryValue": "5", "host": "db.example", "port": "5432",
		"userName": "user\tsslmode=disable", "dbName": "x host=attacker", "sslmode": "require", "password": "secret\nhost=attacker"})
	if err != nil {
		t.Fatal(err)
	}
	if m.conn.User != "user\tsslmode=disable" || m.conn.Database != "x host=attacker" || m.conn.Host != "db.example" || m.conn.TLSConfig == nil {
		t.Errorf("pgx read user %q, database %q, host %q, TLS %v", m.conn.User, m.conn.Database, m.conn.Host, m.conn.TLSConfig != nil)
	}
	if m.conn.Password != "" {
		t.Error("the password is in the parsed string")
	}
}

// TestMetricNameKEDA: KEDA's TestPostgreSQLGetMetricSpecForScaling
// ("s0-postgresql", "s1-postgresql"), without the prefix KEDA adds.
func TestMetricNameKEDA(t *testing.T) {
	for _, md := range []map[string]string{
		{"query": "test_query", "targetQueryValue": "5", "connection": "postgresql://localhost:5432"},
		{"query": "test_query", "targetQueryValue": "5", "connection": "postgresql://test@localhost"},
	} {
		s, err := New(t.Context(), scalers.Config{Metadata: md})
		if err != nil {
			t.Fatal(err)
		}
		if specs := s.MetricSpecs(); len(specs) != 1 || specs[0].Name != "postgresql" || specs[0].Target != 5 {
			t.Errorf("specs %+v", specs)
		}
		_ = s.Close()
	}
}

func TestParseMetadataErrors(t *testing.T) {
	base := map[string]string{"query": "SELECT 1", "targetQueryValue": "5", "host": "h", "port": "5432", "userName": "u", "dbName": "d", "sslmode": "disable"}
	tests := []struct {
		name string
		md   map[string]string
		want []string
	}{
		{"port 0", scalertest.WithKeys(base, "port", "0"), []string{`port "0"`}},
		{"port too big", scalertest.WithKeys(base, "port", "70000"), []string{`port "70000"`}},
		{"sslmode", scalertest.WithKeys(base, "sslmode", "on"), []string{`sslmode "on": expected one of disable`}},
		{"missing user", scalertest.WithKeys(base, "userName", ""), []string{"userName: required key is missing"}},
		{"timeout", scalertest.WithKeys(base, "timeout", "-1"), []string{`timeout "-1"`}},
		{"bad connection, never shown", map[string]string{"query": "q", "targetQueryValue": "1", "connection": "postgres://u:hunter2@h:notaport/db"},
			[]string{"connection (secret, not shown): not a PostgreSQL connection string"}},
		{"file not allowed", scalertest.WithKeys(base, "passwordFile", "/etc/passwd"), []string{"passwordFile"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseMetadata(tt.md)
			scalertest.CheckErr(t, err, scalers.ErrInvalidConfig, tt.want...)
			if err != nil && strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}

func TestParseMetadataValues(t *testing.T) {
	m, err := ParseMetadata(map[string]string{"query": "SELECT 1", "targetQueryValue": "2.5", "activationTargetQueryValue": "1",
		"connection": "postgres://u@db.example:6432/app?sslmode=disable", "timeout": "1500"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Query != "SELECT 1" || m.TargetQueryValue != 2.5 || m.ActivationTargetQueryValue != 1 || m.Timeout.Milliseconds() != 1500 {
		t.Errorf("parsed %+v", m)
	}
	if m.conn.Host != "db.example" || m.conn.Port != 6432 || m.conn.Database != "app" || m.conn.User != "u" {
		t.Errorf("connection %s", describe(m.conn))
	}
}
