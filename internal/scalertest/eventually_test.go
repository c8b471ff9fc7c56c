package scalertest

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// fatalRecorder is a testing.TB whose Fatalf records the message and ends
// the goroutine, as the real one does.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Helper() {}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestEventually(t *testing.T) {
	t.Run("reached", func(t *testing.T) {
		calls := 0
		Eventually(t, time.Minute, "the third call", func() error {
			calls++
			if calls < 3 {
				return errors.New("not yet")
			}
			return nil
		})
		if calls != 3 {
			t.Errorf("cond called %d times, want 3", calls)
		}
	})
	t.Run("never reached", func(t *testing.T) {
		rec := &fatalRecorder{TB: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			Eventually(rec, 30*time.Millisecond, `queue "q"`, func() error { return errors.New("queue not found") })
		}()
		<-done
		want := `waited 30ms for queue "q"; last: queue not found`
		if rec.msg != want {
			t.Errorf("Fatalf message:\n got %q\nwant %q", rec.msg, want)
		}
		if strings.Contains(rec.msg, "<nil>") {
			t.Errorf("message %q has no last error", rec.msg)
		}
	})
}
