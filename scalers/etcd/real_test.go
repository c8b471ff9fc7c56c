package etcd

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	testclock "k8s.io/utils/clock/testing"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

func build(t *testing.T, cfg scalers.Config, opts Options, kv ...string) *Scaler {
	t.Helper()
	base := map[string]string{"watchKey": "queue/length", "value": "5"}
	for k, v := range cfg.Metadata {
		base[k] = v
	}
	cfg.Type, cfg.Metadata = Type, scalertest.WithKeys(base, kv...)
	if cfg.Timeouts == (scalers.Timeouts{}) {
		cfg.Timeouts = scalers.Timeouts{Default: 2 * time.Second}
	}
	s, err := NewWithOptions(t.Context(), cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func plain(t *testing.T, e *testenv.Etcd, kv ...string) *Scaler {
	t.Helper()
	return build(t, scalers.Config{Metadata: map[string]string{"endpoints": e.Endpoint()}}, Options{}, kv...)
}

func put(t *testing.T, e *testenv.Etcd, key, value string) {
	t.Helper()
	if err := e.Put(t.Context(), key, value); err != nil {
		t.Fatal(err)
	}
}

func waitValue(t *testing.T, s *Scaler, want float64, active bool) {
	t.Helper()
	scalertest.Eventually(t, 30*time.Second, fmt.Sprintf("value %v active %v", want, active), func() error {
		m, err := s.Metrics(t.Context())
		if err != nil {
			return err
		}
		if len(m.Values) != 1 || m.Values[0].Value != want || m.Active != active || m.Values[0].Name != "etcd-queue-length" {
			return fmt.Errorf("got %+v", m)
		}
		return nil
	})
}

// TestRealServer: against etcd 3.6: a missing key and a value that is not
// a number are ErrNoData naming the key; the number at the key is the
// value, active strictly above activationValue.
func TestRealServer(t *testing.T) {
	e := testenv.StartEtcd(t, testenv.EtcdOptions{})
	s := plain(t, e, "activationValue", "2")
	_, err := s.Metrics(t.Context())
	scalertest.CheckErr(t, err, scalers.ErrNoData, `etcd: key "queue/length" at `+e.Endpoint()+`: the key does not exist`)
	put(t, e, "queue/length", "2")
	waitValue(t, s, 2, false)
	put(t, e, "queue/length", "7.5\n")
	waitValue(t, s, 7.5, true)
	put(t, e, "queue/length", "many")
	_, err = s.Metrics(t.Context())
	scalertest.CheckErr(t, err, ErrValue, `stored value is not a number: "many"`)
	scalertest.CheckErr(t, err, scalers.ErrNoData)
}

// pushes runs s.Run and returns its channel; the run ends with the test.
func pushes(t *testing.T, s *Scaler) <-chan bool {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan bool)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx, ch)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return ch
}

// next waits for the next push and checks it.
func next(t *testing.T, ch <-chan bool, want bool, what string) {
	t.Helper()
	select {
	case got := <-ch:
		if got != want {
			t.Fatalf("%s: pushed %v, want %v", what, got, want)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: no push within 30s", what)
	}
}

// TestPush: Run sends the activity at once, then at every change of the
// key (a deletion and a value that is not a number count as 0, as in
// KEDA), and goes on after the server is stopped and started again
// (and after a kill).
func TestPush(t *testing.T) {
	e := testenv.StartEtcd(t, testenv.EtcdOptions{})
	put(t, e, "queue/length", "0")
	s := plain(t, e, "activationValue", "1")
	ch := pushes(t, s)
	next(t, ch, false, "first")
	put(t, e, "queue/length", "3")
	next(t, ch, true, "after 3")
	put(t, e, "queue/length", "1")
	next(t, ch, false, "after 1")
	put(t, e, "queue/length", "4")
	next(t, ch, true, "after 4")
	if err := e.Delete(t.Context(), "queue/length"); err != nil {
		t.Fatal(err)
	}
	next(t, ch, false, "after the deletion")
	put(t, e, "queue/length", "x")
	next(t, ch, false, "after x")

	for _, kill := range []bool{false, true} {
		stop := e.Stop
		if kill {
			stop = e.Kill
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		if err := e.Start(); err != nil {
			t.Fatal(err)
		}
		// The watch resumes (the client's own retry, or Run's rewatch,
		// which pushes the activity read first): a change made after the
		// restart is pushed.
		put(t, e, "queue/length", "9")
		scalertest.Eventually(t, 90*time.Second, "a push of true after the restart", func() error {
			select {
			case a := <-ch:
				if a {
					return nil
				}
				return fmt.Errorf("pushed false")
			default:
				return fmt.Errorf("no push yet")
			}
		})
		put(t, e, "queue/length", "0")
		scalertest.Eventually(t, 30*time.Second, "a push of false", func() error {
			select {
			case a := <-ch:
				if !a {
					return nil
				}
				return fmt.Errorf("pushed true")
			default:
				return fmt.Errorf("no push yet")
			}
		})
	}
}

// TestProgressWatchdog: a watch without progress notification for twice
// watchProgressNotifyInterval is started again after the backoff (clock
// stepped by hand), and the new watch pushes the activity it reads.
func TestProgressWatchdog(t *testing.T) {
	e := testenv.StartEtcd(t, testenv.EtcdOptions{})
	put(t, e, "queue/length", "6")
	clk := testclock.NewFakeClock(time.Now())
	s := build(t, scalers.Config{Metadata: map[string]string{"endpoints": e.Endpoint()}}, Options{Clock: clk},
		"watchProgressNotifyInterval", "30")
	ch := pushes(t, s)
	next(t, ch, true, "first")
	scalertest.Eventually(t, 30*time.Second, "the watchdog's timer", waiter(clk))
	clk.Step(time.Minute) // 2 × 30 s of silence
	scalertest.Eventually(t, 30*time.Second, "the backoff's timer", waiter(clk))
	clk.Step(DefaultRetryFirst)
	next(t, ch, true, "after the rewatch")
	put(t, e, "queue/length", "0")
	next(t, ch, false, "a change seen by the new watch")
}

func waiter(clk *testclock.FakeClock) func() error {
	return func() error {
		if !clk.HasWaiters() {
			return fmt.Errorf("no timer waits on the clock")
		}
		return nil
	}
}

// TestRealServerOutage: the server stopped, calls fail with
// ErrUnavailable within the bound; started again, the next calls read
// the value.
func TestRealServerOutage(t *testing.T) {
	e := testenv.StartEtcd(t, testenv.EtcdOptions{})
	put(t, e, "queue/length", "4")
	s := plain(t, e)
	waitValue(t, s, 4, true)
	if err := e.Stop(); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		err := scalertest.ReturnsWithin(t, s.Bound(), fmt.Sprintf("call %d while the server is down", i+1), func() error {
			_, err := s.Metrics(context.Background())
			return err
		})
		scalertest.CheckErr(t, err, scalers.ErrUnavailable, `etcd: key "queue/length" at `+e.Endpoint()+`: get: no answer within 2s`)
	}
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	waitValue(t, s, 4, true)
}

// TestTLS: a server that requires a client certificate is read with
// tls=enable, ca, cert and key (inline PEM, and as caFile...); without a
// client certificate the call fails as unavailable, and without
// tls=enable the material is not used.
func TestTLS(t *testing.T) {
	e := testenv.StartEtcd(t, testenv.EtcdOptions{ClientCertAuth: true})
	put(t, e, "queue/length", "3")
	hostPort := strings.TrimPrefix(e.Endpoint(), "https://")
	inline := map[string]string{"endpoints": hostPort, "tls": "enable", "ca": string(e.PKI.CAPEM),
		"cert": string(e.ClientCert.CertPEM), "key": string(e.ClientCert.KeyPEM)}
	waitValue(t, build(t, scalers.Config{Metadata: inline}, Options{}), 3, true)

	dir := t.TempDir()
	certFile, keyFile := e.ClientCert.WriteFiles(t, dir, "client")
	files := map[string]string{"endpoints": e.Endpoint(), "tls": "enable", "caFile": e.PKI.WriteCA(t, dir), "certFile": certFile, "keyFile": keyFile}
	waitValue(t, build(t, scalers.Config{Metadata: files, SecretFiles: fileAccess(t, dir)}, Options{}), 3, true)

	noCert := build(t, scalers.Config{Metadata: map[string]string{"endpoints": hostPort, "tls": "enable", "ca": string(e.PKI.CAPEM), "timeout": "1000"}}, Options{})
	_, err := noCert.Metrics(t.Context())
	scalertest.CheckErr(t, err, scalers.ErrUnavailable, `etcd: key "queue/length"`)
	notUsed := build(t, scalers.Config{Metadata: map[string]string{"endpoints": hostPort, "ca": string(e.PKI.CAPEM), "timeout": "1000"}}, Options{})
	_, err = notUsed.Metrics(t.Context())
	scalertest.CheckErr(t, err, scalers.ErrUnavailable)
}

// TestAuth: with authentication enabled, a user allowed to read the key
// reads it; a wrong password fails as unavailable without showing it; a
// passwordFile changed after the user's password changed is read again
// at the next login.
func TestAuth(t *testing.T) {
	e := testenv.StartEtcd(t, testenv.EtcdOptions{RootPassword: "root-pw-1"})
	put(t, e, "queue/length", "8")
	if err := e.AddUser(t.Context(), "reader", "reader-pw-1", "queue/length"); err != nil {
		t.Fatal(err)
	}
	md := map[string]string{"endpoints": e.Endpoint(), "username": "reader", "password": "reader-pw-1"}
	waitValue(t, build(t, scalers.Config{Metadata: md}, Options{}), 8, true)

	logs := &scalertest.LogLines{}
	wrong := build(t, scalers.Config{Metadata: scalertest.WithKeys(md, "password", "wrong-pw-secret"), Logger: slog.New(logs)}, Options{})
	_, err := wrong.Metrics(t.Context())
	scalertest.CheckErr(t, err, scalers.ErrUnavailable, "authentication failed")
	if strings.Contains(err.Error(), "wrong-pw") {
		t.Errorf("error shows the password: %v", err)
	}
	for _, l := range logs.Lines() {
		if strings.Contains(l, "wrong-pw") {
			t.Errorf("log shows the password: %s", l)
		}
	}

	dir := t.TempDir()
	pwFile := filepath.Join(dir, "password")
	if err := os.WriteFile(pwFile, []byte("reader-pw-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rotated := build(t, scalers.Config{Metadata: map[string]string{"endpoints": e.Endpoint(), "username": "reader", "passwordFile": pwFile},
		SecretFiles: fileAccess(t, dir)}, Options{})
	waitValue(t, rotated, 8, true)
	if err := e.ChangePassword(t.Context(), "reader", "reader-pw-2"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pwFile, []byte("reader-pw-2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	put(t, e, "queue/length", "9")
	waitValue(t, rotated, 9, true)
}

// TestHostilePeers: a peer that drops connections, one that speaks
// another protocol and one that never answers cost a call its bound.
func TestHostilePeers(t *testing.T) {
	for _, tt := range []struct{ name, addr string }{
		{"dropper", scalertest.NewDropper(t).Addr()},
		{"banner", scalertest.NewBanner(t, "SSH-2.0-OpenSSH_9.2\r\n").Addr()},
		{"black hole", scalertest.NewBlackHole(t).Addr()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := build(t, scalers.Config{Metadata: map[string]string{"endpoints": tt.addr, "timeout": "500",
				"username": "u", "password": "hunter2-pw"}}, Options{})
			err := scalertest.ReturnsWithin(t, s.Bound(), "a call to a "+tt.name, func() error { _, err := s.Value(t.Context()); return err })
			scalertest.CheckErr(t, err, scalers.ErrUnavailable, `etcd: key "queue/length" at `+tt.addr)
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}

func fileAccess(t *testing.T, dir string) scalers.FileAccess {
	t.Helper()
	a, err := scalers.NewFileAccess(dir)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
