-- The first schema. Times are unix microseconds (0: none), JSON is text,
-- hashes and audit bodies are bytes exactly as hashed. Every table of a
-- tenant's data has tenant_id NOT NULL first in its primary key; the
-- global tables (audit_head, tlog_hashes, audit_checkpoints) hold the
-- one log that spans all tenants.

CREATE TABLE tenants (
	tenant_id  TEXT    NOT NULL PRIMARY KEY,
	name       TEXT    NOT NULL,
	created_us BIGINT  NOT NULL
);

CREATE TABLE tokens (
	tenant_id     TEXT    NOT NULL REFERENCES tenants (tenant_id),
	token_id      TEXT    NOT NULL,
	name          TEXT    NOT NULL,
	role          TEXT    NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
	scopes        TEXT    NOT NULL,
	secret_sha256 BYTEA   NOT NULL CHECK (octet_length(secret_sha256) = 32),
	system_admin  BOOLEAN NOT NULL,
	created_us    BIGINT  NOT NULL,
	expires_us    BIGINT  NOT NULL,
	last_used_us  BIGINT  NOT NULL,
	revoked_us    BIGINT  NOT NULL,
	PRIMARY KEY (tenant_id, token_id)
);

CREATE TABLE clusters (
	tenant_id        TEXT    NOT NULL REFERENCES tenants (tenant_id),
	cluster_id       TEXT    NOT NULL,
	name             TEXT    NOT NULL,
	labels           TEXT    NOT NULL,
	created_us       BIGINT  NOT NULL,
	updated_us       BIGINT  NOT NULL,
	resource_version BIGINT  NOT NULL,
	PRIMARY KEY (tenant_id, cluster_id)
);

CREATE TABLE scalers (
	tenant_id        TEXT    NOT NULL REFERENCES tenants (tenant_id),
	name             TEXT    NOT NULL,
	namespace        TEXT    NOT NULL,
	cluster_id       TEXT    NOT NULL,
	spec             TEXT    NOT NULL,
	status           TEXT    NOT NULL,
	created_us       BIGINT  NOT NULL,
	updated_us       BIGINT  NOT NULL,
	resource_version BIGINT  NOT NULL,
	PRIMARY KEY (tenant_id, name),
	FOREIGN KEY (tenant_id, cluster_id) REFERENCES clusters (tenant_id, cluster_id)
);

CREATE INDEX scalers_by_cluster ON scalers (tenant_id, cluster_id);

CREATE TABLE scaling_events (
	tenant_id     TEXT    NOT NULL REFERENCES tenants (tenant_id),
	event_id      TEXT    NOT NULL,
	scaler        TEXT    NOT NULL,
	at_us         BIGINT  NOT NULL,
	from_replicas INTEGER NOT NULL,
	to_replicas   INTEGER NOT NULL,
	rule          TEXT    NOT NULL,
	reason        TEXT    NOT NULL,
	audit_seq     BIGINT  NOT NULL UNIQUE,
	PRIMARY KEY (tenant_id, event_id)
);

CREATE INDEX scaling_events_by_seq ON scaling_events (tenant_id, audit_seq);
CREATE INDEX scaling_events_by_scaler ON scaling_events (tenant_id, scaler, audit_seq);

CREATE TABLE audit_records (
	seq        BIGINT  NOT NULL PRIMARY KEY,
	tenant_id  TEXT    NOT NULL,
	at_us      BIGINT  NOT NULL,
	actor      TEXT    NOT NULL,
	kind       TEXT    NOT NULL,
	subject    TEXT    NOT NULL,
	body       BYTEA   NOT NULL,
	leaf_hash  BYTEA   NOT NULL CHECK (octet_length(leaf_hash) = 32),
	chain_hash BYTEA   NOT NULL CHECK (octet_length(chain_hash) = 32)
);

CREATE INDEX audit_records_by_tenant ON audit_records (tenant_id, seq);

CREATE TABLE audit_head (
	id         INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
	seq        BIGINT  NOT NULL,
	chain_hash BYTEA   NOT NULL CHECK (octet_length(chain_hash) = 32)
);

INSERT INTO audit_head (id, seq, chain_hash) VALUES (1, 0, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea);

CREATE TABLE tlog_hashes (
	idx  BIGINT  NOT NULL PRIMARY KEY,
	hash BYTEA   NOT NULL CHECK (octet_length(hash) = 32)
);

CREATE TABLE audit_checkpoints (
	tree_size BIGINT  NOT NULL PRIMARY KEY,
	note      BYTEA   NOT NULL,
	at_us     BIGINT  NOT NULL
);
