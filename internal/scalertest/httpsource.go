package scalertest

import (
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
)

// Headers returns the values of the named headers of h (nil for an absent
// one), for comparing just those with cmp.Diff.
func Headers(h http.Header, names ...string) http.Header {
	out := http.Header{}
	for _, n := range names {
		out[http.CanonicalHeaderKey(n)] = h.Values(n)
	}
	return out
}

// NewCountingServer starts an httptest server for h, closed in tb.Cleanup,
// and returns it with a function that counts the connections clients have
// opened to it so far (to check that a scaler reuses its connections).
func NewCountingServer(tb testing.TB, h http.Handler) (*httptest.Server, func() int64) {
	tb.Helper()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	tb.Cleanup(srv.Close)
	return srv, conns.Load
}

// Concurrently calls call from goroutines goroutines at once, calls times
// each, and reports every error it returns on tb.
func Concurrently(tb testing.TB, goroutines, calls int, call func() error) {
	tb.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*calls)
	for range goroutines {
		wg.Go(func() {
			for range calls {
				if err := call(); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		tb.Error(err)
	}
}
