// Package backendlink is the agent's link to the backend (hpa-autoscaler
// serve) over the AgentService Connect stream (proto/agent/v1).
//
// A Link dials out, authenticates with its first message (AuthRequest:
// cluster id, agent token, version, cluster info, the last server seq it
// applied, its instance), and then streams what the reconciler hands it:
// the inventory of the cluster's Scalers, metric values per trigger, every
// decision and every scaling event. From the backend it takes forecast
// floors and budget caps per Scaler (Advice), config updates (acknowledged
// by version) and resync requests.
//
// Delivery: every message the backend must apply carries a seq, given when
// the message is first sent, 1, 2, 3, ... across reconnects (after an
// agent restart the numbering continues from the AuthResponse's
// last_applied_agent_seq). A sent message stays in the buffer until the
// backend acknowledges it (ServerMessage.ack, the highest contiguous seq it
// applied durably); on reconnect the AuthResponse says what the backend
// holds and only what follows is resent. The buffer is bounded: past
// Options.BufferSize the oldest metric report not yet sent is shed (a
// sent one never is: that would leave a hole in the numbering), decisions
// and events are kept up to Options.HardLimit, past which the oldest
// unsent one is dropped and counted (hpa_agent_backend_shed_total with
// kind decision or event); they are also in the Scaler's Events and
// status. Inventory is full state: at most one waits at a time, built
// when it is sent.
//
// The backend's messages are applied at most once: the link keeps the
// highest server seq it applied and skips a message at or below it. It is
// not persisted: after an agent restart the link says 0 and the backend
// replays or resyncs its whole state (recommendations and the current
// config), which are idempotent.
//
// Threading: Report, Event, Metrics, Changed and Advice are called from
// several reconciles at once and never block; Run (or Start) holds the
// stream and returns when its context ends.
package backendlink
