package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/audit"
)

// TenantID names a tenant. Every row of a tenant's data carries it, and
// every method that reads or changes such rows takes it, so that a query
// cannot forget it: a row of another tenant is not found, exactly like a
// row that does not exist.
type TenantID string

// Validate reports whether id can name a tenant: 1 to 63 lower-case
// letters, digits and '-', starting with a letter or digit (a DNS label,
// so it fits in a URL path, a token prefix and a log line unquoted).
func (id TenantID) Validate() error {
	s := string(id)
	if s == "" || len(s) > 63 {
		return fmt.Errorf("%w: tenant %q: want 1 to 63 characters", ErrInvalid, clip(s))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' && i > 0) {
			return fmt.Errorf("%w: tenant %q: want lower-case letters, digits and '-' (not first)", ErrInvalid, clip(s))
		}
	}
	return nil
}

// Errors the REST API maps to status codes. Each error of the store wraps
// at most one of them, with the kind and name of the row.
var (
	// ErrNotFound (404): no such row for this tenant. A row of another
	// tenant is not found too: the store never tells that it exists.
	ErrNotFound = errors.New("not found")
	// ErrConflict (409): a duplicate name or id, a stale resource
	// version, or a row still referenced (a cluster with scalers).
	ErrConflict = errors.New("conflict")
	// ErrInvalid (400): a value the store cannot keep (an empty name, an
	// unknown role, a bad page token, an audit payload with a float).
	ErrInvalid = errors.New("invalid")
	// ErrUnavailable (503): the database cannot take the write (read-only,
	// disk full, I/O error, unreachable). Nothing of the change was
	// committed and nothing was acknowledged; the caller may retry later.
	ErrUnavailable = errors.New("database unavailable")
	// ErrSchemaTooNew: the database was migrated by a newer binary; this
	// one refuses to start against it rather than misread it.
	ErrSchemaTooNew = errors.New("database schema is newer than this binary")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store closed")
	// ErrPageToken is wrapped, with ErrInvalid, by the error of a page
	// token that is not one of the list asked for (the API names the
	// pageToken parameter).
	ErrPageToken = errors.New("page token")
)

// Role is what a token may do in its tenant.
type Role string

// The roles, from least to most.
const (
	RoleViewer   Role = "viewer"
	RoleOperator Role = "operator"
	RoleAdmin    Role = "admin"
)

func (r Role) valid() bool { return r == RoleViewer || r == RoleOperator || r == RoleAdmin }

// Tenant is one tenant.
type Tenant struct {
	ID        TenantID
	Name      string
	CreatedAt time.Time
}

// Token is an API token. The store keeps the SHA-256 of its secret,
// never the secret or the token: whoever reads the database cannot use
// a token. A zero time means never (ExpiresAt) or not yet (LastUsedAt,
// RevokedAt).
type Token struct {
	ID     string
	Tenant TenantID
	Name   string
	Role   Role
	Scopes []string
	// SecretHash is SHA-256 of the token's secret part. It is not written
	// to the audit log (nor anywhere else but its column).
	SecretHash [32]byte
	// SystemAdmin tokens may also manage tenants (the installation).
	SystemAdmin bool
	CreatedAt   time.Time
	ExpiresAt   time.Time
	LastUsedAt  time.Time
	RevokedAt   time.Time
}

// Cluster is a Kubernetes cluster an agent reports from. Its ID is chosen
// by the client and unique in the tenant.
type Cluster struct {
	ID        string
	Name      string
	Labels    map[string]string
	CreatedAt time.Time
	UpdatedAt time.Time
	// ResourceVersion as for Scaler.
	ResourceVersion int64
}

// Scaler is a Scaler of the tenant: its name is unique in the tenant.
type Scaler struct {
	Name      string
	Namespace string
	Cluster   string
	Spec      v1.ScalerSpec
	Status    v1.ScalerStatus
	CreatedAt time.Time
	UpdatedAt time.Time
	// ResourceVersion is 1 when created and grows by one with every
	// change. An update names the version it read: a stale one is
	// ErrConflict (optimistic concurrency).
	ResourceVersion int64
}

// ScalingEvent is one change of a target's replicas that an agent made
// (or recommended). ID is the client's, unique in the tenant: recording
// the same ID again returns the row recorded first (idempotency), so an
// agent may resend after a lost answer.
type ScalingEvent struct {
	ID           string
	Scaler       string
	Time         time.Time
	FromReplicas int32
	ToReplicas   int32
	Rule         string
	Reason       string
	// AuditSeq is the seq of the audit record of the event.
	AuditSeq int64
	// AuditChain is that record's chain hash: set by Tx.RecordEvent
	// (so an acknowledgement needs no read after the commit), zero in
	// the events lists return.
	AuditChain tlog.Hash
}

// AuditRecord is one record of the audit log (audit.Record: its columns,
// the body exactly as hashed, the leaf and chain hashes).
type AuditRecord = audit.Record

// Checkpoint is a signed tree head the backend issued: the note's bytes
// exactly as signed.
type Checkpoint struct {
	TreeSize int64
	Note     []byte
	Time     time.Time
}

// Page asks for one page of a list: Limit rows (DefaultLimit when 0, at
// most MaxLimit) after the position Token names ("" for the first page).
type Page struct {
	Token string
	Limit int
}

// Limits of a page.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// List is one page of a list, in the list's order, and the token of the
// next page ("" after the last).
type List[T any] struct {
	Items         []T
	NextPageToken string
}

// EventFilter narrows Events: Scaler "" means all of the tenant's.
type EventFilter struct {
	Scaler string
}

// ScalerFilter narrows ScalersWhere: an empty field matches every value.
type ScalerFilter struct {
	Namespace string
	Cluster   string
}

// TrendFilter selects the scaling events EventTrends counts: those at
// From or later and before To (both required), of the scalers the other
// fields match (empty: all).
type TrendFilter struct {
	From, To  time.Time
	Namespace string
	Cluster   string
	Scaler    string
	// Interval, when not 0, sums each scaler's events per bucket of
	// Interval from From (at most MaxBuckets in the window).
	Interval time.Duration
}

// MaxBuckets bounds the buckets of a TrendFilter's window.
const MaxBuckets = 1000

// EventTrend sums one scaler's scaling events in a TrendFilter's window.
type EventTrend struct {
	Scaler string
	// Start is the start of the bucket (From without an Interval).
	Start time.Time
	// Events counts them; ScaleUps and ScaleDowns those that raised and
	// lowered the count.
	Events, ScaleUps, ScaleDowns int64
	// MinReplicas and MaxReplicas bound the counts the events set;
	// LastReplicas is the latest event's (by time, then seq).
	MinReplicas, MaxReplicas, LastReplicas int32
	// FirstAt and LastAt are the times of the first and the last event.
	FirstAt, LastAt time.Time
}

// Store is the backend's state: one interface, with a SQLite and a
// PostgreSQL implementation (Open picks one by URL). Its methods are safe
// for concurrent use.
//
// Reads take the tenant and see committed data only. Writes go through
// Update, which runs the caller's function in a transaction that also
// appends one audit record per change; concurrent Updates are group
// committed (see Update).
type Store interface {
	Reader
	// The parts of the state each in a file of its own: metric history
	// (history.go), prices and budgets (cost.go), agents and their
	// streams (agents.go).
	HistoryStore
	CostStore
	AgentStore
	// Update runs fn in a transaction of tenant, on behalf of actor (a
	// token id, agent id or "system", never a secret): every change fn
	// makes through tx appends its audit record in the same transaction.
	// Update returns once that transaction is durable (committed with
	// fsync), or with fn's error and nothing of fn's changes kept.
	//
	// Concurrent Updates are batched by one writer goroutine into one
	// database transaction, each in a savepoint of its own, so that one
	// caller's failure rolls back that caller's changes only. When the
	// batch itself fails (the commit, the database), every caller of it
	// is retried alone, so each gets the outcome of its own transaction.
	// fn therefore runs in the writer goroutine and may run more than
	// once: it must do nothing but call tx (no I/O, no blocking, no
	// side effects it could not repeat). When ctx ends before fn ran,
	// Update returns ctx's error and fn does not run; when it ends while
	// the transaction is in flight, Update returns ctx's error and the
	// change may still commit.
	Update(ctx context.Context, tenant TenantID, actor string, fn func(tx Tx) error) error
	// TouchToken records that the token was used at time at (the
	// latest use wins). It is bookkeeping, not a change: no audit
	// record. It shares the writer with Update.
	TouchToken(ctx context.Context, tenant TenantID, id string, at time.Time) error
	// Admin returns the operations across tenants, for system admins.
	Admin() Admin
	// Close stops the writer (after the batches in flight) and closes the
	// database.
	Close() error
}

// Reader reads a tenant's rows. Lists are in a stable order (names and
// ids ascending; events and audit records by seq), paged by keyset.
type Reader interface {
	Tenant(ctx context.Context, tenant TenantID) (Tenant, error)
	Token(ctx context.Context, tenant TenantID, id string) (Token, error)
	Tokens(ctx context.Context, tenant TenantID, page Page) (List[Token], error)
	Cluster(ctx context.Context, tenant TenantID, id string) (Cluster, error)
	Clusters(ctx context.Context, tenant TenantID, page Page) (List[Cluster], error)
	Scaler(ctx context.Context, tenant TenantID, name string) (Scaler, error)
	Scalers(ctx context.Context, tenant TenantID, page Page) (List[Scaler], error)
	Event(ctx context.Context, tenant TenantID, id string) (ScalingEvent, error)
	Events(ctx context.Context, tenant TenantID, filter EventFilter, page Page) (List[ScalingEvent], error)
	// LatestEvent is the scaler's last scaling event, by seq (ErrNotFound
	// when it has none).
	LatestEvent(ctx context.Context, tenant TenantID, scaler string) (ScalingEvent, error)
	// ScalersWhere lists the scalers the filter matches, by name.
	ScalersWhere(ctx context.Context, tenant TenantID, filter ScalerFilter, page Page) (List[Scaler], error)
	// EventTrends sums the scaling events in the filter's window per
	// scaler (of the scalers that exist), by scaler name.
	EventTrends(ctx context.Context, tenant TenantID, filter TrendFilter, page Page) (List[EventTrend], error)
	AuditRecord(ctx context.Context, tenant TenantID, seq int64) (AuditRecord, error)
	AuditRecords(ctx context.Context, tenant TenantID, page Page) (List[AuditRecord], error)
}

// Admin is what spans tenants: the list of tenants, and the global audit
// log (one chain and one Merkle tree over all tenants' records; its
// hashes and checkpoints reveal nothing of a record's content). The REST
// API offers it to system-admin tokens only (the whole log, records of
// every tenant, is for the verifier and system admins).
type Admin interface {
	Tenants(ctx context.Context, page Page) (List[Tenant], error)
	// Head is the log's tip: the last seq (the tree's size) and its
	// chain hash.
	Head(ctx context.Context) (audit.Head, error)
	// Log returns up to limit records with seq >= from, in seq order,
	// of all tenants.
	Log(ctx context.Context, from int64, limit int) ([]AuditRecord, error)
	// Hashes is the log's tlog.HashReader (committed stored hashes).
	Hashes(ctx context.Context) tlog.HashReader
	// AddCheckpoint stores a signed checkpoint; one per tree size
	// (ErrConflict for a second).
	AddCheckpoint(ctx context.Context, c Checkpoint) error
	// LatestCheckpoint is the checkpoint of the largest tree size
	// (ErrNotFound when there is none).
	LatestCheckpoint(ctx context.Context) (Checkpoint, error)
	// Checkpoint is the checkpoint of one tree size.
	Checkpoint(ctx context.Context, size int64) (Checkpoint, error)
	// Source is the log for audit.Verify: every record in seq order,
	// the latest checkpoint's note, and (tlog.HashReader) the stored
	// hashes. ctx bounds its reads.
	Source(ctx context.Context) AuditSource
}

// AuditSource is what Admin.Source returns: an audit.Source that also
// reads the stored hashes, so that Verify checks the proofs clients get.
type AuditSource interface {
	audit.Source
	tlog.HashReader
}

// Tx is the write side of one Update, bound to its tenant and actor. Each
// change appends its audit record (kind, subject) with the change as
// payload; Append adds records of things that are not rows (a decision).
// Reads in a Tx see its own changes. A Tx is valid only inside fn.
type Tx interface {
	Tenant() TenantID

	// CreateTenant creates the Update's tenant (audit "tenant.create",
	// a record of the installation: tenant "").
	CreateTenant(name string) (Tenant, error)

	// CreateToken stores a new token; ID, Name, Role and SecretHash are
	// required (audit "token.create", without the hash).
	CreateToken(t Token) (Token, error)
	// RevokeToken revokes a token at the Update's time (audit
	// "token.revoke"). Revoking a revoked token is ErrConflict.
	RevokeToken(id string) (Token, error)

	CreateCluster(c Cluster) (Cluster, error)                                                      // "cluster.create"
	UpdateCluster(c Cluster) (Cluster, error)                                                      // "cluster.update", by c.ResourceVersion
	DeleteCluster(id string, resourceVersion int64) error                                          // "cluster.delete"; 0: any version
	CreateScaler(s Scaler) (Scaler, error)                                                         // "scaler.create"; its cluster must exist
	UpdateScaler(s Scaler) (Scaler, error)                                                         // "scaler.update": namespace, cluster, spec; by s.ResourceVersion
	UpdateScalerStatus(name string, resourceVersion int64, status v1.ScalerStatus) (Scaler, error) // "scaler.status"
	DeleteScaler(name string, resourceVersion int64) error                                         // "scaler.delete"; 0: any version
	Scaler(name string) (Scaler, error)
	// HasScaler is nil when the scaler exists, else ErrNotFound: Scaler
	// without reading and decoding the row.
	HasScaler(name string) error
	Cluster(id string) (Cluster, error)

	// RecordEvent records a scaling event (audit "event", AuditSeq set).
	// An ID recorded before returns that row and created false, and
	// appends nothing.
	RecordEvent(e ScalingEvent) (ScalingEvent, bool, error)

	// Append appends an audit record of its own (e.g. "decision"): the
	// payload as audit.Canonical takes it (no floats). It returns the
	// record's seq.
	Append(kind, subject string, payload any) (int64, error)

	// The audited changes of history.go, cost.go and agents.go.
	HistoryTx
	CostTx
	AgentTx
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
