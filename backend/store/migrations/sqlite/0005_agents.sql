-- The agents of backend/agentsvc: one Connect stream state per cluster
-- (the last agent seq applied, kept in the same transaction as what the
-- message applied), and the decisions recorded, by decision id, so that
-- a resent decision appends no second audit record.

CREATE TABLE agent_streams (
	tenant_id        TEXT    NOT NULL REFERENCES tenants (tenant_id),
	cluster_id       TEXT    NOT NULL,
	connection       INTEGER NOT NULL,
	last_agent_seq   INTEGER NOT NULL,
	agent_instance   TEXT    NOT NULL,
	agent_version    TEXT    NOT NULL,
	online           INTEGER NOT NULL CHECK (online IN (0, 1)),
	connected_us     INTEGER NOT NULL,
	offline_us       INTEGER NOT NULL,
	offline_reason   TEXT    NOT NULL,
	config_version   INTEGER NOT NULL,
	config_error     TEXT    NOT NULL,
	status           TEXT    NOT NULL,
	inventory_errors TEXT    NOT NULL,
	PRIMARY KEY (tenant_id, cluster_id)
) STRICT;

CREATE TABLE agent_decisions (
	tenant_id   TEXT    NOT NULL REFERENCES tenants (tenant_id),
	decision_id TEXT    NOT NULL,
	cluster_id  TEXT    NOT NULL,
	scaler      TEXT    NOT NULL,
	audit_seq   INTEGER NOT NULL,
	PRIMARY KEY (tenant_id, decision_id)
) STRICT;
