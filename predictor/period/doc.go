// Package period finds the seasonal periods of a regularly sampled series:
// the candidates are the peaks of its periodogram (computed with an FFT),
// and a candidate is kept only when the series' autocorrelation confirms it
// at a nearby integer lag. Any period can be found, not only a day or a
// week, and a series can have several (a day and a week, say).
//
// Detect is a pure function; it allocates its work buffers per call and is
// safe for concurrent use.
package period
