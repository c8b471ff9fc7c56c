package testenv

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestNATS: the server answers /jsz with the stream, consumer and counts
// the text-protocol client made; Stop closes the monitoring port and
// Start brings the server back with its store.
func TestNATS(t *testing.T) {
	n := StartNATS(t, NATSOptions{})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := n.CreateStream(ctx, "s", 1, "s.>"); err != nil {
		t.Fatal(err)
	}
	if err := n.CreateConsumer(ctx, "s", "c"); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := n.Publish(ctx, "s.x", []byte("m")); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.Publish(ctx, "$JS.API.STREAM.CREATE.s", []byte(`{"name":"s","subjects":["other"]}`)); err == nil || !strings.Contains(err.Error(), "already in use") {
		t.Errorf("a second stream of the same name with other subjects: %v", err)
	}
	acks, err := n.Fetch(ctx, "s", "c", 2)
	if err != nil || len(acks) != 2 {
		t.Fatalf("fetch: %v, %d acks", err, len(acks))
	}
	if err := n.Ack(ctx, acks[0]); err != nil {
		t.Fatal(err)
	}
	// No idle connections for goleak to find.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	pending := func() (int, int) {
		t.Helper()
		resp, err := client.Get("http://" + n.MonitorAddr() + "/jsz?consumers=true")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var j struct {
			Accounts []struct {
				Streams []struct {
					Consumers []struct {
						Pending    int `json:"num_pending"`
						AckPending int `json:"num_ack_pending"`
					} `json:"consumer_detail"`
				} `json:"stream_detail"`
			} `json:"account_details"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&j); err != nil || len(j.Accounts) != 1 || len(j.Accounts[0].Streams) != 1 || len(j.Accounts[0].Streams[0].Consumers) != 1 {
			t.Fatalf("jsz: %v %+v", err, j)
		}
		c := j.Accounts[0].Streams[0].Consumers[0]
		return c.Pending, c.AckPending
	}
	if p, a := pending(); p != 1 || a != 1 {
		t.Errorf("pending %d, ack pending %d; want 1, 1", p, a)
	}
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	if resp, err := client.Get("http://" + n.MonitorAddr() + "/jsz"); err == nil {
		resp.Body.Close()
		t.Fatal("monitoring port answers after Stop")
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	if p, a := pending(); p != 1 || a != 1 {
		t.Errorf("after a restart: pending %d, ack pending %d; want 1, 1", p, a)
	}
}
