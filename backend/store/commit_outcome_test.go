package store

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// errLostAnswer stands for the connection dying during COMMIT: the
// client never hears whether the transaction committed.
var errLostAnswer = errors.New("unexpected EOF (the answer to COMMIT was lost)")

// TestCommitAnswerLost: a COMMIT that succeeded but whose answer was lost
// is read back from the log and acknowledged, once (never retried, which
// would apply it twice); when the log cannot be read back either, every
// caller of the batch gets ErrUnavailable and nothing runs again, and a
// resend of the same event id finds the committed one.
func TestCommitAnswerLost(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			st := open(t, b.url(t), Options{})
			s := st.(*sqlStore)
			newTenant(t, st, "acme")
			mustUpdate(t, st, "acme", func(tx Tx) error {
				_, err := tx.CreateScaler(Scaler{Name: "web", Namespace: "prod", Cluster: "c1", Spec: spec(3)})
				return err
			})
			ctx := testCtx(t)
			var lose, failCheck sync.Mutex // held: no fault
			var losing, checking bool
			s.commitFault = func(err error) error {
				lose.Lock()
				defer lose.Unlock()
				if err == nil && losing {
					return errLostAnswer
				}
				return err
			}
			s.checkFault = func() error {
				failCheck.Lock()
				defer failCheck.Unlock()
				if checking {
					return fmt.Errorf("%w: connection refused", ErrUnavailable)
				}
				return nil
			}
			set := func(l, c bool) {
				lose.Lock()
				losing = l
				lose.Unlock()
				failCheck.Lock()
				checking = c
				failCheck.Unlock()
			}
			post := func(n, from int) []error {
				errs := make([]error, n)
				var wg sync.WaitGroup
				for i := range n {
					wg.Go(func() {
						errs[i] = st.Update(ctx, "acme", "agent", func(tx Tx) error {
							_, _, err := tx.RecordEvent(ScalingEvent{ID: fmt.Sprint("e", from+i), Scaler: "web", Time: time.Now(), ToReplicas: 2})
							return err
						})
					})
				}
				wg.Wait()
				return errs
			}
			head := func() int64 {
				h, err := st.Admin().Head(ctx)
				if err != nil {
					t.Fatal(err)
				}
				return h.Seq
			}

			// The answer is lost, the log shows the batch: acknowledged.
			set(true, false)
			before := head()
			for i, err := range post(16, 0) {
				if err != nil {
					t.Fatalf("event e%d, committed but its answer lost: %v, want it acknowledged", i, err)
				}
			}
			if got := head() - before; got != 16 {
				t.Fatalf("16 events whose COMMIT answer was lost appended %d records, want 16 (none twice)", got)
			}

			// The answer is lost and the log cannot be read back: every
			// caller hears ErrUnavailable, nothing is run again.
			set(true, true)
			before = head()
			errs := post(16, 100)
			for i, err := range errs {
				if !errors.Is(err, ErrUnavailable) {
					t.Fatalf("event e%d, outcome unknown: %v, want ErrUnavailable", 100+i, err)
				}
			}
			if got := head() - before; got != 16 {
				t.Fatalf("16 events whose outcome was unknown appended %d records, want 16 (they committed; none retried)", got)
			}
			// The client resends: each id is there once.
			set(false, false)
			before = head()
			for i, err := range post(16, 100) {
				if err != nil {
					t.Fatalf("resend of e%d: %v", 100+i, err)
				}
			}
			if got := head() - before; got != 0 {
				t.Fatalf("resending 16 committed events appended %d records, want 0", got)
			}
			verifyLog(t, st)
		})
	}
}
