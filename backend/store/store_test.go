package store

import (
	"golang.org/x/mod/sumdb/tlog"

	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/audit"
)

func spec(maxReplicas int32) v1.ScalerSpec {
	th := 0.5
	return v1.ScalerSpec{
		TargetRef: v1.TargetRef{Kind: "Deployment", Name: "web"},
		Scaling:   v1.Scaling{MaxReplicas: maxReplicas},
		ScalerSpec: &v1.TriggerSpec{
			Prometheus: &v1.PrometheusTrigger{ServerURL: "http://prom:9090", Query: "sum(rate(x[1m]))", Threshold: 12.5, ActivationThreshold: &th},
		},
	}
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

// TestSuite is the table of behaviours every backend must have.
func TestSuite(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, s Store)
	}{
		{"tenant isolation", testIsolation},
		{"clusters CRUD", testClusters},
		{"scalers CRUD and optimistic concurrency", testScalers},
		{"tokens", testTokens},
		{"duplicates are conflicts", testDuplicates},
		{"idempotent events", testEvents},
		{"paging", testPaging},
		{"audit record in the same transaction", testAuditSameTx},
		{"rollback leaves neither change nor record", testRollback},
		{"group commit isolates failing callers", testGroupCommit},
		{"checkpoints", testCheckpoints},
		{"invalid input", testInvalid},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					s := open(t, b.url(t), Options{})
					tc.run(t, s)
					verifyLog(t, s)
				})
			}
		})
	}
}

func testIsolation(t *testing.T, s Store) {
	ctx := testCtx(t)
	newTenant(t, s, "acme")
	newTenant(t, s, "globex")
	mustUpdate(t, s, "acme", func(tx Tx) error {
		if _, err := tx.CreateScaler(Scaler{Name: "web", Namespace: "prod", Cluster: "c1", Spec: spec(5)}); err != nil {
			return err
		}
		_, _, err := tx.RecordEvent(ScalingEvent{ID: "ev1", Scaler: "web", Time: time.Now(), FromReplicas: 1, ToReplicas: 2})
		return err
	})
	// Every read of globex misses acme's rows, exactly as rows that do
	// not exist.
	_, err := s.Scaler(ctx, "globex", "web")
	wantErr(t, "Scaler of another tenant", err, ErrNotFound)
	if _, err := s.Scaler(ctx, "acme", "web"); err != nil {
		t.Fatalf("Scaler of its tenant: %v", err)
	}
	_, err = s.Event(ctx, "globex", "ev1")
	wantErr(t, "Event of another tenant", err, ErrNotFound)
	if l, err := s.Scalers(ctx, "globex", Page{}); err != nil || len(l.Items) != 0 {
		t.Fatalf("Scalers of globex = %v, %v; want none", l.Items, err)
	}
	if l, err := s.Events(ctx, "globex", EventFilter{}, Page{}); err != nil || len(l.Items) != 0 {
		t.Fatalf("Events of globex = %v, %v; want none", l.Items, err)
	}
	// Writes of globex do not reach acme's rows either.
	err = s.Update(ctx, "globex", "tok", func(tx Tx) error {
		_, err := tx.UpdateScaler(Scaler{Name: "web", Namespace: "prod", Cluster: "c1", Spec: spec(9), ResourceVersion: 1})
		return err
	})
	wantErr(t, "UpdateScaler of another tenant's scaler", err, ErrNotFound)
	err = s.Update(ctx, "globex", "tok", func(tx Tx) error { return tx.DeleteScaler("web", 0) })
	wantErr(t, "DeleteScaler of another tenant's scaler", err, ErrNotFound)
	// globex may have a scaler of the same name: names are per tenant.
	mustUpdate(t, s, "globex", func(tx Tx) error {
		_, err := tx.CreateScaler(Scaler{Name: "web", Namespace: "other", Cluster: "c1", Spec: spec(3)})
		return err
	})
	a, _ := s.Scaler(ctx, "acme", "web")
	g, _ := s.Scaler(ctx, "globex", "web")
	if a.Namespace != "prod" || g.Namespace != "other" {
		t.Fatalf("namespaces acme %q globex %q, want prod and other", a.Namespace, g.Namespace)
	}
	// Audit records are filtered by tenant too.
	recs, err := s.AuditRecords(ctx, "globex", Page{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs.Items {
		if r.Tenant != "globex" {
			t.Fatalf("globex's audit records include %d of tenant %q", r.Seq, r.Tenant)
		}
		if _, err := s.AuditRecord(ctx, "acme", r.Seq); !errors.Is(err, ErrNotFound) {
			t.Fatalf("AuditRecord(acme, %d of globex): %v, want ErrNotFound", r.Seq, err)
		}
	}
	ts, err := s.Admin().Tenants(ctx, Page{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]TenantID{"acme", "globex"}, ids(ts.Items, func(t Tenant) TenantID { return t.ID })); diff != "" {
		t.Fatalf("Tenants (-want +got):\n%s", diff)
	}
	// Creating a tenant is the installation's change: its record has
	// the tenant "", in the global log only.
	var created []string
	for _, r := range verifyLog(t, s) {
		if r.Kind == "tenant.create" {
			if r.Tenant != "" {
				t.Fatalf("tenant.create record %d has tenant %q", r.Seq, r.Tenant)
			}
			created = append(created, r.Subject)
		}
	}
	if diff := cmp.Diff([]string{"tenants/acme", "tenants/globex"}, created); diff != "" {
		t.Fatalf("tenant.create subjects (-want +got):\n%s", diff)
	}
}

func ids[T, K any](items []T, key func(T) K) []K {
	out := make([]K, len(items))
	for i, it := range items {
		out[i] = key(it)
	}
	return out
}

func testClusters(t *testing.T, s Store) {
	ctx := testCtx(t)
	newTenant(t, s, "acme")
	got, err := s.Cluster(ctx, "acme", "c1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "cluster one" || got.Labels["env"] != "test" || got.ResourceVersion != 1 || got.CreatedAt.IsZero() {
		t.Fatalf("Cluster = %+v", got)
	}
	var upd Cluster
	mustUpdate(t, s, "acme", func(tx Tx) error {
		var err error
		upd, err = tx.UpdateCluster(Cluster{ID: "c1", Name: "renamed", Labels: map[string]string{"env": "prod"}, ResourceVersion: 1})
		return err
	})
	if upd.Name != "renamed" || upd.ResourceVersion != 2 || upd.Labels["env"] != "prod" {
		t.Fatalf("UpdateCluster = %+v", upd)
	}
	err = s.Update(ctx, "acme", "tok", func(tx Tx) error {
		_, err := tx.UpdateCluster(Cluster{ID: "c1", Name: "stale", ResourceVersion: 1})
		return err
	})
	wantErr(t, "UpdateCluster with a stale version", err, ErrConflict)
	mustUpdate(t, s, "acme", func(tx Tx) error {
		_, err := tx.CreateScaler(Scaler{Name: "web", Namespace: "prod", Cluster: "c1", Spec: spec(5)})
		return err
	})
	err = s.Update(ctx, "acme", "tok", func(tx Tx) error { return tx.DeleteCluster("c1", 0) })
	wantErr(t, "DeleteCluster with scalers", err, ErrConflict)
	mustUpdate(t, s, "acme", func(tx Tx) error {
		if err := tx.DeleteScaler("web", 0); err != nil {
			return err
		}
		return tx.DeleteCluster("c1", 2)
	})
	_, err = s.Cluster(ctx, "acme", "c1")
	wantErr(t, "Cluster after delete", err, ErrNotFound)
	err = s.Update(ctx, "acme", "tok", func(tx Tx) error { return tx.DeleteCluster("c1", 0) })
	wantErr(t, "DeleteCluster twice", err, ErrNotFound)
}

func testScalers(t *testing.T, s Store) {
	ctx := testCtx(t)
	newTenant(t, s, "acme")
	var created Scaler
	mustUpdate(t, s, "acme", func(tx Tx) error {
		var err error
		created, err = tx.CreateScaler(Scaler{Name: "web", Namespace: "prod", Cluster: "c1", Spec: spec(5)})
		return err
	})
	got, err := s.Scaler(ctx, "acme", "web")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(created, got, cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("Scaler read back (-created +read):\n%s", diff)
	}
	if diff := cmp.Diff(spec(5), got.Spec); diff != "" {
		t.Fatalf("spec read back (-want +got):\n%s", diff)
	}
	// Two writers read version 1; the first update wins, the second is a
	// conflict (409), and the row is the first's.
	upd := func(max int32, rv int64) error {
		return s.Update(ctx, "acme", "tok", func(tx Tx) error {
			_, err := tx.UpdateScaler(Scaler{Name: "web", Namespace: "prod", Cluster: "c1", Spec: spec(max), ResourceVersion: rv})
			return err
		})
	}
	if err := upd(7, 1); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "second update from version 1", upd(8, 1), ErrConflict)
	got, _ = s.Scaler(ctx, "acme", "web")
	if got.Spec.Scaling.MaxReplicas != 7 || got.ResourceVersion != 2 || !got.UpdatedAt.After(got.CreatedAt) {
		t.Fatalf("after the updates: max %d rv %d created %v updated %v; want 7, 2, updated after created", got.Spec.Scaling.MaxReplicas, got.ResourceVersion, got.CreatedAt, got.UpdatedAt)
	}
	// Status updates bump the version too.
	var st Scaler
	mustUpdate(t, s, "acme", func(tx Tx) error {
		var err error
		st, err = tx.UpdateScalerStatus("web", 2, v1.ScalerStatus{CurrentReplicas: 3, DesiredReplicas: 4, Target: "Deployment/web"})
		return err
	})
	if st.ResourceVersion != 3 || st.Status.DesiredReplicas != 4 || st.Spec.Scaling.MaxReplicas != 7 {
		t.Fatalf("UpdateScalerStatus = rv %d status %+v", st.ResourceVersion, st.Status)
	}
	err = s.Update(ctx, "acme", "tok", func(tx Tx) error {
		_, err := tx.UpdateScalerStatus("web", 2, v1.ScalerStatus{})
		return err
	})
	wantErr(t, "status from a stale version", err, ErrConflict)
	err = s.Update(ctx, "acme", "tok", func(tx Tx) error { return tx.DeleteScaler("web", 2) })
	wantErr(t, "delete from a stale version", err, ErrConflict)
	err = s.Update(ctx, "acme", "tok", func(tx Tx) error {
		_, err := tx.CreateScaler(Scaler{Name: "api", Namespace: "prod", Cluster: "nope", Spec: spec(1)})
		return err
	})
	wantErr(t, "scaler of a cluster that does not exist", err, ErrInvalid)
	mustUpdate(t, s, "acme", func(tx Tx) error { return tx.DeleteScaler("web", 3) })
	_, err = s.Scaler(ctx, "acme", "web")
	wantErr(t, "Scaler after delete", err, ErrNotFound)
	err = upd(9, 3)
	wantErr(t, "update of a deleted scaler", err, ErrNotFound)

	kinds := auditKinds(t, s, "acme")
	want := []string{"cluster.create", "scaler.create", "scaler.update", "scaler.status", "scaler.delete"}
	if diff := cmp.Diff(want, kinds); diff != "" {
		t.Fatalf("audit kinds (-want +got):\n%s", diff)
	}
}

func auditKinds(t *testing.T, s Store, tenant TenantID) []string {
	t.Helper()
	var kinds []string
	p := Page{Limit: 3}
	for {
		l, err := s.AuditRecords(testCtx(t), tenant, p)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range l.Items {
			kinds = append(kinds, r.Kind)
		}
		if l.NextPageToken == "" {
			return kinds
		}
		p.Token = l.NextPageToken
	}
}

func testTokens(t *testing.T, s Store) {
	ctx := testCtx(t)
	newTenant(t, s, "acme")
	secret := "hpa_acme_tok1_s3cr3t-value"
	hash := sha256.Sum256([]byte(secret))
	exp := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	mustUpdate(t, s, "acme", func(tx Tx) error {
		_, err := tx.CreateToken(Token{ID: "tok1", Name: "ci", Role: RoleOperator, Scopes: []string{"scalers:write"}, SecretHash: hash, ExpiresAt: exp})
		return err
	})
	tok, err := s.Token(ctx, "acme", "tok1")
	if err != nil {
		t.Fatal(err)
	}
	if tok.SecretHash != hash || tok.Role != RoleOperator || !tok.ExpiresAt.Equal(exp) || tok.SystemAdmin || !tok.LastUsedAt.IsZero() {
		t.Fatalf("Token = %+v", tok)
	}
	used := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	if err := s.TouchToken(ctx, "acme", "tok1", used); err != nil {
		t.Fatal(err)
	}
	if err := s.TouchToken(ctx, "acme", "tok1", used.Add(-time.Hour)); err != nil { // older: ignored
		t.Fatal(err)
	}
	tok, _ = s.Token(ctx, "acme", "tok1")
	if !tok.LastUsedAt.Equal(used) {
		t.Fatalf("LastUsedAt = %v, want %v", tok.LastUsedAt, used)
	}
	mustUpdate(t, s, "acme", func(tx Tx) error { _, err := tx.RevokeToken("tok1"); return err })
	err = s.Update(ctx, "acme", "tok", func(tx Tx) error { _, err := tx.RevokeToken("tok1"); return err })
	wantErr(t, "revoke twice", err, ErrConflict)
	tok, _ = s.Token(ctx, "acme", "tok1")
	if tok.RevokedAt.IsZero() {
		t.Fatal("RevokedAt zero after revoke")
	}
	// Neither the secret nor its hash is in the audit log.
	for _, r := range verifyLog(t, s) {
		if strings.Contains(string(r.Body), secret) || strings.Contains(string(r.Body), fmt.Sprintf("%x", hash)) {
			t.Fatalf("audit record %d (%s) holds the token's secret or hash: %s", r.Seq, r.Kind, r.Body)
		}
	}
	if diff := cmp.Diff([]string{"cluster.create", "token.create", "token.revoke"}, auditKinds(t, s, "acme")); diff != "" {
		t.Fatalf("audit kinds (TouchToken has none) (-want +got):\n%s", diff)
	}
	l, err := s.Tokens(ctx, "acme", Page{})
	if err != nil || len(l.Items) != 1 {
		t.Fatalf("Tokens = %v, %v", l.Items, err)
	}
}

func testDuplicates(t *testing.T, s Store) {
	ctx := testCtx(t)
	newTenant(t, s, "acme")
	cases := []struct {
		name string
		fn   func(Tx) error
	}{
		{"tenant", func(tx Tx) error { _, err := tx.CreateTenant("again"); return err }},
		{"cluster id", func(tx Tx) error { _, err := tx.CreateCluster(Cluster{ID: "c1", Name: "x"}); return err }},
		{"scaler name", func(tx Tx) error {
			if _, err := tx.CreateScaler(Scaler{Name: "web", Namespace: "a", Cluster: "c1"}); err != nil {
				return err
			}
			_, err := tx.CreateScaler(Scaler{Name: "web", Namespace: "b", Cluster: "c1"})
			return err
		}},
		{"token id", func(tx Tx) error {
			tok := Token{ID: "t", Name: "n", Role: RoleViewer, SecretHash: sha256.Sum256([]byte("x"))}
			if _, err := tx.CreateToken(tok); err != nil {
				return err
			}
			_, err := tx.CreateToken(tok)
			return err
		}},
	}
	for _, tc := range cases {
		wantErr(t, tc.name, s.Update(ctx, "acme", "tok", tc.fn), ErrConflict)
	}
	// A duplicate does not spoil the transaction (on PostgreSQL a failed
	// statement would): fn may go on with the row that exists.
	mustUpdate(t, s, "acme", func(tx Tx) error {
		_, err := tx.CreateCluster(Cluster{ID: "c1", Name: "again"})
		if !errors.Is(err, ErrConflict) {
			return fmt.Errorf("duplicate cluster: %v, want ErrConflict", err)
		}
		_, err = tx.UpdateCluster(Cluster{ID: "c1", Name: "updated", ResourceVersion: 1})
		return err
	})
	if c, _ := s.Cluster(ctx, "acme", "c1"); c.Name != "updated" {
		t.Fatalf("cluster after create-or-update: %+v", c)
	}
	// Rows of a tenant that was never created are refused.
	err := s.Update(ctx, "nobody", "tok", func(tx Tx) error { _, err := tx.CreateCluster(Cluster{ID: "c", Name: "c"}); return err })
	wantErr(t, "cluster of a tenant never created", err, ErrInvalid)
	// The failed Updates left nothing.
	if l, _ := s.Scalers(ctx, "acme", Page{}); len(l.Items) != 0 {
		t.Fatalf("scalers after failed updates: %v", l.Items)
	}
}

func testEvents(t *testing.T, s Store) {
	ctx := testCtx(t)
	newTenant(t, s, "acme")
	newTenant(t, s, "globex")
	ev := ScalingEvent{ID: "agent-1/42", Scaler: "web", Time: time.Date(2026, 5, 1, 10, 0, 0, 123456789, time.UTC), FromReplicas: 2, ToReplicas: 5, Rule: "scaleUp", Reason: "queue 300 > 100"}
	var first, again ScalingEvent
	var created1, created2 bool
	mustUpdate(t, s, "acme", func(tx Tx) error {
		var err error
		first, created1, err = tx.RecordEvent(ev)
		return err
	})
	before, _ := s.Admin().Head(ctx)
	// The agent resends after a lost answer, with other values: it gets
	// the original row, and no record is appended.
	resend := ev
	resend.ToReplicas = 9
	mustUpdate(t, s, "acme", func(tx Tx) error {
		var err error
		again, created2, err = tx.RecordEvent(resend)
		return err
	})
	after, _ := s.Admin().Head(ctx)
	if !created1 || created2 {
		t.Fatalf("created = %v then %v, want true then false", created1, created2)
	}
	if diff := cmp.Diff(first, again); diff != "" {
		t.Fatalf("resent event (-first +again):\n%s", diff)
	}
	if after != before {
		t.Fatalf("resending appended to the log: head %d -> %d", before.Seq, after.Seq)
	}
	if first.AuditSeq == 0 || first.ToReplicas != 5 || !first.Time.Equal(ev.Time.Truncate(time.Microsecond)) {
		t.Fatalf("first = %+v", first)
	}
	rec, err := s.AuditRecord(ctx, "acme", first.AuditSeq)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Kind != "event" || rec.Subject != "events/agent-1/42" {
		t.Fatalf("audit record of the event: kind %q subject %q", rec.Kind, rec.Subject)
	}
	// RecordEvent gives the record's chain hash, on the resend too (the
	// diff above compared them), so an ack needs no read after the commit.
	if first.AuditChain != rec.ChainHash {
		t.Fatalf("RecordEvent's chain hash %x, the stored record's %x", first.AuditChain, rec.ChainHash)
	}
	var body struct {
		Payload eventPayload `json:"payload"`
	}
	if err := json.Unmarshal(rec.Body, &body); err != nil || body.Payload.ToReplicas != 5 || body.Payload.Reason != ev.Reason {
		t.Fatalf("event payload %+v (%v) from body %s", body.Payload, err, rec.Body)
	}
	// HasScaler: the tenant's scaler yes, another tenant's or none no.
	newScaler := func(tenant TenantID) {
		mustUpdate(t, s, tenant, func(tx Tx) error {
			_, err := tx.CreateScaler(Scaler{Name: "has", Namespace: "prod", Cluster: "c1", Spec: spec(2)})
			return err
		})
	}
	newScaler("acme")
	for _, c := range []struct {
		tenant TenantID
		name   string
		want   error
	}{{"acme", "has", nil}, {"globex", "has", ErrNotFound}, {"acme", "missing", ErrNotFound}} {
		err := s.Update(ctx, c.tenant, "test", func(tx Tx) error { return tx.HasScaler(c.name) })
		if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
			t.Fatalf("HasScaler(%s, %s) = %v, want %v", c.tenant, c.name, err, c.want)
		}
	}
	// The same client id in another tenant is another event.
	var g ScalingEvent
	var gc bool
	mustUpdate(t, s, "globex", func(tx Tx) error {
		var err error
		g, gc, err = tx.RecordEvent(resend)
		return err
	})
	if !gc || g.ToReplicas != 9 {
		t.Fatalf("globex's event %+v created %v, want a new one with 9 replicas", g, gc)
	}
	got, err := s.Event(ctx, "acme", ev.ID)
	first.AuditChain = tlog.Hash{} // reads leave it zero
	if err != nil || got != first {
		t.Fatalf("Event = %+v, %v; want %+v", got, err, first)
	}
}

func testPaging(t *testing.T, s Store) {
	ctx := testCtx(t)
	newTenant(t, s, "acme")
	var names []string
	mustUpdate(t, s, "acme", func(tx Tx) error {
		for i := range 25 {
			name := fmt.Sprintf("s%02d", i)
			names = append(names, name)
			if _, err := tx.CreateScaler(Scaler{Name: name, Namespace: "n", Cluster: "c1", Spec: spec(3)}); err != nil {
				return err
			}
			if _, _, err := tx.RecordEvent(ScalingEvent{ID: fmt.Sprint("e", i), Scaler: name, Time: time.Now(), ToReplicas: 1}); err != nil {
				return err
			}
		}
		return nil
	})
	var got []string
	p := Page{Limit: 10}
	var pages int
	for {
		l, err := s.Scalers(ctx, "acme", p)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		got = append(got, ids(l.Items, func(s Scaler) string { return s.Name })...)
		if pages == 1 {
			// A row inserted before the position and one deleted after
			// it between pages: keyset paging neither repeats nor skips
			// the rows that stay.
			mustUpdate(t, s, "acme", func(tx Tx) error {
				if _, err := tx.CreateScaler(Scaler{Name: "a-first", Namespace: "n", Cluster: "c1"}); err != nil {
					return err
				}
				return tx.DeleteScaler("s15", 0)
			})
		}
		if l.NextPageToken == "" {
			break
		}
		p.Token = l.NextPageToken
	}
	want := append(append([]string{}, names[:15]...), names[16:]...)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("paged scalers (-want +got):\n%s", diff)
	}
	if pages != 3 {
		t.Fatalf("%d pages of 10 for 24 rows, want 3", pages)
	}
	// A token of one list does not page another.
	l, _ := s.Scalers(ctx, "acme", Page{Limit: 2})
	_, err := s.Clusters(ctx, "acme", Page{Token: l.NextPageToken})
	wantErr(t, "scalers' token for clusters", err, ErrInvalid)
	_, err = s.Scalers(ctx, "acme", Page{Token: "garbage!"})
	wantErr(t, "garbage token", err, ErrInvalid)
	_, err = s.Scalers(ctx, "acme", Page{Limit: -1})
	wantErr(t, "negative limit", err, ErrInvalid)

	// Events by seq, filtered by scaler; the filter is part of the token.
	el, err := s.Events(ctx, "acme", EventFilter{}, Page{Limit: 20})
	if err != nil || len(el.Items) != 20 || el.NextPageToken == "" {
		t.Fatalf("Events page 1: %d items, token %q, %v", len(el.Items), el.NextPageToken, err)
	}
	for i := 1; i < len(el.Items); i++ {
		if el.Items[i].AuditSeq <= el.Items[i-1].AuditSeq {
			t.Fatalf("events not in seq order at %d", i)
		}
	}
	el2, err := s.Events(ctx, "acme", EventFilter{}, Page{Limit: 20, Token: el.NextPageToken})
	if err != nil || len(el2.Items) != 5 || el2.NextPageToken != "" {
		t.Fatalf("Events page 2: %d items, token %q, %v", len(el2.Items), el2.NextPageToken, err)
	}
	_, err = s.Events(ctx, "acme", EventFilter{Scaler: "s01"}, Page{Token: el.NextPageToken})
	wantErr(t, "token of another filter", err, ErrInvalid)
	one, err := s.Events(ctx, "acme", EventFilter{Scaler: "s01"}, Page{})
	if err != nil || len(one.Items) != 1 || one.Items[0].ID != "e1" {
		t.Fatalf("Events of s01 = %+v, %v", one.Items, err)
	}
}

func testAuditSameTx(t *testing.T, s Store) {
	ctx := testCtx(t)
	newTenant(t, s, "acme")
	var seq int64
	mustUpdate(t, s, "acme", func(tx Tx) error {
		if _, err := tx.CreateScaler(Scaler{Name: "web", Namespace: "prod", Cluster: "c1", Spec: spec(4)}); err != nil {
			return err
		}
		var err error
		seq, err = tx.Append("decision", "scalers/web", map[string]any{"replicas": 4, "rule": "scaleUp"})
		return err
	})
	recs := verifyLog(t, s)
	n := len(recs)
	if n < 2 || recs[n-1].Seq != seq || recs[n-1].Kind != "decision" || recs[n-2].Kind != "scaler.create" || recs[n-2].Subject != "scalers/web" {
		t.Fatalf("last records: %+v", recs[max(0, n-2):])
	}
	create := recs[n-2]
	if create.Actor != "tok_test" || create.Tenant != "acme" || !create.Time.Equal(recs[n-1].Time) {
		t.Fatalf("scaler.create record: actor %q tenant %q time %v", create.Actor, create.Tenant, create.Time)
	}
	// The body holds the spec as stored, byte for byte.
	var body struct {
		Payload scalerPayload `json:"payload"`
	}
	if err := json.Unmarshal(create.Body, &body); err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(spec(4))
	if body.Payload.Spec != string(want) || body.Payload.ResourceVersion != 1 {
		t.Fatalf("payload %+v, want spec %s", body.Payload, want)
	}
	// A float in a payload fails that Update, and keeps nothing.
	err := s.Update(ctx, "acme", "tok", func(tx Tx) error {
		if _, err := tx.CreateScaler(Scaler{Name: "api", Namespace: "prod", Cluster: "c1"}); err != nil {
			return err
		}
		_, err := tx.Append("decision", "x", map[string]any{"f": 0.5})
		return err
	})
	wantErr(t, "float payload", err, ErrInvalid)
	_, err = s.Scaler(ctx, "acme", "api")
	wantErr(t, "scaler of the failed Update", err, ErrNotFound)
}

func testRollback(t *testing.T, s Store) {
	ctx := testCtx(t)
	newTenant(t, s, "acme")
	before, _ := s.Admin().Head(ctx)
	boom := errors.New("boom")
	err := s.Update(ctx, "acme", "tok", func(tx Tx) error {
		if _, err := tx.CreateScaler(Scaler{Name: "web", Namespace: "prod", Cluster: "c1"}); err != nil {
			return err
		}
		if _, err := tx.Scaler("web"); err != nil { // its own change is visible
			return fmt.Errorf("read own write: %w", err)
		}
		if _, _, err := tx.RecordEvent(ScalingEvent{ID: "e", Scaler: "web", Time: time.Now()}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update = %v, want fn's error", err)
	}
	err = s.Update(ctx, "acme", "tok", func(tx Tx) error {
		if _, err := tx.CreateScaler(Scaler{Name: "web2", Namespace: "prod", Cluster: "c1"}); err != nil {
			return err
		}
		panic("bug in fn")
	})
	wantErr(t, "panicking fn", err, errPanic)
	after, _ := s.Admin().Head(ctx)
	if after != before {
		t.Fatalf("failed updates moved the audit head %d -> %d", before.Seq, after.Seq)
	}
	for _, name := range []string{"web", "web2"} {
		_, err = s.Scaler(ctx, "acme", name)
		wantErr(t, "scaler of a failed Update", err, ErrNotFound)
	}
	_, err = s.Event(ctx, "acme", "e")
	wantErr(t, "event of a failed Update", err, ErrNotFound)
}

// testGroupCommit runs many concurrent Updates, every fifth failing after
// its change: the others commit (in shared batches), the failing ones
// leave nothing, and the log has one record per success without gaps.
func testGroupCommit(t *testing.T, s Store) {
	ctx := testCtx(t)
	newTenant(t, s, "acme")
	const n = 200
	var wg sync.WaitGroup
	errs := make([]error, n)
	seqs := make([]int64, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Update(ctx, "acme", "agent", func(tx Tx) error {
				e, _, err := tx.RecordEvent(ScalingEvent{ID: fmt.Sprint("e", i), Scaler: "web", Time: time.Now(), ToReplicas: int32(i)})
				if err != nil {
					return err
				}
				seqs[i] = e.AuditSeq
				if i%5 == 0 {
					return fmt.Errorf("caller %d fails", i)
				}
				return nil
			})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if (i%5 == 0) != (err != nil) {
			t.Fatalf("caller %d: %v", i, err)
		}
	}
	recs := verifyLog(t, s)
	bySeq := map[int64]AuditRecord{}
	for _, r := range recs {
		bySeq[r.Seq] = r
	}
	for i := range n {
		_, err := s.Event(ctx, "acme", fmt.Sprint("e", i))
		if i%5 == 0 {
			wantErr(t, "event of a failed caller", err, ErrNotFound)
			continue
		}
		if err != nil {
			t.Fatalf("event of caller %d: %v", i, err)
		}
		if r, ok := bySeq[seqs[i]]; !ok || r.Subject != fmt.Sprint("events/e", i) {
			t.Fatalf("caller %d: audit seq %d is %+v", i, seqs[i], r)
		}
	}
	if want := 2 + n - n/5; len(recs) != want {
		t.Fatalf("%d records, want %d", len(recs), want)
	}
}

func testCheckpoints(t *testing.T, s Store) {
	ctx := testCtx(t)
	a := s.Admin()
	_, err := a.LatestCheckpoint(ctx)
	wantErr(t, "LatestCheckpoint of none", err, ErrNotFound)
	newTenant(t, s, "acme") // 2 records
	var cs []Checkpoint
	for size := int64(1); size <= 2; size++ {
		c := signedCheckpoint(t, s, size)
		if err := a.AddCheckpoint(ctx, c); err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	wantErr(t, "second checkpoint of a size", a.AddCheckpoint(ctx, cs[1]), ErrConflict)
	c, err := a.LatestCheckpoint(ctx)
	if diff := cmp.Diff(cs[1], c); err != nil || diff != "" {
		t.Fatalf("LatestCheckpoint (-want +got):\n%s%v", diff, err)
	}
	c, err = a.Checkpoint(ctx, 1)
	if diff := cmp.Diff(cs[0], c); err != nil || diff != "" {
		t.Fatalf("Checkpoint(1) (-want +got):\n%s%v", diff, err)
	}
	// The older checkpoint is consistent with the latest, through the
	// store's hashes.
	res, err := audit.Verify(ctx, a.Source(ctx), audit.VerifyOptions{Verifier: testKey(t).Verifier, Older: cs[0].Note})
	if err != nil || !res.OK() {
		t.Fatalf("Verify with the older checkpoint: %v %v", res, err)
	}
}

func testInvalid(t *testing.T, s Store) {
	ctx := testCtx(t)
	wantErr(t, "bad tenant id", s.Update(ctx, "Not A Label", "tok", func(Tx) error { return nil }), ErrInvalid)
	wantErr(t, "empty actor", s.Update(ctx, "acme", "", func(Tx) error { return nil }), ErrInvalid)
	newTenant(t, s, "acme")
	err := s.Update(ctx, "acme", "tok", func(tx Tx) error {
		_, err := tx.CreateToken(Token{ID: "", Role: "root"})
		return err
	})
	wantErr(t, "bad token", err, ErrInvalid)
	for _, msg := range []string{"token id", "token name", "role", "secret hash"} {
		if !strings.Contains(err.Error(), msg) {
			t.Errorf("token error %q does not name %s", err, msg)
		}
	}
	// Tenant ids in a read are typed but may still be wrong: not found.
	_, err = s.Scaler(ctx, "nobody", "web")
	wantErr(t, "scaler of an unknown tenant", err, ErrNotFound)
}
