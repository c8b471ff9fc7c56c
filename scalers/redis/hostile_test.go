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
func TestBlackHoleAddress(t *testing.T) {
	t.Parallel()
	hole := scalertest.NewBlackHole(t)
	addr := hole.Addr()
	tests := []struct {
		typ, prefix, who string
	}{
		{"redis", `redis list "jobs" at ` + addr + ": ", "Redis"},
		{"redis-streams", `redis stream "events" at ` + addr + ": ", "Redis"},
		{"redis-cluster", `redis cluster list "jobs" at ` + addr + ": ", "the Redis Cluster"},
		{"redis-cluster-streams", `redis cluster stream "events" at ` + addr + ": ", "the Redis Cluster"},
		{"redis-sentinel", `redis sentinel list "jobs" at master "mymaster" via ` + addr + ": ", "the sentinels or the master they name"},
		{"redis-sentinel-streams", `redis sentinel stream "events" at master "mymaster" via ` + addr + ": ", "the sentinels or the master they name"},
	}
	if len(tests) != len(Types()) {
		t.Fatalf("%d cases for %d types", len(tests), len(Types()))
	}
	md := map[string]string{"address": addr, "listName": "jobs", "stream": "events", "sentinelMaster": "mymaster"}
	for _, tc := range tests {
		t.Run(tc.typ, func(t *testing.T) {
			rest := noAnswer(tc.who)
			s := boundedScaler(t, NewClients(ClientsOptions{}).Factory(tc.typ), md)
			limit := testBound + boundGrace
			wantAllUnavailable(t, callAtOnce(context.Background(), s, 1), limit, tc.prefix, rest)
			wantAllUnavailable(t, callAtOnce(context.Background(), s, inFlight), limit, tc.prefix, rest)
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
