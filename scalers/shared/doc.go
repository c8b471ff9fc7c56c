// Package shared holds what the SQL scalers (postgresql, mysql) share
// beyond the scalers package: a bounded set of reference-counted clients
// keyed by connection settings (Set), which lets a thousand triggers on
// one database use one pool, and the rule that turns a trigger's timeout
// key into the bound of its calls (Bound).
package shared
