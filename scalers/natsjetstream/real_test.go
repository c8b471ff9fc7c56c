package natsjetstream

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// setUp creates stream "orders" (subjects orders.>) with the durable pull
// consumer "workers" and publishes n messages.
func setUp(t *testing.T, n *testenv.NATS, msgs int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := n.CreateStream(ctx, "orders", 1, "orders.>"); err != nil {
		t.Fatal(err)
	}
	if err := n.CreateConsumer(ctx, "orders", "workers"); err != nil {
		t.Fatal(err)
	}
	publish(t, n, msgs)
}

func publish(t *testing.T, n *testenv.NATS, msgs int) {
	t.Helper()
	for i := range msgs {
		if err := n.Publish(t.Context(), "orders.new", []byte(fmt.Sprintf("order %d", i))); err != nil {
			t.Fatal(err)
		}
	}
}

func realScaler(t *testing.T, n *testenv.NATS, kv ...string) *Scaler {
	t.Helper()
	meta := scalertest.WithKeys(map[string]string{"natsServerMonitoringEndpoint": n.MonitorAddr(), "account": "$G",
		"stream": "orders", "consumer": "workers", "lagThreshold": "5"}, kv...)
	s, err := NewWithOptions(t.Context(), scalers.Config{Type: Type, Metadata: meta, Timeouts: scalers.Timeouts{Default: 2 * time.Second}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func waitValue(t *testing.T, s *Scaler, want float64, active bool) {
	t.Helper()
	scalertest.Eventually(t, 30*time.Second, fmt.Sprintf("lag %v", want), func() error {
		m, err := s.Metrics(t.Context())
		if err != nil {
			return err
		}
		if len(m.Values) != 1 || m.Values[0].Value != want || m.Active != active || m.Values[0].Name != "nats-jetstream-orders" {
			return fmt.Errorf("got %+v", m)
		}
		return nil
	})
}

// TestRealServer: against nats-server -js -m: the lag is num_pending plus
// num_ack_pending (fetched, unacknowledged messages still count; acked
// ones do not), activation is strictly above activationLagThreshold, and
// a stream or consumer that does not exist is ErrNoData naming it.
func TestRealServer(t *testing.T) {
	n := testenv.StartNATS(t, testenv.NATSOptions{})
	s := realScaler(t, n, "activationLagThreshold", "7")
	_, err := s.Metrics(t.Context())
	scalertest.CheckErr(t, err, scalers.ErrNoData, `stream "orders" not found in account "$G"`)

	setUp(t, n, 7)
	waitValue(t, s, 7, false) // 7 is not above 7
	publish(t, n, 1)
	waitValue(t, s, 8, true)

	acks, err := n.Fetch(t.Context(), "orders", "workers", 3)
	if err != nil {
		t.Fatal(err)
	}
	waitValue(t, s, 8, true) // 5 pending + 3 delivered, not acked
	for _, a := range acks {
		if err := n.Ack(t.Context(), a); err != nil {
			t.Fatal(err)
		}
	}
	waitValue(t, s, 5, false)

	other := realScaler(t, n, "consumer", "nobody")
	_, err = other.Metrics(t.Context())
	scalertest.CheckErr(t, err, scalers.ErrNoData, `consumer "nobody" not found in stream "orders"`)
	byID := realScaler(t, n, "account", "", "accountID", "$G")
	waitValue(t, byID, 5, true)
}

// TestRealServerOutage: the server stopped, the calls fail with
// ErrUnavailable within the bound (never a panic); back on the same ports
// with the same store, the next calls read the lag again.
func TestRealServerOutage(t *testing.T) {
	n := testenv.StartNATS(t, testenv.NATSOptions{})
	setUp(t, n, 4)
	s := realScaler(t, n)
	waitValue(t, s, 4, true)
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		err := scalertest.ReturnsWithin(t, s.Bound(), fmt.Sprintf("call %d while the server is down", i+1), func() error {
			_, err := s.Metrics(context.Background())
			return err
		})
		scalertest.CheckErr(t, err, scalers.ErrUnavailable, "nats-jetstream: http://"+n.MonitorAddr()+"/jsz: ", "connection refused")
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	waitValue(t, s, 4, true)
	publish(t, n, 2)
	waitValue(t, s, 6, true)
}

// TestRealCluster: a three-node JetStream cluster (each node on its own
// loopback address, the same ports, as pods behind a headless Service):
// asked through any node, the scaler finds the consumer's leader by the
// advertised client URLs and reads the lag there.
func TestRealCluster(t *testing.T) {
	nodes := testenv.StartNATSCluster(t, 3)
	setUpReplicated(t, nodes[0])
	publish(t, nodes[0], 6)
	for _, n := range nodes {
		t.Run(n.Host, func(t *testing.T) {
			s := realScaler(t, n)
			waitValue(t, s, 6, true)
			s.mu.Lock()
			leader := s.leader
			s.mu.Unlock()
			if leader.name == "" || leader.url == "" {
				t.Errorf("no leader cached: %+v", leader)
			}
			t.Logf("leader %s at %s", leader.name, leader.url)
		})
	}
}

// TestRealClusterLeaderDown: the consumer's leader stopped, the scaler
// (asked through another node) drops the leader it knew and finds the
// new one; KEDA would keep asking the stopped node.
func TestRealClusterLeaderDown(t *testing.T) {
	nodes := testenv.StartNATSCluster(t, 3)
	setUpReplicated(t, nodes[0])
	publish(t, nodes[0], 3)
	var first *Scaler
	var old string
	for _, n := range nodes {
		s := realScaler(t, n)
		waitValue(t, s, 3, true)
		s.mu.Lock()
		leader := s.leader
		s.mu.Unlock()
		if leader.name != "n"+n.Host[len(n.Host)-1:] {
			first, old = s, leader.name
		}
	}
	if first == nil {
		t.Fatal("no node other than the leader")
	}
	var down *testenv.NATS
	for _, n := range nodes {
		if "n"+n.Host[len(n.Host)-1:] == old {
			down = n
		}
	}
	if err := down.Stop(); err != nil {
		t.Fatal(err)
	}
	waitValue(t, first, 3, true)
	first.mu.Lock()
	now := first.leader.name
	first.mu.Unlock()
	if now == old || now == "" {
		t.Errorf("leader %q after %s stopped", now, old)
	}
}

// setUpReplicated creates stream "orders" with three replicas and its
// consumer "workers" once the cluster has elected its meta leader.
func setUpReplicated(t *testing.T, n *testenv.NATS) {
	t.Helper()
	scalertest.Eventually(t, time.Minute, "a replicated stream and its consumer", func() error {
		// A try per election: the API does not answer before one.
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		if err := n.CreateStream(ctx, "orders", 3, "orders.>"); err != nil && !strings.Contains(err.Error(), "already in use") {
			return err
		}
		return n.CreateConsumer(ctx, "orders", "workers")
	})
}
