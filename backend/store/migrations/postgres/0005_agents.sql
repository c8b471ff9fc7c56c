-- The agents of backend/agentsvc: one Connect stream state per cluster
-- (the last agent seq applied, kept in the same transaction as what the
-- message applied), and the decisions recorded, by decision id, so that
-- a resent decision appends no second audit record.

CREATE TABLE agent_streams (
	tenant_id        TEXT    NOT NULL REFERENCES tenants (tenant_id),
	cluster_id       TEXT    NOT NULL,
	connection       BIGINT  NOT NULL,
	last_agent_seq   BIGINT  NOT NULL,
	agent_instance   TEXT    NOT NULL,
	agent_version    TEXT    NOT NULL,
	online           BOOLEAN NOT NULL,
	connected_us     BIGINT  NOT NULL,
	offline_us       BIGINT  NOT NULL,
	offline_reason   TEXT    NOT NULL,
	config_version   BIGINT  NOT NULL,
	config_error     TEXT    NOT NULL,
	status           TEXT    NOT NULL,
	inventory_errors TEXT    NOT NULL,
	PRIMARY KEY (tenant_id, cluster_id)
);

CREATE TABLE agent_decisions (
	tenant_id   TEXT    NOT NULL REFERENCES tenants (tenant_id),
	decision_id TEXT    NOT NULL,
	cluster_id  TEXT    NOT NULL,
	scaler      TEXT    NOT NULL,
	audit_seq   BIGINT  NOT NULL,
	PRIMARY KEY (tenant_id, decision_id)
);
