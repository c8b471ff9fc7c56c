// Package trace reads demand traces: CSV files of (timestamp, value) rows
// such as the public series under shared/traces. It keeps the timestamp
// layout of the file so that output can be written in the trace's own
// format. The simulator and the predictor both read traces through it.
package trace
