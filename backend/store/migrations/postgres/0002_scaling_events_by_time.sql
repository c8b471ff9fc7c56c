-- The analytics' trends count a tenant's scaling events per scaler in a
-- time window: (tenant, scaler, time) seeks the window in each scaler's
-- events, in the scaler order the trends are paged by, and its last
-- event (by time, then seq) without a sort.

CREATE INDEX scaling_events_by_scaler_time ON scaling_events (tenant_id, scaler, at_us, audit_seq);
