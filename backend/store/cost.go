package store

// CostStore reads and writes the prices, per-workload cost samples and budgets. Methods are added here (and
// implemented in this file) by the part of the backend that owns them.
type CostStore interface{}

// CostTx is what a transaction of Update changes of the prices, per-workload cost samples and budgets (each change
// appends its audit record).
type CostTx interface{}
