// Package agentsvc is the backend's side of the AgentService gRPC
// contract (proto/agent/v1): the Connect stream an in-cluster agent
// holds, and the unary GetScalingRecommendation, ReportScalingEvent and
// HealthCheck.
//
// It owns the protocol: authentication by an agent token bound to one
// tenant and one cluster (and, with mTLS, a client certificate naming the
// cluster), the seq/ack numbering of both sides with the last applied
// agent seq kept in the store in the transaction of what the message
// applied, replay and resync on reconnect, heartbeats and the offline
// mark, a bounded send queue per stream with recommendations coalesced
// per scaler, and the mapping of each message onto the store (inventory
// into scalers, decisions into audit records deduplicated by id, events
// into scaling events) and onto the interfaces it consumes: Observer
// (metric history), Recommender (forecast floors), Budgets (budget caps)
// and ConfigSource (agent settings), which cmd/hpa-autoscaler wires.
//
// docs/agentservice.md describes the protocol and its choices.
package agentsvc
