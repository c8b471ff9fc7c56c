package testenv

import (
	"net/http"
	"testing"
)

// TestRabbitMQLifecycle starts a private broker, uses the management API,
// stops it and starts it again on the same ports.
func TestRabbitMQLifecycle(t *testing.T) {
	r := StartRabbitMQ(t)
	if r.AMQPPort == 5672 {
		t.Fatalf("got AMQP port 5672, want a private port")
	}
	vhost := r.NewVhost(t)
	var got struct {
		Name string `json:"name"`
	}
	if err := r.API(t.Context(), http.MethodGet, "/api/vhosts/"+vhost, nil, &got); err != nil {
		t.Fatalf("get vhost: %v", err)
	}
	if got.Name != vhost {
		t.Fatalf("got vhost %q, want %q", got.Name, vhost)
	}
	r.Stop()
	if err := r.ping(t.Context()); err == nil {
		t.Fatalf("got a ping answer after Stop, want none")
	}
	if err := r.Restart(); err != nil {
		t.Fatalf("restart: %v", err)
	}
	if err := r.API(t.Context(), http.MethodGet, "/api/vhosts/"+vhost, nil, &got); err != nil {
		t.Fatalf("get vhost after restart: %v", err)
	}
}
