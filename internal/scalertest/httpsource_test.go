package scalertest

import (
	"errors"
	"io"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestHeaders(t *testing.T) {
	h := http.Header{"X-Api-Key": {"k"}, "Accept": {"a", "b"}, "Other": {"o"}}
	want := http.Header{"X-Api-Key": {"k"}, "Accept": {"a", "b"}, "Authorization": nil}
	if diff := cmp.Diff(want, Headers(h, "x-api-key", "Accept", "Authorization")); diff != "" {
		t.Errorf("Headers (-want +got):\n%s", diff)
	}
}

func TestCountingServer(t *testing.T) {
	srv, conns := NewCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }))
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	for range 3 {
		resp, err := client.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
	if n := conns(); n != 1 {
		t.Errorf("3 requests on one client: %d connections, want 1", n)
	}
}

func TestConcurrently(t *testing.T) {
	var calls atomic.Int64
	Concurrently(t, 4, 5, func() error { calls.Add(1); return nil })
	if n := calls.Load(); n != 20 {
		t.Errorf("%d calls, want 20", n)
	}
	rec := &errorRecorder{TB: t}
	Concurrently(rec, 2, 2, func() error { return errors.New("boom") })
	if diff := cmp.Diff([]string{"boom", "boom", "boom", "boom"}, rec.errs); diff != "" {
		t.Errorf("errors reported (-want +got):\n%s", diff)
	}
}

// errorRecorder is a testing.TB that records what Error reports.
type errorRecorder struct {
	testing.TB
	errs []string
}

func (r *errorRecorder) Helper() {}

func (r *errorRecorder) Error(args ...any) {
	for _, a := range args {
		r.errs = append(r.errs, a.(error).Error())
	}
}
