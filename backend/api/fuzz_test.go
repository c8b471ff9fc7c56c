package api

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
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
