package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// AgentStore reads the agents (one Connect stream state per cluster of a
// tenant: backend/agentsvc) and the decisions they reported.
type AgentStore interface {
	// Agent is the stream state of the tenant's cluster (ErrNotFound
	// when no agent ever connected for it).
	Agent(ctx context.Context, tenant TenantID, cluster string) (Agent, error)
	// Agents lists the tenant's agents by cluster id.
	Agents(ctx context.Context, tenant TenantID, page Page) (List[Agent], error)
	// Decision is the decision of that id (ErrNotFound when none).
	Decision(ctx context.Context, tenant TenantID, id string) (Decision, error)
}

// AgentTx is what a transaction of Update changes of the agents. The
// stream's seq is bookkeeping of the change it rides with (a decision,
// an event, an inventory): it appends no audit record of its own, and it
// commits or rolls back with that change, so a message is applied
// exactly once.
type AgentTx interface {
	// ConnectAgent records that an agent authenticated for cluster c.
	// Cluster: the cluster must exist. It starts a new connection (the
	// returned Agent's Connection), marks the agent online and keeps the
	// stream's LastAgentSeq (0 for a new one). Audit "agent.connect".
	ConnectAgent(c AgentConnect) (Agent, error)
	// DisconnectAgent marks the agent of cluster offline with a reason,
	// if connection is still its current one (a newer connection wins;
	// then it is a no-op returning false). Audit "agent.offline".
	DisconnectAgent(cluster string, connection int64, reason string) (bool, error)
	// AdvanceAgentSeq sets the stream's last applied agent seq to seq.
	// A seq not above the stored one was applied before: ErrConflict
	// (return it from fn, so that the change it rode with rolls back).
	AdvanceAgentSeq(cluster string, seq int64) error
	// SetAgentStatus keeps the agent's last StatusUpdate (JSON) and the
	// errors of its last inventory (one line per refused scaler).
	SetAgentStatus(cluster string, status json.RawMessage, inventoryErrors []string) error
	// AckAgentConfig records the config version the agent applied (or
	// failed to, with errText).
	AckAgentConfig(cluster string, version int64, errText string) error
	// RecordDecision records a decision and appends its audit record
	// ("decision", subject "decisions/<id>", payload as given: canonical
	// JSON, no floats). An id recorded before returns its row and false,
	// and appends nothing.
	RecordDecision(d Decision, payload any) (Decision, bool, error)
	// ClusterScalers lists the scalers of a cluster by name.
	ClusterScalers(cluster string) ([]Scaler, error)
}

// AgentConnect is what ConnectAgent records.
type AgentConnect struct {
	Cluster  string
	Instance string
	Version  string
}

// Agent is the stream state of one cluster's agent.
type Agent struct {
	Cluster string
	// Connection counts the agent's connections (1 for the first).
	Connection int64
	// LastAgentSeq is the highest AgentMessage seq applied durably.
	LastAgentSeq  int64
	Instance      string
	Version       string
	Online        bool
	ConnectedAt   time.Time
	OfflineAt     time.Time
	OfflineReason string
	// ConfigVersion is the last ConfigUpdate version the agent
	// acknowledged (ConfigError set when it could not apply it).
	ConfigVersion int64
	ConfigError   string
	// Status is the agent's last StatusUpdate as JSON ("{}": none).
	Status json.RawMessage
	// InventoryErrors are the scalers its last inventory had refused.
	InventoryErrors []string
}

// Decision is one decision an agent reported, by its id (unique in the
// tenant).
type Decision struct {
	ID       string
	Cluster  string
	Scaler   string
	AuditSeq int64
}

const (
	agentCols    = `cluster_id, connection, last_agent_seq, agent_instance, agent_version, online, connected_us, offline_us, offline_reason, config_version, config_error, status, inventory_errors`
	decisionCols = `decision_id, cluster_id, scaler, audit_seq`
	// listAgents pages Agents (a kind of its own, far from page.go's).
	listAgents listKind = 0xA1
)

func scanAgent(r scanner, d *dialect) (Agent, error) {
	var a Agent
	var connected, offline int64
	var status, invErrs string
	if err := r.Scan(&a.Cluster, &a.Connection, &a.LastAgentSeq, &a.Instance, &a.Version, &a.Online, &connected, &offline,
		&a.OfflineReason, &a.ConfigVersion, &a.ConfigError, &status, &invErrs); err != nil {
		return Agent{}, scanErr(d, err)
	}
	a.ConnectedAt, a.OfflineAt = fromMicros(connected), fromMicros(offline)
	a.Status = json.RawMessage(status)
	if err := json.Unmarshal([]byte(invErrs), &a.InventoryErrors); err != nil {
		return Agent{}, fmt.Errorf("agent %q: inventory errors: %w", a.Cluster, err)
	}
	return a, nil
}

func scanDecision(r scanner, d *dialect) (Decision, error) {
	var x Decision
	if err := r.Scan(&x.ID, &x.Cluster, &x.Scaler, &x.AuditSeq); err != nil {
		return Decision{}, scanErr(d, err)
	}
	return x, nil
}

func (s *sqlStore) Agent(ctx context.Context, tenant TenantID, cluster string) (Agent, error) {
	return one(ctx, s, "agent", cluster, scanAgent, `SELECT `+agentCols+` FROM agent_streams WHERE tenant_id = ? AND cluster_id = ?`, tenant, cluster)
}

func (s *sqlStore) Agents(ctx context.Context, tenant TenantID, p Page) (List[Agent], error) {
	k, limit, err := page(p, listAgents, "")
	if err != nil {
		return List[Agent]{}, err
	}
	return many(ctx, s, "agents", limit, scanAgent, func(a Agent) pageKey { return pageKey{list: listAgents, name: a.Cluster} },
		`SELECT `+agentCols+` FROM agent_streams WHERE tenant_id = ? AND cluster_id > ? ORDER BY cluster_id LIMIT ?`, tenant, k.name)
}

func (s *sqlStore) Decision(ctx context.Context, tenant TenantID, id string) (Decision, error) {
	return one(ctx, s, "decision", id, scanDecision, `SELECT `+decisionCols+` FROM agent_decisions WHERE tenant_id = ? AND decision_id = ?`, tenant, id)
}

type agentPayload struct {
	Cluster    string `json:"cluster"`
	Connection int64  `json:"connection"`
	Instance   string `json:"instance,omitempty"`
	Version    string `json:"version,omitempty"`
	Reason     string `json:"reason,omitempty"`
}

func (w *wtx) ConnectAgent(c AgentConnect) (Agent, error) {
	if err := errors.Join(checkName("agent cluster", c.Cluster, 128), checkText("agent instance", c.Instance, 256), checkText("agent version", c.Version, 128)); err != nil {
		return Agent{}, err
	}
	var n int
	if err := w.queryRow(clusterExists, w.tenant, c.Cluster).Scan(&n); err != nil {
		return Agent{}, rowErr("agent", c.Cluster, w.s.d.classify(err))
	}
	if n == 0 {
		return Agent{}, notFound("cluster", c.Cluster)
	}
	now := w.now.UnixMicro()
	// The first connection inserts the row; the next ones keep its seq
	// and config ack.
	res, err := w.exec(`INSERT INTO agent_streams (tenant_id, cluster_id, connection, last_agent_seq, agent_instance, agent_version, online, connected_us, offline_us, offline_reason, config_version, config_error, status, inventory_errors) VALUES (?, ?, 1, 0, ?, ?, ?, ?, 0, '', 0, '', '{}', '[]') ON CONFLICT (tenant_id, cluster_id) DO NOTHING`,
		w.tenant, c.Cluster, c.Instance, c.Version, true, now)
	if err != nil {
		return Agent{}, rowErr("agent", c.Cluster, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := w.exec(`UPDATE agent_streams SET connection = connection + 1, agent_instance = ?, agent_version = ?, online = ?, connected_us = ?, offline_us = 0, offline_reason = '' WHERE tenant_id = ? AND cluster_id = ?`,
			c.Instance, c.Version, true, now, w.tenant, c.Cluster); err != nil {
			return Agent{}, rowErr("agent", c.Cluster, err)
		}
	}
	a, err := w.agent(c.Cluster)
	if err != nil {
		return Agent{}, err
	}
	if _, err := w.appendAudit("agent.connect", "agents/"+c.Cluster, agentPayload{Cluster: c.Cluster, Connection: a.Connection, Instance: c.Instance, Version: c.Version}); err != nil {
		return Agent{}, err
	}
	return a, nil
}

func (w *wtx) agent(cluster string) (Agent, error) {
	a, err := scanAgent(w.queryRow(`SELECT `+agentCols+` FROM agent_streams WHERE tenant_id = ? AND cluster_id = ?`, w.tenant, cluster), w.s.d)
	if err != nil {
		return Agent{}, rowErr("agent", cluster, err)
	}
	return a, nil
}

func (w *wtx) DisconnectAgent(cluster string, connection int64, reason string) (bool, error) {
	if err := checkText("agent offline reason", reason, 1024); err != nil {
		return false, err
	}
	res, err := w.exec(`UPDATE agent_streams SET online = ?, offline_us = ?, offline_reason = ? WHERE tenant_id = ? AND cluster_id = ? AND connection = ? AND online = ?`,
		false, w.now.UnixMicro(), reason, w.tenant, cluster, connection, true)
	if err != nil {
		return false, rowErr("agent", cluster, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, nil
	}
	if _, err := w.appendAudit("agent.offline", "agents/"+cluster, agentPayload{Cluster: cluster, Connection: connection, Reason: reason}); err != nil {
		return false, err
	}
	return true, nil
}

func (w *wtx) AdvanceAgentSeq(cluster string, seq int64) error {
	if seq <= 0 {
		return fmt.Errorf("%w: agent %q: seq %d: want at least 1", ErrInvalid, clip(cluster), seq)
	}
	res, err := w.exec(`UPDATE agent_streams SET last_agent_seq = ? WHERE tenant_id = ? AND cluster_id = ? AND last_agent_seq < ?`, seq, w.tenant, cluster, seq)
	if err != nil {
		return rowErr("agent", cluster, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := w.agent(cluster); err != nil {
			return err
		}
		return fmt.Errorf("agent %q: seq %d applied before: %w", clip(cluster), seq, ErrConflict)
	}
	return nil
}

func (w *wtx) SetAgentStatus(cluster string, status json.RawMessage, inventoryErrors []string) error {
	if len(status) == 0 {
		status = json.RawMessage("{}")
	}
	if !json.Valid(status) || len(status) > 64<<10 {
		return fmt.Errorf("%w: agent %q: status: want a JSON value of at most 64 KiB", ErrInvalid, clip(cluster))
	}
	if inventoryErrors == nil {
		inventoryErrors = []string{}
	}
	errs, _ := json.Marshal(inventoryErrors)
	res, err := w.exec(`UPDATE agent_streams SET status = ?, inventory_errors = ? WHERE tenant_id = ? AND cluster_id = ?`, string(status), string(errs), w.tenant, cluster)
	if err != nil {
		return rowErr("agent", cluster, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("agent", cluster)
	}
	return nil
}

func (w *wtx) AckAgentConfig(cluster string, version int64, errText string) error {
	if err := checkText("agent config error", errText, 4096); err != nil {
		return err
	}
	res, err := w.exec(`UPDATE agent_streams SET config_version = ?, config_error = ? WHERE tenant_id = ? AND cluster_id = ?`, version, errText, w.tenant, cluster)
	if err != nil {
		return rowErr("agent", cluster, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("agent", cluster)
	}
	return nil
}

func (w *wtx) RecordDecision(d Decision, payload any) (Decision, bool, error) {
	if err := errors.Join(checkName("decision id", d.ID, 253), checkName("decision cluster", d.Cluster, 128), checkName("decision scaler", d.Scaler, 253)); err != nil {
		return Decision{}, false, err
	}
	// As RecordEvent: the record first (the row holds its seq), dropped
	// again when the id was recorded before.
	m := w.st.mark()
	seq, err := w.appendAudit("decision", "decisions/"+d.ID, payload)
	if err != nil {
		return Decision{}, false, err
	}
	d.AuditSeq = seq
	res, err := w.exec(`INSERT INTO agent_decisions (tenant_id, decision_id, cluster_id, scaler, audit_seq) VALUES (?, ?, ?, ?, ?) ON CONFLICT (tenant_id, decision_id) DO NOTHING`,
		w.tenant, d.ID, d.Cluster, d.Scaler, seq)
	if err != nil {
		return Decision{}, false, rowErr("decision", d.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		w.st.reset(m)
		old, err := scanDecision(w.queryRow(`SELECT `+decisionCols+` FROM agent_decisions WHERE tenant_id = ? AND decision_id = ?`, w.tenant, d.ID), w.s.d)
		if err != nil {
			return Decision{}, false, rowErr("decision", d.ID, err)
		}
		return old, false, nil
	}
	return d, true, nil
}

func (w *wtx) ClusterScalers(cluster string) ([]Scaler, error) {
	rows, err := w.tx.QueryContext(w.ctx, w.s.d.q(`SELECT `+scalerCols+` FROM scalers WHERE tenant_id = ? AND cluster_id = ? ORDER BY name`), w.tenant, cluster)
	if err != nil {
		return nil, rowErr("cluster", cluster, w.s.d.classify(err))
	}
	defer rows.Close()
	var out []Scaler
	for rows.Next() {
		s, err := scanScaler(rows, w.s.d)
		if err != nil {
			return nil, rowErr("cluster", cluster, err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, rowErr("cluster", cluster, w.s.d.classify(err))
	}
	return out, nil
}

// checkText accepts an optional text of at most max bytes without
// control characters.
func checkText(what, s string, max int) error {
	if s == "" {
		return nil
	}
	return checkName(what, s, max)
}
