package store

import (
	"golang.org/x/mod/sumdb/tlog"

	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/audit"
)

// wtx is the Tx of one job inside a batch transaction.
type wtx struct {
	s      *sqlStore
	tx     *sql.Tx
	ctx    context.Context
	tenant TenantID
	actor  string
	now    time.Time
	st     *batchState
}

var _ Tx = (*wtx)(nil)

// call runs fn, turning a panic into an error of this job.
func (w *wtx) call(fn func(*wtx) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", errPanic, r)
		}
	}()
	return fn(w)
}

func (w *wtx) exec(q string, args ...any) (sql.Result, error) {
	r, err := w.s.exec(w.ctx, w.tx, q, args...)
	return r, w.s.d.classify(err)
}

func (w *wtx) queryRow(q string, args ...any) *sql.Row {
	return w.s.queryRow(w.ctx, w.tx, q, args...)
}

func (w *wtx) Tenant() TenantID { return w.tenant }

// appendAudit appends one record of the Update's tenant to the batch's
// log: the hashes are computed here, from the head as this transaction
// holds it; the rows are written with the batch (writeLog).
func (w *wtx) appendAudit(kind, subject string, payload any) (int64, error) {
	return w.appendAuditOf(string(w.tenant), kind, subject, payload)
}

// appendAuditOf appends a record of tenant ("" for the installation's
// own changes, as backend/audit has it: creating a tenant).
func (w *wtx) appendAuditOf(tenant, kind, subject string, payload any) (int64, error) {
	p, err := audit.Prepare(audit.Entry{Time: w.now, Tenant: tenant, Actor: w.actor, Kind: kind, Subject: subject, Payload: payload})
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	b, err := audit.AppendBatch(w.st.head, []audit.Prepared{p}, hashReader{w})
	if err != nil {
		return 0, fmt.Errorf("append audit record: %w", err)
	}
	for _, h := range b.StoredHashes() {
		w.st.staged[h.Index] = h.Hash
		w.st.hashes = append(w.st.hashes, h)
	}
	w.st.records = append(w.st.records, b.Records...)
	w.st.head = b.Head
	return b.Head.Seq, nil
}

func (w *wtx) Append(kind, subject string, payload any) (int64, error) {
	return w.appendAudit(kind, subject, payload)
}

// checkName accepts what a name or id of a row may be: 1 to max bytes of
// printable UTF-8.
func checkName(what, s string, max int) error {
	if s == "" || len(s) > max {
		return fmt.Errorf("%w: %s %q: want 1 to %d bytes", ErrInvalid, what, clip(s), max)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			return fmt.Errorf("%w: %s %q: control character or invalid UTF-8", ErrInvalid, what, clip(s))
		}
	}
	return nil
}

func (w *wtx) CreateTenant(name string) (Tenant, error) {
	if err := checkName("tenant name", name, 256); err != nil {
		return Tenant{}, err
	}
	t := Tenant{ID: w.tenant, Name: name, CreatedAt: w.now}
	if err := w.insertNew("tenant", string(w.tenant), `INSERT INTO tenants (tenant_id, name, created_us) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`, w.tenant, name, w.now.UnixMicro()); err != nil {
		return Tenant{}, err
	}
	// The installation's change, not the tenant's: its record has the
	// tenant "" (Admin().Log shows it, the tenant's own list does not).
	if _, err := w.appendAuditOf("", "tenant.create", "tenants/"+string(w.tenant), map[string]any{"id": w.tenant, "name": name}); err != nil {
		return Tenant{}, err
	}
	return t, nil
}

// insertNew runs an INSERT ... ON CONFLICT DO NOTHING of a new row: a
// duplicate is ErrConflict without an error of the database, which on
// PostgreSQL would abort the rest of the transaction (so fn may go on,
// e.g. update the row that exists).
func (w *wtx) insertNew(kind, name, q string, args ...any) error {
	res, err := w.exec(q, args...)
	if err != nil {
		return rowErr(kind, name, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("%s %q: already exists: %w", kind, clip(name), ErrConflict)
	}
	return nil
}

// rowErr names the row in err; a conflict there is a duplicate.
func rowErr(kind, name string, err error) error {
	if errors.Is(err, ErrConflict) {
		return fmt.Errorf("%s %q: already exists: %w", kind, clip(name), err)
	}
	return fmt.Errorf("%s %q: %w", kind, clip(name), err)
}

type tokenPayload struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Role        Role     `json:"role"`
	Scopes      []string `json:"scopes"`
	SystemAdmin bool     `json:"systemAdmin"`
	ExpiresAt   string   `json:"expiresAt,omitempty"`
	RevokedAt   string   `json:"revokedAt,omitempty"`
}

func auditTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(audit.TimeLayout)
}

func (w *wtx) CreateToken(t Token) (Token, error) {
	var errs []error
	errs = append(errs, checkName("token id", t.ID, 128), checkName("token name", t.Name, 256))
	if !t.Role.valid() {
		errs = append(errs, fmt.Errorf("%w: token role %q: want viewer, operator or admin", ErrInvalid, clip(string(t.Role))))
	}
	if t.SecretHash == ([32]byte{}) {
		errs = append(errs, fmt.Errorf("%w: token secret hash: zero, want the SHA-256 of the secret", ErrInvalid))
	}
	for _, sc := range t.Scopes {
		errs = append(errs, checkName("token scope", sc, 128))
	}
	if err := errors.Join(errs...); err != nil {
		return Token{}, err
	}
	if t.Scopes == nil {
		t.Scopes = []string{}
	}
	scopes, _ := json.Marshal(t.Scopes)
	t.Tenant, t.CreatedAt, t.LastUsedAt, t.RevokedAt = w.tenant, w.now, time.Time{}, time.Time{}
	t.ExpiresAt = t.ExpiresAt.UTC().Truncate(time.Microsecond)
	if err := w.insertNew("token", t.ID, `INSERT INTO tokens (tenant_id, token_id, name, role, scopes, secret_sha256, system_admin, created_us, expires_us, last_used_us, revoked_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0) ON CONFLICT DO NOTHING`,
		w.tenant, t.ID, t.Name, string(t.Role), string(scopes), t.SecretHash[:], t.SystemAdmin, w.now.UnixMicro(), micros(t.ExpiresAt)); err != nil {
		return Token{}, err
	}
	if _, err := w.appendAudit("token.create", "tokens/"+t.ID, tokenPayload{ID: t.ID, Name: t.Name, Role: t.Role, Scopes: t.Scopes, SystemAdmin: t.SystemAdmin, ExpiresAt: auditTime(t.ExpiresAt)}); err != nil {
		return Token{}, err
	}
	return t, nil
}

func (w *wtx) RevokeToken(id string) (Token, error) {
	t, err := scanToken(w.queryRow(`SELECT `+tokenCols+` FROM tokens WHERE tenant_id = ? AND token_id = ?`, w.tenant, id), w.s.d)
	if err != nil {
		return Token{}, rowErr("token", id, err)
	}
	if !t.RevokedAt.IsZero() {
		return Token{}, fmt.Errorf("token %q: already revoked: %w", clip(id), ErrConflict)
	}
	if _, err := w.exec(`UPDATE tokens SET revoked_us = ? WHERE tenant_id = ? AND token_id = ?`, w.now.UnixMicro(), w.tenant, id); err != nil {
		return Token{}, rowErr("token", id, err)
	}
	t.RevokedAt = w.now
	if _, err := w.appendAudit("token.revoke", "tokens/"+id, tokenPayload{ID: t.ID, Name: t.Name, Role: t.Role, Scopes: t.Scopes, SystemAdmin: t.SystemAdmin, ExpiresAt: auditTime(t.ExpiresAt), RevokedAt: auditTime(t.RevokedAt)}); err != nil {
		return Token{}, err
	}
	return t, nil
}

type clusterPayload struct {
	ID              string            `json:"id"`
	Name            string            `json:"name"`
	Labels          map[string]string `json:"labels"`
	ResourceVersion int64             `json:"resourceVersion"`
}

func checkLabels(labels map[string]string) error {
	var errs []error
	for k, v := range labels {
		errs = append(errs, checkName("label name", k, 317))
		if v != "" {
			errs = append(errs, checkName("label "+clip(k), v, 1024))
		}
	}
	return errors.Join(errs...)
}

func (w *wtx) CreateCluster(c Cluster) (Cluster, error) {
	if err := errors.Join(checkName("cluster id", c.ID, 128), checkName("cluster name", c.Name, 256), checkLabels(c.Labels)); err != nil {
		return Cluster{}, err
	}
	if c.Labels == nil {
		c.Labels = map[string]string{}
	}
	labels, _ := json.Marshal(c.Labels)
	c.CreatedAt, c.UpdatedAt, c.ResourceVersion = w.now, w.now, 1
	if err := w.insertNew("cluster", c.ID, `INSERT INTO clusters (tenant_id, cluster_id, name, labels, created_us, updated_us, resource_version) VALUES (?, ?, ?, ?, ?, ?, 1) ON CONFLICT DO NOTHING`,
		w.tenant, c.ID, c.Name, string(labels), w.now.UnixMicro(), w.now.UnixMicro()); err != nil {
		return Cluster{}, err
	}
	if _, err := w.appendAudit("cluster.create", "clusters/"+c.ID, clusterPayload{c.ID, c.Name, c.Labels, 1}); err != nil {
		return Cluster{}, err
	}
	return c, nil
}

// versionErr tells, after an UPDATE or DELETE by version changed no row,
// whether the row is missing (ErrNotFound) or has another version
// (ErrConflict).
func (w *wtx) versionErr(kind, name, exists string, version int64) error {
	var n int
	if err := w.queryRow(exists, w.tenant, name).Scan(&n); err != nil {
		return rowErr(kind, name, w.s.d.classify(err))
	}
	if n == 0 {
		return notFound(kind, name)
	}
	return fmt.Errorf("%s %q: resource version %d is not the current one: %w", kind, clip(name), version, ErrConflict)
}

const (
	clusterExists = `SELECT COUNT(*) FROM clusters WHERE tenant_id = ? AND cluster_id = ?`
	scalerExists  = `SELECT COUNT(*) FROM scalers WHERE tenant_id = ? AND name = ?`
)

func (w *wtx) UpdateCluster(c Cluster) (Cluster, error) {
	if err := errors.Join(checkName("cluster id", c.ID, 128), checkName("cluster name", c.Name, 256), checkLabels(c.Labels)); err != nil {
		return Cluster{}, err
	}
	if c.Labels == nil {
		c.Labels = map[string]string{}
	}
	labels, _ := json.Marshal(c.Labels)
	res, err := w.exec(`UPDATE clusters SET name = ?, labels = ?, updated_us = ?, resource_version = resource_version + 1 WHERE tenant_id = ? AND cluster_id = ? AND resource_version = ?`,
		c.Name, string(labels), w.now.UnixMicro(), w.tenant, c.ID, c.ResourceVersion)
	if err != nil {
		return Cluster{}, rowErr("cluster", c.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Cluster{}, w.versionErr("cluster", c.ID, clusterExists, c.ResourceVersion)
	}
	got, err := w.Cluster(c.ID)
	if err != nil {
		return Cluster{}, err
	}
	if _, err := w.appendAudit("cluster.update", "clusters/"+c.ID, clusterPayload{got.ID, got.Name, got.Labels, got.ResourceVersion}); err != nil {
		return Cluster{}, err
	}
	return got, nil
}

func (w *wtx) DeleteCluster(id string, version int64) error {
	var n int
	if err := w.queryRow(`SELECT COUNT(*) FROM scalers WHERE tenant_id = ? AND cluster_id = ?`, w.tenant, id).Scan(&n); err != nil {
		return rowErr("cluster", id, w.s.d.classify(err))
	}
	if n > 0 {
		return fmt.Errorf("cluster %q: %d scalers still name it: %w", clip(id), n, ErrConflict)
	}
	return w.delete("cluster", id, version,
		`DELETE FROM clusters WHERE tenant_id = ? AND cluster_id = ?`,
		`DELETE FROM clusters WHERE tenant_id = ? AND cluster_id = ? AND resource_version = ?`,
		clusterExists, "cluster.delete", "clusters/"+id)
}

func (w *wtx) delete(kind, name string, version int64, anyVersion, byVersion, exists, auditKind, subject string) error {
	var res sql.Result
	var err error
	if version == 0 {
		res, err = w.exec(anyVersion, w.tenant, name)
	} else {
		res, err = w.exec(byVersion, w.tenant, name, version)
	}
	if err != nil {
		return rowErr(kind, name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if version == 0 {
			return notFound(kind, name)
		}
		return w.versionErr(kind, name, exists, version)
	}
	_, err = w.appendAudit(auditKind, subject, map[string]any{"name": name, "resourceVersion": version})
	return err
}

func (w *wtx) Cluster(id string) (Cluster, error) {
	c, err := scanCluster(w.queryRow(`SELECT `+clusterCols+` FROM clusters WHERE tenant_id = ? AND cluster_id = ?`, w.tenant, id), w.s.d)
	if err != nil {
		return Cluster{}, rowErr("cluster", id, err)
	}
	return c, nil
}

// scalerPayload is a scaler in the audit log. The spec and status are
// their stored JSON as strings: api/v1 has float fields (thresholds),
// which canonical JSON refuses as numbers, and a string keeps the bytes
// the store holds.
type scalerPayload struct {
	Name            string `json:"name"`
	Namespace       string `json:"namespace,omitempty"`
	Cluster         string `json:"cluster,omitempty"`
	Spec            string `json:"spec,omitempty"`
	Status          string `json:"status,omitempty"`
	ResourceVersion int64  `json:"resourceVersion"`
}

func checkScaler(s Scaler) error {
	return errors.Join(checkName("scaler name", s.Name, 253), checkName("scaler namespace", s.Namespace, 63), checkName("scaler cluster", s.Cluster, 128))
}

// clusterMustExist: a scaler names a cluster of its tenant (the foreign
// key is the backstop; this says which).
func (w *wtx) clusterMustExist(scaler, cluster string) error {
	var n int
	if err := w.queryRow(clusterExists, w.tenant, cluster).Scan(&n); err != nil {
		return rowErr("scaler", scaler, w.s.d.classify(err))
	}
	if n == 0 {
		return fmt.Errorf("%w: scaler %q: cluster %q does not exist", ErrInvalid, clip(scaler), clip(cluster))
	}
	return nil
}

func (w *wtx) CreateScaler(s Scaler) (Scaler, error) {
	if err := checkScaler(s); err != nil {
		return Scaler{}, err
	}
	if err := w.clusterMustExist(s.Name, s.Cluster); err != nil {
		return Scaler{}, err
	}
	spec, err := json.Marshal(s.Spec)
	if err != nil {
		return Scaler{}, fmt.Errorf("%w: scaler %q: spec: %v", ErrInvalid, clip(s.Name), err)
	}
	status, err := json.Marshal(s.Status)
	if err != nil {
		return Scaler{}, fmt.Errorf("%w: scaler %q: status: %v", ErrInvalid, clip(s.Name), err)
	}
	s.CreatedAt, s.UpdatedAt, s.ResourceVersion = w.now, w.now, 1
	if err := w.insertNew("scaler", s.Name, `INSERT INTO scalers (tenant_id, name, namespace, cluster_id, spec, status, created_us, updated_us, resource_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1) ON CONFLICT DO NOTHING`,
		w.tenant, s.Name, s.Namespace, s.Cluster, string(spec), string(status), w.now.UnixMicro(), w.now.UnixMicro()); err != nil {
		return Scaler{}, err
	}
	if _, err := w.appendAudit("scaler.create", "scalers/"+s.Name, scalerPayload{Name: s.Name, Namespace: s.Namespace, Cluster: s.Cluster, Spec: string(spec), ResourceVersion: 1}); err != nil {
		return Scaler{}, err
	}
	return s, nil
}

func (w *wtx) UpdateScaler(s Scaler) (Scaler, error) {
	if err := checkScaler(s); err != nil {
		return Scaler{}, err
	}
	if err := w.clusterMustExist(s.Name, s.Cluster); err != nil {
		return Scaler{}, err
	}
	spec, err := json.Marshal(s.Spec)
	if err != nil {
		return Scaler{}, fmt.Errorf("%w: scaler %q: spec: %v", ErrInvalid, clip(s.Name), err)
	}
	res, err := w.exec(`UPDATE scalers SET namespace = ?, cluster_id = ?, spec = ?, updated_us = ?, resource_version = resource_version + 1 WHERE tenant_id = ? AND name = ? AND resource_version = ?`,
		s.Namespace, s.Cluster, string(spec), w.now.UnixMicro(), w.tenant, s.Name, s.ResourceVersion)
	if err != nil {
		return Scaler{}, rowErr("scaler", s.Name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Scaler{}, w.versionErr("scaler", s.Name, scalerExists, s.ResourceVersion)
	}
	got, err := w.Scaler(s.Name)
	if err != nil {
		return Scaler{}, err
	}
	if _, err := w.appendAudit("scaler.update", "scalers/"+s.Name, scalerPayload{Name: got.Name, Namespace: got.Namespace, Cluster: got.Cluster, Spec: string(spec), ResourceVersion: got.ResourceVersion}); err != nil {
		return Scaler{}, err
	}
	return got, nil
}

func (w *wtx) UpdateScalerStatus(name string, version int64, st v1.ScalerStatus) (Scaler, error) {
	status, err := json.Marshal(st)
	if err != nil {
		return Scaler{}, fmt.Errorf("%w: scaler %q: status: %v", ErrInvalid, clip(name), err)
	}
	res, err := w.exec(`UPDATE scalers SET status = ?, updated_us = ?, resource_version = resource_version + 1 WHERE tenant_id = ? AND name = ? AND resource_version = ?`,
		string(status), w.now.UnixMicro(), w.tenant, name, version)
	if err != nil {
		return Scaler{}, rowErr("scaler", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Scaler{}, w.versionErr("scaler", name, scalerExists, version)
	}
	got, err := w.Scaler(name)
	if err != nil {
		return Scaler{}, err
	}
	if _, err := w.appendAudit("scaler.status", "scalers/"+name, scalerPayload{Name: name, Status: string(status), ResourceVersion: got.ResourceVersion}); err != nil {
		return Scaler{}, err
	}
	return got, nil
}

func (w *wtx) DeleteScaler(name string, version int64) error {
	return w.delete("scaler", name, version,
		`DELETE FROM scalers WHERE tenant_id = ? AND name = ?`,
		`DELETE FROM scalers WHERE tenant_id = ? AND name = ? AND resource_version = ?`,
		scalerExists, "scaler.delete", "scalers/"+name)
}

func (w *wtx) Scaler(name string) (Scaler, error) {
	s, err := scanScaler(w.queryRow(`SELECT `+scalerCols+` FROM scalers WHERE tenant_id = ? AND name = ?`, w.tenant, name), w.s.d)
	if err != nil {
		return Scaler{}, rowErr("scaler", name, err)
	}
	return s, nil
}

func (w *wtx) HasScaler(name string) error {
	var one int
	if err := w.queryRow(`SELECT 1 FROM scalers WHERE tenant_id = ? AND name = ?`, w.tenant, name).Scan(&one); err != nil {
		return rowErr("scaler", name, scanErr(w.s.d, err))
	}
	return nil
}

type eventPayload struct {
	ID           string `json:"id"`
	Scaler       string `json:"scaler"`
	Time         string `json:"time"`
	FromReplicas int32  `json:"fromReplicas"`
	ToReplicas   int32  `json:"toReplicas"`
	Rule         string `json:"rule,omitempty"`
	Reason       string `json:"reason,omitempty"`
}

func (w *wtx) RecordEvent(e ScalingEvent) (ScalingEvent, bool, error) {
	errs := []error{checkName("event id", e.ID, 128), checkName("event scaler", e.Scaler, 253)}
	if e.Time.IsZero() {
		errs = append(errs, fmt.Errorf("%w: event %q: time: zero", ErrInvalid, clip(e.ID)))
	}
	if e.FromReplicas < 0 || e.ToReplicas < 0 {
		errs = append(errs, fmt.Errorf("%w: event %q: replicas %d -> %d: want non-negative", ErrInvalid, clip(e.ID), e.FromReplicas, e.ToReplicas))
	}
	if len(e.Rule) > 256 || len(e.Reason) > 4096 {
		errs = append(errs, fmt.Errorf("%w: event %q: rule or reason too long", ErrInvalid, clip(e.ID)))
	}
	if err := errors.Join(errs...); err != nil {
		return ScalingEvent{}, false, err
	}
	// Insert first (ON CONFLICT DO NOTHING, one statement for the
	// common case); only a resend reads the row it finds. The audit
	// record is computed before (the row holds its seq) and dropped if
	// the event existed. The audit head is held by this transaction, and
	// so by one writer of the database at a time: no race.
	e.Time = e.Time.UTC().Truncate(time.Microsecond)
	m := w.st.mark()
	seq, err := w.appendAudit("event", "events/"+e.ID, eventPayload{e.ID, e.Scaler, e.Time.Format(audit.TimeLayout), e.FromReplicas, e.ToReplicas, e.Rule, e.Reason})
	if err != nil {
		return ScalingEvent{}, false, err
	}
	e.AuditSeq, e.AuditChain = seq, w.st.head.Chain
	res, err := w.exec(`INSERT INTO scaling_events (tenant_id, event_id, scaler, at_us, from_replicas, to_replicas, rule, reason, audit_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tenant_id, event_id) DO NOTHING`,
		w.tenant, e.ID, e.Scaler, e.Time.UnixMicro(), e.FromReplicas, e.ToReplicas, e.Rule, e.Reason, seq)
	if err != nil {
		return ScalingEvent{}, false, rowErr("event", e.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		w.st.reset(m)
		old, err := scanEvent(w.queryRow(`SELECT `+eventCols+` FROM scaling_events WHERE tenant_id = ? AND event_id = ?`, w.tenant, e.ID), w.s.d)
		if err != nil {
			return ScalingEvent{}, false, rowErr("event", e.ID, err)
		}
		// An event recorded earlier in this batch (the same id posted
		// twice at once) has its audit record in the batch only: the
		// rows are written when the batch commits.
		for _, r := range w.st.records {
			if r.Seq == old.AuditSeq {
				old.AuditChain = r.ChainHash
				return old, false, nil
			}
		}
		var chain []byte
		if err := w.queryRow(`SELECT chain_hash FROM audit_records WHERE tenant_id = ? AND seq = ?`, w.tenant, old.AuditSeq).Scan(&chain); err != nil {
			return ScalingEvent{}, false, fmt.Errorf("event %q: read its audit record %d: %w", clip(e.ID), old.AuditSeq, err)
		}
		if len(chain) != tlog.HashSize {
			return ScalingEvent{}, false, fmt.Errorf("event %q: audit record %d: chain hash of %d bytes", clip(e.ID), old.AuditSeq, len(chain))
		}
		copy(old.AuditChain[:], chain)
		return old, false, nil
	}
	return e, true, nil
}
