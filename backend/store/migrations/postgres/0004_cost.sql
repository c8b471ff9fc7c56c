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
	monthly_micros   BIGINT  NOT NULL CHECK (monthly_micros >= 0),
	created_us       BIGINT  NOT NULL,
	updated_us       BIGINT  NOT NULL,
	resource_version BIGINT  NOT NULL,
	PRIMARY KEY (tenant_id, budget_id)
);

CREATE TABLE cost_samples (
	tenant_id       TEXT    NOT NULL REFERENCES tenants (tenant_id),
	cluster_id      TEXT    NOT NULL,
	namespace       TEXT    NOT NULL,
	workload        TEXT    NOT NULL,
	start_us        BIGINT  NOT NULL,
	step_s          BIGINT  NOT NULL CHECK (step_s > 0),
	replicas_milli  BIGINT  NOT NULL,
	cpu_milli       BIGINT  NOT NULL,
	memory_bytes    BIGINT  NOT NULL,
	gpu             BIGINT  NOT NULL,
	spot_ppm        BIGINT  NOT NULL,
	replica_ms      BIGINT  NOT NULL,
	spot_replica_ms BIGINT  NOT NULL,
	cpu_mcore_s     BIGINT  NOT NULL,
	ram_kib_s       BIGINT  NOT NULL,
	gpu_milli_s     BIGINT  NOT NULL,
	cpu_micros      BIGINT  NOT NULL,
	ram_micros      BIGINT  NOT NULL,
	gpu_micros      BIGINT  NOT NULL,
	price_table     TEXT    NOT NULL,
	PRIMARY KEY (tenant_id, cluster_id, namespace, workload, start_us)
);

CREATE INDEX cost_samples_by_time ON cost_samples (tenant_id, start_us);
