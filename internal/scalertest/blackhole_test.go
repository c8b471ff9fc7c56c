package scalertest

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestBlackHole: a client connects, its bytes are taken and nothing comes
// back; the connection is counted, and closing the test closes it.
func TestBlackHole(t *testing.T) {
	defer goleak.VerifyNone(t)
	var c net.Conn
	t.Run("accepts and never answers", func(t *testing.T) {
		b := NewBlackHole(t)
		var err error
		c, err = net.DialTimeout("tcp", b.Addr(), 10*time.Second)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		if _, err := c.Write([]byte("PING\r\n")); err != nil {
			t.Fatalf("write: %v", err)
		}
		Eventually(t, 10*time.Second, "the black hole to count the connection", func() error {
			if n := b.Accepted(); n != 1 {
				return errors.New("not accepted yet")
			}
			return nil
		})
		// Nothing arrives: the read ends at its deadline, not with data
		// or EOF.
		_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if n, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read: %d bytes, %v; want the deadline to pass", n, err)
		}
	})
	// The subtest's cleanup closed the black hole and its connections.
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read after the test: %d bytes, %v; want the connection closed", n, err)
	}
	_ = c.Close()
}
