package store

import (
	"context"
	"fmt"
	"strings"
	"time"
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

// trendsQuery sums the events per scaler and bucket ((time - from) /
// interval, the whole window when there is no interval), a page of them
// in a derived table; the last count is that of the bucket's latest
// event, by time then seq (a read of scaling_events_by_scaler_time at
// the bucket's last time). Paged by (scaler, bucket).
const trendsQuery = `SELECT g.scaler, g.bucket, g.n, g.ups, g.downs, g.lo, g.hi,
	(SELECT l.to_replicas FROM scaling_events l WHERE l.tenant_id = ? AND l.scaler = g.scaler AND l.at_us = g.last_us ORDER BY l.audit_seq DESC LIMIT 1),
	g.first_us, g.last_us
FROM (SELECT e.scaler AS scaler, (e.at_us - ?) / ? AS bucket, COUNT(*) AS n,
		COUNT(CASE WHEN e.to_replicas > e.from_replicas THEN 1 END) AS ups,
		COUNT(CASE WHEN e.to_replicas < e.from_replicas THEN 1 END) AS downs,
		MIN(e.to_replicas) AS lo, MAX(e.to_replicas) AS hi, MIN(e.at_us) AS first_us, MAX(e.at_us) AS last_us
	FROM scaling_events e JOIN scalers s ON s.tenant_id = e.tenant_id AND s.name = e.scaler
	WHERE e.tenant_id = ? AND s.tenant_id = ? AND e.at_us >= ? AND e.at_us < ?
		AND (? = '' OR s.namespace = ?) AND (? = '' OR s.cluster_id = ?) AND (? = '' OR e.scaler = ?)
		AND e.scaler >= ? AND (e.scaler > ? OR (e.at_us - ?) / ? >= ?)
	GROUP BY 1, 2 ORDER BY 1, 2 LIMIT ?) g
ORDER BY g.scaler, g.bucket`

// trendRow is an EventTrend with its bucket's number.
type trendRow struct {
	EventTrend
	bucket int64
}

func scanTrend(r scanner, d *dialect) (trendRow, error) {
	var t trendRow
	var first, last int64
	if err := r.Scan(&t.Scaler, &t.bucket, &t.Events, &t.ScaleUps, &t.ScaleDowns, &t.MinReplicas, &t.MaxReplicas, &t.LastReplicas, &first, &last); err != nil {
		return trendRow{}, scanErr(d, err)
	}
	t.FirstAt, t.LastAt = fromMicros(first), fromMicros(last)
	return t, nil
}

func (s *sqlStore) EventTrends(ctx context.Context, tenant TenantID, f TrendFilter, p Page) (List[EventTrend], error) {
	if f.From.IsZero() || f.To.IsZero() || !f.From.Before(f.To) {
		return List[EventTrend]{}, fmt.Errorf("%w: trends: want a window with from before to", ErrInvalid)
	}
	from, to := f.From.UnixMicro(), f.To.UnixMicro()
	interval := f.Interval.Microseconds()
	switch {
	case f.Interval == 0:
		interval = to - from // one bucket: the window
	case interval <= 0:
		return List[EventTrend]{}, fmt.Errorf("%w: trends: interval %s: want at least a microsecond", ErrInvalid, f.Interval)
	case (to-from+interval-1)/interval > MaxBuckets:
		return List[EventTrend]{}, fmt.Errorf("%w: trends: interval %s: more than %d buckets in the window", ErrInvalid, f.Interval, MaxBuckets)
	}
	key := filterKey(fmt.Sprint(from), fmt.Sprint(to), fmt.Sprint(interval), f.Namespace, f.Cluster, f.Scaler)
	k, limit, err := page(p, listTrendBuckets, key)
	if err != nil {
		return List[EventTrend]{}, err
	}
	// The page token's number is the next bucket + 1 (0 is no position).
	// e.scaler >= its scaler is what lets the index seek the page's first
	// scaler; the OR then skips that scaler's buckets before the key.
	rows, err := many(ctx, s, "trends", limit, scanTrend, func(t trendRow) pageKey {
		return pageKey{list: listTrendBuckets, filter: key, name: t.Scaler, seq: t.bucket + 2}
	}, trendsQuery, tenant, from, interval, tenant, tenant, from, to,
		f.Namespace, f.Namespace, f.Cluster, f.Cluster, f.Scaler, f.Scaler,
		k.name, k.name, from, interval, k.seq-1)
	if err != nil {
		return List[EventTrend]{}, err
	}
	out := List[EventTrend]{Items: make([]EventTrend, 0, len(rows.Items)), NextPageToken: rows.NextPageToken}
	for _, r := range rows.Items {
		r.Start = time.UnixMicro(from + r.bucket*interval).UTC()
		out.Items = append(out.Items, r.EventTrend)
	}
	return out, nil
}
