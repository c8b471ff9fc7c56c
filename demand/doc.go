// Package demand reads demand series: CSV files of (timestamp, value) rows
// such as the public traces under examples/traces (NAB, Azure LLM
// inference, Prophet's examples). It keeps the timestamp layout of the
// file so that output can be written in the series' own format. The
// simulate, predict and decide commands read series through it; it
// imports nothing of ours.
package demand
