package store

// AgentStore reads and writes the agents, their Connect streams (seq/ack state) and their decisions. Methods are added here (and
// implemented in this file) by the part of the backend that owns them.
type AgentStore interface{}

// AgentTx is what a transaction of Update changes of the agents, their Connect streams (seq/ack state) and their decisions (each change
// appends its audit record).
type AgentTx interface{}
