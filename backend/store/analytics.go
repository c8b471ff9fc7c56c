package store

import (
	"context"
	"fmt"
	"strings"
)

func (s *sqlStore) LatestEvent(ctx context.Context, tenant TenantID, scaler string) (ScalingEvent, error) {
	return one(ctx, s, "latest event of scaler", scaler, scanEvent,
		`SELECT `+eventCols+` FROM scaling_events WHERE tenant_id = ? AND scaler = ? ORDER BY audit_seq DESC LIMIT 1`, tenant, scaler)
}

// filterKey is a filter as a page token holds it: a token of one filter
// does not page another.
func filterKey(parts ...string) string { return strings.Join(parts, "\x00") }

func (s *sqlStore) ScalersWhere(ctx context.Context, tenant TenantID, f ScalerFilter, p Page) (List[Scaler], error) {
	key := filterKey(f.Namespace, f.Cluster)
	if key == filterKey("", "") {
		return s.Scalers(ctx, tenant, p)
	}
	k, limit, err := page(p, listScalers, key)
	if err != nil {
		return List[Scaler]{}, err
	}
	// An empty field matches all: "? = ''" keeps one query for the four
	// combinations (scalers_by_cluster serves a cluster, the primary key
	// the rest).
	return many(ctx, s, "scalers", limit, scanScaler, func(sc Scaler) pageKey { return pageKey{list: listScalers, filter: key, name: sc.Name} },
		`SELECT `+scalerCols+` FROM scalers WHERE tenant_id = ? AND (? = '' OR namespace = ?) AND (? = '' OR cluster_id = ?) AND name > ? ORDER BY name LIMIT ?`,
		tenant, f.Namespace, f.Namespace, f.Cluster, f.Cluster, k.name)
}

// trendsQuery sums the events per scaler; the last count is that of the
// scaler's latest event in the window, by time then seq (a correlated
// read of scaling_events_by_scaler_time backwards: no sort).
const trendsQuery = `SELECT e.scaler, COUNT(*),
	COUNT(CASE WHEN e.to_replicas > e.from_replicas THEN 1 END),
	COUNT(CASE WHEN e.to_replicas < e.from_replicas THEN 1 END),
	MIN(e.to_replicas), MAX(e.to_replicas),
	(SELECT l.to_replicas FROM scaling_events l WHERE l.tenant_id = ? AND l.scaler = e.scaler AND l.at_us >= ? AND l.at_us < ? ORDER BY l.at_us DESC, l.audit_seq DESC LIMIT 1),
	MIN(e.at_us), MAX(e.at_us)
FROM scaling_events e JOIN scalers s ON s.tenant_id = e.tenant_id AND s.name = e.scaler
WHERE e.tenant_id = ? AND s.tenant_id = ? AND e.at_us >= ? AND e.at_us < ?
	AND (? = '' OR s.namespace = ?) AND (? = '' OR s.cluster_id = ?) AND (? = '' OR e.scaler = ?) AND e.scaler > ?
GROUP BY e.scaler ORDER BY e.scaler LIMIT ?`

func scanTrend(r scanner, d *dialect) (EventTrend, error) {
	var t EventTrend
	var first, last int64
	if err := r.Scan(&t.Scaler, &t.Events, &t.ScaleUps, &t.ScaleDowns, &t.MinReplicas, &t.MaxReplicas, &t.LastReplicas, &first, &last); err != nil {
		return EventTrend{}, scanErr(d, err)
	}
	t.FirstAt, t.LastAt = fromMicros(first), fromMicros(last)
	return t, nil
}

func (s *sqlStore) EventTrends(ctx context.Context, tenant TenantID, f TrendFilter, p Page) (List[EventTrend], error) {
	if f.From.IsZero() || f.To.IsZero() || !f.From.Before(f.To) {
		return List[EventTrend]{}, fmt.Errorf("%w: trends: want a window with from before to", ErrInvalid)
	}
	from, to := f.From.UnixMicro(), f.To.UnixMicro()
	key := filterKey(fmt.Sprint(from), fmt.Sprint(to), f.Namespace, f.Cluster, f.Scaler)
	k, limit, err := page(p, listTrends, key)
	if err != nil {
		return List[EventTrend]{}, err
	}
	return many(ctx, s, "trends", limit, scanTrend, func(t EventTrend) pageKey { return pageKey{list: listTrends, filter: key, name: t.Scaler} },
		trendsQuery, tenant, from, to, tenant, tenant, from, to,
		f.Namespace, f.Namespace, f.Cluster, f.Cluster, f.Scaler, f.Scaler, k.name)
}
