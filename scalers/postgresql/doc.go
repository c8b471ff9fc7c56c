// Package postgresql is the "postgresql" scaler: the number one SQL query
// returns, with KEDA's postgresql trigger metadata (query,
// targetQueryValue, activationTargetQueryValue, connection or
// connectionFromEnv, or host, port, userName, dbName, sslmode and
// password) and KEDA's metric name, "postgresql".
//
// Metadata parsing (metadata.go) is pure and checks the connection
// settings as pgx will read them, so a trigger that cannot connect for a
// reason of its own is refused when it is parsed. Reading the answer
// (answer.go) is a pure function over the rows the query returned: one
// row of one column holding a finite number, else an error that names the
// query's problem (no row, several rows, several columns, NULL, not a
// number).
//
// Fetching (scaler.go, pools.go): every call runs the query alone in a
// read-only transaction with a statement timeout a little below the
// call's bound, on a pgx pool shared by every trigger with the same
// connection settings and bound (Pools, which bounds how many distinct
// pools are open, like the redis package's Clients). A password (or a
// whole connection string) from a <key>File is read again for every new
// connection, so a rotated Secret takes effect without a restart. Errors
// never show the password or a connection string.
package postgresql
