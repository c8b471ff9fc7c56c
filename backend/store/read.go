package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/hpa-autoscaler/hpa-autoscaler/backend/audit"
)

// Column lists and scanners, one per table, shared by the reads of the
// pool and of a Tx.
const (
	tenantCols  = `tenant_id, name, created_us`
	tokenCols   = `tenant_id, token_id, name, role, scopes, secret_sha256, system_admin, created_us, expires_us, last_used_us, revoked_us`
	clusterCols = `cluster_id, name, labels, created_us, updated_us, resource_version`
	scalerCols  = `name, namespace, cluster_id, spec, status, created_us, updated_us, resource_version`
	eventCols   = `event_id, scaler, at_us, from_replicas, to_replicas, rule, reason, audit_seq`
	auditCols   = `seq, tenant_id, at_us, actor, kind, subject, body, leaf_hash, chain_hash`
)

type scanner interface{ Scan(dest ...any) error }

// micros is a time as stored: unix microseconds, 0 for the zero time.
func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

// scanErr: no row is ErrNotFound; the rest classified.
func scanErr(d *dialect, err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return d.classify(err)
}

func scanTenant(r scanner, d *dialect) (Tenant, error) {
	var t Tenant
	var created int64
	if err := r.Scan(&t.ID, &t.Name, &created); err != nil {
		return Tenant{}, scanErr(d, err)
	}
	t.CreatedAt = fromMicros(created)
	return t, nil
}

func scanToken(r scanner, d *dialect) (Token, error) {
	var t Token
	var role, scopes string
	var hash []byte
	var created, expires, used, revoked int64
	if err := r.Scan(&t.Tenant, &t.ID, &t.Name, &role, &scopes, &hash, &t.SystemAdmin, &created, &expires, &used, &revoked); err != nil {
		return Token{}, scanErr(d, err)
	}
	t.Role = Role(role)
	if err := json.Unmarshal([]byte(scopes), &t.Scopes); err != nil {
		return Token{}, fmt.Errorf("token %q: scopes: %w", t.ID, err)
	}
	if len(hash) != len(t.SecretHash) {
		return Token{}, fmt.Errorf("token %q: secret hash of %d bytes", t.ID, len(hash))
	}
	copy(t.SecretHash[:], hash)
	t.CreatedAt, t.ExpiresAt, t.LastUsedAt, t.RevokedAt = fromMicros(created), fromMicros(expires), fromMicros(used), fromMicros(revoked)
	return t, nil
}

func scanCluster(r scanner, d *dialect) (Cluster, error) {
	var c Cluster
	var labels string
	var created, updated int64
	if err := r.Scan(&c.ID, &c.Name, &labels, &created, &updated, &c.ResourceVersion); err != nil {
		return Cluster{}, scanErr(d, err)
	}
	if err := json.Unmarshal([]byte(labels), &c.Labels); err != nil {
		return Cluster{}, fmt.Errorf("cluster %q: labels: %w", c.ID, err)
	}
	c.CreatedAt, c.UpdatedAt = fromMicros(created), fromMicros(updated)
	return c, nil
}

func scanScaler(r scanner, d *dialect) (Scaler, error) {
	var s Scaler
	var spec, status string
	var created, updated int64
	if err := r.Scan(&s.Name, &s.Namespace, &s.Cluster, &spec, &status, &created, &updated, &s.ResourceVersion); err != nil {
		return Scaler{}, scanErr(d, err)
	}
	if err := json.Unmarshal([]byte(spec), &s.Spec); err != nil {
		return Scaler{}, fmt.Errorf("scaler %q: spec: %w", s.Name, err)
	}
	if err := json.Unmarshal([]byte(status), &s.Status); err != nil {
		return Scaler{}, fmt.Errorf("scaler %q: status: %w", s.Name, err)
	}
	s.CreatedAt, s.UpdatedAt = fromMicros(created), fromMicros(updated)
	return s, nil
}

func scanEvent(r scanner, d *dialect) (ScalingEvent, error) {
	var e ScalingEvent
	var at int64
	if err := r.Scan(&e.ID, &e.Scaler, &at, &e.FromReplicas, &e.ToReplicas, &e.Rule, &e.Reason, &e.AuditSeq); err != nil {
		return ScalingEvent{}, scanErr(d, err)
	}
	e.Time = fromMicros(at)
	return e, nil
}

func scanAudit(r scanner, d *dialect) (AuditRecord, error) {
	var a AuditRecord
	var at int64
	var leaf, chain []byte
	if err := r.Scan(&a.Seq, &a.Tenant, &at, &a.Actor, &a.Kind, &a.Subject, &a.Body, &leaf, &chain); err != nil {
		return AuditRecord{}, scanErr(d, err)
	}
	if len(leaf) != tlog.HashSize || len(chain) != tlog.HashSize {
		return AuditRecord{}, fmt.Errorf("audit record %d: hashes of %d and %d bytes", a.Seq, len(leaf), len(chain))
	}
	a.Time = fromMicros(at)
	copy(a.LeafHash[:], leaf)
	copy(a.ChainHash[:], chain)
	return a, nil
}

// one reads one row through the read pool.
func one[T any](ctx context.Context, s *sqlStore, kind, name string, scan func(scanner, *dialect) (T, error), q string, args ...any) (T, error) {
	var zero T
	if err := s.checkOpen(); err != nil {
		return zero, fmt.Errorf("%s %q: %w", kind, clip(name), err)
	}
	var v T
	err := s.retryRead(ctx, func() (err error) {
		v, err = scan(s.readRow(ctx, q, args...), s.d)
		return err
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return zero, notFound(kind, name)
		}
		return zero, fmt.Errorf("%s %q: %w", kind, clip(name), s.readErr(err))
	}
	return v, nil
}

// many reads a page: rows of q (which ends in LIMIT ?) with limit+1
// appended to args, and the token of the next page from the last row.
func many[T any](ctx context.Context, s *sqlStore, kind string, limit int, scan func(scanner, *dialect) (T, error), next func(T) pageKey, q string, args ...any) (List[T], error) {
	if err := s.checkOpen(); err != nil {
		return List[T]{}, fmt.Errorf("list %s: %w", kind, err)
	}
	var out List[T]
	err := s.retryRead(ctx, func() error {
		out = List[T]{}
		rows, err := s.readRows(ctx, q, append(args, limit+1)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			v, err := scan(rows, s.d)
			if err != nil {
				return err
			}
			out.Items = append(out.Items, v)
		}
		return rows.Err()
	})
	if err != nil {
		return List[T]{}, fmt.Errorf("list %s: %w", kind, s.readErr(err))
	}
	if len(out.Items) > limit {
		out.Items = out.Items[:limit]
		out.NextPageToken = encodePageToken(next(out.Items[limit-1]))
	}
	return out, nil
}

// page decodes a page request.
func page(p Page, list listKind, filter string) (pageKey, int, error) {
	limit, err := p.limit()
	if err != nil {
		return pageKey{}, 0, err
	}
	k, err := decodePageToken(p.Token, list, filter)
	return k, limit, err
}

func (s *sqlStore) Tenant(ctx context.Context, tenant TenantID) (Tenant, error) {
	return one(ctx, s, "tenant", string(tenant), scanTenant, `SELECT `+tenantCols+` FROM tenants WHERE tenant_id = ?`, tenant)
}

func (s *sqlStore) Token(ctx context.Context, tenant TenantID, id string) (Token, error) {
	return one(ctx, s, "token", id, scanToken, `SELECT `+tokenCols+` FROM tokens WHERE tenant_id = ? AND token_id = ?`, tenant, id)
}

func (s *sqlStore) Tokens(ctx context.Context, tenant TenantID, p Page) (List[Token], error) {
	k, limit, err := page(p, listTokens, "")
	if err != nil {
		return List[Token]{}, err
	}
	return many(ctx, s, "tokens", limit, scanToken, func(t Token) pageKey { return pageKey{list: listTokens, name: t.ID} },
		`SELECT `+tokenCols+` FROM tokens WHERE tenant_id = ? AND token_id > ? ORDER BY token_id LIMIT ?`, tenant, k.name)
}

func (s *sqlStore) Cluster(ctx context.Context, tenant TenantID, id string) (Cluster, error) {
	return one(ctx, s, "cluster", id, scanCluster, `SELECT `+clusterCols+` FROM clusters WHERE tenant_id = ? AND cluster_id = ?`, tenant, id)
}

func (s *sqlStore) Clusters(ctx context.Context, tenant TenantID, p Page) (List[Cluster], error) {
	k, limit, err := page(p, listClusters, "")
	if err != nil {
		return List[Cluster]{}, err
	}
	return many(ctx, s, "clusters", limit, scanCluster, func(c Cluster) pageKey { return pageKey{list: listClusters, name: c.ID} },
		`SELECT `+clusterCols+` FROM clusters WHERE tenant_id = ? AND cluster_id > ? ORDER BY cluster_id LIMIT ?`, tenant, k.name)
}

func (s *sqlStore) Scaler(ctx context.Context, tenant TenantID, name string) (Scaler, error) {
	return one(ctx, s, "scaler", name, scanScaler, `SELECT `+scalerCols+` FROM scalers WHERE tenant_id = ? AND name = ?`, tenant, name)
}

func (s *sqlStore) Scalers(ctx context.Context, tenant TenantID, p Page) (List[Scaler], error) {
	k, limit, err := page(p, listScalers, "")
	if err != nil {
		return List[Scaler]{}, err
	}
	return many(ctx, s, "scalers", limit, scanScaler, func(sc Scaler) pageKey { return pageKey{list: listScalers, name: sc.Name} },
		`SELECT `+scalerCols+` FROM scalers WHERE tenant_id = ? AND name > ? ORDER BY name LIMIT ?`, tenant, k.name)
}

func (s *sqlStore) Event(ctx context.Context, tenant TenantID, id string) (ScalingEvent, error) {
	return one(ctx, s, "event", id, scanEvent, `SELECT `+eventCols+` FROM scaling_events WHERE tenant_id = ? AND event_id = ?`, tenant, id)
}

func (s *sqlStore) Events(ctx context.Context, tenant TenantID, f EventFilter, p Page) (List[ScalingEvent], error) {
	k, limit, err := page(p, listEvents, f.Scaler)
	if err != nil {
		return List[ScalingEvent]{}, err
	}
	next := func(e ScalingEvent) pageKey { return pageKey{list: listEvents, filter: f.Scaler, seq: e.AuditSeq} }
	if f.Scaler == "" {
		return many(ctx, s, "events", limit, scanEvent, next,
			`SELECT `+eventCols+` FROM scaling_events WHERE tenant_id = ? AND audit_seq > ? ORDER BY audit_seq LIMIT ?`, tenant, k.seq)
	}
	return many(ctx, s, "events", limit, scanEvent, next,
		`SELECT `+eventCols+` FROM scaling_events WHERE tenant_id = ? AND scaler = ? AND audit_seq > ? ORDER BY audit_seq LIMIT ?`, tenant, f.Scaler, k.seq)
}

func (s *sqlStore) AuditRecord(ctx context.Context, tenant TenantID, seq int64) (AuditRecord, error) {
	return one(ctx, s, "audit record", fmt.Sprint(seq), scanAudit, `SELECT `+auditCols+` FROM audit_records WHERE tenant_id = ? AND seq = ?`, tenant, seq)
}

func (s *sqlStore) AuditRecords(ctx context.Context, tenant TenantID, p Page) (List[AuditRecord], error) {
	k, limit, err := page(p, listAudit, "")
	if err != nil {
		return List[AuditRecord]{}, err
	}
	return many(ctx, s, "audit records", limit, scanAudit, func(a AuditRecord) pageKey { return pageKey{list: listAudit, seq: a.Seq} },
		`SELECT `+auditCols+` FROM audit_records WHERE tenant_id = ? AND seq > ? ORDER BY seq LIMIT ?`, tenant, k.seq)
}

// Admin implements Store.
func (s *sqlStore) Admin() Admin { return admin{s} }

// admin is the cross-tenant part. Its queries are the only ones of the
// package without tenant_id, each marked /* cross-tenant: why */ (a test
// lists them).
type admin struct{ s *sqlStore }

func (a admin) Tenants(ctx context.Context, p Page) (List[Tenant], error) {
	k, limit, err := page(p, listTenants, "")
	if err != nil {
		return List[Tenant]{}, err
	}
	return many(ctx, a.s, "tenants", limit, scanTenant, func(t Tenant) pageKey { return pageKey{list: listTenants, name: string(t.ID)} },
		`SELECT `+tenantCols+` FROM tenants /* cross-tenant: the list of tenants, for system admins */ WHERE tenant_id > ? ORDER BY tenant_id LIMIT ?`, k.name)
}

func (a admin) Head(ctx context.Context) (audit.Head, error) {
	var h audit.Head
	var chain []byte
	if err := a.s.checkOpen(); err != nil {
		return audit.Head{}, fmt.Errorf("audit head: %w", err)
	}
	if err := a.s.retryRead(ctx, func() error {
		return a.s.c.reader.QueryRowContext(ctx, `SELECT seq, chain_hash FROM audit_head WHERE id = 1`).Scan(&h.Seq, &chain)
	}); err != nil {
		return audit.Head{}, fmt.Errorf("audit head: %w", a.s.readErr(err))
	}
	if len(chain) != tlog.HashSize {
		return audit.Head{}, fmt.Errorf("audit head: chain hash of %d bytes", len(chain))
	}
	copy(h.Chain[:], chain)
	return h, nil
}

func (a admin) Log(ctx context.Context, from int64, limit int) ([]AuditRecord, error) {
	if limit <= 0 || limit > MaxLimit {
		limit = MaxLimit
	}
	l, err := many(ctx, a.s, "audit log", limit, scanAudit, func(AuditRecord) pageKey { return pageKey{} },
		`SELECT `+auditCols+` FROM audit_records /* cross-tenant: the global log, for the verifier and system admins */ WHERE seq >= ? ORDER BY seq LIMIT ?`, from)
	if err != nil || len(l.Items) == 0 {
		return l.Items, err
	}
	if err := a.treeHashes(ctx, l.Items); err != nil {
		return nil, err
	}
	return l.Items, nil
}

// treeHashes fills in the records' TreeHashes from the stored hashes:
// record seq added those at FirstHashIndex(seq) up to the next record's
// first.
func (a admin) treeHashes(ctx context.Context, recs []AuditRecord) error {
	lo := audit.FirstHashIndex(recs[0].Seq)
	hi := audit.FirstHashIndex(recs[len(recs)-1].Seq + 1)
	if err := a.s.checkOpen(); err != nil {
		return fmt.Errorf("read tree hashes: %w", err)
	}
	rows, err := a.s.c.reader.QueryContext(ctx, a.s.d.q(`SELECT idx, hash FROM tlog_hashes WHERE idx >= ? AND idx < ? ORDER BY idx`), lo, hi)
	if err != nil {
		return fmt.Errorf("read tree hashes: %w", a.s.readErr(err))
	}
	defer rows.Close()
	byIdx := make(map[int64]tlog.Hash, hi-lo)
	for rows.Next() {
		var idx int64
		var b []byte
		if err := rows.Scan(&idx, &b); err != nil {
			return fmt.Errorf("read tree hashes: %w", a.s.readErr(err))
		}
		if len(b) == tlog.HashSize {
			byIdx[idx] = tlog.Hash(b)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read tree hashes: %w", a.s.readErr(err))
	}
	// What is missing stays missing: the verifier names the record.
	for i := range recs {
		r := &recs[i]
		for idx := audit.FirstHashIndex(r.Seq); idx < audit.FirstHashIndex(r.Seq+1); idx++ {
			h, ok := byIdx[idx]
			if !ok {
				break
			}
			r.TreeHashes = append(r.TreeHashes, h)
		}
	}
	return nil
}

// Hashes implements Admin.
func (a admin) Hashes(ctx context.Context) tlog.HashReader {
	return tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		if err := a.s.checkOpen(); err != nil {
			return nil, fmt.Errorf("read tree hashes: %w", err)
		}
		found, err := readHashes(ctx, a.s.d, a.s.c.reader, indexes)
		if err != nil {
			return nil, a.s.readErr(err)
		}
		out := make([]tlog.Hash, len(indexes))
		for i, idx := range indexes {
			h, ok := found[idx]
			if !ok {
				return nil, fmt.Errorf("tree hash %d: %w", idx, ErrNotFound)
			}
			out[i] = h
		}
		return out, nil
	})
}

func (a admin) AddCheckpoint(ctx context.Context, c Checkpoint) error {
	if c.TreeSize <= 0 || len(c.Note) == 0 || c.Time.IsZero() {
		return fmt.Errorf("%w: checkpoint: want a tree size, a note and a time", ErrInvalid)
	}
	// A checkpoint is no change of a tenant's data: it vouches for the
	// log, so it has no audit record of its own (a record would change
	// the tree it signs). It is written directly, with the writer's
	// durability settings.
	if err := a.s.checkOpen(); err != nil {
		return fmt.Errorf("checkpoint of size %d: %w", c.TreeSize, err)
	}
	_, err := a.s.c.writer.ExecContext(ctx, a.s.d.q(`INSERT INTO audit_checkpoints (tree_size, note, at_us) VALUES (?, ?, ?)`), c.TreeSize, c.Note, c.Time.UTC().UnixMicro())
	if err != nil {
		err = a.s.readErr(err)
		if errors.Is(err, ErrConflict) {
			return fmt.Errorf("checkpoint of size %d: already exists: %w", c.TreeSize, err)
		}
		return fmt.Errorf("checkpoint of size %d: %w", c.TreeSize, err)
	}
	return nil
}

func scanCheckpoint(r scanner, d *dialect) (Checkpoint, error) {
	var c Checkpoint
	var at int64
	if err := r.Scan(&c.TreeSize, &c.Note, &at); err != nil {
		return Checkpoint{}, scanErr(d, err)
	}
	c.Time = fromMicros(at)
	return c, nil
}

func (a admin) LatestCheckpoint(ctx context.Context) (Checkpoint, error) {
	return one(ctx, a.s, "checkpoint", "latest", scanCheckpoint, `SELECT tree_size, note, at_us FROM audit_checkpoints ORDER BY tree_size DESC LIMIT 1`)
}

func (a admin) Checkpoint(ctx context.Context, size int64) (Checkpoint, error) {
	return one(ctx, a.s, "checkpoint", fmt.Sprint(size), scanCheckpoint, `SELECT tree_size, note, at_us FROM audit_checkpoints WHERE tree_size = ?`, size)
}

// Source implements Admin.
func (a admin) Source(ctx context.Context) AuditSource {
	return source{a: a, HashReader: a.Hashes(ctx)}
}

type source struct {
	a admin
	tlog.HashReader
}

// Scan implements audit.Source: pages of records by seq, each handed to
// yield in order.
func (s source) Scan(ctx context.Context, yield func(*audit.Record) error) error {
	next := int64(1)
	for {
		recs, err := s.a.Log(ctx, next, MaxLimit)
		if err != nil {
			return err
		}
		for i := range recs {
			if err := yield(&recs[i]); err != nil {
				return err
			}
		}
		if len(recs) < MaxLimit {
			return nil
		}
		next = recs[len(recs)-1].Seq + 1
	}
}

// LatestCheckpoint implements audit.Source: nil when there is none.
func (s source) LatestCheckpoint(ctx context.Context) ([]byte, error) {
	c, err := s.a.LatestCheckpoint(ctx)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return c.Note, nil
}
