package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/hpa-autoscaler/hpa-autoscaler/backend/auth"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/store"
)

// Error is an API error: the status, a code for programs, a message for
// people and the field it is about, if any.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
	// RetryAfter (seconds) for 429.
	RetryAfter int `json:"-"`
}

func (e *Error) Error() string { return e.Message }

// The codes.
const (
	CodeInvalid          = "invalid_argument"
	CodeUnauthenticated  = "unauthenticated"
	CodeForbidden        = "permission_denied"
	CodeNotFound         = "not_found"
	CodeConflict         = "conflict"
	CodeTooLarge         = "payload_too_large"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeRateLimited      = "rate_limited"
	CodeUnavailable      = "unavailable"
	CodeInternal         = "internal"
)

func invalid(field, format string, args ...any) *Error {
	msg := fmt.Sprintf(format, args...)
	if field != "" {
		msg = field + ": " + msg
	}
	return &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: msg, Field: field}
}

func notFound(format string, args ...any) *Error {
	return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: fmt.Sprintf(format, args...)}
}

// toError maps an error of ours, the store's or auth's to an Error;
// ok false for an error that is none of them (a 500, logged, with a
// message that says nothing of it).
func toError(err error) (*Error, bool) {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e, true
	case errors.Is(err, auth.ErrMalformed), errors.Is(err, auth.ErrUnauthenticated):
		// One message for all: the client does not learn whether the id
		// exists.
		return &Error{Status: http.StatusUnauthorized, Code: CodeUnauthenticated, Message: "invalid, expired or revoked token"}, true
	case errors.Is(err, auth.ErrNotFound), errors.Is(err, store.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: err.Error()}, true
	case errors.Is(err, auth.ErrForbidden):
		return &Error{Status: http.StatusForbidden, Code: CodeForbidden, Message: err.Error()}, true
	case errors.Is(err, store.ErrConflict):
		return &Error{Status: http.StatusConflict, Code: CodeConflict, Message: err.Error()}, true
	case errors.Is(err, store.ErrPageToken):
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: "pageToken: " + err.Error(), Field: "pageToken"}, true
	case errors.Is(err, store.ErrInvalid):
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: err.Error()}, true
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, store.ErrClosed):
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: "database unavailable, retry later", RetryAfter: 1}, true
	}
	return &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "internal error"}, false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, e *Error) {
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(e.RetryAfter))
	}
	if e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="hpa-autoscaler"`)
	}
	writeJSON(w, e.Status, map[string]*Error{"error": e})
}

// fieldOf takes the field of a "field: message" error of scalerspec.
func fieldOf(msg string) string {
	f, _, ok := strings.Cut(msg, ": ")
	if !ok || strings.ContainsAny(f, " \"") {
		return ""
	}
	return f
}
