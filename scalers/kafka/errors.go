package kafka

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// call is one Metrics call: when it started (on the dialer's clock, for
// the failures it saw) and the deadline its bound sets.
type call struct {
	start, deadline time.Time
}

// explained is the cause of a failed call in the scaler's words, wrapping
// the context's error when the call ran out of time.
type explained struct {
	msg   string
	cause error // nil, context.DeadlineExceeded or context.Canceled
}

func (e *explained) Error() string { return e.msg }
func (e *explained) Unwrap() error { return e.cause }

// sourceErr turns err, the failure of the request named by what ("kafka:
// read topic metadata") in the call c, into the error
// Metrics returns (wrapping scalers.ErrUnavailable):
//
//   - a refused SASL login says so, with the user and the broker's reason;
//   - an error the brokers answered with (a Kafka error code) is kept;
//   - otherwise the dialer says which broker did what since the call
//     started (or, if nothing, the brokers' last failures), and when the
//     call ran out of time, what was still waiting (franz-go says only
//     "context deadline exceeded" then, or a retry's internal error);
//   - a call that ran out of time with nothing to show says so.
func (s *Scaler) sourceErr(ctx context.Context, c call, what string, err error) error {
	if errors.Is(err, kerr.SaslAuthenticationFailed) {
		return scalers.Unavailable("kafka", &explained{msg: s.loginFailed(saslReason(err))})
	}
	if _, ok := errors.AsType[*kerr.Error](err); ok {
		return scalers.Unavailable(what, err)
	}
	cause := timeUp(ctx)
	timedOut := cause != nil
	within := s.within(ctx, c)
	reports := s.dial.explain(c.start, timedOut)
	if len(reports) == 0 {
		// A failure the call inherited: a request it waits on was sent
		// (and failed) just before it started, as a coordinator lookup
		// that an earlier call began. The brokers' last failures, not
		// cleared by an answer since, are what is known.
		reports = s.dial.explain(time.Time{}, false)
	}
	if len(reports) == 0 {
		// The inherited request's read timed out and franz-go handed the
		// error to this call before its hook recorded the failure: the
		// error itself names the broker.
		if r, ok := s.dial.readTimeout(err); ok {
			reports = []brokerReport{r}
		}
	}
	texts := make([]string, len(reports))
	login := false
	for i, r := range reports {
		if r.f.kind == failSASLClosed {
			// A broker that drops the connection during SASL refuses
			// the login that way (as kfake does).
			login = true
			texts[i] = "broker " + r.addr + " " + r.f.text(within)
			continue
		}
		texts[i] = "broker " + r.addr + ": " + r.f.text(within)
	}
	switch {
	case login:
		return scalers.Unavailable("kafka", &explained{msg: s.loginFailed(strings.Join(texts, "; ")), cause: cause})
	case len(reports) > 0:
		return scalers.Unavailable(what, &explained{msg: strings.Join(texts, "; "), cause: cause})
	case timedOut:
		return scalers.Unavailable(what, &explained{msg: "no answer " + within, cause: cause})
	}
	return scalers.Unavailable(what, err)
}

// timeUp returns ctx's error, or context.DeadlineExceeded when its deadline
// has passed but its timer has not yet fired (the client's own read
// deadline, as long as the bound, may end a request a moment before).
func timeUp(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return nil
}

// within says when time ran out: "within 3s" (the bound of c), "before the
// caller's deadline" or "before the call was canceled".
func (s *Scaler) within(ctx context.Context, c call) string {
	if errors.Is(ctx.Err(), context.Canceled) {
		return "before the call was canceled"
	}
	if dl, ok := ctx.Deadline(); ok && dl.Before(c.deadline) {
		return "before the caller's deadline"
	}
	return "within " + s.bound.String()
}

// loginFailed is the message of a refused SASL login: `SASL login as
// "alice" failed: reason`. The username is shown (it says whose
// credentials were refused), the password never.
func (s *Scaler) loginFailed(reason string) string {
	if u, err := s.md.Username.Value(); err == nil {
		return "SASL login as " + strconv.Quote(u) + " failed: " + reason
	}
	return "SASL login failed: " + reason
}

// saslReason is the broker's answer to a refused login:
// "SASL_AUTHENTICATION_FAILED: <the broker's message>", without kerr's
// generic description of the code.
func saslReason(err error) string {
	ke := kerr.SaslAuthenticationFailed
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, ke.Error()); ok {
		if rest = strings.TrimPrefix(rest, ": "); rest != "" {
			return ke.Message + ": " + rest
		}
		return ke.Message
	}
	return msg
}
