package api

import (
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/store"
)

// fuzzDecoder checks that a request decoder never panics and answers
// only API errors.
func fuzzDecoder[T any](f *testing.F, validate func(*T) error, seeds ...any) {
	for _, s := range seeds {
		data, err := json.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"spec":{"scaling":{"bogus":1}}}`))
	f.Add([]byte(`{"name":1}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var v T
		err := decodeBytes(data, &v)
		if err == nil && validate != nil {
			err = validate(&v)
		}
		var e *Error
		if err != nil && !errors.As(err, &e) {
			t.Fatalf("error %T %v is not an API error", err, err)
		}
		if e != nil && (e.Status != 400 || e.Code != CodeInvalid) {
			t.Fatalf("error %+v: want 400 invalid_argument", e)
		}
	})
}

func FuzzScalerBody(f *testing.F) {
	fuzzDecoder(f, validateScaler, scalerBody("web"))
}

func FuzzEventBody(f *testing.F) {
	fuzzDecoder(f, validateEvent, EventBody{ID: "e1", FromReplicas: 1, ToReplicas: 2})
}

func FuzzClusterBody(f *testing.F) {
	fuzzDecoder[ClusterBody](f, nil, ClusterBody{ID: "c1", Name: "one", Labels: map[string]string{"a": "b"}})
}

func FuzzTokenBody(f *testing.F) {
	fuzzDecoder(f, func(b *TokenBody) error { return validateToken(b, time.Unix(0, 0)) }, TokenBody{Name: "n", Role: "viewer", Scopes: []string{"events"}})
}

func FuzzStatusBody(f *testing.F) {
	fuzzDecoder[v1.ScalerStatus](f, nil, v1.ScalerStatus{CurrentReplicas: 2, DesiredReplicas: 3})
}

// FuzzQuery: the query-parameter parsers (limit, pageToken,
// resourceVersion, after, from/to and the analytics' names) never panic
// and answer nil or a 400 naming the parameter.
func FuzzQuery(f *testing.F) {
	for _, s := range []string{
		"", "limit=10&pageToken=AQQAAXc", "limit=0", "limit=-1", "limit=99999999999999999999", "pageToken=%2F",
		"resourceVersion=3", "resourceVersion=0", "after=5", "after=-1",
		"from=2026-12-04T20:00:00Z&to=2026-12-05T20:00:00Z", "from=2026-12-05T20:00:00Z&to=2026-12-04T20:00:00Z",
		"from=0001-01-01T00:00:00Z", "to=9999-12-31T23:59:59.999999999Z", "to=9999-12-31T23:30:00-01:00", "from=1970-01-01T00:30:00%2B01:00", "from=2026-12-04T20:00:00+99:00",
		"namespace=prod&cluster=eu1&scaler=web", "interval=1h", "interval=1s", "interval=-5m", "interval=1ns&from=2026-12-05T00:00:00Z", "scaler=%00", "cluster=%ff%fe", "a=%zz&limit=1",
	} {
		f.Add(s)
	}
	now := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, raw string) {
		q, _ := url.ParseQuery(raw) // what r.URL.Query() does: bad pairs are dropped
		check := func(what string, err error) {
			t.Helper()
			if err == nil {
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Status != 400 || e.Code != CodeInvalid || e.Field == "" || !strings.HasPrefix(e.Message, e.Field+": ") {
				t.Fatalf("%s of %q: %#v: want a 400 invalid_argument naming the parameter", what, raw, err)
			}
			if _, ok := queryParams[e.Field]; !ok {
				t.Fatalf("%s of %q: field %q is no query parameter", what, raw, e.Field)
			}
		}
		_, err := pageOf(q)
		check("pageOf", err)
		_, err = resourceVersionOf(q)
		check("resourceVersionOf", err)
		_, _, err = auditQuery(q)
		check("auditQuery", err)
		af, err := analyticsQuery(q, now)
		check("analyticsQuery", err)
		if err == nil {
			d, err := intervalParam(q, af)
			check("intervalParam", err)
			if err == nil && d != 0 && (d < time.Second || af.to.Sub(af.from)/d > store.MaxBuckets) {
				t.Fatalf("intervalParam of %q: %s accepted", raw, d)
			}
		}
		if err == nil && (!af.from.Before(af.to) || af.to.Sub(af.from) > maxWindow || af.from.Year() < 1970 || af.to.Year() > 9999) {
			t.Fatalf("analyticsQuery of %q: window %v to %v accepted", raw, af.from, af.to)
		}
	})
}
