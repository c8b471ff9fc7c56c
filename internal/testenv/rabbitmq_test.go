package testenv

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
)

// TestRabbitMQLifecycle starts a private broker, uses the management API,
// stops it cleanly and starts it again on the same ports (a durable queue
// and its persistent messages survive), kills it and starts it again, and
// freezes and thaws it.
func TestRabbitMQLifecycle(t *testing.T) {
	r := StartRabbitMQ(t)
	if r.AMQPPort == 5672 {
		t.Fatalf("got AMQP port 5672, want a private port")
	}
	vhost := r.NewVhost(t)
	var got struct {
		Name string `json:"name"`
	}
	if err := r.API(t.Context(), http.MethodGet, "/api/vhosts/"+url.PathEscape(vhost), nil, &got); err != nil {
		t.Fatalf("get vhost: %v", err)
	}
	if got.Name != vhost {
		t.Fatalf("got vhost %q, want %q", got.Name, vhost)
	}
	queue := "/api/queues/" + url.PathEscape(vhost) + "/jobs"
	if err := r.API(t.Context(), http.MethodPut, queue, map[string]any{"durable": true}, nil); err != nil {
		t.Fatalf("declare queue: %v", err)
	}
	for range 2 {
		var routed struct {
			Routed bool `json:"routed"`
		}
		msg := map[string]any{"routing_key": "jobs", "payload": "job", "payload_encoding": "string", "properties": map[string]any{"delivery_mode": 2}}
		if err := r.API(t.Context(), http.MethodPost, "/api/exchanges/"+url.PathEscape(vhost)+"/amq.default/publish", msg, &routed); err != nil || !routed.Routed {
			t.Fatalf("publish: routed %v, error %v; want routed", routed.Routed, err)
		}
	}

	t.Run("stopped and back", func(t *testing.T) {
		if err := r.Stop(); err != nil {
			t.Fatalf("stop: %v", err)
		}
		if err := r.probe(); err == nil {
			t.Fatalf("got a ready broker after Stop, want none")
		}
		if diff := cmp.Diff(fmt.Sprintf("rabbitmq: Stop: node %s is not running", r.node), errString(r.Stop())); diff != "" {
			t.Errorf("second Stop (-want +got):\n%s", diff)
		}
		if err := r.Restart(); err != nil {
			t.Fatalf("restart: %v", err)
		}
		// Restart waited for the queue; its statistics follow.
		scalertest.Eventually(t, time.Minute, "the 2 persistent messages of the durable queue after the restart", func() error {
			var q struct {
				Messages *int `json:"messages"`
			}
			if err := r.API(t.Context(), http.MethodGet, queue+"?columns=messages", nil, &q); err != nil {
				return err
			}
			if q.Messages == nil || *q.Messages != 2 {
				return fmt.Errorf("got messages %v, want 2", q.Messages)
			}
			return nil
		})
		if diff := cmp.Diff(fmt.Sprintf("rabbitmq: Restart: node %s is running", r.node), errString(r.Restart())); diff != "" {
			t.Errorf("Restart while running (-want +got):\n%s", diff)
		}
	})

	t.Run("killed and back", func(t *testing.T) {
		if err := r.Kill(); err != nil {
			t.Fatalf("kill: %v", err)
		}
		if err := r.probe(); err == nil {
			t.Fatalf("got a ready broker after Kill, want none")
		}
		if err := r.Kill(); err != nil {
			t.Errorf("second Kill: %v, want none", err)
		}
		if err := r.Restart(); err != nil {
			t.Fatalf("restart: %v", err)
		}
		// The vhost was created long before the crash.
		if err := r.API(t.Context(), http.MethodGet, "/api/vhosts/"+url.PathEscape(vhost), nil, nil); err != nil {
			t.Fatalf("get vhost after the crash: %v", err)
		}
	})

	t.Run("frozen and thawed", func(t *testing.T) {
		if err := r.Freeze(); err != nil {
			t.Fatalf("freeze: %v", err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
		err := r.ready(ctx)
		cancel()
		if err == nil {
			t.Errorf("got a ready broker while frozen, want none")
		}
		if err := r.Thaw(); err != nil {
			t.Fatalf("thaw: %v", err)
		}
		scalertest.Eventually(t, time.Minute, "the thawed broker to be ready", r.probe)
	})
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func TestPoll(t *testing.T) {
	t.Run("reached", func(t *testing.T) {
		calls := 0
		err := poll(time.Minute, "the third call", nil, func() error {
			if calls++; calls < 3 {
				return errors.New("not yet")
			}
			return nil
		})
		if err != nil || calls != 3 {
			t.Fatalf("got error %v after %d calls, want none after 3", err, calls)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		err := poll(20*time.Millisecond, "the server", nil, func() error { return errors.New("connection refused") })
		if diff := cmp.Diff("waited 20ms for the server; last: connection refused", errString(err)); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("process exited", func(t *testing.T) {
		exited := make(chan struct{})
		close(exited)
		err := poll(time.Minute, "the server", exited, func() error { return errors.New("connection refused") })
		if diff := cmp.Diff("the process exited while waiting for the server; last: connection refused", errString(err)); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
}

func TestParseStat(t *testing.T) {
	tests := []struct {
		name   string
		stat   string
		want   procStat
		wantOK bool
	}{
		{"plain", "4711 (beam.smp) S 1 4700 4700 0 -1", procStat{pid: 4711, comm: "beam.smp", state: "S", pgrp: 4700}, true},
		{"comm with spaces and parentheses", "12 (a (b) c) T 1 9 9", procStat{pid: 12, comm: "a (b) c", state: "T", pgrp: 9}, true},
		{"truncated", "12 (x) R 1", procStat{}, false},
		{"no comm", "garbage", procStat{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseStat(tt.stat)
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(procStat{})); diff != "" || ok != tt.wantOK {
				t.Errorf("ok %v, want %v; (-want +got):\n%s", ok, tt.wantOK, diff)
			}
		})
	}
}
