package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// The bound of a call in these tests, and how much longer than it a call
// may take on a loaded machine before the test calls it a hang. The
// condition tested is "returns before bound+grace"; nothing here measures
// how fast.
const (
	testBound  = time.Second
	boundGrace = 5 * time.Second
)

// newBoundedScaler builds a scaler whose calls are bounded by testBound (as
// the registry would with --source-timeout 1s) and closes it at the end of
// the test.
func newBoundedScaler(t testing.TB, md map[string]string) *Scaler {
	t.Helper()
	cfg := scalers.Config{Type: Type, Metadata: md, Timeouts: scalers.Timeouts{Default: testBound}, SecretFiles: secretFiles(t, md)}
	s, err := newScaler(context.Background(), cfg, options{metadataAge: DefaultMetadataAge})
	if err != nil {
		t.Fatalf("new scaler: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// callBounded runs one round without a deadline of the caller's (KEDA sets
// none) and fails the test unless it returns within the scaler's bound
// plus boundGrace. It returns how long the round took and its error.
func callBounded(t testing.TB, s *Scaler) (time.Duration, error) {
	t.Helper()
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		_, err := s.Metrics(context.Background())
		done <- err
	}()
	select {
	case err := <-done:
		return time.Since(start), err
	case <-time.After(s.bound + boundGrace):
		s.Close() // ends the round, so that the goroutine does not outlive the test
		<-done
		t.Fatalf("Metrics did not return within its bound %s + %s", s.bound, boundGrace)
		return 0, nil
	}
}

// checkUnavailable fails unless err wraps ErrUnavailable (and, for a call
// that ran out of time, context.DeadlineExceeded) and reads want.
func checkUnavailable(t testing.TB, err error, timedOut bool, want string) {
	t.Helper()
	checkWholeError(t, err, scalers.ErrUnavailable, want)
	if got := errors.Is(err, context.DeadlineExceeded); got != timedOut {
		t.Errorf("error %q: wraps context.DeadlineExceeded: %v, want %v", err, got, timedOut)
	}
}

// refusedAddr returns a loopback address nothing listens on.
func refusedAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestHostileBrokers points a trigger's only bootstrap server at a peer
// that is not a working Kafka listener. Each call returns within its
// bound (testBound, plus boundGrace for a loaded machine) with an
// ErrUnavailable error that names the broker and says what it did.
func TestHostileBrokers(t *testing.T) {
	plain := testenv.StartKafka(t, testenv.KafkaConfig{Opts: []kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(1, "orders")}})
	const ssh = "SSH-2.0-OpenSSH_9.6\r\n"
	const noTLS = " (does the listener require TLS? then set tls: enable)"
	const plaintext = " (is the listener plaintext? then set tls: disable)"
	tests := []struct {
		name string
		addr func(t *testing.T) string
		md   []string // more keys
		// want is the whole error, with ADDR for the broker's address.
		want     string
		timedOut bool // the call ends at its bound (else at once)
	}{
		{name: "black hole", addr: func(t *testing.T) string { return scalertest.NewBlackHole(t).Addr() },
			want: "kafka: read topic metadata: broker ADDR: no answer within 1s", timedOut: true},
		{name: "HTTP server", addr: func(t *testing.T) string {
			srv := httptest.NewServer(http.NotFoundHandler())
			t.Cleanup(srv.Close)
			return srv.Listener.Addr().String()
		}, want: "kafka: read topic metadata: broker ADDR: no answer within 1s", timedOut: true},
		{name: "TLS server, plaintext trigger", addr: func(t *testing.T) string {
			srv := httptest.NewUnstartedServer(http.NotFoundHandler())
			srv.Config.ErrorLog = discardLog()
			srv.StartTLS()
			t.Cleanup(srv.Close)
			return srv.Listener.Addr().String()
		}, want: "kafka: read topic metadata: broker ADDR: closed the connection without answering its first request" + noTLS},
		{name: "a server that drops connections", addr: func(t *testing.T) string { return scalertest.NewDropper(t).Addr() },
			want: "kafka: read topic metadata: broker ADDR: closed the connection without answering its first request" + noTLS},
		{name: "a server of another protocol", addr: func(t *testing.T) string { return scalertest.NewBanner(t, ssh).Addr() },
			want: "kafka: read topic metadata: broker ADDR: answered in another protocol than Kafka's (invalid large response size 1397966893 > limit 104857600: response exceeds BrokerMaxReadBytes)"},
		{name: "nothing listening", addr: func(t *testing.T) string { return refusedAddr(t) },
			want: "kafka: read topic metadata: broker ADDR: connect: connection refused"},
		{name: "plaintext Kafka, TLS trigger", addr: func(*testing.T) string { return plain.Addrs()[0] }, md: []string{"tls", "enable", "unsafeSsl", "true"},
			want:     "kafka: read topic metadata: broker ADDR: TLS handshake failed: no answer within 1s (a listener without TLS never answers one: is it plaintext? then set tls: disable)",
			timedOut: true},
		{name: "black hole, TLS trigger", addr: func(t *testing.T) string { return scalertest.NewBlackHole(t).Addr() }, md: []string{"tls", "enable"},
			want:     "kafka: read topic metadata: broker ADDR: TLS handshake failed: no answer within 1s (a listener without TLS never answers one: is it plaintext? then set tls: disable)",
			timedOut: true},
		{name: "a server of another protocol, TLS trigger", addr: func(t *testing.T) string { return scalertest.NewBanner(t, ssh).Addr() }, md: []string{"tls", "enable"},
			want: "kafka: read topic metadata: broker ADDR: TLS handshake failed: the broker does not speak TLS: its answer is not a TLS record" + plaintext},
		{name: "a server that drops connections, TLS trigger", addr: func(t *testing.T) string { return scalertest.NewDropper(t).Addr() }, md: []string{"tls", "enable"},
			want: "kafka: read topic metadata: broker ADDR: TLS handshake failed: the broker closed the connection" + plaintext},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := tc.addr(t)
			md := scalertest.WithKeys(map[string]string{"bootstrapServers": addr, "consumerGroup": "g", "topic": "orders"}, tc.md...)
			s := newBoundedScaler(t, md)
			// The second call may find the broker in backoff: it fails
			// at once with the same error.
			for i := range 2 {
				took, err := callBounded(t, s)
				t.Logf("call %d: %s (bound %s): %v", i+1, took.Round(time.Millisecond), s.bound, err)
				checkUnavailable(t, err, tc.timedOut && i == 0, replaceAddr(tc.want, addr))
			}
		})
	}
}

func replaceAddr(s, addr string) string {
	out := []byte{}
	for i := 0; i < len(s); i++ {
		if i+4 <= len(s) && s[i:i+4] == "ADDR" {
			out = append(out, addr...)
			i += 3
			continue
		}
		out = append(out, s[i])
	}
	return string(out)
}

// roundPrefixes are the requests of a round, as its errors name them.
var roundPrefixes = []string{"kafka: read topic metadata: ", `kafka: fetch committed offsets of group "g": `, "kafka: list end offsets: "}

// TestBrokerGoneAndBack takes a working cluster away while a scaler uses
// it, in two ways: frozen (connections open, requests read, no answer) and
// stopped (connections closed, the port refuses). Each call ends within its
// bound, saying what the broker did; once the cluster is back, the calls
// succeed again (after the broker's backoff).
func TestBrokerGoneAndBack(t *testing.T) {
	closed := func(key string) string { return ": closed the connection without answering " + key }
	tests := []struct {
		name     string
		down, up func(t *testing.T, k *testenv.Kafka)
		texts    []string // what an error may say of the broker
	}{
		{name: "frozen and thawed",
			down: func(_ *testing.T, k *testenv.Kafka) { k.Freeze() }, up: func(_ *testing.T, k *testenv.Kafka) { k.Thaw() },
			texts: []string{": no answer within 1s"}},
		{name: "stopped and started",
			down: func(_ *testing.T, k *testenv.Kafka) { k.Stop() }, up: func(t *testing.T, k *testenv.Kafka) { k.Start(t) },
			// The calls in flight when it stops see their connection
			// closed; the next ones, the port refuse.
			texts: []string{": connect: connection refused", closed("Metadata"), closed("FindCoordinator"), closed("OffsetFetch"), closed("ListOffsets")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := testenv.StartKafka(t, testenv.KafkaConfig{Restartable: true, Opts: []kfake.Opt{kfake.NumBrokers(3), kfake.SeedTopics(3, "orders")}})
			k.ProduceMany(t, "orders", []int32{0, 1, 2}, 4)
			k.Commit(t, "g", map[string]map[int32]int64{"orders": {0: 1, 1: 2, 2: 3}})
			s := newBoundedScaler(t, trigger(k, "lagThreshold", "1", "allowIdleConsumers", "true"))
			if diff := cmp.Diff(result{6, true}, resultOf(t, s)); diff != "" {
				t.Fatalf("before (-want +got):\n%s", diff)
			}

			tc.down(t, k)
			for i := range 3 {
				took, err := callBounded(t, s)
				t.Logf("call %d while down: %s (bound %s): %v", i+1, took.Round(time.Millisecond), s.bound, err)
				// Which request fails (topic metadata, the group's
				// offsets, the end offsets) depends on the round.
				checkReports(t, err, roundPrefixes, k.Addrs(), tc.texts)
			}

			tc.up(t, k)
			scalertest.Eventually(t, time.Minute, "a round after the cluster is back", func() error {
				_, err := s.Metrics(context.Background())
				return err
			})
			if diff := cmp.Diff(result{6, true}, resultOf(t, s)); diff != "" {
				t.Errorf("after (-want +got):\n%s", diff)
			}
			k.Produce(t, "orders", 1, 5)
			if diff := cmp.Diff(result{11, true}, resultOf(t, s)); diff != "" {
				t.Errorf("after, with 5 more records (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCoordinatorNotAnswering: a broker that answers everything but the
// coordinator lookup (which franz-go runs on its own context, not the
// call's) still lets each call end within its bound, saying which broker
// did not answer.
func TestCoordinatorNotAnswering(t *testing.T) {
	k := testenv.StartKafka(t, testenv.KafkaConfig{Opts: []kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(2, "orders")}})
	k.ProduceMany(t, "orders", []int32{0, 1}, 4)
	c := k.Cluster()
	c.ControlKey(int16(kmsg.FindCoordinator), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		return nil, nil, true // handled, never answered
	})
	for _, topic := range []string{"orders", ""} {
		t.Run("topic "+strconv.Quote(topic), func(t *testing.T) {
			s := newBoundedScaler(t, trigger(k, "topic", topic))
			for i := range 2 {
				took, err := callBounded(t, s)
				t.Logf("call %d: %s (bound %s): %v", i+1, took.Round(time.Millisecond), s.bound, err)
				// The unanswered lookup holds up the requests after it on
				// the same connection (answers come in order): the
				// end offsets may be what the call waits for. A later
				// call may wait on the lookup franz-go retries on its
				// own, with no request of the call's on a connection:
				// then no broker can be named.
				if msg := fmt.Sprint(err); strings.HasSuffix(msg, "\": no answer within 1s") && strings.HasPrefix(msg, "kafka: ") {
					checkUnavailable(t, err, true, msg)
					continue
				}
				checkReports(t, err, roundPrefixes, k.Addrs(), []string{": no answer within 1s"})
			}
		})
	}
}

// TestCallerDeadlineWins: a caller's deadline earlier than the bound ends
// the call, and the error says it was the caller's.
func TestCallerDeadlineWins(t *testing.T) {
	hole := scalertest.NewBlackHole(t)
	s := newBoundedScaler(t, map[string]string{"bootstrapServers": hole.Addr(), "consumerGroup": "g", "topic": "orders"})
	s.bound = time.Hour // only the caller's deadline can end this call
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := s.Metrics(ctx)
		done <- err
	}()
	select {
	case err := <-done:
		checkUnavailable(t, err, true, "kafka: read topic metadata: broker "+hole.Addr()+": no answer before the caller's deadline")
	case <-time.After(300*time.Millisecond + boundGrace):
		s.Close()
		<-done
		t.Fatal("Metrics did not return at the caller's deadline")
	}
}

// TestNoRedialWhileDown: a broker that drops every connection is dialled
// again only after a backoff that doubles, not by every call: calls in a
// row while it is down fail at once with its last error, and the client's
// own goroutines do not dial it faster either.
func TestNoRedialWhileDown(t *testing.T) {
	drop := scalertest.NewDropper(t)
	s := newBoundedScaler(t, map[string]string{"bootstrapServers": drop.Addr(), "consumerGroup": "g", "topic": "orders"})
	want := "kafka: read topic metadata: broker " + drop.Addr() +
		": closed the connection without answering its first request (does the listener require TLS? then set tls: enable)"
	start := time.Now()
	const calls = 30
	for range calls {
		_, err := callBounded(t, s)
		checkUnavailable(t, err, false, want)
	}
	elapsed := time.Since(start)
	// The most dials the backoff allows in elapsed: one, then one more
	// each time a backoff (at least 4/5 of 250ms, 500ms, ... 5s) has
	// passed; twice that, as a round's two first requests (Metadata,
	// FindCoordinator) may dial before either has failed.
	allowed, wait, passed := 1, firstRedial, time.Duration(0)
	for {
		passed += wait * 4 / 5
		if passed > elapsed {
			break
		}
		allowed++
		wait = min(2*wait, maxRedial)
	}
	allowed *= 2
	if got := drop.Accepted(); got > allowed || got == 0 {
		t.Errorf("%d calls in %s dialled %d times, want 1 to %d", calls, elapsed, got, allowed)
	}
	t.Logf("%d calls in %s dialled %d times (at most %d allowed)", calls, elapsed.Round(time.Millisecond), drop.Accepted(), allowed)
}

// discardLog is a log.Logger for servers whose complaints (a TLS handshake
// error from a plaintext client) are the point of the test.
func discardLog() *log.Logger { return log.New(io.Discard, "", 0) }

// checkReports fails unless err wraps ErrUnavailable and reads one of
// prefixes followed by one report per broker, "broker <addr><text>", joined
// by "; " in address order, for one or more of addrs, each text one of
// texts. A round asks more than one broker (the metadata from one seed,
// the coordinator from another), so which brokers it names is chance.
func checkReports(t testing.TB, err error, prefixes, addrs, texts []string) {
	t.Helper()
	if !errors.Is(err, scalers.ErrUnavailable) {
		t.Errorf("error %v does not wrap ErrUnavailable", err)
	}
	msg := fmt.Sprint(err)
	for _, p := range prefixes {
		rest, ok := strings.CutPrefix(msg, p)
		if !ok {
			continue
		}
		var seen []string
		for _, r := range strings.Split(rest, "; ") {
			addr, ok := matchReport(r, addrs, texts)
			if !ok || slices.Contains(seen, addr) || (len(seen) > 0 && addr < seen[len(seen)-1]) {
				t.Errorf("error %q: report %q is not one of \"broker <%v><%q>\", once each in address order", msg, r, addrs, texts)
				return
			}
			seen = append(seen, addr)
		}
		return
	}
	t.Errorf("error %q starts with none of %q", msg, prefixes)
}

// matchReport returns the address of r when it is "broker <addr><text>".
func matchReport(r string, addrs, texts []string) (string, bool) {
	for _, a := range addrs {
		for _, tx := range texts {
			if r == "broker "+a+tx {
				return a, true
			}
		}
	}
	return "", false
}
