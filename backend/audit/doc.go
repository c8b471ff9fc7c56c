// Package audit owns the arithmetic of the tamper-evident audit log of the
// backend: the canonical JSON body of a record, its leaf and chain hashes
// (RFC 6962 leaf hashing, a SHA-256 hash chain), the Merkle tree over the
// leaves (golang.org/x/mod/sumdb/tlog stored hashes, inclusion and
// consistency proofs), signed checkpoints (C2SP tlog-checkpoint notes with
// an Ed25519 key), the policy of when to sign one, and the verifier.
//
// It does no I/O on a database: the store persists what [AppendBatch]
// computes, in the same transaction as the change each record records, and
// serves records back through a [Source] to [Verify]. Files are touched
// only by [LoadOrGenerateKey] and [LoadVerifier].
//
// One chain and one tree span all tenants: seq is global, each record is
// tagged with its tenant, the REST API filters by tenant and inclusion
// proofs are against the global tree. One checkpoint and one verifier then
// vouch for everything, and a tenant cannot be dropped or rewritten without
// breaking every later record of every tenant.
//
// docs/audit.md describes the exact bytes hashed and how to verify a log
// without this code.
package audit
