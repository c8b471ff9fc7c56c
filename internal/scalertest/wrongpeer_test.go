package scalertest

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
)

// TestDropper: every connection is counted and closed before the client
// reads anything.
func TestDropper(t *testing.T) {
	defer goleak.VerifyNone(t)
	t.Run("closes at once", func(t *testing.T) {
		p := NewDropper(t)
		for i := range 2 {
			c, err := net.DialTimeout("tcp", p.Addr(), 10*time.Second)
			if err != nil {
				t.Fatalf("dial %d: %v", i, err)
			}
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if n, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
				t.Errorf("read %d: %d bytes, %v; want EOF", i, n, err)
			}
			c.Close()
		}
		if got := p.Accepted(); got != 2 {
			t.Errorf("got %d connections accepted, want 2", got)
		}
	})
}

// TestBanner: the banner arrives first, whatever the client sends, and
// nothing after it.
func TestBanner(t *testing.T) {
	defer goleak.VerifyNone(t)
	var c net.Conn
	t.Run("speaks first", func(t *testing.T) {
		p := NewBanner(t, "SSH-2.0-OpenSSH_9.6\r\n")
		var err error
		c, err = net.DialTimeout("tcp", p.Addr(), 10*time.Second)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		if _, err := c.Write([]byte{0, 0, 0, 4, 1, 2, 3, 4}); err != nil {
			t.Fatalf("write: %v", err)
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		got := make([]byte, len("SSH-2.0-OpenSSH_9.6\r\n"))
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatalf("read the banner: %v", err)
		}
		if diff := cmp.Diff("SSH-2.0-OpenSSH_9.6\r\n", string(got)); diff != "" {
			t.Errorf("banner (-want +got):\n%s", diff)
		}
	})
	// The subtest's cleanup closed the listener and its connections.
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read after the test: %d bytes, %v; want the connection closed", n, err)
	}
	_ = c.Close()
}
