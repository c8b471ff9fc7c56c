// Package store owns the backend's state: tenants, API tokens, clusters,
// scalers, scaling events and the audit log (records, tlog stored hashes,
// checkpoints), in SQLite (the default, embedded) or PostgreSQL (for
// several backend replicas), behind one interface, Store.
//
// Every row of a tenant's data carries tenant_id, and every method that
// reads or writes it takes a TenantID: a row of another tenant is not
// found. The only queries without a tenant are the global log's and the
// list of tenants (Admin), each marked in its SQL; a test reads every
// query of the package and fails on one that names a tenant table without
// tenant_id.
//
// Writes go through Update: the caller's function changes rows through a
// Tx, and each change appends its audit record, whose hashes
// (backend/audit) are computed in the same transaction from the head the
// transaction holds. Concurrent Updates are group committed: one writer
// goroutine runs what is waiting in one transaction (each in a savepoint)
// and acknowledges each caller after the commit is durable (SQLite
// synchronous=FULL in WAL mode, PostgreSQL synchronous_commit=on).
//
// The schema is versioned by embedded migrations (migrations/<dialect>/),
// applied by Open in one transaction; a newer schema is refused. See
// docs/store.md for the schema, the settings and the measured rates.
package store
