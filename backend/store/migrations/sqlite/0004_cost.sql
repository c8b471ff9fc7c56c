-- Cost (backend/cost): the tenant's monthly budgets (audited changes)
-- and the cost samples of each workload per step (bookkeeping, written
-- in batches; a resend of a step replaces it). Money is integer
-- micro-units (1 unit of the currency = 1,000,000); shares are parts per
-- million.

CREATE TABLE budgets (
	tenant_id        TEXT    NOT NULL REFERENCES tenants (tenant_id),
	budget_id        TEXT    NOT NULL,
	name             TEXT    NOT NULL,
	scope            TEXT    NOT NULL CHECK (scope IN ('tenant', 'namespace', 'workload')),
	cluster_id       TEXT    NOT NULL,
	namespace        TEXT    NOT NULL,
	workload         TEXT    NOT NULL,
	monthly_micros   INTEGER NOT NULL CHECK (monthly_micros >= 0),
	created_us       INTEGER NOT NULL,
	updated_us       INTEGER NOT NULL,
	resource_version INTEGER NOT NULL,
	PRIMARY KEY (tenant_id, budget_id)
) STRICT;

CREATE TABLE cost_samples (
	tenant_id       TEXT    NOT NULL REFERENCES tenants (tenant_id),
	cluster_id      TEXT    NOT NULL,
	namespace       TEXT    NOT NULL,
	workload        TEXT    NOT NULL,
	start_us        INTEGER NOT NULL,
	step_s          INTEGER NOT NULL CHECK (step_s > 0),
	replicas_milli  INTEGER NOT NULL,
	cpu_milli       INTEGER NOT NULL,
	memory_bytes    INTEGER NOT NULL,
	gpu             INTEGER NOT NULL,
	spot_ppm        INTEGER NOT NULL,
	replica_ms      INTEGER NOT NULL,
	spot_replica_ms INTEGER NOT NULL,
	cpu_mcore_s     INTEGER NOT NULL,
	ram_kib_s       INTEGER NOT NULL,
	gpu_milli_s     INTEGER NOT NULL,
	cpu_micros      INTEGER NOT NULL,
	ram_micros      INTEGER NOT NULL,
	gpu_micros      INTEGER NOT NULL,
	price_table     TEXT    NOT NULL,
	PRIMARY KEY (tenant_id, cluster_id, namespace, workload, start_us)
) STRICT;

CREATE INDEX cost_samples_by_time ON cost_samples (tenant_id, start_us);
