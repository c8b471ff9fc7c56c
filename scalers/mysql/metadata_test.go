package mysql

import (
	"strings"
	"testing"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// kedaEnv is KEDA's testMySQLResolvedEnv: KEDA sends the value of a
// <key>FromEnv under that key, so the metadata here holds the values.
var kedaEnv = map[string]string{"MYSQL_USERNAME": "test_username", "MYSQL_PASSWORD": "pass",
	"MYSQL_CONN_STR": "user@tcp(http://my.mysql.dev:3306)/stats_db"}

func resolved(md map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range md {
		if e, ok := kedaEnv[v]; ok && strings.HasSuffix(k, "FromEnv") {
			v = e
		}
		out[k] = v
	}
	return out
}

// TestParseMetadataKEDA is every case of KEDA's TestParseMySQLMetadata,
// with KEDA's verdict where ours is the same. KEDA's "test_port" passes
// its parser and fails when its scaler connects; ours refuses it while
// parsing, naming the key; TriggerAuthentication parameters do not reach
// an external scaler (docs/scalers/mysql.md lists these).
func TestParseMetadataKEDA(t *testing.T) {
	tests := []struct {
		name string
		md   map[string]string
		bad  []string
	}{
		{"no metadata", map[string]string{}, []string{"query", "queryValue"}},
		{"connectionString", map[string]string{"query": "query", "queryValue": "12", "connectionStringFromEnv": "MYSQL_CONN_STR"}, nil},
		{"params, port a placeholder", map[string]string{"query": "query", "queryValue": "12", "host": "test_host", "port": "test_port", "username": "test_username", "passwordFromEnv": "MYSQL_PASSWORD", "dbName": "test_dbname"}, []string{`port "test_port"`}},
		{"params", map[string]string{"query": "query", "queryValue": "12", "host": "test_host", "port": "3306", "username": "test_username", "passwordFromEnv": "MYSQL_PASSWORD", "dbName": "test_dbname"}, nil},
		{"usernameFromEnv", map[string]string{"query": "query", "queryValue": "12", "host": "test_host", "port": "3306", "usernameFromEnv": "MYSQL_USERNAME", "passwordFromEnv": "MYSQL_PASSWORD", "dbName": "test_dbname"}, nil},
		{"params from a TriggerAuthentication", map[string]string{"query": "query", "queryValue": "12"}, []string{"host: required", "port: required", "username: required"}},
		{"invalid activationQueryValue", map[string]string{"query": "query", "queryValue": "12", "activationQueryValue": "AA"}, []string{`activationQueryValue "AA": not a number`}},
		{"no username", map[string]string{"query": "query", "queryValue": "12", "host": "h", "port": "3306"}, []string{"username: required"}},
		{"queryValue 0", map[string]string{"query": "q", "queryValue": "0", "connectionString": "u@tcp(h:3306)/db"}, []string{`queryValue "0"`}},
		{"bad connection string, never shown", map[string]string{"query": "q", "queryValue": "1", "connectionString": "u:hunter2@tcp(h:3306"}, []string{"connectionString (secret, not shown)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseMetadata(resolved(tt.md))
			if tt.bad == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			scalertest.CheckErr(t, err, scalers.ErrInvalidConfig, tt.bad...)
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}

// TestConnectionKEDA: KEDA's TestMetadataToConnectionStrBuildNew (its
// string carries ":pass", which this scaler gives the driver for each
// connection instead) and TestMetadataToConnectionStrUseConnStr.
func TestConnectionKEDA(t *testing.T) {
	c := Config("test_host", "test_port", "test_username", "test_dbname")
	c.Passwd = "pass"
	if got, want := c.FormatDSN(), "test_username:pass@tcp(test_host:test_port)/test_dbname"; got != want {
		t.Errorf("DSN %q, want %q", got, want)
	}
	m, err := ParseMetadata(resolved(map[string]string{"query": "query", "queryValue": "12", "connectionStringFromEnv": "MYSQL_CONN_STR"}))
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := m.ConnectionString.Value(); v != kedaEnv["MYSQL_CONN_STR"] {
		t.Errorf("connection string %q", v)
	}
}

// TestMetricNameKEDA: KEDA's TestMySQLGetMetricSpecForScaling
// ("s0-mysql-stats_db", "s1-mysql-test_dbname"), without the prefix.
func TestMetricNameKEDA(t *testing.T) {
	for _, tt := range []struct {
		md   map[string]string
		want string
	}{
		{map[string]string{"query": "query", "queryValue": "12", "connectionStringFromEnv": "MYSQL_CONN_STR"}, "mysql-stats_db"},
		{map[string]string{"query": "query", "queryValue": "12", "host": "test_host", "port": "3306", "username": "test_username", "passwordFromEnv": "MYSQL_PASSWORD", "dbName": "test_dbname"}, "mysql-test_dbname"},
		{map[string]string{"query": "q", "queryValue": "1", "connectionString": "u@tcp(h:3306)/my.db"}, "mysql-my-db"},
	} {
		s, err := New(t.Context(), scalers.Config{Metadata: resolved(tt.md)})
		if err != nil {
			t.Fatal(err)
		}
		if specs := s.MetricSpecs(); len(specs) != 1 || specs[0].Name != tt.want {
			t.Errorf("specs %+v, want %s", specs, tt.want)
		}
		_ = s.Close()
	}
}
