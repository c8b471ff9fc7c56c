package audit

import (
	"errors"
	"fmt"
	"time"
)

// Defaults of CheckpointPolicy.
const (
	// DefaultCheckpointEvery: a checkpoint at least every 1000 records,
	// so a busy log is never far ahead of its last signature.
	DefaultCheckpointEvery = 1000
	// DefaultCheckpointInterval: and at most 10 s after a record, so a
	// quiet log's last changes are signed soon too.
	DefaultCheckpointInterval = 10 * time.Second
)

// CheckpointPolicy says when to sign a checkpoint: once Every records
// were appended since the last one, or Interval after the last one if any
// record was appended since. An idle log signs nothing. The zero value
// means the defaults.
type CheckpointPolicy struct {
	Every    int64
	Interval time.Duration
}

// LastCheckpoint is the latest signed checkpoint's size and when it was
// signed; the zero value means none.
type LastCheckpoint struct {
	Size int64
	Time time.Time
}

// WithDefaults returns p with zero fields set to the defaults.
func (p CheckpointPolicy) WithDefaults() CheckpointPolicy {
	if p.Every == 0 {
		p.Every = DefaultCheckpointEvery
	}
	if p.Interval == 0 {
		p.Interval = DefaultCheckpointInterval
	}
	return p
}

// Validate refuses negative fields, naming each.
func (p CheckpointPolicy) Validate() error {
	var errs []error
	if p.Every < 0 {
		errs = append(errs, fmt.Errorf("checkpoint every %d records: want a positive count (0 for %d)", p.Every, DefaultCheckpointEvery))
	}
	if p.Interval < 0 {
		errs = append(errs, fmt.Errorf("checkpoint interval %s: want a positive duration (0 for %s)", p.Interval, DefaultCheckpointInterval))
	}
	return errors.Join(errs...)
}

// Due reports whether a checkpoint of the tree of size leaves should be
// signed at now, after last.
func (p CheckpointPolicy) Due(last LastCheckpoint, size int64, now time.Time) bool {
	p = p.WithDefaults()
	switch {
	case size <= last.Size:
		// Nothing new to vouch for (or a checkpoint beyond the log,
		// which Verify reports; signing a smaller tree would not help).
		return false
	case last.Time.IsZero():
		// The first records of a log: sign at once, so a verifier has a
		// checkpoint from the start.
		return true
	case size-last.Size >= p.Every:
		return true
	default:
		return !now.Before(last.Time.Add(p.Interval))
	}
}

// Next returns when a checkpoint falls due if no record is appended
// before then: the zero time if none will (nothing new since last), now
// if one is due already.
func (p CheckpointPolicy) Next(last LastCheckpoint, size int64, now time.Time) time.Time {
	p = p.WithDefaults()
	if size <= last.Size {
		return time.Time{}
	}
	if p.Due(last, size, now) {
		return now
	}
	return last.Time.Add(p.Interval)
}
