-- The metric history (backend/history): one row per series (tenant,
-- cluster, namespace, scaler, trigger), its id a hash of the key chosen by
-- the store, and one row per step of a series: the average of the samples
-- of that step (value) and how many there were (samples). step_us is the
-- step's length: the recorded step (1 minute by default), or the longer
-- step of a downsampled row (an hour), so that the rows of both
-- resolutions of one time can be told apart. No audit record: samples are
-- measurements, not changes.

CREATE TABLE history_series (
	tenant_id    TEXT    NOT NULL REFERENCES tenants (tenant_id),
	series_id    BIGINT  NOT NULL,
	cluster_id   TEXT    NOT NULL,
	namespace    TEXT    NOT NULL,
	scaler       TEXT    NOT NULL,
	trigger_name TEXT    NOT NULL,
	created_us   BIGINT  NOT NULL,
	PRIMARY KEY (tenant_id, series_id),
	UNIQUE (tenant_id, cluster_id, namespace, scaler, trigger_name)
);

CREATE TABLE history_samples (
	tenant_id TEXT             NOT NULL,
	series_id BIGINT           NOT NULL,
	step_us   BIGINT           NOT NULL,
	at_us     BIGINT           NOT NULL,
	value     DOUBLE PRECISION NOT NULL,
	samples   BIGINT           NOT NULL,
	PRIMARY KEY (tenant_id, series_id, step_us, at_us),
	FOREIGN KEY (tenant_id, series_id) REFERENCES history_series (tenant_id, series_id)
);

CREATE INDEX history_samples_by_time ON history_samples (tenant_id, at_us);
