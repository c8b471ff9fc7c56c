package triggers

import (
	"errors"
	"strings"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// Sentinels that Resolve's errors wrap; callers branch on them with
// errors.Is. One error of Resolve may wrap both (every problem is reported
// at once): while it wraps ErrInvalid, retrying cannot help.
var (
	// ErrInvalid: the trigger's spec is wrong (a missing or contradictory
	// field, a key the agent refuses). Retrying with the same spec cannot
	// succeed; the agent reports it in status and as a Warning event.
	ErrInvalid = errors.New("invalid trigger")
	// ErrSecret: a Secret the trigger references, or a key of it, is
	// missing or could not be read. It may appear later: the agent retries
	// and reports it in status.
	ErrSecret = errors.New("secret not available")
)

// fieldError is one problem with one field of a trigger. It never holds a
// secret value: value is shown only for fields that are not secret (a key
// name, an environment variable name, a path, a broker).
type fieldError struct {
	kind error // ErrInvalid or ErrSecret
	// path is the field path, "spec.triggers[1].kafka.brokers[0]".
	path string
	// value is quoted after the path when shown is set.
	value string
	shown bool
	// msg says what is wrong and what was expected.
	msg string
	// cause, when set, is printed after msg and wrapped.
	cause error
}

func (e *fieldError) Error() string {
	var b strings.Builder
	b.WriteString(e.path)
	if e.shown {
		b.WriteByte(' ')
		b.WriteString(scalers.Quote(e.value))
	}
	b.WriteString(": ")
	b.WriteString(e.msg)
	if e.cause != nil {
		b.WriteString(": ")
		b.WriteString(e.cause.Error())
	}
	return b.String()
}

// Unwrap gives the sentinel and the cause, for errors.Is and errors.As.
func (e *fieldError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.kind}
	}
	return []error{e.kind, e.cause}
}
