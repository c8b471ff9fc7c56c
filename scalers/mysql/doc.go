// Package mysql is the "mysql" scaler: the number one SQL query returns
// from MySQL or MariaDB, with KEDA's mysql trigger metadata (query,
// queryValue, activationQueryValue, connectionString or
// connectionStringFromEnv, or host, port, username, dbName and password)
// and KEDA's metric name, "mysql-<dbName>".
//
// It is built as the postgresql package is: parsing is pure and checks
// the settings as go-sql-driver will read them; reading the answer
// (Number) is a pure function of the rows; every call runs the query alone
// in a read-only transaction with a server-side statement timeout
// (MariaDB's max_statement_time, or MySQL's max_execution_time, which
// bounds SELECT only) a little below the call's bound, on a database/sql
// pool shared by every trigger with the same settings (Pools). Secrets
// from <key>File are read again for each new connection; errors never show
// a password or a connection string.
package mysql
