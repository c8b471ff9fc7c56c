package postgresql

import (
	"errors"
	"strings"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// Type is the scaler type of this package, as in KEDA.
const Type = "postgresql"

// DefaultTimeout bounds a query whose trigger sets no timeout: SQL
// queries are often slower than the HTTP sources the server's default
// (3 s) is meant for. It is capped by the server's maximum like any
// timeout a trigger asks for.
const DefaultTimeout = 10 * time.Second

// Metadata is the typed trigger metadata, with KEDA's keys. The
// <key>FromEnv aliases of the plain keys are there because KEDA resolves
// a key ending in FromEnv from the scale target's environment before it
// calls an external scaler and sends the value under that key.
type Metadata struct {
	// Query is the SQL statement; it must return one row of one column.
	Query string `meta:"query"`
	// TargetQueryValue is the target value per replica.
	TargetQueryValue float64 `meta:"targetQueryValue,gt=0"`
	// ActivationTargetQueryValue: the trigger is active while the value
	// is above it.
	ActivationTargetQueryValue float64 `meta:"activationTargetQueryValue,default=0"`

	// Connection is a whole connection string (a postgres:// URL or
	// key=value pairs), a secret: connection, connectionFromEnv or
	// connectionFile. When set, the keys below but password are ignored,
	// as in KEDA.
	Connection scalers.Secret `meta:"connection,secret,optional"`

	Host     string `meta:"host|hostFromEnv,optional"`
	Port     string `meta:"port|portFromEnv,optional"`
	UserName string `meta:"userName|userNameFromEnv,optional"`
	DBName   string `meta:"dbName|dbNameFromEnv,optional"`
	SSLMode  string `meta:"sslmode|sslmodeFromEnv,optional"`
	// Password is the password of userName (password, passwordFromEnv or
	// passwordFile); with a connection string it is used only when the
	// string carries none.
	Password scalers.Secret `meta:"password,secret,optional"`

	// Timeout is the bound of one fetch the trigger asks for (connecting
	// and the query); a plain number is milliseconds, as the other
	// scalers' timeout keys. 0 (absent) means DefaultTimeout.
	Timeout time.Duration `meta:"timeout,unit=ms,min=0,optional"`

	// Set by Validate: the parsed connection settings (password not
	// resolved) and whether the password comes from the Password key.
	conn *pgx.ConnConfig
}

// sslModes are libpq's, which pgx reads.
var sslModes = []string{"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}

// Validate checks KEDA's rules (a connection string, or host, port,
// userName, dbName and sslmode) and parses the settings as pgx will, so
// that a port that is not a number or an unknown sslmode is refused now,
// naming its key. A connection string is a secret: its errors never show
// it, nor pgx's reasons, which quote parts of it.
func (m *Metadata) Validate() error {
	if m.Connection.IsSet() {
		dsn, err := m.Connection.Value()
		if err != nil {
			return scalers.Invalid(m.Connection.ReadError("connection", err))
		}
		cc, err := pgx.ParseConfig(dsn)
		if err != nil {
			return scalers.Invalid(m.Connection.FieldError("connection",
				"not a PostgreSQL connection string (a postgres:// URL or key=value pairs) that pgx can read"))
		}
		m.conn = cc
		return nil
	}
	var errs []error
	for _, k := range []struct{ key, val string }{
		{"host", m.Host}, {"port", m.Port}, {"userName", m.UserName}, {"dbName", m.DBName}, {"sslmode", m.SSLMode},
	} {
		if k.val == "" {
			errs = append(errs, &scalers.FieldError{Key: k.key, Missing: true,
				Msg: "required key is missing (set connection, connectionFromEnv or connectionFile, or host, port, userName, dbName and sslmode)"})
		}
	}
	if len(errs) > 0 {
		return scalers.Invalid(errs...)
	}
	for _, p := range strings.Split(m.Port, ",") {
		if !validPort(strings.TrimSpace(p)) {
			errs = append(errs, scalers.NewFieldError("port", m.Port, "not a port number from 1 to 65535 (or a comma-separated list of them, one per host)"))
			break
		}
	}
	if !contains(sslModes, m.SSLMode) {
		errs = append(errs, scalers.NewFieldError("sslmode", m.SSLMode, "expected one of "+strings.Join(sslModes, ", ")))
	}
	if len(errs) > 0 {
		return scalers.Invalid(errs...)
	}
	cc, err := pgx.ParseConfig(KeyValueDSN(m.Host, m.Port, m.UserName, m.DBName, m.SSLMode))
	if err != nil {
		// The pairs hold no password, so pgx's reason may be shown.
		return scalers.Invalid(scalers.NewFieldError("host", m.Host, "with port, userName, dbName and sslmode, not accepted by pgx: "+parseReason(err)))
	}
	m.conn = cc
	return nil
}

// parseReason is pgx's reason for refusing a connection string, without
// the string.
func parseReason(err error) string {
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) && pe.Unwrap() != nil {
		return pe.Unwrap().Error()
	}
	return "cannot parse"
}

func validPort(s string) bool {
	if s == "" || len(s) > 5 {
		return false
	}
	n := 0
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
		n = n*10 + int(r-'0')
	}
	return n >= 1 && n <= 65535
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// KeyValueDSN is the connection string KEDA builds from the separate
// keys, without the password (which this scaler gives pgx for each new
// connection instead): "host=h port=p user=u dbname=d sslmode=s", each
// value quoted as libpq requires (see QuoteValue). KEDA's own string ends
// in "password=" and the quoted password.
func KeyValueDSN(host, port, user, dbName, sslMode string) string {
	return "host=" + QuoteValue(host) + " port=" + QuoteValue(port) + " user=" + QuoteValue(user) +
		" dbname=" + QuoteValue(dbName) + " sslmode=" + QuoteValue(sslMode)
}

// QuoteValue quotes a value of a key=value connection string when it has
// to be, as KEDA does: a value with white space, a quote or a backslash
// is put in single quotes, with backslashes and quotes escaped by a
// backslash; any other value is left as it is. Without it a user name
// "u sslmode=disable" would set sslmode.
func QuoteValue(v string) string {
	if !strings.ContainsFunc(v, unicode.IsSpace) && !strings.ContainsAny(v, `'\`) {
		return v
	}
	var b strings.Builder
	b.Grow(len(v) + 4)
	b.WriteByte('\'')
	for _, r := range v {
		if r == '\\' || r == '\'' {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteByte('\'')
	return b.String()
}

// ParseMetadata parses and validates trigger metadata; errors wrap
// scalers.ErrInvalidConfig and name every bad key. Pass a
// scalers.FileAccess to allow <key>File keys (none are without one).
func ParseMetadata(md map[string]string, opts ...scalers.ParseOption) (Metadata, error) {
	var m Metadata
	if err := scalers.ParseMetadata(md, &m, opts...); err != nil {
		return Metadata{}, err
	}
	return m, nil
}

// DefaultTarget fills targetQueryValue for a trigger used as a source of
// another scaler (custom), whose own target is never used, as KEDA does
// not require it of a metric source.
func DefaultTarget(md map[string]string) {
	if strings.TrimSpace(md["targetQueryValue"]) == "" {
		md["targetQueryValue"] = "1"
	}
}
