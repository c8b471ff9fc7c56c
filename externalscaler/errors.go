package externalscaler

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// errShuttingDown is returned to callers while the server stops.
var errShuttingDown = status.Error(codes.Unavailable, "external scaler is shutting down")

// codeOf maps an error of the scaler layer to a gRPC code.
//
// The message sent to the client is the error's own text: scalers redact
// their secrets before an error leaves them, and this package adds only
// names (keys, metric names, namespace/name), never metadata values.
func codeOf(err error) codes.Code {
	switch {
	case err == nil:
		return codes.OK
	case errors.Is(err, scalers.ErrInvalidConfig):
		// Retrying with the same metadata cannot succeed.
		return codes.InvalidArgument
	case errors.Is(err, scalers.ErrLimit):
		// A server limit: it may work once load goes down.
		return codes.ResourceExhausted
	case errors.Is(err, scalers.ErrUnavailable), errors.Is(err, scalers.ErrClosed):
		// A closed scaler is one the server retired under the call
		// (shutting down): the next call gets a fresh one.
		return codes.Unavailable
	case errors.Is(err, scalers.ErrNoData):
		// The source answered, but without a usable value.
		return codes.NotFound
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	default:
		return codes.Internal
	}
}

// toStatus converts an error of the scaler layer into a gRPC status error.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Error(codeOf(err), err.Error())
}

// reasonOf is the reason label of hpa_scaler_errors_total.
func reasonOf(err error) string {
	switch {
	case errors.Is(err, scalers.ErrInvalidConfig):
		return reasonInvalidConfig
	case errors.Is(err, scalers.ErrLimit):
		return reasonLimit
	case errors.Is(err, scalers.ErrUnavailable):
		return reasonUnavailable
	case errors.Is(err, scalers.ErrNoData):
		return reasonNoData
	case errors.Is(err, context.DeadlineExceeded):
		return reasonTimeout
	default:
		return reasonOther
	}
}

// boundStatus cuts the message of a status error to maxBytes (see
// truncate), keeping its code: messages can echo client input of any
// length. Other errors pass unchanged.
func boundStatus(err error, maxBytes int) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok || len(st.Message()) <= maxBytes {
		return err
	}
	return status.Error(st.Code(), truncate(st.Message(), maxBytes))
}

// invalidArgument is a request that is malformed before any scaler is
// involved.
func invalidArgument(msg string) error {
	return status.Error(codes.InvalidArgument, msg)
}
