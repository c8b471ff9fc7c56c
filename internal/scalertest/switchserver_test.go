package scalertest

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
)

// TestSwitchServer drives one address through every mode with a client
// that keeps its connections, as a scaler does.
func TestSwitchServer(t *testing.T) {
	opts := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opts) })

	// httptest's certificate, for the ServeHTTPS mode.
	tlsSrv := httptest.NewTLSServer(http.NotFoundHandler())
	cert := tlsSrv.TLS.Certificates
	pool := tlsSrv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	tlsSrv.Close()

	s := NewSwitchServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}), &tls.Config{Certificates: cert}, ServeHTTP)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "example.com"}}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}
	get := func(scheme string) (string, error) {
		ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+s.Addr()+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	wantOK := func(scheme string) {
		t.Helper()
		body, err := get(scheme)
		if err != nil || body != "ok" {
			t.Fatalf("%s: got %q, %v; want ok", scheme, body, err)
		}
	}
	wantErr := func(scheme string, check func(error) bool, what string) {
		t.Helper()
		if _, err := get(scheme); err == nil || !check(err) {
			t.Fatalf("%s: got error %v, want %s", scheme, err, what)
		}
	}
	timeout := func(err error) bool { return errors.Is(err, context.DeadlineExceeded) }
	contains := func(sub string) func(error) bool {
		return func(err error) bool { return strings.Contains(err.Error(), sub) }
	}

	wantOK("http")
	s.Set(BlackHoleMode)
	wantErr("http", timeout, "a timeout")
	s.Set(GarbageMode)
	wantErr("http", contains("malformed HTTP"), "a malformed response")
	wantErr("https", contains("first record does not look like a TLS handshake"), "a TLS error")
	s.Set(ServeHTTPS)
	wantOK("https")
	s.Set(ServeHTTP)
	wantErr("https", contains("server gave HTTP response to HTTPS client"), "net/http's wrong-protocol error")
	wantOK("http")

	// A switch closes the connections accepted before it.
	conn, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// An answer on it shows the server has accepted it.
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	rd := bufio.NewReader(conn)
	resp, err := http.ReadResponse(rd, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	s.Set(BlackHoleMode)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = rd.ReadByte()
	if diff := cmp.Diff(io.EOF, err, cmp.Comparer(func(a, b error) bool { return errors.Is(a, b) })); diff != "" {
		t.Errorf("read on a connection accepted before the switch (-want +got):\n%s", diff)
	}
}
