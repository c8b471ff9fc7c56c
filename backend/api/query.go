package api

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hpa-autoscaler/hpa-autoscaler/backend/store"
)

// The parsers of query parameters: each error is a 400 naming the
// parameter (FuzzQuery).

// param is a query parameter as the OpenAPI document describes it.
type param struct {
	typ, format, description string
}

// queryParams are every query parameter of the routes, by name.
var queryParams = map[string]param{
	"limit":           {"integer", "", "page size: 1 to 1000 (default 100)"},
	"pageToken":       {"string", "", "the nextPageToken of the page before (opaque)"},
	"resourceVersion": {"integer", "int64", "the version read: a stale one is 409 (absent: any)"},
	"after":           {"integer", "int64", "the seq after which the page starts (0: the first)"},
	"from":            {"string", "date-time", "start of the window, RFC 3339, inclusive (default: to minus 24 hours)"},
	"to":              {"string", "date-time", "end of the window, RFC 3339, exclusive (default: now)"},
	"namespace":       {"string", "", "only the scalers of this namespace"},
	"cluster":         {"string", "", "only the scalers of this cluster"},
	"scaler":          {"string", "", "only this scaler"},
	"interval":        {"string", "", "trends per bucket of this Go duration from `from` (15m, 1h; at least 1s, at most 1000 buckets in the window); absent: one bucket, the window"},
}

// maxPageToken bounds a pageToken (the store's own bound).
const maxPageToken = 2048

func pageOf(q url.Values) (store.Page, error) {
	p := store.Page{Token: q.Get("pageToken")}
	if len(p.Token) > maxPageToken || strings.Trim(p.Token, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != "" {
		return p, invalid("pageToken", "not a page token of this list")
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > store.MaxLimit {
			return p, invalid("limit", "%q: want 1 to %d", clip(s), store.MaxLimit)
		}
		p.Limit = n
	}
	return p, nil
}

func resourceVersionOf(q url.Values) (int64, error) {
	s := q.Get("resourceVersion")
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 {
		return 0, invalid("resourceVersion", "%q: want a positive integer", clip(s))
	}
	return n, nil
}

// auditQuery parses after= and limit= of the audit list.
func auditQuery(q url.Values) (after int64, limit int, err error) {
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return 0, 0, invalid("after", "%q: want a seq (0 or more)", clip(v))
		}
		after = n
	}
	limit = store.DefaultLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > store.MaxLimit {
			return 0, 0, invalid("limit", "%q: want 1 to %d", clip(v), store.MaxLimit)
		}
		limit = n
	}
	return after, limit, nil
}

// defaultWindow is the analytics' window without from=.
const defaultWindow = 24 * time.Hour

// maxWindow bounds an analytics window: a year and a day.
const maxWindow = 366 * 24 * time.Hour

// analyticsFilter is the query of the analytics routes.
type analyticsFilter struct {
	from, to                   time.Time
	namespace, cluster, scaler string
	page                       store.Page
}

// analyticsQuery parses from, to, namespace, cluster, scaler, limit and
// pageToken; now is the default end of the window.
func analyticsQuery(q url.Values, now time.Time) (analyticsFilter, error) {
	var f analyticsFilter
	var err error
	if f.page, err = pageOf(q); err != nil {
		return f, err
	}
	f.to = now.UTC().Truncate(time.Microsecond)
	if v := q.Get("to"); v != "" {
		if f.to, err = timeParam("to", v); err != nil {
			return f, err
		}
	}
	f.from = f.to.Add(-defaultWindow)
	if v := q.Get("from"); v != "" {
		if f.from, err = timeParam("from", v); err != nil {
			return f, err
		}
	}
	switch {
	case !f.from.Before(f.to):
		return f, invalid("from", "%s is not before to (%s)", f.from.Format(time.RFC3339Nano), f.to.Format(time.RFC3339Nano))
	case f.to.Sub(f.from) > maxWindow:
		return f, invalid("from", "a window of %s: want at most 366 days", f.to.Sub(f.from))
	}
	for _, p := range []struct {
		name string
		dst  *string
	}{{"namespace", &f.namespace}, {"cluster", &f.cluster}, {"scaler", &f.scaler}} {
		v := q.Get(p.name)
		if len(v) > 253 || strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f || r == 0xfffd }) {
			return f, invalid(p.name, "%q: want a name of at most 253 printable characters", clip(v))
		}
		*p.dst = v
	}
	return f, nil
}

// timeParam parses an RFC 3339 time of the unix microseconds the store
// keeps, in UTC years 1970 to 9999 (JSON cannot write a later one).
func timeParam(name, v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, v)
	if u := t.UTC(); err != nil || u.Year() < 1970 || u.Year() > 9999 {
		return time.Time{}, invalid(name, "%q: want an RFC 3339 time (2026-12-04T20:00:00Z) of the years 1970 to 9999 (UTC)", clip(v))
	}
	return t.UTC().Truncate(time.Microsecond), nil
}

// intervalParam parses trends' interval= against the window f: a Go
// duration of a second or more, at most store.MaxBuckets buckets.
func intervalParam(q url.Values, f analyticsFilter) (time.Duration, error) {
	v := q.Get("interval")
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Second {
		return 0, invalid("interval", "%q: want a duration of 1s or more (15m, 1h)", clip(v))
	}
	if n := (f.to.Sub(f.from) + d - 1) / d; n > store.MaxBuckets {
		return 0, invalid("interval", "%q: %d buckets in the window, want at most %d", clip(v), n, store.MaxBuckets)
	}
	return d, nil
}
