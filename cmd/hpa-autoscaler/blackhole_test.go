package main

import (
	"context"
	"net"
	"testing"
	"time"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/hpa-autoscaler/hpa-autoscaler/externalscaler"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// startServer runs the external scaler server with the binary's registry
// on a free loopback port until the test ends, and returns a client.
func startServer(t *testing.T, o externalscaler.Options) pb.ExternalScalerClient {
	t.Helper()
	if o.Registry == nil {
		o.Registry, o.SourceConnections = newRegistry(registryOptions{})
	}
	srv, err := externalscaler.New(o)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, externalscaler.ServeOptions{GRPC: lis, ShutdownTimeout: time.Second}) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
		srv.Close()
	})
	return pb.NewExternalScalerClient(conn)
}

// TestRealScalersAgainstABlackHole: every scaler type of the binary,
// pointed at a source that accepts connections and never answers. Building
// does no I/O, so GetMetricSpec answers at once; every GetMetrics ends
// within the trigger's bound (the scalers keep it themselves: the server
// never has to give up on one) with Unavailable.
func TestRealScalersAgainstABlackHole(t *testing.T) {
	const bound = 500 * time.Millisecond
	reg := prometheus.NewRegistry()
	client := startServer(t, externalscaler.Options{
		Registerer: reg,
		Timeouts:   scalers.Timeouts{Default: bound, Max: 2 * bound},
	})
	bh := scalertest.NewBlackHole(t)
	addr := bh.Addr()
	tests := []struct {
		name string
		md   map[string]string
	}{
		{"prometheus", map[string]string{"scalerType": "prometheus", "serverAddress": "http://" + addr, "query": "up", "threshold": "1"}},
		{"metrics-api", map[string]string{"scalerType": "metrics-api", "url": "http://" + addr + "/m", "valueLocation": "v", "targetValue": "1"}},
		{"redis", map[string]string{"scalerType": "redis", "address": addr, "listName": "orders"}},
		{"redis-streams", map[string]string{"scalerType": "redis-streams", "address": addr, "stream": "s", "consumerGroup": "g"}},
		{"redis-cluster", map[string]string{"scalerType": "redis-cluster", "addresses": addr, "listName": "orders"}},
		{"redis-sentinel", map[string]string{"scalerType": "redis-sentinel", "addresses": addr, "sentinelMaster": "m", "listName": "orders"}},
		{"kafka", map[string]string{"scalerType": "kafka", "bootstrapServers": addr, "consumerGroup": "g", "topic": "t"}},
		{"rabbitmq amqp", map[string]string{"scalerType": "rabbitmq", "host": "amqp://guest:guest@" + addr + "/", "queueName": "q"}},
		{"rabbitmq http", map[string]string{"scalerType": "rabbitmq", "host": "http://guest:guest@" + addr + "/", "protocol": "http", "queueName": "q"}},
		{"custom", map[string]string{"scalerType": "custom", "expression": "q", "threshold": "1",
			"source.q.type": "prometheus", "source.q.serverAddress": "http://" + addr, "source.q.query": "up"}},
	}
	// The group returns once its parallel subtests have.
	t.Run("each type", func(t *testing.T) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				ref := &pb.ScaledObjectRef{Namespace: "shop", Name: tc.name, ScalerMetadata: tc.md}
				var spec *pb.GetMetricSpecResponse
				if err := scalertest.ReturnsWithin(t, 0, "GetMetricSpec", func() (err error) {
					spec, err = client.GetMetricSpec(t.Context(), ref)
					return err
				}); err != nil {
					t.Fatalf("GetMetricSpec: %v", err)
				}
				for i := range 2 {
					err := scalertest.ReturnsWithin(t, bound, "GetMetrics", func() error {
						_, err := client.GetMetrics(t.Context(), &pb.GetMetricsRequest{ScaledObjectRef: ref, MetricName: spec.MetricSpecs[0].MetricName})
						return err
					})
					if got := status.Code(err); got != codes.Unavailable {
						t.Errorf("GetMetrics %d: got %v (%v), want Unavailable", i, got, err)
					}
				}
			})
		}
	})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "hpa_source_overruns_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if v := m.GetCounter().GetValue(); v != 0 {
				t.Errorf("hpa_source_overruns_total{%s}: %v, want 0 (the scaler overran its bound; the server cut it)", labels(m), v)
			}
		}
	}
}

func labels(m *dto.Metric) string {
	s := ""
	for _, lp := range m.GetLabel() {
		s += lp.GetName() + "=" + lp.GetValue()
	}
	return s
}
