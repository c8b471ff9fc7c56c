package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"k8s.io/utils/clock"

	"github.com/hpa-autoscaler/hpa-autoscaler/backend/audit"
)

// CheckpointOptions configures RunCheckpoints.
type CheckpointOptions struct {
	// Key signs the checkpoints; its name is the log's origin. Required.
	Key *audit.Key
	// Policy says when (the zero value: audit's defaults, every 1000
	// records or 10 s after a change).
	Policy audit.CheckpointPolicy
	// Clock times the loop (default the real clock).
	Clock clock.Clock
	// Logger gets the failures the loop retries (nil: discard).
	Logger *slog.Logger
}

func (o CheckpointOptions) validate() error {
	if o.Key == nil || o.Key.Signer == nil {
		return errors.New("checkpoints: no signing key")
	}
	return o.Policy.Validate()
}

// appendNotifier is a Store that says when its writer appended records.
type appendNotifier interface {
	appended() <-chan struct{}
}

// RunCheckpoints signs a checkpoint of s's log whenever opts.Policy says
// one is due, until ctx ends (then it returns nil). It wakes when the
// store's writer appends and when the policy's interval runs out; a
// failure (the database unavailable) is logged and retried at the next
// wake or after the interval. Several backends may each run it on one
// PostgreSQL database: a size signed by another is not signed again.
func RunCheckpoints(ctx context.Context, s Store, opts CheckpointOptions) error {
	if err := opts.validate(); err != nil {
		return err
	}
	opts.Policy = opts.Policy.WithDefaults()
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	var wake <-chan struct{}
	if n, ok := s.(appendNotifier); ok {
		wake = n.appended()
	}
	a := s.Admin()
	var last audit.LastCheckpoint
	known := false // last was read from the database
	for {
		retry := false
		if !known {
			c, err := a.LatestCheckpoint(ctx)
			switch {
			case err == nil:
				last, known = audit.LastCheckpoint{Size: c.TreeSize, Time: c.Time}, true
			case errors.Is(err, ErrNotFound):
				known = true
			default:
				log.Warn("store: checkpoints: read the latest", "err", err)
				retry = true
			}
		}
		var size int64
		if !retry {
			head, err := a.Head(ctx)
			if err != nil {
				log.Warn("store: checkpoints: read the head", "err", err)
				retry = true
			}
			size = head.Seq
		}
		now := opts.Clock.Now()
		if !retry && opts.Policy.Due(last, size, now) {
			c, err := signCheckpoint(ctx, a, opts.Key, size, now)
			switch {
			case err == nil:
				last = audit.LastCheckpoint{Size: c.TreeSize, Time: c.Time}
				continue
			case errors.Is(err, ErrConflict):
				// Another backend signed this size: read what it did.
				known = false
				continue
			default:
				log.Warn("store: checkpoints: sign", "size", size, "err", err)
				retry = true
			}
		}
		var timer <-chan time.Time
		if retry {
			timer = opts.Clock.After(opts.Policy.Interval)
		} else if next := opts.Policy.Next(last, size, now); !next.IsZero() {
			timer = opts.Clock.After(next.Sub(now))
		} else if wake == nil {
			// Nothing new, and no word of appends: look again later.
			timer = opts.Clock.After(opts.Policy.Interval)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-timer:
		case <-wake:
		}
	}
}

// signCheckpoint signs and stores the checkpoint of the tree of size.
func signCheckpoint(ctx context.Context, a Admin, key *audit.Key, size int64, now time.Time) (Checkpoint, error) {
	head, err := audit.TreeHead(key.Signer.Name(), size, a.Hashes(ctx))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("tree head of size %d: %w", size, err)
	}
	note, err := audit.SignCheckpoint(head, key.Signer)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("sign checkpoint of size %d: %w", size, err)
	}
	c := Checkpoint{TreeSize: size, Note: note, Time: now.UTC().Truncate(time.Microsecond)}
	if err := a.AddCheckpoint(ctx, c); err != nil {
		return Checkpoint{}, err
	}
	return c, nil
}
