package store

import (
	"encoding/json"
	"errors"
	"testing"
)

// The agents' tables are tenants' tables: the query review of
// tenant_test.go holds their queries to the tenant rule.
func init() { tenantTables = append(tenantTables, "agent_streams", "agent_decisions") }

func TestAgents(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			s := open(t, b.url(t), Options{})
			newTenant(t, s, "t1")
			newTenant(t, s, "t2")
			ctx := testCtx(t)

			// A cluster that does not exist has no agent.
			err := s.Update(ctx, "t1", "agent", func(tx Tx) error {
				_, err := tx.ConnectAgent(AgentConnect{Cluster: "nope", Instance: "pod-1"})
				return err
			})
			if !errors.Is(err, ErrNotFound) {
				t.Fatalf("ConnectAgent of a missing cluster: got %v, want ErrNotFound", err)
			}

			var a Agent
			mustUpdate(t, s, "t1", func(tx Tx) (err error) {
				a, err = tx.ConnectAgent(AgentConnect{Cluster: "c1", Instance: "pod-1", Version: "v1"})
				return err
			})
			if a.Connection != 1 || a.LastAgentSeq != 0 || !a.Online || a.Instance != "pod-1" {
				t.Fatalf("first connect: %+v", a)
			}
			// A decision and the seq in one transaction.
			var d Decision
			var created bool
			mustUpdate(t, s, "t1", func(tx Tx) (err error) {
				if err := tx.AdvanceAgentSeq("c1", 1); err != nil {
					return err
				}
				d, created, err = tx.RecordDecision(Decision{ID: "d1", Cluster: "c1", Scaler: "ns.web"}, map[string]any{"desired": 3})
				return err
			})
			if !created || d.AuditSeq == 0 {
				t.Fatalf("RecordDecision: %+v created %v", d, created)
			}
			// The same seq again is ErrConflict, and the decision it rode
			// with rolls back: no second record.
			err = s.Update(ctx, "t1", "agent", func(tx Tx) error {
				if _, _, err := tx.RecordDecision(Decision{ID: "d2", Cluster: "c1", Scaler: "ns.web"}, map[string]any{"desired": 4}); err != nil {
					return err
				}
				return tx.AdvanceAgentSeq("c1", 1)
			})
			if !errors.Is(err, ErrConflict) {
				t.Fatalf("AdvanceAgentSeq(1) again: got %v, want ErrConflict", err)
			}
			if _, err := s.Decision(ctx, "t1", "d2"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("decision d2 of a rolled back transaction: %v", err)
			}
			// A resent decision id appends nothing.
			mustUpdate(t, s, "t1", func(tx Tx) error {
				old, created, err := tx.RecordDecision(Decision{ID: "d1", Cluster: "c1", Scaler: "ns.web"}, map[string]any{"desired": 3})
				if err == nil && (created || old.AuditSeq != d.AuditSeq) {
					t.Errorf("resent decision: %+v created %v, want seq %d and false", old, created, d.AuditSeq)
				}
				return err
			})
			recs, err := s.AuditRecords(ctx, "t1", Page{Limit: MaxLimit})
			if err != nil {
				t.Fatal(err)
			}
			var decisions int
			for _, r := range recs.Items {
				if r.Kind == "decision" {
					decisions++
				}
			}
			if decisions != 1 {
				t.Errorf("decision records: got %d, want 1", decisions)
			}
			// Another tenant sees neither the agent nor the decision.
			if _, err := s.Agent(ctx, "t2", "c1"); !errors.Is(err, ErrNotFound) {
				t.Errorf("t2's agent c1: %v, want ErrNotFound", err)
			}
			if _, err := s.Decision(ctx, "t2", "d1"); !errors.Is(err, ErrNotFound) {
				t.Errorf("t2's decision d1: %v, want ErrNotFound", err)
			}
			mustUpdate(t, s, "t1", func(tx Tx) error {
				if err := tx.SetAgentStatus("c1", json.RawMessage(`{"leader":true}`), []string{"ns/bad: spec: no triggers"}); err != nil {
					return err
				}
				return tx.AckAgentConfig("c1", 7, "")
			})
			// A reconnect keeps the seq and the config ack; the old
			// connection's disconnect is then a no-op.
			mustUpdate(t, s, "t1", func(tx Tx) (err error) {
				a, err = tx.ConnectAgent(AgentConnect{Cluster: "c1", Instance: "pod-2", Version: "v2"})
				return err
			})
			if a.Connection != 2 || a.LastAgentSeq != 1 || a.ConfigVersion != 7 || a.Instance != "pod-2" || string(a.Status) != `{"leader":true}` || len(a.InventoryErrors) != 1 {
				t.Fatalf("reconnect: %+v", a)
			}
			mustUpdate(t, s, "t1", func(tx Tx) error {
				ok, err := tx.DisconnectAgent("c1", 1, "disconnected")
				if ok {
					t.Errorf("DisconnectAgent of an old connection: true, want a no-op")
				}
				return err
			})
			mustUpdate(t, s, "t1", func(tx Tx) error {
				ok, err := tx.DisconnectAgent("c1", 2, "missed 3 heartbeats")
				if !ok {
					t.Errorf("DisconnectAgent of the current connection: false")
				}
				return err
			})
			l, err := s.Agents(ctx, "t1", Page{})
			if err != nil {
				t.Fatal(err)
			}
			if len(l.Items) != 1 || l.Items[0].Online || l.Items[0].OfflineReason != "missed 3 heartbeats" || l.Items[0].OfflineAt.IsZero() {
				t.Fatalf("Agents: %+v", l.Items)
			}
			mustUpdate(t, s, "t1", func(tx Tx) error {
				sc, err := tx.ClusterScalers("c1")
				if len(sc) != 0 {
					t.Errorf("ClusterScalers: %d scalers, want 0", len(sc))
				}
				return err
			})
		})
	}
}
