package backendlink_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hpa-autoscaler/hpa-autoscaler/controller/backendlink"
	"github.com/hpa-autoscaler/hpa-autoscaler/controller/linktest"
)

// BenchmarkDecisionsDelivered: decisions reported and applied by a
// backend on loopback (in-test AgentService, each acknowledged), per
// second of the whole run.
func BenchmarkDecisionsDelivered(b *testing.B) {
	s, err := linktest.Start(linktest.Options{Token: token, Heartbeat: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Stop()
	l, err := backendlink.New(backendlink.Options{Addr: s.Addr(), ClusterID: "c1", Token: func() (string, error) { return token, nil },
		BufferSize: b.N + 10, Inventory: func(context.Context) ([]backendlink.Scaler, error) { return nil, nil }})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for !l.Connected() {
		time.Sleep(time.Millisecond)
	}
	b.ResetTimer()
	for i := range b.N {
		l.Report(backendlink.Decision{ID: fmt.Sprint(i), Namespace: "ns", Name: "web", Current: 1, Desired: 2, Rule: "MetricProposal"})
	}
	deadline := time.Now().Add(time.Minute)
	for s.Stats().Applied < uint64(b.N)+1 {
		if time.Now().After(deadline) {
			b.Fatalf("applied %d of %d", s.Stats().Applied, b.N+1)
		}
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
}
