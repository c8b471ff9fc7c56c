package scalers

import (
	"context"
	"fmt"
)

var (
	contextCanceled = context.Canceled
	contextDeadline = context.DeadlineExceeded
)

// Unavailable wraps err (the cause, already redacted by the caller) as an
// ErrUnavailable error with short context.
func Unavailable(context string, err error) error {
	return fmt.Errorf("%s: %w", context, &unavailableError{err: err})
}

type unavailableError struct{ err error }

func (e *unavailableError) Error() string { return e.err.Error() }
func (e *unavailableError) Unwrap() []error {
	return []error{e.err, ErrUnavailable}
}
