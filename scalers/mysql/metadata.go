package mysql

import (
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// Type is the scaler type of this package, as in KEDA.
const Type = "mysql"

// DefaultTimeout bounds a query whose trigger sets no timeout (as the
// postgresql scaler's), capped by the server's maximum.
const DefaultTimeout = 10 * time.Second

// Metadata is the typed trigger metadata, with KEDA's keys (and the
// <key>FromEnv aliases KEDA resolves for an external scaler).
type Metadata struct {
	// Query is the SQL statement; it must return one row of one column.
	Query string `meta:"query"`
	// QueryValue is the target value per replica.
	QueryValue float64 `meta:"queryValue,gt=0"`
	// ActivationQueryValue: the trigger is active while the value is
	// above it.
	ActivationQueryValue float64 `meta:"activationQueryValue,default=0"`

	// ConnectionString is a go-sql-driver DSN
	// (user:password@tcp(host:3306)/db), a secret: connectionString,
	// connectionStringFromEnv or connectionStringFile. When set, the keys
	// below but password are ignored, as in KEDA.
	ConnectionString scalers.Secret `meta:"connectionString,secret,optional"`

	Host     string `meta:"host|hostFromEnv,optional"`
	Port     string `meta:"port|portFromEnv,optional"`
	Username string `meta:"username|usernameFromEnv,optional"`
	DBName   string `meta:"dbName|dbNameFromEnv,optional"`
	// Password of username; with a connection string, used only when the
	// string carries none.
	Password scalers.Secret `meta:"password,secret,optional"`

	// Timeout bounds one fetch (a plain number is milliseconds); 0
	// (absent) means DefaultTimeout.
	Timeout time.Duration `meta:"timeout,unit=ms,min=0,optional"`

	// Set by Validate: the driver's settings (password not resolved) and
	// the database the metric is named after.
	cfg    *mysql.Config
	metric string
}

// Validate checks the connection settings as go-sql-driver reads them. A
// connection string is a secret: its errors never show it.
func (m *Metadata) Validate() error {
	if m.ConnectionString.IsSet() {
		dsn, err := m.ConnectionString.Value()
		if err != nil {
			return scalers.Invalid(m.ConnectionString.ReadError("connectionString", err))
		}
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			return scalers.Invalid(m.ConnectionString.FieldError("connectionString",
				"not a MySQL connection string (user:password@tcp(host:port)/dbname) that go-sql-driver can read"))
		}
		m.cfg = cfg
		m.metric = MetricName(dbNameOfDSN(dsn))
		return nil
	}
	var errs []error
	for _, k := range []struct{ key, val string }{{"host", m.Host}, {"port", m.Port}, {"username", m.Username}} {
		if k.val == "" {
			errs = append(errs, &scalers.FieldError{Key: k.key, Missing: true,
				Msg: "required key is missing (set connectionString, connectionStringFromEnv or connectionStringFile, or host, port and username)"})
		}
	}
	if len(errs) > 0 {
		return scalers.Invalid(errs...)
	}
	if n, err := strconv.Atoi(m.Port); err != nil || n < 1 || n > 65535 {
		errs = append(errs, scalers.NewFieldError("port", m.Port, "not a port number from 1 to 65535"))
	}
	if strings.ContainsAny(m.Host, "/()@ \t\r\n") {
		errs = append(errs, scalers.NewFieldError("host", m.Host, "not a host name or address"))
	}
	if strings.ContainsAny(m.DBName, "/?") {
		errs = append(errs, scalers.NewFieldError("dbName", m.DBName, "a database name cannot hold '/' or '?'"))
	}
	if len(errs) > 0 {
		return scalers.Invalid(errs...)
	}
	m.cfg = Config(m.Host, m.Port, m.Username, m.DBName)
	m.metric = MetricName(m.DBName)
	return nil
}

// Config is the driver configuration KEDA builds from the separate keys
// (tcp to host:port, user, database), without the password, which this
// scaler gives the driver for each new connection instead.
func Config(host, port, user, dbName string) *mysql.Config {
	c := mysql.NewConfig()
	c.Net, c.Addr, c.User, c.DBName = "tcp", net.JoinHostPort(host, port), user, dbName
	return c
}

// dbNameOfDSN is what KEDA names the metric after for a connection
// string: the part after its last '/' (the query string included, as in
// KEDA).
func dbNameOfDSN(dsn string) string {
	return dsn[strings.LastIndexByte(dsn, '/')+1:]
}

var normalizer = strings.NewReplacer("/", "-", ".", "-", ":", "-", "%", "-", "(", "-", ")", "-")

// MetricName is KEDA's name of the metric (without the "sN-" prefix KEDA
// adds): "mysql-" and the database, with KEDA's normalization ('/', '.',
// ':', '%', '(' and ')' become '-').
func MetricName(dbName string) string { return normalizer.Replace("mysql-" + dbName) }

// ParseMetadata parses and validates trigger metadata; errors wrap
// scalers.ErrInvalidConfig and name every bad key.
func ParseMetadata(md map[string]string, opts ...scalers.ParseOption) (Metadata, error) {
	var m Metadata
	if err := scalers.ParseMetadata(md, &m, opts...); err != nil {
		return Metadata{}, err
	}
	return m, nil
}

// DefaultTarget fills queryValue for a trigger used as a source of another
// scaler (custom), whose own target is never used.
func DefaultTarget(md map[string]string) {
	if strings.TrimSpace(md["queryValue"]) == "" {
		md["queryValue"] = "1"
	}
}
