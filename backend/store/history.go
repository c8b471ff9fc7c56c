package store

// HistoryStore reads and writes the metric history: per-series samples on a regular step, retention and downsampling. Methods are added here (and
// implemented in this file) by the part of the backend that owns them.
type HistoryStore interface{}

// HistoryTx is what a transaction of Update changes of the metric history: per-series samples on a regular step, retention and downsampling (each change
// appends its audit record).
type HistoryTx interface{}
