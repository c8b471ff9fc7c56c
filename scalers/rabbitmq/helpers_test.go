package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/goleak"
	"k8s.io/utils/clock"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// shared is the broker most tests use: started on first use (startup takes
// seconds) and stopped after the last test. Each test works in its own
// vhost.
var shared struct {
	once sync.Once
	srv  *testenv.RabbitMQ
	err  error
}

func broker(tb testing.TB) *testenv.RabbitMQ {
	tb.Helper()
	shared.once.Do(func() { shared.srv, shared.err = testenv.LaunchRabbitMQ() })
	if shared.err != nil {
		tb.Fatalf("start RabbitMQ: %v", shared.err)
	}
	return shared.srv
}

type mainRunner struct{ m *testing.M }

func (r mainRunner) Run() int {
	code := r.m.Run()
	if shared.srv != nil {
		if err := shared.srv.Close(); err != nil {
			fmt.Println("stop RabbitMQ:", err)
			code = 1
		}
	}
	return code
}

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(mainRunner{m})
}

// dialBroker opens an AMQP connection as the administrator, closed in
// tb.Cleanup.
func dialBroker(tb testing.TB, srv *testenv.RabbitMQ, vhost string) *amqp.Connection {
	tb.Helper()
	conn, err := amqp.DialConfig(srv.AMQPURL(""), amqp.Config{Vhost: vhost})
	if err != nil {
		tb.Fatalf("dial broker vhost %q: %v", vhost, err)
	}
	tb.Cleanup(func() { _ = conn.Close() })
	return conn
}

func openChannel(tb testing.TB, conn *amqp.Connection) *amqp.Channel {
	tb.Helper()
	ch, err := conn.Channel()
	if err != nil {
		tb.Fatalf("open channel: %v", err)
	}
	return ch
}

// vhostWithQueue gives the test a vhost of its own on the shared broker,
// with the queue (not durable) holding n messages, and a channel to it as
// the administrator.
func vhostWithQueue(tb testing.TB, queue string, n int) (srv *testenv.RabbitMQ, vhost string, ch *amqp.Channel) {
	tb.Helper()
	srv = broker(tb)
	vhost = srv.NewVhost(tb)
	ch = openChannel(tb, dialBroker(tb, srv, vhost))
	declare(tb, ch, queue, false)
	publish(tb, ch, queue, n)
	return srv, vhost, ch
}

// declare declares a queue (durable ones survive a broker restart).
func declare(tb testing.TB, ch *amqp.Channel, name string, durable bool) {
	tb.Helper()
	if _, err := ch.QueueDeclare(name, durable, false, false, false, nil); err != nil {
		tb.Fatalf("declare queue %q: %v", name, err)
	}
}

// publish sends n persistent messages to queue through the default
// exchange and waits until the broker has confirmed each one (for a durable
// queue: written to disk), so what a test published is on the broker, not
// in flight. It puts ch in confirm mode.
func publish(tb testing.TB, ch *amqp.Channel, queue string, n int) {
	tb.Helper()
	if err := ch.Confirm(false); err != nil {
		tb.Fatalf("confirm mode: %v", err)
	}
	ctx, cancel := context.WithTimeout(tb.Context(), settle)
	defer cancel()
	for i := range n {
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", queue, false, false,
			amqp.Publishing{Body: []byte(fmt.Sprint(i)), DeliveryMode: amqp.Persistent})
		if err != nil {
			tb.Fatalf("publish to %q: %v", queue, err)
		}
		switch acked, err := dc.WaitContext(ctx); {
		case err != nil:
			tb.Fatalf("publish to %q: no confirm within %s: %v", queue, settle, err)
		case !acked:
			tb.Fatalf("publish to %q: the broker refused message %d (nack)", queue, i)
		}
	}
}

// takeUnacked consumes n messages without acknowledging them; they stay
// unacknowledged until the channel closes.
func takeUnacked(tb testing.TB, ch *amqp.Channel, queue string, n int) {
	tb.Helper()
	if err := ch.Qos(n, 0, false); err != nil {
		tb.Fatalf("qos: %v", err)
	}
	deliveries, err := ch.Consume(queue, "", false, false, false, false, nil)
	if err != nil {
		tb.Fatalf("consume %q: %v", queue, err)
	}
	for i := range n {
		select {
		case <-deliveries:
		case <-time.After(settle):
			tb.Fatalf("consume %q: delivery %d of %d not received within %s", queue, i+1, n, settle)
		}
	}
}

// secretFiles allows the directories of md's <key>File keys, as the
// server's --secret-file-dir would.
func secretFiles(tb testing.TB, md map[string]string) scalers.FileAccess {
	tb.Helper()
	a, err := scalers.NewFileAccess(scalertest.FileDirs(md)...)
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

// newScaler builds a scaler, allowed the files md's <key>File keys name,
// and closes it in tb.Cleanup.
func newScaler(tb testing.TB, md map[string]string) *Scaler {
	tb.Helper()
	s, err := New(tb.Context(), scalers.Config{Type: Type, Metadata: md, Namespace: "test", Name: tb.Name(), SecretFiles: secretFiles(tb, md)})
	if err != nil {
		tb.Fatalf("New(%v): %v", redactedMD(md), err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("close: %v", err)
		}
	})
	return s.(*Scaler)
}

// testBound is the bound of the calls in the tests of hanging sources:
// short, so that the tests are quick, and checked with
// scalertest.BoundGrace on top, so a loaded machine does not fail them.
const testBound = time.Second

// frozenClock is a backoff clock that never moves: messages say "next
// attempt in 1s" exactly, and no backoff ends unless the test steps it.
func frozenClock() *testingclock.FakePassiveClock {
	return testingclock.NewFakePassiveClock(time.Now())
}

// newBoundScaler builds a scaler whose calls are bounded by bound (the
// server's default source timeout) with the backoff clock c, and closes it
// in tb.Cleanup.
func newBoundScaler(tb testing.TB, md map[string]string, bound time.Duration, c clock.PassiveClock) *Scaler {
	tb.Helper()
	s, err := build(scalers.Config{Type: Type, Metadata: md, Namespace: "test", Name: tb.Name(), Timeouts: scalers.Timeouts{Default: bound}, SecretFiles: secretFiles(tb, md)},
		options{clock: c, backoff: DefaultBackoff})
	if err != nil {
		tb.Fatalf("build(%v): %v", redactedMD(md), err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("close: %v", err)
		}
	})
	return s
}

// wantErr fails unless err wraps sentinel, holds none of the forbidden
// strings, and its message is want.
func wantErr(tb testing.TB, err, sentinel error, want string, forbidden ...string) {
	tb.Helper()
	checkErr(tb, err, sentinel, forbidden...)
	if err == nil {
		return
	}
	if diff := cmp.Diff(want, err.Error()); diff != "" {
		tb.Errorf("error (-want +got):\n%s", diff)
	}
}

// redactedMD hides URL passwords in test failure messages.
func redactedMD(md map[string]string) map[string]string {
	out := make(map[string]string, len(md))
	for k, v := range md {
		out[k] = scalers.RedactURL(v)
	}
	return out
}

// metric fetches the one metric value and the activity; the value must
// be named as MetricSpecs names the metric.
func metric(tb testing.TB, s *Scaler) (float64, bool, error) {
	tb.Helper()
	m, err := s.Metrics(tb.Context())
	if err != nil {
		return 0, false, err
	}
	if len(m.Values) != 1 || m.Values[0].Name != s.MetricSpecs()[0].Name {
		tb.Fatalf("got metric values %+v, want one named %q", m.Values, s.MetricSpecs()[0].Name)
	}
	return m.Values[0].Value, m.Active, nil
}

// settle bounds every wait for the broker: far above the second or two its
// statistics (and a delivery or confirm) need on an idle machine, so that
// reaching it means something is wrong, not slow.
const settle = time.Minute

// wantMetric waits until the scaler reports want (and activity active).
func wantMetric(tb testing.TB, s *Scaler, want float64, active bool) {
	tb.Helper()
	what := fmt.Sprintf("the scaler to report %v (active %v)", want, active)
	scalertest.Eventually(tb, settle, what, func() error {
		got, gotActive, err := metric(tb, s)
		if err != nil {
			return fmt.Errorf("Metrics: %w", err)
		}
		if got != want || gotActive != active {
			return fmt.Errorf("got value %v active %v", got, gotActive)
		}
		return nil
	})
}

// certs is a test CA and a client certificate it issued for the user
// 127.0.0.1 (the common name SASL EXTERNAL reads), PEM encoded as metadata
// values.
type certs struct {
	*testenv.PKI
	caPEM, certPEM, keyPEM string
}

func newCerts(tb testing.TB) certs {
	tb.Helper()
	pki := testenv.NewPKI(tb)
	client := pki.ClientCert(tb, "127.0.0.1")
	return certs{PKI: pki, caPEM: string(pki.CAPEM), certPEM: string(client.CertPEM), keyPEM: string(client.KeyPEM)}
}

// checkErr fails unless err wraps want and its message holds none of the
// forbidden strings (secrets).
func checkErr(tb testing.TB, err, want error, forbidden ...string) {
	tb.Helper()
	if err == nil {
		tb.Fatalf("got no error, want one wrapping %v", want)
	}
	if !errors.Is(err, want) {
		tb.Errorf("got error %q, want it to wrap %v", err, want)
	}
	for _, f := range forbidden {
		if f != "" && strings.Contains(err.Error(), f) {
			tb.Errorf("error %q contains the secret %q", err, f)
		}
	}
}
