package redis

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// TestBlackHoleAddress: an address that accepts connections and never
// answers (a firewall dropping packets after the handshake) makes every
// call of every type fail within its bound, saying what did not answer.
//
// It is not dialled again by every call while it is down: after a first
// call has found it down, the client's breaker lets one call through per
// backoff period (a cluster client has no breaker: its nodes fail one by
// one, and go-redis marks each failing node).
func TestBlackHoleAddress(t *testing.T) {
	t.Parallel()
	tests := []struct {
		typ, what, who string
		breaker        bool
	}{
		{"redis", `redis list "jobs" at `, "Redis", true},
		{"redis-streams", `redis stream "events" at `, "Redis", true},
		{"redis-cluster", `redis cluster list "jobs" at `, "the Redis Cluster", false},
		{"redis-cluster-streams", `redis cluster stream "events" at `, "the Redis Cluster", false},
		{"redis-sentinel", `redis sentinel list "jobs" at master "mymaster" via `, "the sentinels or the master they name", true},
		{"redis-sentinel-streams", `redis sentinel stream "events" at master "mymaster" via `, "the sentinels or the master they name", true},
	}
	if len(tests) != len(Types()) {
		t.Fatalf("%d cases for %d types", len(tests), len(Types()))
	}
	for _, tc := range tests {
		t.Run(tc.typ, func(t *testing.T) {
			hole := scalertest.NewBlackHole(t)
			md := map[string]string{"address": hole.Addr(), "listName": "jobs", "stream": "events", "sentinelMaster": "mymaster"}
			prefix, rest := tc.what+hole.Addr()+": ", noAnswer(tc.who)
			s := boundedScaler(t, NewClients(ClientsOptions{}).Factory(tc.typ), md)
			limit := testBound + boundGrace
			wantAllUnavailable(t, callAtOnce(context.Background(), s, 1), limit, prefix, rest)
			wantAllUnavailable(t, callAtOnce(context.Background(), s, inFlight), limit, prefix, rest)
			// One connection for the first call; at most one more for a
			// try after the first backoff, if the machine was slow to
			// start the 64 calls.
			if n := hole.Accepted(); tc.breaker && n > 2 {
				t.Errorf("%d calls opened %d connections to the black hole, want at most 2", 1+inFlight, n)
			}
		})
	}
}

// TestWrongProtocol: a server that speaks something else (HTTP, TLS to a
// plaintext client, plaintext to a TLS client) fails each call within its
// bound with ErrUnavailable; most fail at once with the parse or handshake
// error.
func TestWrongProtocol(t *testing.T) {
	t.Parallel()
	answer := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("hello")) })
	plainHTTP := httptest.NewServer(answer)
	t.Cleanup(plainHTTP.Close)
	tlsHTTP := httptest.NewUnstartedServer(answer)
	// The handshake errors of our plaintext clients are what the test
	// expects; they are not worth a line each on stderr.
	tlsHTTP.Config.ErrorLog = log.New(io.Discard, "", 0)
	tlsHTTP.StartTLS()
	t.Cleanup(tlsHTTP.Close)
	plainRedis := testenv.StartRedis(t)
	hole := scalertest.NewBlackHole(t)
	addrOf := func(s *httptest.Server) string {
		return strings.TrimPrefix(s.URL, strings.SplitN(s.URL, "//", 2)[0]+"//")
	}

	tests := []struct {
		name string
		addr string
		md   map[string]string
	}{
		{"plaintext to an HTTP server", addrOf(plainHTTP), nil},
		{"plaintext to an HTTPS server", addrOf(tlsHTTP), nil},
		{"TLS to an HTTP server", addrOf(plainHTTP), map[string]string{"enableTLS": "true", "unsafeSsl": "true"}},
		// Redis reads the client hello as the start of an inline command
		// and waits for the rest: the handshake never completes.
		{"TLS to a plaintext Redis", plainRedis.Addr(), map[string]string{"tls": "enable", "unsafeSsl": "true"}},
		{"TLS to a black hole", hole.Addr(), map[string]string{"tls": "enable", "unsafeSsl": "true"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			md := scalertest.WithKeys(map[string]string{"address": tc.addr, "listName": "jobs", "stream": "events"})
			for k, v := range tc.md {
				md[k] = v
			}
			for _, f := range []struct {
				name    string
				factory scalers.Factory
				prefix  string
			}{
				{"list, shared", NewClients(ClientsOptions{}).NewList, `redis list "jobs" at ` + tc.addr + ": "},
				{"list, dedicated", NewList, `redis list "jobs" at ` + tc.addr + ": "},
				{"stream, shared", NewClients(ClientsOptions{}).NewStreams, `redis stream "events" at ` + tc.addr + ": "},
			} {
				t.Run(f.name, func(t *testing.T) {
					s := boundedScaler(t, f.factory, md)
					wantAllUnavailable(t, callAtOnce(context.Background(), s, 1), testBound+boundGrace, f.prefix, nil)
					wantAllUnavailable(t, callAtOnce(context.Background(), s, inFlight), testBound+boundGrace, f.prefix, nil)
				})
			}
		})
	}
}
