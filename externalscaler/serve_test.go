package externalscaler

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
)

func TestServeHealthAndReflection(t *testing.T) {
	env := &fakeEnv{}
	ts := startServer(t, Options{Registry: env.registry()}, ServeOptions{})

	hc := healthpb.NewHealthClient(ts.conn)
	for _, svc := range []string{"", "externalscaler.ExternalScaler"} {
		resp, err := hc.Check(t.Context(), &healthpb.HealthCheckRequest{Service: svc})
		if err != nil {
			t.Fatalf("health %q: %v", svc, err)
		}
		if resp.Status != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health %q: got %v, want SERVING", svc, resp.Status)
		}
	}

	rc := reflectionpb.NewServerReflectionClient(ts.conn)
	stream, err := rc.ServerReflectionInfo(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{ListServices: "*"}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.Name)
	}
	for _, want := range []string{"externalscaler.ExternalScaler", "grpc.health.v1.Health"} {
		if !slices.Contains(names, want) {
			t.Errorf("reflection services %v: want %s", names, want)
		}
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
}

func TestServeHTTPEndpoints(t *testing.T) {
	env := &fakeEnv{}
	reg := prometheus.NewRegistry()
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, Options{Registry: env.registry(), Registerer: reg}, ServeOptions{HTTP: hl, Gatherer: reg})
	env.source("h").set(2, nil)
	getValue(t, ts.client, ref("h", fakeMD("h")), "fake-h")

	base := "http://" + hl.Addr().String()
	tests := []struct {
		path     string
		wantCode int
		wantBody string   // the whole body; "" for /metrics
		wantLine []string // lines /metrics must have among others
	}{
		{path: "/healthz", wantCode: 200, wantBody: "ok\n"},
		{path: "/readyz", wantCode: 200, wantBody: "ok\n"},
		{path: "/metrics", wantCode: 200, wantLine: []string{
			`hpa_grpc_requests_total{code="OK",method="GetMetrics"} 1`,
			`hpa_scaler_instances{scaler_type="fake"} 1`,
			`hpa_metric_collection_duration_seconds_count{scaler_type="fake"} 1`,
			`hpa_grpc_request_duration_seconds_count{method="GetMetrics"} 1`,
		}},
		{path: "/nope", wantCode: 404, wantBody: "404 page not found\n"},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.wantCode {
				t.Errorf("status: got %d, want %d", resp.StatusCode, tc.wantCode)
			}
			if tc.wantLine == nil {
				if diff := cmp.Diff(tc.wantBody, string(body)); diff != "" {
					t.Errorf("body (-want +got):\n%s", diff)
				}
				return
			}
			lines := strings.Split(string(body), "\n")
			for _, w := range tc.wantLine {
				if !slices.Contains(lines, w) {
					t.Errorf("body: want the line %q; got:\n%s", w, body)
				}
			}
		})
	}
	http.DefaultClient.CloseIdleConnections()
}

func TestReadyzWhenShuttingDown(t *testing.T) {
	var ready atomic.Bool
	h := httpHandler(prometheus.NewRegistry(), &ready)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("/readyz not ready: got %d, want 503", rec.Code)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != http.StatusOK {
		t.Errorf("/healthz: got %d, want 200", rec.Code)
	}
}

func TestServeErrors(t *testing.T) {
	env := &fakeEnv{}
	srv, err := New(Options{Registry: env.registry()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	wantErr := func(t *testing.T, err error, want string) {
		t.Helper()
		if err == nil {
			t.Fatalf("Serve: got nil, want %q", want)
		}
		if diff := cmp.Diff(want, err.Error()); diff != "" {
			t.Errorf("Serve error (-want +got):\n%s", diff)
		}
	}

	t.Run("no listener", func(t *testing.T) {
		wantErr(t, srv.Serve(t.Context(), ServeOptions{}), "serve: no gRPC listener")
	})

	t.Run("bad TLS files", func(t *testing.T) {
		gl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer gl.Close()
		err = srv.Serve(t.Context(), ServeOptions{GRPC: gl, TLS: TLSFiles{CertFile: "/nonexistent/tls.crt", KeyFile: "/nonexistent/tls.key"}})
		wantErr(t, err, "serve: read TLS certificate /nonexistent/tls.crt: no such file or directory")
	})

	// A listener failing while serving stops the whole server with its
	// error.
	t.Run("closed HTTP listener", func(t *testing.T) {
		gl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		hl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := hl.Addr().String()
		_ = hl.Close()
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		err = srv.Serve(ctx, ServeOptions{GRPC: gl, HTTP: hl})
		wantErr(t, err, "serve HTTP on "+addr+": accept tcp "+addr+": use of closed network connection")
	})
}
