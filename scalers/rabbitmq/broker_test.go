package rabbitmq

// Tests against a real RabbitMQ broker: the installed rabbitmq-server,
// started privately by internal/testenv.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// TestQueueLength: 7 messages, 2 of them taken without acknowledgement.
// AMQP sees the 5 ready ones; the management API sees 7, or 5 with
// excludeUnacknowledged.
func TestQueueLength(t *testing.T) {
	srv := broker(t)
	vhost := srv.NewVhost(t)
	conn := dialBroker(t, srv, vhost)
	ch := openChannel(t, conn)
	declare(t, ch, "jobs", false)
	publish(t, ch, "jobs", 7)
	takeUnacked(t, openChannel(t, conn), "jobs", 2)

	tests := []struct {
		name       string
		md         map[string]string
		want       float64
		wantActive bool
	}{
		{"amqp counts ready messages", map[string]string{"host": srv.AMQPURL(vhost), "queueName": "jobs"}, 5, true},
		{"amqp with queueLength and activation", map[string]string{"host": srv.AMQPURL(vhost), "queueName": "jobs", "queueLength": "2", "activationValue": "5"}, 5, false},
		{"http counts unacknowledged too", map[string]string{"host": srv.HTTPURL(vhost), "queueName": "jobs", "mode": "QueueLength", "value": "3"}, 7, true},
		{"http excludeUnacknowledged", map[string]string{"host": srv.HTTPURL(vhost), "queueName": "jobs", "excludeUnacknowledged": "true"}, 5, true},
		{"http activation above length", map[string]string{"host": srv.HTTPURL(vhost), "queueName": "jobs", "activationValue": "7"}, 7, false},
		{"http activation below length", map[string]string{"host": srv.HTTPURL(vhost), "queueName": "jobs", "activationValue": "6.5"}, 7, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantMetric(t, newScaler(t, tt.md), tt.want, tt.wantActive)
		})
	}
}

// TestMessageRate publishes (and consumes) at about 40 messages a second
// and waits for the management API's rates.
func TestMessageRate(t *testing.T) {
	srv := broker(t)
	vhost := srv.NewVhost(t)
	conn := dialBroker(t, srv, vhost)
	ch := openChannel(t, conn)
	declare(t, ch, "events", false)

	ctx, stop := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(25 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				_ = ch.PublishWithContext(ctx, "", "events", false, false, amqp.Publishing{Body: []byte("e")})
			}
		}
	})
	t.Cleanup(func() { stop(); wg.Wait() })

	rate := newScaler(t, map[string]string{"host": srv.HTTPURL(vhost), "queueName": "events", "mode": "MessageRate", "value": "10", "activationValue": "5"})
	// Written as !(v >= x) so that NaN fails too.
	scalertest.Eventually(t, settle, "a publish rate of at least 10/s (about 40) and an active trigger", func() error {
		v, active, err := metric(t, rate)
		switch {
		case err != nil:
			return err
		case !(v >= 10) || !active:
			return fmt.Errorf("got %v active %v", v, active)
		}
		return nil
	})

	// A consumer: deliveries now have a rate too.
	consumer := openChannel(t, conn)
	if _, err := consumer.Consume("events", "", true, false, false, false, nil); err != nil {
		t.Fatalf("consume: %v", err)
	}
	deliver := newScaler(t, map[string]string{"host": srv.HTTPURL(vhost), "queueName": "events", "mode": "DeliverGetRate", "value": "10"})
	ratio := newScaler(t, map[string]string{"host": srv.HTTPURL(vhost), "queueName": "events", "mode": "PublishedToDeliveredRatio", "value": "1"})
	scalertest.Eventually(t, settle, "a deliver rate of at least 10/s and a published/delivered ratio of about 1", func() error {
		dv, _, err := metric(t, deliver)
		switch {
		case err != nil:
			return fmt.Errorf("deliver rate: %w", err)
		case !(dv >= 10):
			return fmt.Errorf("got deliver rate %v", dv)
		}
		rv, _, err := metric(t, ratio)
		switch {
		case err != nil:
			return fmt.Errorf("ratio: %w", err)
		case !(rv >= 0.5 && rv <= 2):
			return fmt.Errorf("got ratio %v", rv)
		}
		return nil
	})

	// Publishing stops: the rate falls to 0 and, with nothing queued, the
	// trigger turns inactive.
	stop()
	wg.Wait()
	wantMetric(t, rate, 0, false)
}

// TestRegex selects queues by regular expression and combines them.
func TestRegex(t *testing.T) {
	srv := broker(t)
	vhost := srv.NewVhost(t)
	ch := openChannel(t, dialBroker(t, srv, vhost))
	for name, n := range map[string]int{"job-a": 3, "job-b": 6, "job-c": 0, "other": 100} {
		declare(t, ch, name, false)
		publish(t, ch, name, n)
	}
	base := map[string]string{"host": srv.HTTPURL(vhost), "queueName": "^job-", "useRegex": "true"}
	tests := []struct {
		name string
		md   map[string]string
		want float64
	}{
		{"sum", base, 9},
		{"max", with(base, "operation", "max"), 6},
		{"avg", with(base, "operation", "avg"), 3},
		{"no match", with(base, "queueName", "^none$"), 0},
		{"everything", with(base, "queueName", ".*"), 109},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantMetric(t, newScaler(t, tt.md), tt.want, tt.want > 0)
		})
	}
	t.Run("more queues than a page", func(t *testing.T) {
		s := newScaler(t, with(base, "pageSize", "2"))
		_, _, err := metric(t, s)
		checkErr(t, err, scalers.ErrNoData)
		want := "rabbitmq management API: the expression matches more queues than one page holds (2 pages): raise pageSize: no data"
		if diff := cmp.Diff(want, err.Error()); diff != "" {
			t.Errorf("error (-want +got):\n%s", diff)
		}
	})
}

// TestVhosts: a vhost named with a slash and a space, given in the URL or
// with vhostName, over both protocols, and the default vhost "/".
func TestVhosts(t *testing.T) {
	srv := broker(t)
	odd := "team/a b " + strings.ReplaceAll(t.Name(), "/", "_")
	srv.AddVhost(t, odd)
	other := srv.NewVhost(t)
	ch := openChannel(t, dialBroker(t, srv, odd))
	declare(t, ch, "q", false)
	publish(t, ch, "q", 4)
	// The default vhost is shared by the package's tests: a unique name.
	rootQueue := "root-" + strings.ReplaceAll(t.Name(), "/", "_")
	rootCh := openChannel(t, dialBroker(t, srv, "/"))
	declare(t, rootCh, rootQueue, false)
	publish(t, rootCh, rootQueue, 2)
	t.Cleanup(func() { _, _ = rootCh.QueueDelete(rootQueue, false, false, false) })

	tests := []struct {
		name string
		md   map[string]string
		want float64
	}{
		{"amqp vhost in URL", map[string]string{"host": srv.AMQPURL(odd), "queueName": "q"}, 4},
		{"amqp vhostName overrides URL", map[string]string{"host": srv.AMQPURL(other), "vhostName": odd, "queueName": "q"}, 4},
		{"http vhost in URL", map[string]string{"host": srv.HTTPURL(odd), "queueName": "q"}, 4},
		{"http vhostName overrides URL", map[string]string{"host": srv.HTTPURL(other), "vhostName": odd, "queueName": "q"}, 4},
		{"amqp default vhost", map[string]string{"host": srv.AMQPURL(""), "queueName": rootQueue}, 2},
		{"http default vhost", map[string]string{"host": srv.HTTPURL(""), "queueName": rootQueue}, 2},
		{"http vhostName /", map[string]string{"host": srv.HTTPURL(other), "vhostName": "/", "queueName": rootQueue}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantMetric(t, newScaler(t, tt.md), tt.want, true)
		})
	}
}

// TestMissingQueue: a missing queue is an ErrNoData error, and the scaler
// keeps working: once the queue exists, the next call reads it (the AMQP
// channel the broker closed is opened again).
func TestMissingQueue(t *testing.T) {
	srv := broker(t)
	for _, proto := range []string{"amqp", "http"} {
		t.Run(proto, func(t *testing.T) {
			vhost := srv.NewVhost(t)
			host := srv.AMQPURL(vhost)
			if proto == "http" {
				host = srv.HTTPURL(vhost)
			}
			s := newScaler(t, map[string]string{"host": host, "queueName": "later"})
			for range 2 {
				_, _, err := metric(t, s)
				checkErr(t, err, scalers.ErrNoData, srv.Password)
				want := fmt.Sprintf(`queue "later" not found in vhost %q: no data`, vhost)
				if diff := cmp.Diff(want, err.Error()); diff != "" {
					t.Errorf("error (-want +got):\n%s", diff)
				}
			}
			ch := openChannel(t, dialBroker(t, srv, vhost))
			declare(t, ch, "later", false)
			publish(t, ch, "later", 3)
			wantMetric(t, s, 3, true)
		})
	}
}

// TestMissingVhost: a vhost that does not exist is an unavailable source
// over AMQP (the broker refuses connection.open) and no data over the
// management API.
func TestMissingVhost(t *testing.T) {
	srv := broker(t)
	s := newBoundScaler(t, map[string]string{"host": srv.AMQPURL("no-such-vhost"), "queueName": "q"}, 10*time.Second, frozenClock())
	_, _, err := metric(t, s)
	wantErr(t, err, scalers.ErrUnavailable,
		`rabbitmq: connect: vhost "no-such-vhost" does not exist or the user has no access to it (NOT_ALLOWED - vhost no-such-vhost not found) (next attempt in 1s)`,
		srv.Password)
	s = newScaler(t, map[string]string{"host": srv.HTTPURL("no-such-vhost"), "queueName": "q"})
	_, _, err = metric(t, s)
	checkErr(t, err, scalers.ErrNoData, srv.Password)
}

// TestBadCredentials: refused credentials are clear errors that say they
// are a login failure, hold no password, from the URL or from the
// username/password keys, and come at once: RabbitMQ answers a refused
// AMQP login only after 3 s unless the client asks for
// authentication_failure_close, so with a bound of 2 s a login failure
// (rather than "no answer within 2s") shows that the scaler asked for it.
func TestBadCredentials(t *testing.T) {
	srv, vhost, _ := vhostWithQueue(t, "q", 1)
	srv.AddUser(t, vhost, "worker-"+vhost, "right-pw-123")

	amqpURL := func(user, pass string) string {
		return fmt.Sprintf("amqp://%s:%s@127.0.0.1:%d/%s", user, pass, srv.AMQPPort, url.PathEscape(vhost))
	}
	httpURL := func(user, pass string) string {
		return fmt.Sprintf("http://%s:%s@127.0.0.1:%d/%s", user, pass, srv.HTTPPort, url.PathEscape(vhost))
	}
	noCreds := fmt.Sprintf("amqp://127.0.0.1:%d/%s", srv.AMQPPort, url.PathEscape(vhost))
	const refused = "rabbitmq: connect: login refused: username or password not accepted (ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details see the broker logfile.) (next attempt in 1s)"

	t.Run("amqp wrong password in URL", func(t *testing.T) {
		s := newBoundScaler(t, map[string]string{"host": amqpURL(srv.User, "wrong-pw-456"), "queueName": "q"}, 2*time.Second, frozenClock())
		_, _, err := metric(t, s)
		wantErr(t, err, scalers.ErrUnavailable, refused, "wrong-pw-456")
		// During the backoff the next call answers at once with the same
		// error, and the broker sees no second login.
		_, _, err = metric(t, s)
		wantErr(t, err, scalers.ErrUnavailable, refused, "wrong-pw-456")
	})
	t.Run("amqp wrong password key", func(t *testing.T) {
		s := newBoundScaler(t, map[string]string{"host": noCreds, "queueName": "q", "username": srv.User, "password": "wrong-pw-789"}, 2*time.Second, frozenClock())
		_, _, err := metric(t, s)
		wantErr(t, err, scalers.ErrUnavailable, refused, "wrong-pw-789")
	})
	t.Run("amqp username and password keys", func(t *testing.T) {
		wantMetric(t, newScaler(t, map[string]string{"host": noCreds, "queueName": "q", "username": "worker-" + vhost, "password": "right-pw-123"}), 1, true)
	})
	t.Run("http wrong password in URL", func(t *testing.T) {
		s := newScaler(t, map[string]string{"host": httpURL(srv.User, "wrong-pw-456"), "queueName": "q"})
		_, _, err := metric(t, s)
		checkErr(t, err, scalers.ErrUnavailable, "wrong-pw-456")
		want := "rabbitmq management API: login refused (401 Unauthorized): check the credentials in host, username/password or OAuth2"
		if diff := cmp.Diff(want, err.Error()); diff != "" {
			t.Errorf("error (-want +got):\n%s", diff)
		}
	})
	t.Run("http user without management tag", func(t *testing.T) {
		s := newScaler(t, map[string]string{"host": httpURL("worker-"+vhost, "right-pw-123"), "queueName": "q"})
		_, _, err := metric(t, s)
		checkErr(t, err, scalers.ErrUnavailable, "right-pw-123")
	})
}

// TestHostFileRotation: the host URL comes from a file; when the file
// changes (a rotated Secret), the scaler dials again with the new
// credentials.
func TestHostFileRotation(t *testing.T) {
	srv, vhost, _ := vhostWithQueue(t, "q", 2)
	user := "rot-" + vhost
	srv.AddUser(t, vhost, user, "first-pw-111")

	for _, proto := range []string{"amqp", "http"} {
		t.Run(proto, func(t *testing.T) {
			hostURL := func(pass string) string {
				if proto == "http" {
					// The management API needs a tagged user: the
					// administrator, whose password does not change here.
					return srv.HTTPURL(vhost)
				}
				return fmt.Sprintf("amqp://%s:%s@127.0.0.1:%d/%s", user, pass, srv.AMQPPort, url.PathEscape(vhost))
			}
			path := filepath.Join(t.TempDir(), "host")
			if err := os.WriteFile(path, []byte(hostURL("first-pw-111")), 0o600); err != nil {
				t.Fatal(err)
			}
			s := newScaler(t, map[string]string{"hostFile": path, "queueName": "q"})
			wantMetric(t, s, 2, true)
			if proto == "http" {
				return
			}
			// The broker's password changes and so does the file.
			srv.AddUser(t, vhost, user, "second-pw-222")
			if err := os.WriteFile(path, []byte(hostURL("second-pw-222")+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			// File modification times can be coarse: make sure it looks new.
			later := time.Now().Add(2 * time.Second)
			if err := os.Chtimes(path, later, later); err != nil {
				t.Fatal(err)
			}
			wantMetric(t, s, 2, true)
		})
	}
}

// TestConcurrentMetrics calls one scaler from many goroutines (run with
// -race), with a missing queue mixed in to close channels under load.
func TestConcurrentMetrics(t *testing.T) {
	srv, vhost, _ := vhostWithQueue(t, "q", 3)
	good := newScaler(t, map[string]string{"host": srv.AMQPURL(vhost), "queueName": "q"})
	missing := newScaler(t, map[string]string{"host": srv.AMQPURL(vhost), "queueName": "missing"})
	web := newScaler(t, map[string]string{"host": srv.HTTPURL(vhost), "queueName": "q"})
	wantMetric(t, web, 3, true)

	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := range 8 {
		wg.Go(func() {
			for range 20 {
				if v, _, err := metric(t, good); err != nil || v != 3 {
					errs <- fmt.Errorf("amqp: got %v, %v; want 3", v, err)
				}
				if v, _, err := metric(t, web); err != nil || v != 3 {
					errs <- fmt.Errorf("http: got %v, %v; want 3", v, err)
				}
				if i%2 == 0 {
					if _, _, err := metric(t, missing); !errors.Is(err, scalers.ErrNoData) {
						errs <- fmt.Errorf("missing queue: got %v, want ErrNoData", err)
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestBrokerFaults uses a broker of its own: it stops it cleanly and
// starts it again, freezes it, closes the scaler's connection from the
// broker's side, and kills it and starts it again.
func TestBrokerFaults(t *testing.T) {
	srv := testenv.StartRabbitMQ(t)
	vhost := srv.NewVhost(t)
	ch := openChannel(t, dialBroker(t, srv, vhost))
	declare(t, ch, "durable", true)
	publish(t, ch, "durable", 4)

	amqpScaler := newScaler(t, map[string]string{"host": srv.AMQPURL(vhost), "queueName": "durable"})
	httpScaler := newScaler(t, map[string]string{"host": srv.HTTPURL(vhost), "queueName": "durable", "timeout": "2000"})
	wantMetric(t, amqpScaler, 4, true)
	wantMetric(t, httpScaler, 4, true)

	// down: with the broker gone, both scalers say it is unavailable.
	down := func(t *testing.T) {
		t.Helper()
		for _, s := range []*Scaler{amqpScaler, httpScaler} {
			_, _, err := metric(t, s)
			checkErr(t, err, scalers.ErrUnavailable, srv.Password)
		}
	}

	t.Run("stopped and back", func(t *testing.T) {
		// An operator's restart: the broker closes the connections
		// (connection.close) and writes its queues and messages out.
		if err := srv.Stop(); err != nil {
			t.Fatalf("stop: %v", err)
		}
		down(t)
		if err := srv.Restart(); err != nil {
			t.Fatalf("restart: %v", err)
		}
		// The durable queue and its persistent messages survive.
		wantMetric(t, amqpScaler, 4, true)
		wantMetric(t, httpScaler, 4, true)
	})

	t.Run("frozen broker", func(t *testing.T) {
		// The broker stops answering (SIGSTOP) with connections open: the
		// kernel still accepts new ones. Every call, and every build,
		// returns within the bound, saying where the broker stalled; once
		// it is thawed (and the backoff passed) the next calls succeed.
		clk := frozenClock()
		amqpMD := map[string]string{"host": srv.AMQPURL(vhost), "queueName": "durable"}
		httpMD := map[string]string{"host": srv.HTTPURL(vhost), "queueName": "durable"}
		bAMQP := newBoundScaler(t, amqpMD, testBound, clk)
		bHTTP := newBoundScaler(t, httpMD, testBound, clk)
		idle, err := build(scalers.Config{Type: Type, Metadata: amqpMD, Timeouts: scalers.Timeouts{Default: testBound}}, options{clock: clk, backoff: DefaultBackoff})
		if err != nil {
			t.Fatal(err)
		}
		wantMetric(t, bAMQP, 4, true)
		wantMetric(t, bHTTP, 4, true)
		wantMetric(t, idle, 4, true)
		amqpAddr := fmt.Sprintf("127.0.0.1:%d", srv.AMQPPort)
		httpAddr := fmt.Sprintf("127.0.0.1:%d", srv.HTTPPort)

		if err := srv.Freeze(); err != nil {
			t.Fatal(err)
		}
		thawed := false
		thaw := func() {
			if !thawed {
				thawed = true
				if err := srv.Thaw(); err != nil {
					t.Errorf("thaw: %v", err)
				}
			}
		}
		defer thaw()

		var fresh *Scaler
		_ = scalertest.ReturnsWithin(t, 0, "a build while the broker is frozen", func() error {
			fresh = newBoundScaler(t, amqpMD, testBound, clk)
			return nil
		})
		// Close sends connection.close and waits for the answer at most
		// closeWait.
		if err := scalertest.ReturnsWithin(t, closeWait, "Close of a connected scaler", idle.Close); err != nil {
			t.Errorf("Close: %v", err)
		}
		handshake := "rabbitmq: connect: no answer within 1s (AMQP handshake with " + amqpAddr + ": waiting for connection.start)"
		err = metricsWithin(t, bAMQP, testBound, "an AMQP call on the open connection")
		wantErr(t, err, scalers.ErrUnavailable, "rabbitmq: queue.declare: no answer within 1s (broker at "+amqpAddr+")", srv.Password)
		err = metricsWithin(t, bAMQP, testBound, "the next AMQP call, which connects again")
		checkErr(t, err, scalers.ErrUnavailable, srv.Password)
		oneOf(t, err, handshake, handshake+" (next attempt in 1s)")
		err = metricsWithin(t, fresh, testBound, "the first call of the scaler built during the freeze")
		checkErr(t, err, scalers.ErrUnavailable, srv.Password)
		oneOf(t, err, handshake, handshake+" (next attempt in 1s)")
		err = metricsWithin(t, bHTTP, testBound, "a management API call")
		wantErr(t, err, scalers.ErrUnavailable, "rabbitmq management API: no answer within 1s ("+httpAddr+": timeout after sending the request)", srv.Password)
		// A caller's earlier deadline wins, and says so.
		for _, s := range []*Scaler{amqpScaler, httpScaler} {
			ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
			_, err := s.Metrics(ctx)
			cancel()
			checkErr(t, err, scalers.ErrUnavailable, srv.Password)
		}

		thaw()
		clk.SetTime(clk.Now().Add(time.Minute)) // past every backoff
		for _, s := range []*Scaler{bAMQP, fresh, bHTTP, amqpScaler, httpScaler} {
			wantMetric(t, s, 4, true)
		}
	})

	t.Run("connection closed by the broker", func(t *testing.T) {
		// Close every connection named after this scaler through the
		// management API, as an operator would.
		type connection struct {
			Name       string `json:"name"`
			ClientName struct {
				ConnectionName string `json:"connection_name"`
			} `json:"client_properties"`
		}
		const name = "hpa-autoscaler-test-TestBrokerFaults"
		// The connection list follows the broker's statistics: poll.
		scalertest.Eventually(t, settle, "the broker to list the scaler's connection, and to close it", func() error {
			var conns []connection
			if err := srv.API(t.Context(), http.MethodGet, "/api/connections", nil, &conns); err != nil {
				return err
			}
			closed := 0
			for _, c := range conns {
				if c.ClientName.ConnectionName == name {
					if err := srv.API(t.Context(), http.MethodDelete, "/api/connections/"+url.PathEscape(c.Name), nil, nil); err != nil {
						return err
					}
					closed++
				}
			}
			if closed != 1 {
				return fmt.Errorf("found %d connections named %q, want 1", closed, name)
			}
			return nil
		})
		// The scaler learns of the close (NotifyClose) and dials again: at
		// most the call racing with the close fails.
		failures := 0
		scalertest.Eventually(t, settle, "the scaler to dial again and report 4", func() error {
			v, _, err := metric(t, amqpScaler)
			if err != nil {
				failures++
				return err
			}
			if v != 4 {
				return fmt.Errorf("got %v", v)
			}
			return nil
		})
		if failures > 1 {
			t.Errorf("got %d failed calls after the broker closed the connection, want at most 1", failures)
		}
	})

	t.Run("killed and back", func(t *testing.T) {
		// A crash: the connections drop without a close. What a crash
		// keeps is RabbitMQ's business (see testenv.RabbitMQ.Kill), so the
		// vhost and queue are declared again and refilled: this checks
		// that the scalers dial again, not what the broker kept.
		if err := srv.Kill(); err != nil {
			t.Fatalf("kill: %v", err)
		}
		down(t)
		if err := srv.Restart(); err != nil {
			t.Fatalf("restart: %v", err)
		}
		srv.AddVhost(t, vhost)
		ch := openChannel(t, dialBroker(t, srv, vhost))
		declare(t, ch, "durable", true)
		if _, err := ch.QueuePurge("durable", false); err != nil {
			t.Fatalf("purge: %v", err)
		}
		publish(t, ch, "durable", 2)
		wantMetric(t, amqpScaler, 2, true)
		wantMetric(t, httpScaler, 2, true)
	})
}

// TestOAuth2AgainstBroker: the management API is reached through a
// gateway that accepts only the bearer token the token endpoint issued
// (and forwards with the administrator's credentials).
func TestOAuth2AgainstBroker(t *testing.T) {
	srv, vhost, _ := vhostWithQueue(t, "q", 5)

	tokens, wantRequest := oauthTokens(t, "client-secret-xyz")
	target, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", srv.HTTPPort))
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		r.Out.Header.Del("Authorization")
		r.Out.SetBasicAuth(srv.User, srv.Password)
	}}
	gateway := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !tokens.Valid(scalertest.BearerToken(r)) {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(gateway.Close)

	s := newScaler(t, map[string]string{
		"host": gateway.URL + "/" + url.PathEscape(vhost), "queueName": "q",
		"oauthTokenURI": tokens.URL, "clientID": "scaler", "clientSecret": "client-secret-xyz",
		"scope": "rabbitmq.read,rabbitmq.tag:monitoring", "endpointParams": "audience=rabbitmq",
	})
	wantMetric(t, s, 5, true)
	if diff := cmp.Diff([]scalertest.TokenRequest{wantRequest}, tokens.Requests()); diff != "" {
		t.Errorf("token requests (-want +got):\n%s", diff)
	}
}

func BenchmarkMetrics(b *testing.B) {
	srv, vhost, ch := vhostWithQueue(b, "q", 3)
	for i := range 50 {
		declare(b, ch, fmt.Sprintf("r-%02d", i), false)
	}
	for _, bc := range []struct {
		name string
		md   map[string]string
	}{
		{"amqp", map[string]string{"host": srv.AMQPURL(vhost), "queueName": "q"}},
		{"http", map[string]string{"host": srv.HTTPURL(vhost), "queueName": "q"}},
		{"http-regex-50-queues", map[string]string{"host": srv.HTTPURL(vhost), "queueName": "^r-", "useRegex": "true"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := newScaler(b, bc.md)
			scalertest.Eventually(b, settle, "a first answer", func() error {
				_, _, err := metric(b, s)
				return err
			})
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Metrics(b.Context()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestAMQPS uses a broker of its own with a TLS listener that requires a
// client certificate and accepts SASL EXTERNAL (the certificate's common
// name is the user).
func TestAMQPS(t *testing.T) {
	c := newCerts(t)
	server := c.ServerCert(t)
	srv := testenv.StartRabbitMQWith(t, testenv.RabbitMQOptions{
		TLS:     &testenv.RabbitMQTLS{CA: c.caPEM, Cert: string(server.CertPEM), Key: string(server.KeyPEM), RequireClientCert: true},
		Plugins: []string{"rabbitmq_auth_mechanism_ssl"},
		Config:  "auth_mechanisms.1 = PLAIN\nauth_mechanisms.2 = AMQPLAIN\nauth_mechanisms.3 = EXTERNAL\nssl_cert_login_from = common_name\n",
	})
	vhost := srv.NewVhost(t)
	// The certificate's common name, for EXTERNAL.
	srv.AddUser(t, vhost, "127.0.0.1", "unused-pw-1")
	ch := openChannel(t, dialBroker(t, srv, vhost))
	declare(t, ch, "q", false)
	publish(t, ch, "q", 6)

	noPassword := fmt.Sprintf("amqps://127.0.0.1:%d/%s", srv.AMQPSPort, url.PathEscape(vhost))
	base := map[string]string{"host": srv.AMQPSURL(vhost), "queueName": "q"}
	tlsAddr := fmt.Sprintf("127.0.0.1:%d", srv.AMQPSPort)
	tests := []struct {
		name string
		md   map[string]string
		// want is the error of a trigger that cannot connect.
		want string
	}{
		{name: "ca and client certificate", md: with(base, "tls", "enable", "ca", c.caPEM, "cert", c.certPEM, "key", c.keyPEM)},
		{name: "unsafeSsl and client certificate", md: with(base, "tls", "enable", "unsafeSsl", "true", "cert", c.certPEM, "key", c.keyPEM)},
		{name: "SASL EXTERNAL", md: map[string]string{"host": noPassword, "queueName": "q", "tls": "enable", "ca": c.caPEM, "cert": c.certPEM, "key": c.keyPEM}},
		{name: "no client certificate", md: with(base, "tls", "enable", "ca", c.caPEM),
			// The same whether the broker's refusal arrives as TLS 1.3's
			// alert or as a reset of the next write (timing).
			want: "rabbitmq: connect: TLS with " + tlsAddr + ": the broker asked for a client certificate and none is configured: it wants one (cert and key, with tls enable) (next attempt in 1s)"},
		{name: "unknown authority", md: with(base, "tls", "enable", "cert", c.certPEM, "key", c.keyPEM),
			want: "rabbitmq: connect: TLS handshake with " + tlsAddr + ": tls: failed to verify certificate: x509: certificate signed by unknown authority (next attempt in 1s)"},
		{name: "tls not enabled", md: with(base, "unsafeSsl", "true"),
			want: "rabbitmq: connect: TLS handshake with " + tlsAddr + ": tls: failed to verify certificate: x509: certificate signed by unknown authority (next attempt in 1s)"},
		{name: "amqp:// to the TLS port", md: with(base, "host", strings.Replace(srv.AMQPSURL(vhost), "amqps://", "amqp://", 1)),
			want: "rabbitmq: connect: " + tlsAddr + ": a TLS server answered: use an amqps:// host (with tls enable for ca, cert and key) (next attempt in 1s)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newBoundScaler(t, tt.md, 10*time.Second, frozenClock())
			if tt.want != "" {
				_, _, err := metric(t, s)
				wantErr(t, err, scalers.ErrUnavailable, tt.want, srv.Password)
				return
			}
			wantMetric(t, s, 6, true)
		})
	}
	// amqp091-go's query keys name files of the server's pod: read, under
	// the <key>File rule, when the connection is made.
	t.Run("the URI's cacertfile, certfile and keyfile", func(t *testing.T) {
		dir := t.TempDir()
		q := url.Values{}
		for key, content := range map[string]string{"cacertfile": c.caPEM, "certfile": c.certPEM, "keyfile": c.keyPEM} {
			p := filepath.Join(dir, key+".pem")
			if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			q.Set(key, p)
		}
		md := map[string]string{"host": srv.AMQPSURL(vhost) + "?" + q.Encode(), "queueName": "q"}
		files, err := scalers.NewFileAccess(dir)
		if err != nil {
			t.Fatal(err)
		}
		s, err := build(scalers.Config{Type: Type, Metadata: md, Namespace: "test", Name: t.Name(), SecretFiles: files},
			options{clock: frozenClock(), backoff: DefaultBackoff})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		wantMetric(t, s, 6, true)
	})
}
